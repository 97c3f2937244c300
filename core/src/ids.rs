//! Typed ids, so a `ServerId` can never be passed where a `UserId` is meant.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map(Self)
            }
        }
    };
}

id_type!(
    /// A person: customer or staff.
    UserId
);
id_type!(
    /// A ledger account: a user's wallet or one of the system accounts.
    AccountId
);
id_type!(
    /// One row of the ledger.
    PostingId
);
id_type!(
    /// One row of the audit log.
    AuditId
);
id_type!(
    /// A customer's server, on whichever provider it lives.
    ServerId
);
id_type!(
    /// A support ticket.
    TicketId
);
id_type!(
    /// One message of a ticket (a staff note among them).
    TicketMessageId
);
id_type!(
    /// One answer of the assistant, as a door gave it.
    AnswerId
);
