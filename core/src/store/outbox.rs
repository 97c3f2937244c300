//! The outbox: every email and Discord message is a row first, leased by the sender.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::records::outbox::{NewOutboxMessage, OutboxMessage};

#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    async fn enqueue(&self, message: &NewOutboxMessage, at: DateTime<Utc>) -> Result<()>;

    /// Leases up to `limit` due messages until `lease_until`; a crashed sender's lease runs out
    /// and another picks the message up.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()>;

    async fn outbox_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()>;

    async fn outbox_pending(&self) -> Result<u64>;
}
