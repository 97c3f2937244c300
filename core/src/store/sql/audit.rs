//! The audit log.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Filter, SqlStore};
use crate::error::{Error, Result};
use crate::ids::{AuditId, UserId};
use crate::records::audit::{AuditEntry, AuditRecord};
use crate::store::audit::AuditStore;
use crate::store::{Page, Paginated};

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> AuditStore for SqlStore<DB> {
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

#[hostdeck_macros::row_bounds]
fn audit_from_row<R: Row>(row: &R) -> Result<AuditRecord> {
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
