//! The assistant's usage records and its daily token budget (see `assistant::quota`).

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::records::assistant::{AnswerId, AskUsage, KeptAnswerRow, UsageTotals};

#[async_trait::async_trait]
pub trait AssistantStore: Send + Sync {
    /// Adds `tokens` to `day`'s count if the result stays within `budget`, in one statement,
    /// and returns the new count; `None` when it would go over (nothing is added).
    async fn reserve_tokens(&self, day: &str, tokens: i64, budget: i64) -> Result<Option<i64>>;

    /// Adds `delta` (negative to give back) to `day`'s count.
    async fn adjust_tokens(&self, day: &str, delta: i64) -> Result<()>;

    /// Tokens counted on `day` so far.
    async fn tokens_on(&self, day: &str) -> Result<i64>;

    async fn record_usage(&self, usage: &AskUsage) -> Result<()>;

    /// Questions and tokens since `since`.
    async fn usage_since(&self, since: DateTime<Utc>) -> Result<UsageTotals>;

    /// Keeps an answer a door gave; its id.
    async fn keep_answer(&self, row: &KeptAnswerRow) -> Result<AnswerId>;

    async fn kept_answer(&self, id: AnswerId) -> Result<Option<KeptAnswerRow>>;

    /// Sets an answer's feedback (the last word counts).
    async fn set_feedback(&self, id: AnswerId, feedback: &str) -> Result<()>;

    /// Marks an answer as becoming a ticket, in one statement, unless it already is one
    /// (feedback `ticket`); whether this call marked it. Two presses open one ticket.
    async fn claim_for_ticket(&self, id: AnswerId) -> Result<bool>;

    /// Records the ticket an answer became.
    async fn set_answer_ticket(&self, id: AnswerId, ticket: crate::ids::TicketId) -> Result<()>;

    /// Answers since `since` by feedback (`None`: none given), most frequent first.
    async fn feedback_since(&self, since: DateTime<Utc>) -> Result<Vec<(Option<String>, i64)>>;
}
