//! The outbox: every email and Discord message is a row first, leased by the sender.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::store::outbox::OutboxStore;
use crate::store::{NewOutboxMessage, OutboxMessage};

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> OutboxStore for SqlStore<DB> {
    async fn enqueue(&self, message: &NewOutboxMessage, at: DateTime<Utc>) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        Self::write_outbox(&mut conn, message, at).await?;
        Ok(())
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // The conditions stand in the outer WHERE too: on PostgreSQL a row another sender
        // claimed meanwhile is re-checked after its lock is released, and skipped.
        let rows = sqlx::query(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL \
                            AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY id LIMIT $3) \
               AND sent_at IS NULL AND failed_at IS NULL AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING id, channel, recipient, payload, attempts",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(OutboxMessage {
                    id: row.try_get("id")?,
                    channel: row.try_get("channel")?,
                    recipient: row.try_get("recipient")?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|error| Error::internal("reading an outbox message", error))?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        const RETRY: &str = "UPDATE outbox SET next_attempt_at = $1, locked_until = NULL, \
                             last_error = $2 WHERE id = $3";
        self.release_outbox(RETRY, id, next_attempt_at, error).await
    }

    async fn outbox_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()> {
        const FAILED: &str =
            "UPDATE outbox SET failed_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3";
        self.release_outbox(FAILED, id, at, error).await
    }

    async fn outbox_pending(&self) -> Result<u64> {
        let query =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL");
        Self::count_rows(&self.writer, query).await
    }
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    /// Runs `release`, an update that sets a time (`$1`) and the last error (`$2`) on message
    /// `id` (`$3`) and frees it for the next worker.
    async fn release_outbox(
        &self,
        release: &'static str,
        id: i64,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        sqlx::query(release)
            .bind(at)
            .bind(error.to_owned())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}
