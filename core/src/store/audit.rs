//! The audit log.

use chrono::{DateTime, Utc};

use super::{Page, Paginated};
use crate::error::Result;
use crate::records::audit::{AuditEntry, AuditRecord};

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<()>;

    async fn audit_log(&self, page: Page) -> Result<Paginated<AuditRecord>>;
}
