//! Idempotency keys of requests ([`crate::idempotency`]).

use chrono::{DateTime, Utc};

use crate::error::Result;

#[async_trait::async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Stores `fingerprint` for `key` in `scope` unless the key is there, and returns the
    /// fingerprint stored (the first request's) and whether it was stored now.
    async fn remember_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> Result<(String, bool)>;

    /// Forgets `key` in `scope` if it is still stored with `fingerprint`: the request it was
    /// remembered for was refused, so the key is free again for a corrected one.
    async fn forget_key(&self, scope: &str, key: &str, fingerprint: &str) -> Result<()>;
}
