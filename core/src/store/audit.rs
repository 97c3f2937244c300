//! The audit log.

use chrono::{DateTime, Utc};

use super::{Page, Paginated};
use crate::email::Email;
use crate::error::Result;
use crate::ids::{AccountId, UserId};
use crate::money::Money;
use crate::policy::Role;
use crate::records::audit::{AuditEntry, AuditRecord};
use crate::records::auth::{ApiKeyInfo, CodeCheck, NewApiKey, NewCode, SessionRecord};
use crate::records::ledger::{
    Attached, Discrepancy, PostOutcome, Posted, Posting, PostingRequest, StatementLine,
    SystemAccount,
};
use crate::records::outbox::{NewOutboxMessage, OutboxMessage};
use crate::records::users::{NewUser, User, UserAuth, UserStatus};

#[async_trait::async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<()>;

    async fn audit_log(&self, page: Page) -> Result<Paginated<AuditRecord>>;
}
