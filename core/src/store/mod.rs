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

pub mod assistant;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod config;
pub mod discord;
pub mod idempotency;
pub mod knowledge;
pub mod ledger;
pub mod outbox;
pub mod payments;
mod postgres;
pub mod servers;
pub mod settings;
mod sql;
mod sqlite;
pub mod ssh_keys;
pub mod status;
pub mod throttle;
pub mod tickets;
pub mod users;

use std::sync::Arc;

use secrecy::ExposeSecret;
use serde::Serialize;

use crate::error::{Error, Result};
pub use crate::records::auth::{CODE_ATTEMPTS, CodeCheck, NewCode};
pub use crate::records::outbox::{NewOutboxMessage, OutboxMessage};
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
pub trait Store: Send + Sync + 'static {
    fn engine(&self) -> EngineKind;
    /// Accounts ([`users`]).
    fn users(&self) -> &dyn users::UserStore;
    /// Passwords, two-factor, sessions, one-time codes and API keys ([`auth`]).
    fn auth(&self) -> &dyn auth::AuthStore;
    /// Postings, balances and statements ([`ledger`]).
    fn ledger(&self) -> &dyn ledger::LedgerStore;
    /// The audit log ([`audit`]).
    fn audit(&self) -> &dyn audit::AuditStore;
    /// Messages waiting to be sent ([`outbox`]).
    fn outbox(&self) -> &dyn outbox::OutboxStore;
    /// Settings kept in the database ([`settings`]).
    fn settings(&self) -> &dyn settings::SettingStore;
    /// Attempt counts shared by every replica ([`throttle`]).
    fn throttle(&self) -> &dyn throttle::ThrottleStore;
    /// Idempotency keys of requests ([`idempotency`]).
    fn idempotency(&self) -> &dyn idempotency::IdempotencyStore;
    /// Servers and their state history ([`servers`]).
    fn servers(&self) -> &dyn servers::ServerStore;
    /// Hourly billing's set-based steps ([`billing`]).
    fn billing(&self) -> &dyn billing::BillingStore;
    /// PayPal orders, webhook events and filtered statements ([`payments`]).
    fn payments(&self) -> &dyn payments::PaymentStore;
    /// Linked Discord accounts, link codes and pending `/credits` requests.
    fn discord(&self) -> &dyn discord::DiscordStore;
    /// SSH public keys saved on accounts.
    fn ssh_keys(&self) -> &dyn ssh_keys::SshKeyStore;
    /// Tickets, their messages and their Discord threads.
    fn tickets(&self) -> &dyn tickets::TicketStore;
    /// The status report, its lease, history and hostdeck's own incidents ([`status`]).
    fn status(&self) -> &dyn status::StatusStore;
    /// Knowledge-base articles and their version ([`knowledge`]).
    fn knowledge(&self) -> &dyn knowledge::KnowledgeStore;
    /// The assistant's usage records and daily token counts ([`assistant`]).
    fn assistant(&self) -> &dyn assistant::AssistantStore;
    /// Answers when the database does; `/readyz` uses it.
    async fn ping(&self) -> Result<()>;
    /// Closes every connection, waiting for work in flight.
    async fn close(&self);
}

/// Connects to the database named by `config.url`, creates it if it is a new SQLite file, and
/// brings its schema up to date. Errors say what to check and never print the password.
pub async fn open(config: &DatabaseConfig) -> Result<Arc<dyn Store>> {
    let url = config.url.expose_secret();
    let shown = redact_url_password(url);
    let store: Arc<dyn Store> = if url.starts_with("sqlite:") {
        Arc::new(
            sqlite::open(url, config)
                .await
                .map_err(|error| unusable(&shown, &error))?,
        )
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Arc::new(
            postgres::open(url, config)
                .await
                .map_err(|error| unusable(&shown, &error))?,
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

fn unusable(shown: &str, error: &OpenError) -> Error {
    let why = match error {
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
