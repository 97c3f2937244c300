//! The support desk: tickets opened at any door (portal, API, Discord), their conversation,
//! staff notes, assignment, the SLA clock, auto-close, transcripts, ratings and the customer
//! context staff see beside a ticket.
//!
//! What lives here: the [`Tickets`] service, whose every method takes the [`Actor`] first and
//! checks [`policy`] before it reads anything; [`sla`] (due times, warnings, escalation,
//! auto-close and the report); [`transcript`] (plain text and escaped HTML, never notes);
//! [`context`] (the customer as staff see them); [`sync`] (the seam the Discord bot
//! implements); [`config`] (`[tickets]`). What does not: rendering (the doors), Discord itself
//! (the bot, through [`sync::TicketSync`]), sending (the outbox worker of [`crate::notify`]).
//!
//! Every change and what it sends (the customer's email, the thread's sync row, the staff
//! channel's post) are one transaction, so a crash can never keep one without the other.

mod access;
mod changes;
pub mod config;
pub mod context;
mod conversation;
mod customer;
mod discord;
mod due;
mod keys;
mod notices;
pub mod policy;
pub mod sla;
pub mod sync;
pub mod transcript;

use std::collections::HashMap;
use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::throttle::SharedThrottle;
use crate::clock::Clock;
use crate::config::Config;
use crate::ids::{ServerId, UserId};
use crate::notify::Outbox;
pub use crate::records::tickets::{
    Assignee, Attachment, Door, InboundMessage, Priority, Ticket, TicketFilter, TicketId,
    TicketMessage, TicketMessageId, TicketPage, TicketStatus,
};
use crate::store::Store;
pub use crate::store::tickets::MessageEdit;
pub use context::CustomerContext;
pub use keys::Keyed;
pub use policy::{Side, TicketAction};
pub use sla::{DueOutcome, SlaReport};
pub use transcript::Transcript;

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenTicket {
    pub subject: String,
    /// The first message.
    pub body: String,
    /// One of `tickets.departments`.
    pub department: String,
    /// `None`: normal. Customers may choose low, normal or high; urgent is for staff.
    pub priority: Option<Priority>,
    /// A server of the customer's own that the ticket is about.
    pub server: Option<ServerId>,
    /// Staff opening a ticket for a customer name them here; customers leave it `None` (or
    /// name themselves).
    pub customer: Option<UserId>,
    pub attachments: Vec<Attachment>,
}

/// A message read from Discord, and whether it was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub message: TicketMessage,
    /// `false` when the same Discord message was stored before (catch-up read it again).
    pub new: bool,
}

/// A ticket with a Discord thread that is not closed: where catch-up reads after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadCursor {
    pub ticket: TicketId,
    pub thread_id: u64,
    /// The newest thread message read so far.
    pub last_seen: Option<u64>,
}

/// The sync leases a process holds: until when each is held, and for how long it is renewed.
type Leases = HashMap<TicketId, (chrono::DateTime<chrono::Utc>, chrono::Duration)>;

/// The support desk.
#[derive(Clone)]
pub struct Tickets {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    outbox: Outbox,
    config: Arc<Config>,
    throttle: SharedThrottle,
    /// The sync leases this process holds: until when, and for how long each renewal.
    leases: Arc<std::sync::Mutex<Leases>>,
}

impl Tickets {
    /// The priorities `actor` may open a ticket with, lowest first: urgent is set by staff
    /// (who may manage tickets); everyone else chooses up to high. Every door offers these.
    pub fn may_open_with(actor: &crate::policy::Actor) -> Vec<Priority> {
        Priority::ALL
            .iter()
            .copied()
            .filter(|priority| {
                *priority != Priority::Urgent || actor.can(crate::policy::Permission::ManageTickets)
            })
            .collect()
    }

    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        outbox: Outbox,
        config: Arc<Config>,
    ) -> Self {
        Self {
            throttle: SharedThrottle::new(store.clone(), clock.clone()),
            store,
            clock,
            audit,
            outbox,
            config,
            leases: Arc::default(),
        }
    }
}
