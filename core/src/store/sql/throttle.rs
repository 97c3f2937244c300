//! Throttles shared by every replica (see `auth::throttle`): attempts counted per key in
//! windows that start at a key's first attempt.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::Result;
use crate::store::throttle::ThrottleStore;

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> ThrottleStore for SqlStore<DB> {
    async fn throttle_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>)> {
        // One row per key (window_index 0): a window that is over starts again at this attempt.
        let row = sqlx::query(
            "INSERT INTO throttle_counts (key, window_index, hits, expires_at) VALUES ($1, 0, 1, $2) \
             ON CONFLICT (key, window_index) DO UPDATE SET \
             hits = CASE WHEN throttle_counts.expires_at <= $3 THEN 1 ELSE throttle_counts.hits + 1 END, \
             expires_at = CASE WHEN throttle_counts.expires_at <= $3 THEN $2 ELSE throttle_counts.expires_at END \
             RETURNING hits, expires_at",
        )
        .bind(key.to_owned())
        .bind(ends)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok((row.try_get("hits")?, row.try_get("expires_at")?))
    }

    async fn throttle_give_back(&self, key: &str, window: i64) -> Result<()> {
        sqlx::query(
            "UPDATE throttle_counts SET hits = hits - 1 WHERE key = $1 AND window_index = $2 AND hits > 0",
        )
        .bind(key.to_owned())
        .bind(window)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn throttle_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM throttle_counts WHERE key = $1")
            .bind(key.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn throttle_purge(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM throttle_counts WHERE expires_at < $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(DB::rows_affected(&done))
    }
}
