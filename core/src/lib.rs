//! hostdeck-core: every rule of the platform, shared by the Discord bot, the web portal, the
//! JSON API and the scheduler. It knows nothing of Discord or HTTP.
//!
//! Layout, by noun:
//! - [`config`]: the typed configuration and how it is loaded.
//! - [`policy`]: roles, scopes, the [`Actor`] of every call, and the one permission table.
//! - [`money`], [`email`], [`ids`]: domain types that are valid once they exist.
//! - [`store`]: the [`store::Store`] trait over SQLite and PostgreSQL.
//! - [`ledger`]: prepaid credit as append-only double-entry postings.
//! - [`users`], [`audit`], [`auth`]: accounts, the audit log, passwords.
//! - [`clock`]: the one source of "now".
//!
//! [`Core`] ties them together; front doors hold an `Arc<Core>` and call its services with an
//! [`Actor`] they built from a session, an API key or a Discord member.

pub mod audit;
pub mod auth;
pub mod clock;
pub mod config;
pub mod email;
pub mod error;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod policy;
pub mod store;
pub mod users;

use std::sync::Arc;

pub use error::{Error, ErrorCode, Result};
pub use policy::{Actor, Permission, Role, Via};

use audit::Audit;
use clock::{Clock, SystemClock};
use config::Config;
use ledger::Ledger;
use store::Store;
use users::Users;

/// The platform's services over one store and one clock.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub audit: Audit,
    pub users: Users,
    pub ledger: Ledger,
}

impl Core {
    /// Opens the database named in the config (migrating it) on the wall clock.
    pub async fn open(config: Config) -> Result<Self> {
        let store = store::open(&config.database).await?;
        Ok(Self::new(config, store, Arc::new(SystemClock)))
    }

    pub fn new(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        let audit = Audit::new(store.clone(), clock.clone());
        Self {
            users: Users::new(store.clone(), clock.clone(), audit.clone()),
            ledger: Ledger::new(store.clone(), clock.clone(), audit.clone()),
            audit,
            config: Arc::new(config),
            store,
            clock,
        }
    }
}
