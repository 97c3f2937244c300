//! Settings kept in the database (the session secret, maintenance mode).

use chrono::{DateTime, Utc};

use crate::error::Result;

#[async_trait::async_trait]
pub trait SettingStore: Send + Sync {
    async fn setting(&self, key: &str) -> Result<Option<String>>;

    async fn put_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()>;

    /// Stores `value` unless the key exists, and returns what is stored.
    async fn insert_setting_if_absent(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<String>;
}
