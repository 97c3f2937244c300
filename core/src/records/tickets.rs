//! Tickets as stored: a ticket, its messages and attachments, what a listing filters by, and
//! the rules on what people type into them. Who may do what to a ticket, the SLA clock and
//! the notifications are [`crate::tickets`].

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
pub use crate::ids::{TicketId, TicketMessageId};
use crate::policy::Via;

/// The longest subject, in characters.
pub const MAX_SUBJECT: usize = 120;
/// The longest message body, in characters.
pub const MAX_BODY: usize = 4000;
/// The longest rating comment, in characters.
pub const MAX_RATING_COMMENT: usize = 1000;
/// The longest close reason, in characters.
pub const MAX_CLOSE_REASON: usize = 500;
/// The most attachments one message keeps.
pub const MAX_ATTACHMENTS: usize = 10;

/// Hosts an attachment link may point to (Discord's CDN), besides the configured API base.
pub const ATTACHMENT_HOSTS: [&str; 2] = ["cdn.discordapp.com", "media.discordapp.net"];

macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal {
        $($(#[$variant_attr:meta])* $variant:ident => $text:literal),+ $(,)?
    }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_attr])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Reads the word as stored and as doors take it.
            pub fn parse(text: &str) -> Result<Self> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.as_str().eq_ignore_ascii_case(text.trim()))
                    .ok_or_else(|| {
                        let known: Vec<&str> = Self::ALL.iter().map(|value| value.as_str()).collect();
                        Error::invalid(
                            $what,
                            format!("{text:?} is not a {}; use {}", $what, known.join(", ")),
                        )
                    })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// Where a ticket stands. New tickets are `Open` (no staff reply yet); a customer message
    /// makes it `AwaitingStaff`, a staff reply `AwaitingCustomer`; notes change nothing.
    TicketStatus, "status" {
        Open => "open",
        AwaitingStaff => "awaiting_staff",
        AwaitingCustomer => "awaiting_customer",
        Closed => "closed",
    }
);

word_enum!(
    /// How urgent a ticket is; it picks the SLA targets.
    #[derive(Default)]
    Priority, "priority" {
        Low => "low",
        #[default]
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

word_enum!(
    /// The door a ticket or message came through.
    Door, "door" {
        Portal => "portal",
        Api => "api",
        Discord => "discord",
        Email => "email",
        System => "system",
    }
);

impl From<Via> for Door {
    fn from(via: Via) -> Self {
        match via {
            Via::Portal => Self::Portal,
            Via::Api => Self::Api,
            Via::Discord => Self::Discord,
            Via::Cli | Via::System => Self::System,
        }
    }
}

/// A support ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ticket {
    pub id: TicketId,
    pub customer: UserId,
    pub subject: String,
    /// One of `tickets.departments`.
    pub department: String,
    pub priority: Priority,
    /// A server of the customer's own that the ticket is about.
    pub server: Option<ServerId>,
    pub status: TicketStatus,
    pub assignee: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    /// The next SLA deadline: the first response while there is none, then the resolution;
    /// `None` once closed.
    pub due_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub closed_by: Option<UserId>,
    /// The ticket's private thread in `discord.support_channel_id`.
    pub discord_thread_id: Option<u64>,
    /// 1 to 5 stars, given once after the ticket closed.
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    /// When staff were warned that `due_at` comes close (once per deadline).
    pub sla_warned_at: Option<DateTime<Utc>>,
    /// When `due_at` passed and the breach was escalated (once per deadline).
    pub sla_breached_at: Option<DateTime<Utc>>,
    /// When the customer was told the ticket closes unless they answer.
    pub autoclose_warned_at: Option<DateTime<Utc>>,
    /// When the current SLA period began: `None` for the open, the latest reopen otherwise.
    pub sla_started_at: Option<DateTime<Utc>>,
    /// How many deadlines passed unanswered (escalated); never lowered, so the report keeps
    /// a breach that was answered later.
    pub breaches: u32,
    pub opened_via: Door,
    /// Bumped by every change; a change made from an older version is refused and redone.
    #[serde(skip)]
    pub version: i64,
}

impl Ticket {
    /// When the current SLA period began: the open, or the latest reopen.
    pub fn sla_start(&self) -> DateTime<Utc> {
        self.sla_started_at.unwrap_or(self.created_at)
    }

    pub fn is_closed(&self) -> bool {
        self.status == TicketStatus::Closed
    }

    /// A new normal-priority ticket #1 of user 1, opened at `at` through the portal: what the
    /// unit tests start from.
    #[cfg(test)]
    pub(crate) fn example(at: DateTime<Utc>) -> Self {
        Self {
            id: TicketId(1),
            customer: UserId(1),
            subject: "s".into(),
            department: "technical".into(),
            priority: Priority::Normal,
            server: None,
            status: TicketStatus::Open,
            assignee: None,
            created_at: at,
            first_response_at: None,
            last_activity_at: at,
            due_at: None,
            closed_at: None,
            close_reason: None,
            closed_by: None,
            discord_thread_id: None,
            rating: None,
            rating_comment: None,
            sla_warned_at: None,
            sla_breached_at: None,
            autoclose_warned_at: None,
            sla_started_at: None,
            breaches: 0,
            opened_via: Door::Portal,
            version: 0,
        }
    }
}

/// A file posted in a Discord thread, kept as a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
    pub url: String,
}

impl Attachment {
    /// Checks a link: https on Discord's CDN or on `api_host` (the configured Discord base, so
    /// tests may serve files), a name of 1 to 200 visible characters.
    pub fn checked(self, api_host: Option<&str>) -> Result<Self> {
        // The file exists in Discord already: its name is cleaned, never a reason to refuse.
        let name = match crate::text::cleaned(&self.name, 200) {
            name if name.is_empty() => "file".to_owned(),
            name => name,
        };
        let url = url::Url::parse(&self.url)
            .map_err(|_| Error::invalid("attachments", "an attachment's link is not a URL"))?;
        let host = url.host_str().unwrap_or_default();
        let known = ATTACHMENT_HOSTS.contains(&host) || api_host.is_some_and(|api| api == host);
        let secure = url.scheme() == "https" || (api_host == Some(host) && url.scheme() == "http");
        if !known || !secure {
            return Err(Error::invalid(
                "attachments",
                "attachments are kept only as https links to Discord's CDN",
            ));
        }
        Ok(Self {
            name,
            size: self.size,
            url: url.into(),
        })
    }
}

/// One message of a ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketMessage {
    pub id: TicketMessageId,
    pub ticket: TicketId,
    /// The person who wrote it; `None` for the platform itself.
    pub author: Option<UserId>,
    /// The author's name when it was written.
    pub author_name: String,
    pub author_staff: bool,
    pub door: Door,
    /// Markdown-subset text as typed; every door shows it inert.
    pub body: String,
    /// Staff-only: never shown to the customer, anywhere.
    pub note: bool,
    pub attachments: Vec<Attachment>,
    /// The message in the Discord thread: the inbound one, or our post of this one.
    pub discord_message_id: Option<u64>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A ticket to insert with its first message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicket {
    pub customer: UserId,
    pub subject: String,
    pub department: String,
    pub priority: Priority,
    pub server: Option<ServerId>,
    pub created_at: DateTime<Utc>,
    pub due_at: Option<DateTime<Utc>>,
    pub opened_via: Door,
}

/// A message to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTicketMessage {
    pub ticket: TicketId,
    pub author: Option<UserId>,
    pub author_name: String,
    pub author_staff: bool,
    pub door: Door,
    pub body: String,
    pub note: bool,
    pub attachments: Vec<Attachment>,
    pub discord_message_id: Option<u64>,
    pub created_at: DateTime<Utc>,
}

impl NewTicketMessage {
    /// The message as stored under `id`.
    pub fn stored(self, id: TicketMessageId) -> TicketMessage {
        TicketMessage {
            id,
            ticket: self.ticket,
            author: self.author,
            author_name: self.author_name,
            author_staff: self.author_staff,
            door: self.door,
            body: self.body,
            note: self.note,
            attachments: self.attachments,
            discord_message_id: self.discord_message_id,
            created_at: self.created_at,
            edited_at: None,
            deleted_at: None,
        }
    }
}

/// Who a listing is assigned to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignee {
    Unassigned,
    To(UserId),
}

/// Which tickets a listing shows, newest first, a page at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFilter {
    /// One status; see also `open_only`.
    pub status: Option<TicketStatus>,
    /// Every status but closed.
    pub open_only: bool,
    pub department: Option<String>,
    pub assignee: Option<Assignee>,
    pub customer: Option<UserId>,
    pub server: Option<ServerId>,
    pub priority: Option<Priority>,
    /// Only tickets whose SLA deadline falls within this much from now (or has passed).
    pub breaching_within: Option<chrono::Duration>,
    /// Keyset paging: only tickets with a smaller id.
    pub before: Option<TicketId>,
    /// 1 to [`TicketFilter::MAX_LIMIT`].
    pub limit: u32,
}

impl TicketFilter {
    pub const MAX_LIMIT: u32 = 100;
    pub const DEFAULT_LIMIT: u32 = 25;

    /// `limit` within 1 to [`Self::MAX_LIMIT`], or a refusal that says so.
    pub fn checked_limit(&self) -> Result<u32> {
        if (1..=Self::MAX_LIMIT).contains(&self.limit) {
            Ok(self.limit)
        } else {
            Err(Error::invalid(
                "limit",
                format!("limit is 1 to {}", Self::MAX_LIMIT),
            ))
        }
    }
}

impl Default for TicketFilter {
    fn default() -> Self {
        Self {
            status: None,
            open_only: false,
            department: None,
            assignee: None,
            customer: None,
            server: None,
            priority: None,
            breaching_within: None,
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// One page of a listing; `next_before` asks for the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub next_before: Option<TicketId>,
}

/// A client's idempotency key on an open or a reply: where it counts (the person, and for a
/// reply the ticket), the key, and the fingerprint of the request it first came with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

/// What a request sent with a key made, as stored with the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedRequest {
    pub fingerprint: String,
    pub ticket: TicketId,
    pub message: TicketMessageId,
}

/// A message read from a ticket's Discord thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMessage {
    pub discord_message_id: u64,
    pub author_discord_id: u64,
    /// The member's name in Discord.
    pub author_name: String,
    pub body: String,
    pub attachments: Vec<Attachment>,
    pub at: DateTime<Utc>,
}

/// A subject as typed: 1 to [`MAX_SUBJECT`] characters on one line, none hidden.
pub fn subject(text: &str) -> Result<String> {
    crate::text::name("subject", "The subject", text, MAX_SUBJECT)
}

/// A message body as typed: trimmed, 1 to [`MAX_BODY`] characters; line breaks, tabs and the
/// joiners inside emoji are kept, every other hidden character is refused
/// ([`crate::text::message`]).
pub fn body(text: &str) -> Result<String> {
    crate::text::message("body", "The message", text, MAX_BODY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_read_back() {
        for status in TicketStatus::ALL {
            assert_eq!(TicketStatus::parse(status.as_str()).ok(), Some(*status));
        }
        assert_eq!(Priority::parse(" URGENT ").ok(), Some(Priority::Urgent));
        assert!(Door::parse("fax").is_err());
        assert_eq!(Door::from(Via::Cli), Door::System);
    }

    #[test]
    fn bodies_keep_lines_and_refuse_hidden_characters() {
        assert_eq!(body("  a\nb  ").ok().as_deref(), Some("a\nb"));
        assert!(body("").is_err());
        assert!(body("a\u{202E}b").is_err());
        assert!(body(&"x".repeat(MAX_BODY + 1)).is_err());
        assert!(subject("two\nlines").is_err());
    }

    #[test]
    fn attachments_only_link_to_discord() {
        let file = |url: &str| Attachment {
            name: "log.txt".into(),
            size: 12,
            url: url.into(),
        };
        assert!(
            file("https://cdn.discordapp.com/attachments/1/2/log.txt")
                .checked(None)
                .is_ok()
        );
        assert!(file("http://cdn.discordapp.com/a").checked(None).is_err());
        assert!(file("https://evil.example/a").checked(None).is_err());
        assert!(
            file("http://127.0.0.1/a")
                .checked(Some("127.0.0.1"))
                .is_ok()
        );
    }
}
