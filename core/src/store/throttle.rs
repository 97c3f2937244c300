//! Throttles shared by every replica (see `auth::throttle`): attempts counted per key in
//! windows that start at a key's first attempt.

use chrono::{DateTime, Utc};

use crate::error::Result;

#[async_trait::async_trait]
pub trait ThrottleStore: Send + Sync {
    /// Counts one attempt for `key` at `now` and returns the count of its window with the
    /// window's end. A window starts at the first attempt after the last one ended and lasts
    /// until `ends` (given for a new window), so no clock-aligned boundary splits a burst. One
    /// statement, so concurrent attempts each see a different count.
    async fn throttle_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>)>;

    /// Takes back one attempt counted in `window` (one that turned out not to count).
    async fn throttle_give_back(&self, key: &str, window: i64) -> Result<()>;

    /// Forgets every count of `key`.
    async fn throttle_clear(&self, key: &str) -> Result<()>;

    /// Deletes the counts of windows that ended before `now`.
    async fn throttle_purge(&self, now: DateTime<Utc>) -> Result<u64>;
}
