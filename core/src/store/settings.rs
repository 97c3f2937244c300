//! Settings kept in the database (the session secret, maintenance mode).

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
