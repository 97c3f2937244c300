//! The rows of the server service: `servers` and `server_events`. Kept as a trait of its own,
//! a supertrait of [`Store`](super::Store), so the server service's SQL lives beside its rules.
//!
//! Every change of a server's state writes a `server_events` row in the same transaction, and
//! only when the state really changed: that history is what hourly billing reads.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{AccountId, ServerId, UserId};
use crate::money::Money;
use crate::records::ledger::Overdraft;
use crate::records::limits::CustomerLimits;
use crate::records::providers::{RemoteId, Resources};
use crate::records::servers::{NewServerRow, Server, ServerStatus};

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

/// What a create writes in the transaction of its row besides the row: its first hour, charged
/// from the customer's wallet to usage revenue (`usage:{server}:{hour}`, the hour of the row's
/// `rate.since`; `+1`, `+2`, ... when that key was charged and refunded by an earlier attempt),
/// and the customer's ceilings, checked against their servers as they are once the wallet row
/// is locked. Either all of it commits with the row, or none of it.
#[derive(Debug, Clone, Copy)]
pub struct FirstHour<'a> {
    pub wallet: AccountId,
    pub amount: Money,
    /// `Forbid` for a customer's create; `Allow` where the server exists already (the sync
    /// adopting a server its provider made after all).
    pub overdraft: Overdraft,
    /// `None` where no ceiling applies (adopting a server that exists).
    pub limits: Option<&'a CustomerLimits>,
}

/// How writing a create's row went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateStart {
    /// Written, its first hour charged.
    Started(Server),
    /// The key is another row's (or the failed row was retried meanwhile): that row, as it is;
    /// nothing written.
    Taken(Server),
    /// The balance does not cover the first hour; nothing written.
    NoFunds { balance: Money },
}

/// What a resize to a larger rate pays before its provider is asked, and the ceilings it must
/// stay under: checked and posted in one transaction with the wallet row locked.
#[derive(Debug, Clone, Copy)]
pub struct ResizeHold<'a> {
    pub server: ServerId,
    pub wallet: AccountId,
    pub to: Resources,
    /// For a larger rate: the new rate, whose hour the balance must cover (`hour`), and which
    /// the current hour is topped up to now if it was paid already.
    pub larger: Option<LargerRate>,
    pub limits: &'a CustomerLimits,
    pub at: DateTime<Utc>,
}

/// A resize's new rate, when it is larger than the old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LargerRate {
    pub hour: Money,
    pub rate_running: i64,
    pub rate_stopped: i64,
    pub rate_hours: i64,
}

/// How a resize hold went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResizeHeld {
    /// Within the ceilings and paid for: the key and amount of the current hour's top-up, if one
    /// was posted (refunded if the provider does not resize).
    Held { top_up: Option<(String, Money)> },
    /// The balance does not cover an hour at the new rate; nothing written.
    NoFunds { balance: Money },
}

#[async_trait::async_trait]
pub trait ServerStore: Send + Sync {
    /// The price snapshots of the user's servers that are not deleted.
    async fn server_rates(&self, user: UserId) -> Result<Vec<ServerRate>>;

    /// Inserts a server in state `creating` with its first hour (see [`FirstHour`]; `None`
    /// charges nothing and checks nothing), unless its create key is taken. A ceiling passed
    /// is the error the limits gave.
    async fn insert_server(
        &self,
        new: &NewServerRow,
        first: Option<&FirstHour<'_>>,
    ) -> Result<CreateStart>;
    async fn server(&self, id: ServerId) -> Result<Option<Server>>;
    async fn server_by_key(&self, key: &str) -> Result<Option<Server>>;
    /// Servers not deleted, of one user or (with `None`) of everybody, in id order.
    async fn servers_of(&self, user: Option<UserId>) -> Result<Vec<Server>>;
    /// Servers not deleted that live on the provider called `provider`.
    async fn servers_on(&self, provider: &str) -> Result<Vec<Server>>;
    /// Turns a `failed` create back into `creating` for a retry, as if `new` were inserted now:
    /// its plan, size, price, `created_at`, rate start and `billed_until` are replaced by
    /// `new`'s, so billing starts at the retry, and its first hour is charged as
    /// [`Self::insert_server`] does. [`CreateStart::Taken`] if it was not failed.
    async fn retry_failed_server(
        &self,
        id: ServerId,
        new: &NewServerRow,
        first: Option<&FirstHour<'_>>,
    ) -> Result<CreateStart>;
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
    /// Checks a resize against the customer's ceilings and, for a larger rate, the balance
    /// against an hour of it, and tops the current hour up to the new rate if it was paid
    /// already: one transaction, the wallet row locked. A ceiling passed is the limits' error.
    async fn hold_resize(&self, hold: &ResizeHold<'_>) -> Result<ResizeHeld>;
    /// Clears the mark of a resize that did not happen, and refunds its hold's top-up
    /// (`top_up`, once), in one transaction.
    async fn end_resize(&self, id: ServerId, top_up: Option<&str>, at: DateTime<Utc>)
    -> Result<()>;
    /// Marks a create that did not happen `failed` (and out of billing) and refunds its first
    /// hour (`usage-refund:{server}:{hour}`, once) in one transaction; `false`, changing
    /// nothing, if it was no longer `creating` or is a later attempt than the one seen
    /// (`attempt`, the `created_at` the caller read: a failed create retried since is the
    /// retry's to finish).
    async fn server_failed(
        &self,
        id: ServerId,
        attempt: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
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
    /// What the server's usage postings add up to so far, less what was refunded.
    async fn server_charged(&self, id: ServerId) -> Result<Money>;
}
