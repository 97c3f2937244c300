//! Settings kept in the database (the session secret, maintenance mode).

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, IntoArguments, Row};

use super::{Column, Engine, SqlStore};
use crate::error::{Error, Result};
use crate::store::settings::SettingStore;

#[async_trait::async_trait]
impl<DB> SettingStore for SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    bool: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<String>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
{
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
