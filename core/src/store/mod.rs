//! Where state lives: the [`Store`] trait and its two engines.
//!
//! SQLite is the zero-config default (`sqlite://data/hostdeck.db`, WAL, created on first run);
//! PostgreSQL is for production and for several replicas. The engine is chosen by the prefix of
//! `database.url`. Both run the same `$N` SQL text through one generic implementation
//! ([`sql`]); the engine files hold only what truly differs: connecting, migrations, how a
//! write transaction begins, and which errors are worth a retry. Each engine has its own
//! migrations folder under `migrations/`, and a landed migration is never edited.
//!
//! The store checks no permissions: services do that before they call it.

pub mod billing;
pub mod config;
pub mod discord;
pub mod payments;
mod postgres;
pub mod servers;
mod sql;
mod sqlite;
pub mod ssh_keys;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde::Serialize;

use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::money::Money;
use crate::policy::Role;
use crate::records::audit::{AuditEntry, AuditRecord};
use crate::records::auth::SessionRecord;
use crate::records::auth::{ApiKeyInfo, NewApiKey};
use crate::records::ledger::{
    Attached, Discrepancy, PostOutcome, Posted, Posting, PostingRequest, StatementLine,
    SystemAccount,
};
pub use crate::records::outbox::{NewOutboxMessage, OutboxMessage};
use crate::records::users::{NewUser, User, UserAuth, UserStatus};
use config::{DatabaseConfig, redact_url_password};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Sqlite,
    Postgres,
}

impl EngineKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A page of a listing, 1-based. `limit` is 1 to [`Page::MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub limit: u32,
}

impl Page {
    pub const MAX_LIMIT: u32 = 200;
    pub const DEFAULT_LIMIT: u32 = 50;

    pub fn new(page: u32, limit: u32) -> Result<Self> {
        if page == 0 {
            return Err(Error::invalid("page", "pages are counted from 1"));
        }
        if !(1..=Self::MAX_LIMIT).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("limit is 1 to {}", Self::MAX_LIMIT),
            ));
        }
        Ok(Self { page, limit })
    }

    pub fn first(limit: u32) -> Self {
        Self {
            page: 1,
            limit: limit.clamp(1, Self::MAX_LIMIT),
        }
    }

    fn offset(self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.limit)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::first(Self::DEFAULT_LIMIT)
    }
}

/// One page of results and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Paginated<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

impl<T> Paginated<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.limit.max(1)))
    }
}

#[async_trait::async_trait]
pub trait Store: servers::ServerStore + billing::BillingStore + Send + Sync + 'static {
    fn engine(&self) -> EngineKind;
    /// PayPal orders, webhook events and filtered statements ([`payments`]).
    fn payments(&self) -> &dyn payments::PaymentStore;
    /// Linked Discord accounts, link codes and pending `/credits` requests.
    fn discord(&self) -> &dyn discord::DiscordStore;
    /// SSH public keys saved on accounts.
    fn ssh_keys(&self) -> &dyn ssh_keys::SshKeyStore;
    /// Answers when the database does; `/readyz` uses it.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection, waiting for work in flight.
    async fn close(&self);

    /// Creates an account and its wallet in one transaction. A taken email is a `conflict`.
    async fn insert_user(&self, user: &NewUser, at: DateTime<Utc>) -> Result<User>;
    async fn user(&self, id: UserId) -> Result<Option<User>>;
    async fn user_by_email(&self, email: &Email) -> Result<Option<User>>;
    async fn list_users(&self, search: Option<&str>, page: Page) -> Result<Paginated<User>>;
    async fn set_user_role(&self, id: UserId, role: Role) -> Result<()>;
    async fn count_users_with_role(&self, role: Role) -> Result<u64>;

    fn system_account(&self, which: SystemAccount) -> AccountId;
    /// Posts once per key; see [`crate::ledger`] for the rules. [`Self::post_with`] with
    /// nothing attached.
    async fn post(&self, request: &PostingRequest, at: DateTime<Utc>) -> Result<PostOutcome> {
        Ok(self
            .post_with(request, at, &Attached::nothing())
            .await?
            .outcome)
    }
    /// Posts once per key and, in the same transaction and only when the posting is new, writes
    /// what is `attached` (its audit entry, its webhook event's outcome, ...).
    async fn post_with(
        &self,
        request: &PostingRequest,
        at: DateTime<Utc>,
        attached: &Attached,
    ) -> Result<Posted>;
    /// Several postings, each as [`Self::post_with`]: each posting with its records commits or
    /// not on its own, and one's refusal or failure does not hold up the others, but where the
    /// engine can they share one commit (group commit). One answer per item, in order.
    async fn post_group(
        &self,
        items: &[(PostingRequest, Attached)],
        at: DateTime<Utc>,
    ) -> Vec<Result<Posted>> {
        let mut results = Vec::with_capacity(items.len());
        for (request, attached) in items {
            results.push(self.post_with(request, at, attached).await);
        }
        results
    }
    async fn posting_by_key(&self, key: &str) -> Result<Option<Posting>>;
    async fn count_postings(&self) -> Result<u64>;
    async fn account_balance(&self, account: AccountId) -> Result<Money>;
    async fn statement(&self, account: AccountId, page: Page) -> Result<Paginated<StatementLine>>;
    async fn ledger_discrepancies(&self) -> Result<Vec<Discrepancy>>;

    async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<()>;
    async fn audit_log(&self, page: Page) -> Result<Paginated<AuditRecord>>;

    // Sign-in.
    async fn user_auth(&self, id: UserId) -> Result<Option<UserAuth>>;
    async fn user_auth_by_email(&self, email: &Email) -> Result<Option<UserAuth>>;
    /// Sets the password and ends every session started before `valid_after`.
    async fn set_password(
        &self,
        user: UserId,
        hash: &str,
        valid_after: DateTime<Utc>,
    ) -> Result<()>;
    /// Marks the email verified; `false` if it already was.
    async fn mark_email_verified(&self, user: UserId, at: DateTime<Utc>) -> Result<bool>;
    async fn set_display_name(&self, user: UserId, name: Option<&str>) -> Result<()>;
    async fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn set_totp_pending(&self, user: UserId, secret: Option<&str>) -> Result<()>;
    /// Turns two-factor on with the pending secret; `false` if none was pending.
    async fn confirm_totp(&self, user: UserId, at: DateTime<Utc>) -> Result<bool>;
    async fn disable_totp(&self, user: UserId) -> Result<()>;
    /// Records `step` as used; `false` if it (or a later one) already was, so a code works once.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;

    async fn insert_session(&self, session: &SessionRecord, client: &str) -> Result<()>;
    async fn session_with_user(&self, id: &str) -> Result<Option<(SessionRecord, UserAuth)>>;
    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<()>;
    /// Ends every session of `user` but `keep`.
    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Stores a one-time code's hash; earlier unused codes of the same purpose stop working.
    async fn insert_code(&self, code: &NewCode) -> Result<()>;
    /// Checks a code and uses it up if it matches.
    async fn use_code(
        &self,
        purpose: &str,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<CodeCheck>;

    async fn insert_api_key(&self, key: &NewApiKey) -> Result<ApiKeyInfo>;
    async fn api_keys_of(&self, user: UserId) -> Result<Vec<ApiKeyInfo>>;
    /// `false` if the user has no such live key.
    async fn revoke_api_key(&self, user: UserId, id: i64, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes every live key of `user`; how many.
    async fn revoke_api_keys_of(&self, user: UserId, at: DateTime<Utc>) -> Result<u64>;
    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<(ApiKeyInfo, UserAuth)>>;
    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()>;

    // The outbox.
    async fn enqueue(&self, message: &NewOutboxMessage, at: DateTime<Utc>) -> Result<()>;
    /// Leases up to `limit` due messages until `lease_until`; a crashed sender's lease runs out
    /// and another picks the message up.
    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>>;
    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()>;
    async fn outbox_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()>;
    async fn outbox_pending(&self) -> Result<u64>;

    // Throttles shared by every replica (see `auth::throttle`).
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

    // Settings.
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    async fn put_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()>;
    /// Stores `value` unless the key exists, and returns what is stored.
    async fn insert_setting_if_absent(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<String>;

    // Idempotency keys ([`crate::idempotency`]).
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

/// A one-time code to store.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub purpose: &'static str,
    pub user: UserId,
    /// Hashes of the short codes sent: each dies after [`CODE_ATTEMPTS`] wrong tries.
    pub hashes: Vec<String>,
    /// The hash of a long link token sent beside them (a reset email), which cannot be
    /// guessed and so is not put out by wrong tries at the short code: a stranger guessing at
    /// someone's code cannot kill the link in that person's inbox.
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The result of checking a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Wrong,
    /// No live code (none sent, expired, used, or too many wrong tries).
    NoCode,
}

/// Wrong tries a code survives.
pub const CODE_ATTEMPTS: i64 = 5;

/// Connects to the database named by `config.url`, creates it if it is a new SQLite file, and
/// brings its schema up to date. Errors say what to check and never print the password.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>> {
    let url = config.url.expose_secret();
    let shown = redact_url_password(url);
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(
            sqlite::open(url, config)
                .await
                .map_err(|error| unusable(&shown, error))?,
        )
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(
            postgres::open(url, config)
                .await
                .map_err(|error| unusable(&shown, error))?,
        )
    } else {
        return Err(Error::invalid(
            "database.url",
            "expected a URL starting with sqlite:// or postgres://",
        ));
    };
    tracing::info!(engine = store.engine().as_str(), database = %shown, "database ready");
    Ok(store)
}

fn unusable(shown: &str, error: OpenError) -> Error {
    let why = match &error {
        OpenError::Connect(cause) => format!("could not connect to the database {shown}: {cause}"),
        OpenError::Migrate(cause) => {
            format!("could not bring the database {shown} up to date: {cause}")
        }
        OpenError::Prepare(cause) => format!("could not prepare the database {shown}: {cause}"),
    };
    Error::Unavailable(format!(
        "{why}. Check database.url and that the database is running."
    ))
}

#[derive(Debug, thiserror::Error)]
enum OpenError {
    #[error("{0}")]
    Connect(#[source] sqlx::Error),
    #[error("{0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Prepare(String),
}
