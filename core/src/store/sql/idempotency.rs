//! Idempotency keys of requests ([`crate::idempotency`]).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::store::idempotency::IdempotencyStore;

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> IdempotencyStore for SqlStore<DB> {
    async fn remember_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> Result<(String, bool)> {
        let stored = sqlx::query(
            "INSERT INTO idempotency_keys (scope, client_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (scope, client_key) DO NOTHING",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .bind(fingerprint.to_owned())
        .bind(at)
        .execute(&self.writer)
        .await?;
        if DB::rows_affected(&stored) == 1 {
            return Ok((fingerprint.to_owned(), true));
        }
        let row = sqlx::query(
            "SELECT fingerprint FROM idempotency_keys WHERE scope = $1 AND client_key = $2",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .fetch_one(&self.writer)
        .await?;
        Ok((row.try_get("fingerprint").map_err(Error::from)?, false))
    }

    async fn forget_key(&self, scope: &str, key: &str, fingerprint: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND client_key = $2 AND fingerprint = $3",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .bind(fingerprint.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}
