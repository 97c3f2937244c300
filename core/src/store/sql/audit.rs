//! The audit log.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, IntoArguments, Row};

use super::{Column, Engine, Filter, SqlStore};
use crate::error::{Error, Result};
use crate::ids::{AuditId, UserId};
use crate::records::audit::{AuditEntry, AuditRecord};
use crate::store::audit::AuditStore;
use crate::store::{Page, Paginated};

#[async_trait::async_trait]
impl<DB> AuditStore for SqlStore<DB>
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
    async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        Self::write_audit(&mut *conn, entry, at).await?;
        Ok(())
    }

    async fn audit_log(&self, page: Page) -> Result<Paginated<AuditRecord>> {
        self.page_of(
            "SELECT id, at, actor_user_id, actor_via, action, target, outcome, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
            "SELECT COUNT(*) FROM audit_log",
            Filter::None,
            page,
            audit_from_row,
        )
        .await
    }
}

fn audit_from_row<R: Row>(row: &R) -> Result<AuditRecord>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<i64>: Column<R::Database>,
    Option<String>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
    let detail: Option<String> = row.try_get("detail")?;
    Ok(AuditRecord {
        id: AuditId(row.try_get("id")?),
        at: row.try_get("at")?,
        actor_user: row.try_get::<Option<i64>, _>("actor_user_id")?.map(UserId),
        via: row.try_get("actor_via")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        detail: detail
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|error| Error::internal("reading the audit log", error))?,
    })
}
