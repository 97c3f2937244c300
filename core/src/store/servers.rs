//! The rows of the server service: `servers` and `server_events`. Kept as a trait of its own,
//! a supertrait of [`Store`](super::Store), so the server service's SQL lives beside its rules.
//!
//! Every change of a server's state writes a `server_events` row in the same transaction, and
//! only when the state really changed: that history is what hourly billing reads.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{ServerId, UserId};
use crate::money::Money;
use crate::providers::RemoteId;
use crate::servers::{NewServerRow, Server, ServerStatus};

/// Who saw a state change, as `server_events.source` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// An action through hostdeck (a power button, a create, a suspension).
    Action,
    /// The sync job, or a live read, saw it on the provider.
    Sync,
    /// Billing (a suspension for an unpaid balance).
    Billing,
}

impl EventSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Action => "action",
            Self::Sync => "sync",
            Self::Billing => "billing",
        }
    }
}

/// A create asked for and priced, waiting for its confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldCreate {
    pub user: UserId,
    pub name: String,
    pub hostname: String,
    pub plan: String,
    pub template: String,
    pub location: Option<String>,
}

/// One row of a server's state history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ServerEvent {
    pub at: DateTime<Utc>,
    /// A [`ServerStatus`] word, or `suspended`.
    pub state: String,
    /// `action`, `sync` or `billing`.
    pub source: String,
}

/// The state written to `server_events` for a suspension. The `servers.state` column keeps the
/// power state; a suspension lives in `suspended_at`.
pub const SUSPENDED_EVENT: &str = "suspended";

/// The price snapshot of one of a user's servers that is not deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRate {
    pub running: bool,
    /// Micro-units per `rate_hours` hours.
    pub rate_running: i64,
    pub rate_stopped: i64,
    pub rate_hours: i64,
}

#[async_trait::async_trait]
pub trait ServerStore: Send + Sync {
    /// The price snapshots of the user's servers that are not deleted.
    async fn server_rates(&self, user: UserId) -> Result<Vec<ServerRate>>;

    /// Inserts a server in state `creating`, unless its create key is taken: then returns the
    /// row that holds it and `false`.
    async fn insert_server(&self, new: &NewServerRow) -> Result<(Server, bool)>;
    async fn server(&self, id: ServerId) -> Result<Option<Server>>;
    async fn server_by_key(&self, key: &str) -> Result<Option<Server>>;
    /// Servers not deleted, of one user or (with `None`) of everybody, in id order.
    async fn servers_of(&self, user: Option<UserId>) -> Result<Vec<Server>>;
    /// Servers not deleted that live on the provider called `provider`.
    async fn servers_on(&self, provider: &str) -> Result<Vec<Server>>;
    /// Turns a `failed` create back into `creating` for a retry, as if `new` were inserted now:
    /// its plan, size, price, `created_at`, rate start and `billed_until` are replaced by
    /// `new`'s, so billing starts at the retry. `false` if it was not failed.
    async fn retry_failed_server(&self, id: ServerId, new: &NewServerRow) -> Result<bool>;
    /// Records that the provider made the server; `false` if the row was no longer `creating`.
    async fn server_created(
        &self,
        id: ServerId,
        remote: &RemoteId,
        state: ServerStatus,
        at: DateTime<Utc>,
        source: EventSource,
    ) -> Result<bool>;
    /// Marks a resize of server `id` under way until `until`; `false` if another one is (and
    /// has not run past its deadline). Cleared by [`Self::end_resize`] or by recording the new
    /// rate (`BillingStore::change_rate`).
    async fn begin_resize(
        &self,
        id: ServerId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Clears the mark of a resize that did not happen.
    async fn end_resize(&self, id: ServerId) -> Result<()>;
    /// Marks a create that did not happen `failed` (and out of billing); `false` if it was no
    /// longer `creating`.
    async fn server_failed(&self, id: ServerId, at: DateTime<Utc>) -> Result<bool>;
    /// Sets each server's state in one transaction, with an event for each one that changed.
    /// Returns how many changed.
    async fn set_server_states(
        &self,
        changes: &[(ServerId, ServerStatus)],
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<usize>;
    /// Suspends (`Some(reason)`) or unsuspends (`None`, then `state` is the state it is left
    /// in), with an event. `false` if there was nothing to change.
    async fn set_server_suspension(
        &self,
        id: ServerId,
        reason: Option<&str>,
        state: ServerStatus,
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Marks the server deleted (billing stops); `false` if it already was.
    async fn server_deleted(
        &self,
        id: ServerId,
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Keeps a priced create until it is confirmed; returns its id.
    async fn insert_create_request(&self, request: &HeldCreate, at: DateTime<Utc>) -> Result<i64>;
    async fn create_request(&self, id: i64) -> Result<Option<HeldCreate>>;
    /// The server's state history, oldest first.
    async fn server_events(&self, id: ServerId) -> Result<Vec<ServerEvent>>;
    /// What the server's usage postings add up to so far.
    async fn server_charged(&self, id: ServerId) -> Result<Money>;
}
