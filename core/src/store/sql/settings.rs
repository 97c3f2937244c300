//! Settings kept in the database (the session secret, maintenance mode).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::store::settings::SettingStore;

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> SettingStore for SqlStore<DB> {
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| row.try_get("value").map_err(Error::from))
            .transpose()
    }

    async fn put_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn insert_setting_if_absent(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
            .bind(key.to_owned())
            .bind(value.to_owned())
            .bind(at)
            .execute(&self.writer)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_one(&self.writer)
            .await?;
        row.try_get("value").map_err(Error::from)
    }
}
