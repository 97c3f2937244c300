//! The server service: customers' servers on whichever provider they live, one set of rules for
//! Discord, the portal, the API and the scheduler.
//!
//! What lives here: who may see and control which server (ownership re-checked on every call,
//! every refusal of somebody else's server audited), the create flow with its price and its
//! first hour charged up front, power actions, resizes (`resize.rs`: priced like a create, a
//! disk never shrinks, the rate switched as billing says), deletion, suspension (by staff, or by billing for
//! an unpaid balance), and the state history billing reads. [`sync`] keeps the stored state
//! fresh from the providers. What does not: talking to a platform (that is
//! [`crate::providers`]), prices (that is [`crate::pricing`]), billing the hours after the first
//! (that is the billing tick, which reads `servers` and `server_events`).
//!
//! A create is idempotent by its [`CreateKey`]: the row is written (`creating`) before the
//! provider is asked, with the key unique, so a double click, a retried request or a second
//! replica finds the same row and never makes a second server or a second charge. The row, the
//! customer's ceilings ([`limits`]) and the first hour's charge (ledger key
//! `usage:{server}:{hour}`, refusing to overdraw) are one transaction with the customer's wallet
//! row locked, before the provider is asked: parallel creates are counted and charged one after
//! the other, and credit for one server buys one server. A create the provider refused is
//! `failed` and its first hour refunded in the same transaction (`usage-refund:{server}:{hour}`),
//! so it costs nothing (creating it again under the same key goes through a normal create,
//! priced and charged then; the sync adopts it, charging again, if the provider made it after
//! all). A create whose answer was lost stays `creating`, charged, until the sync finds the
//! server by its key or gives up on it and refunds it.

mod access;
mod create;
mod images;
pub mod limits;
mod listing;
mod power;
mod resize;
mod suspension;
pub mod sync;

pub use create::{CreateChoice, CreateServer, Created, MAX_SSH_KEYS, client_key};
pub use images::{CATALOG_TTL, Catalog, Offered};
pub use listing::{Owners, ServerView};
pub use power::parse_power_action;
pub use resize::{ResizeQuote, Resized};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde::Serialize;

use crate::audit::Audit;
use crate::billing::meter::{hour_of, posting_reference};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::ServerId;
use crate::money::Money;
use crate::notify::Outbox;
use crate::policy::{Actor, Permission};
use crate::pricing::{Pricing, Quote, Size};
use crate::providers::{PowerAction, Providers, RemoteId};
pub use crate::records::servers::{NewServerRow, Rate, Server, ServerStatus};
use crate::store::Store;

/// The reason written on a suspension for an unpaid balance; only these are lifted by
/// [`Servers::unsuspend_billing`], never a suspension staff made.
pub const BILLING_REASON: &str = "unpaid balance";

impl Server {
    /// The price the server was created at, as a quote (what its first hour was charged from).
    pub fn quote(&self) -> Quote {
        Quote {
            plan: self.plan.clone(),
            resources: self.resources,
            running: self.rate.running,
            stopped: self.rate.stopped,
            rate_hours: self.rate.hours,
        }
    }

    pub fn is_suspended(&self) -> bool {
        self.suspended_at.is_some()
    }

    /// The power actions its owner is offered now: those of its state
    /// ([`ServerStatus::allowed_actions`]), none while it is suspended. Every door offers these
    /// and no others (the portal's buttons, the API's `actions`, Discord's confirm button).
    pub fn power_actions(&self) -> &'static [PowerAction] {
        if self.is_suspended() || self.deleted_at.is_some() {
            &[]
        } else {
            self.state.allowed_actions()
        }
    }

    /// `Ok` when `action` is one of [`Server::power_actions`]; otherwise a `conflict` that says
    /// what can be done instead.
    pub fn may_power(&self, action: PowerAction) -> Result<()> {
        if self.power_actions().contains(&action) {
            return Ok(());
        }
        if self.is_suspended() {
            return Err(suspended(self, "top up your credit and it starts again."));
        }
        let offered: Vec<&str> = self
            .power_actions()
            .iter()
            .map(|action| action.label())
            .collect();
        Err(Error::Conflict(if offered.is_empty() {
            format!(
                "{} is {}: it has no power actions now; wait until it is ready, or ask support.",
                self.name,
                self.shown_state()
            )
        } else {
            format!(
                "{} is {}, so there is nothing to {}; you can: {}.",
                self.name,
                self.shown_state(),
                action.label().to_lowercase(),
                offered.join(", ").to_lowercase()
            )
        }))
    }

    /// The one word people see: the state, or `suspended`.
    pub fn shown_state(&self) -> &'static str {
        if self.is_suspended() && self.deleted_at.is_none() {
            "suspended"
        } else {
            self.state.as_str()
        }
    }

    /// The price of an hour now, as the server's snapshot says: the same figure `/balance`,
    /// the portal and the API show for a customer's burn rate (running and unsuspended at the
    /// running rate, otherwise the stopped rate; rounded up to a whole micro-unit).
    pub fn hourly(&self) -> Money {
        crate::burn_rate::BurnRate::of(&[crate::store::servers::ServerRate {
            running: self.state == ServerStatus::Running && !self.is_suspended(),
            rate_running: self.rate.running,
            rate_stopped: self.rate.stopped,
            rate_hours: self.rate.hours,
        }])
        .per_hour()
    }
}

/// The refusal of an action on a suspended server: why it is suspended, and what to do
/// (`after_top_up` when the suspension is billing's).
fn suspended(server: &Server, after_top_up: &str) -> Error {
    Error::Conflict(format!(
        "{} is suspended ({}); {}",
        server.name,
        server
            .suspend_reason
            .as_deref()
            .unwrap_or("no reason given"),
        if server.suspend_reason.as_deref() == Some(BILLING_REASON) {
            after_top_up
        } else {
            "contact support."
        }
    ))
}

/// A location a server can be created in: a configured provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub name: String,
    pub platform: &'static str,
    /// Whether its servers can get SSH keys at creation.
    pub ssh_keys: bool,
    /// Whether its servers get a generated root password (shown once).
    pub root_password: bool,
}

/// What a billing suspension or unsuspension did, server by server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkOutcome {
    pub done: Vec<ServerId>,
    /// Servers the provider refused or did not answer for, with the reason; the next call
    /// tries them again.
    pub failed: Vec<(ServerId, String)>,
}

/// How long a create whose answer was lost may stay `creating` before the sync gives up on it
/// (when the provider still shows no server with its key).
pub const CREATE_GRACE: Duration = Duration::minutes(30);

/// The server service.
#[derive(Clone)]
pub struct Servers {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    outbox: Outbox,
    providers: Providers,
    pricing: Arc<Pricing>,
    config: Arc<Config>,
    /// What each location offers to install.
    catalog: Catalog,
    /// Servers found on a provider without a row, already reported (each is reported once
    /// per process, not on every sync).
    reported_strays: Arc<Mutex<BTreeSet<(String, RemoteId)>>>,
}

impl Servers {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        outbox: Outbox,
        providers: Providers,
        pricing: Arc<Pricing>,
        config: Arc<Config>,
    ) -> Self {
        Self {
            store,
            clock,
            audit,
            outbox,
            providers,
            pricing,
            catalog: Catalog::new(config.clone()),
            config,
            reported_strays: Arc::default(),
        }
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Where servers can be created: the configured providers, in name order.
    pub fn locations(&self) -> Vec<Location> {
        self.providers
            .iter()
            .map(|provider| Location {
                name: provider.name().to_owned(),
                platform: provider.kind().label(),
                ssh_keys: provider.access().ssh_keys,
                root_password: provider.access().root_password,
            })
            .collect()
    }

    /// The plans of the price list, each priced, for a list people choose from.
    pub fn plans(&self, actor: &Actor) -> Result<Vec<Quote>> {
        actor.require(Permission::ReadOwnServers)?;
        self.pricing
            .plans()
            .iter()
            .map(|plan| self.pricing.quote(&Size::Plan(plan.name.clone())))
            .collect()
    }

    /// `Ok` if the actor may change some server (their own, or anybody's): front doors ask
    /// before they read the rest of a request, so a key without `write:servers` is refused
    /// as such, whatever else is wrong with what it sent.
    pub fn may_write(&self, actor: &Actor) -> Result<()> {
        if actor.can(Permission::ControlAnyServer) {
            return Ok(());
        }
        actor.require(Permission::ControlOwnServers)
    }

    /// The price of a size, to show before a create.
    pub fn quote(&self, actor: &Actor, size: &Size) -> Result<Quote> {
        actor.require(Permission::CreateServers)?;
        self.pricing.quote(size)
    }
}

#[cfg(test)]
mod tests;
