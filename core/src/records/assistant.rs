//! What the assistant (`/ask`) stores: one row per question asked, and the model tokens used
//! per UTC day.

use chrono::{DateTime, Utc};

use crate::ids::UserId;

/// One question, as recorded for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskUsage {
    pub asked_at: DateTime<Utc>,
    /// The linked customer who asked, if any.
    pub user: Option<UserId>,
    /// Who asked, as the door names them (`discord:123`, `user:5`).
    pub asker: String,
    /// Where it was asked (a Discord channel id), if anywhere in particular.
    pub channel: Option<String>,
    /// What became of it: `answered`, `no_sources`, `lexical`, `refused:<quota>`,
    /// `failed:<kind>`.
    pub outcome: String,
    /// Model tokens used (`usageMetadata.totalTokenCount`), 0 without a model call.
    pub tokens: i64,
}

/// Questions and tokens since a time, by outcome, for admins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub questions: i64,
    pub tokens: i64,
    /// `(outcome, questions)`, most frequent first.
    pub by_outcome: Vec<(String, i64)>,
}

pub use crate::ids::AnswerId;

/// What the asker said about an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feedback {
    /// "Solved": the answer was enough.
    Solved,
    /// The asker asked a follow-up.
    FollowedUp,
    /// The asker opened a ticket from it.
    Ticket,
}

impl Feedback {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Solved => "solved",
            Self::FollowedUp => "followed_up",
            Self::Ticket => "ticket",
        }
    }
}

/// An answer as a door gave it, kept so its buttons (feedback, a follow-up, a ticket) work later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswerRow {
    pub asked_at: DateTime<Utc>,
    pub user: Option<UserId>,
    /// The asker it belongs to (`discord:123`, `user:5`); nobody else may use it.
    pub asker: String,
    pub question: String,
    pub answer: String,
    /// The sources as JSON (`[{"slug","title","url"}]`).
    pub sources: String,
    /// The earlier exchanges as JSON (`[{"question","answer"}]`), oldest first.
    pub conversation: String,
    pub outcome: String,
    pub feedback: Option<String>,
    pub ticket: Option<crate::ids::TicketId>,
}
