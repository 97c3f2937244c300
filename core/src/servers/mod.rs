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

mod images;
pub mod limits;
mod resize;
pub mod sync;

pub use images::{CATALOG_TTL, Catalog, Offered};
pub use resize::{ResizeQuote, Resized};

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use chrono::Duration;
use serde::Serialize;

use crate::audit::{Audit, AuditEntry, AuditOutcome};
use crate::billing::meter::{hour_of, posting_reference};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::ledger::Overdraft;
use crate::money::Money;
use crate::notify::Outbox;
use crate::policy::{Actor, Permission};
use crate::pricing::{Pricing, Quote, Size};
use crate::providers::{
    CreateKey, Failure, Hostname, Image, NewServer, Owner, PowerAction, Provider, ProviderError,
    Providers, RemoteId, RemoteServer, RootPassword, Usage,
};
pub use crate::records::servers::{NewServerRow, Rate, Server, ServerStatus};
use crate::ssh_keys::{SshKeyId, SshPublicKey};
use crate::store::servers::{CreateStart, EventSource, FirstHour, HeldCreate};
use crate::store::{Page, Paginated, Store};
use crate::users::User;

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

/// The server's owner as its provider is told: refused (before anything is charged) if the
/// account's address cannot be sent.
fn owner_of(user: &User) -> Result<Owner> {
    Ok(Owner {
        user: user.id,
        name: user.display_name.clone().unwrap_or_else(|| {
            user.email
                .split('@')
                .next()
                .unwrap_or("customer")
                .to_owned()
        }),
        email: crate::email::Email::existing(&user.email)?,
    })
}

/// What a customer asks for: what they chose, under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateServer {
    /// Chosen by the client (a form's hidden field, an `Idempotency-Key`), so a retry or a
    /// double click is the same create.
    pub key: CreateKey,
    pub choice: CreateChoice,
    /// Keys given for this server alone (parsed, so valid).
    pub ssh_keys: Vec<SshPublicKey>,
    /// Keys saved on the account, by id: checked to be the creator's at the create.
    pub saved_keys: Vec<SshKeyId>,
    /// Whether a root password is wanted besides the keys. Without any key one is always
    /// generated, where the platform takes one, so the customer can log in.
    pub root_password: bool,
}

impl CreateServer {
    /// A create of `choice` under `key`, without SSH keys.
    pub fn new(key: CreateKey, choice: CreateChoice) -> Self {
        Self {
            key,
            choice,
            ssh_keys: Vec::new(),
            saved_keys: Vec::new(),
            root_password: false,
        }
    }

    /// What the request is, for its key ([`crate::idempotency`]): the same key again must
    /// come with the same choice.
    pub fn fingerprint(&self) -> crate::idempotency::Fingerprint {
        let choice = &self.choice;
        let size = match &choice.size {
            Size::Plan(plan) => format!("plan:{}", plan.trim()),
            Size::Custom(size) => format!(
                "custom:{}:{}:{}",
                size.vcpus, size.memory_mib, size.disk_gib
            ),
        };
        let image = match &choice.image {
            Image::Template(id) => format!("template:{}", id.trim()),
            Image::Iso(volume) => format!("iso:{}", volume.trim()),
        };
        let mut fields = vec![
            choice.name.trim(),
            choice.hostname.trim(),
            &size,
            &image,
            choice.location.as_deref().map_or("", str::trim),
        ];
        // Keys and saved ids are sets: their order (and a repeat) is not another request.
        let given: BTreeSet<&str> = self.ssh_keys.iter().map(SshPublicKey::as_str).collect();
        fields.extend(given);
        let saved: BTreeSet<SshKeyId> = self.saved_keys.iter().copied().collect();
        let saved: Vec<String> = saved.iter().map(|id| format!("saved:{id}")).collect();
        fields.extend(saved.iter().map(String::as_str));
        if self.root_password {
            fields.push("root_password");
        }
        crate::idempotency::Fingerprint::of(&fields)
    }
}

/// The most SSH keys one server gets.
pub const MAX_SSH_KEYS: usize = 10;

/// How the customer logs in to a new server: what is sent to the provider.
#[derive(Debug, Clone, Default)]
struct Login {
    ssh_keys: Vec<SshPublicKey>,
    root_password: Option<RootPassword>,
}

/// A new server as a person chose it, before anything is checked: [`Servers::review`] checks
/// it (after the permission) and prices it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateChoice {
    pub name: String,
    /// As typed; parsed by the review.
    pub hostname: String,
    pub size: Size,
    pub image: Image,
    /// A provider name; `None` takes the first configured one.
    pub location: Option<String>,
}

impl CreateChoice {
    /// A plan and an OS template by name, as the portal's wizard and Discord offer them. An
    /// empty location takes the first provider.
    pub fn of_plan(
        name: &str,
        hostname: &str,
        plan: &str,
        template: &str,
        location: Option<&str>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            hostname: hostname.trim().to_owned(),
            size: Size::Plan(plan.trim().to_owned()),
            image: Image::Template(template.trim().to_owned()),
            location: location
                .map(str::trim)
                .filter(|location| !location.is_empty())
                .map(str::to_owned),
        }
    }
}

/// A choice that passed the review.
struct Reviewed {
    name: String,
    hostname: Hostname,
    quote: Quote,
    /// As stored: `template:ID` or `iso:VOLUME`.
    image: String,
    provider: Arc<dyn Provider>,
}

/// The result of a create.
#[derive(Debug, Clone)]
pub struct Created {
    pub server: Server,
    pub quote: Quote,
    /// `true` when this key had been used before: nothing new was made or charged.
    pub replayed: bool,
    /// The root password set on the new server: shown to its owner in this answer only, and
    /// kept nowhere (a replayed create has none).
    pub root_password: Option<RootPassword>,
}

/// A server with what its provider says now.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub server: Server,
    /// The provider's answer, when it gave one.
    pub live: Option<RemoteServer>,
    pub usage: Option<Usage>,
    /// Why there is no live answer, for people.
    pub live_error: Option<String>,
    /// Usage charged so far.
    pub charged: Money,
}

/// Whose servers a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// The actor's own.
    Own,
    /// One customer's (staff, or the customer themself).
    Of(UserId),
    /// Everybody's (staff).
    Everybody,
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

/// The create key for a key a client sent (an `Idempotency-Key` header, a form's hidden
/// field, a Discord interaction id): any text of 1 to 200 characters, scoped to the user so two
/// customers' keys never meet, made into a [`CreateKey`] by hashing.
pub fn client_key(user: UserId, text: &str) -> Result<CreateKey> {
    use sha2::{Digest, Sha256};
    let text = text.trim();
    if text.is_empty() || text.len() > 200 {
        return Err(Error::invalid(
            "key",
            "An idempotency key has 1 to 200 characters.",
        ));
    }
    let digest = Sha256::digest(format!("{user}:{text}").as_bytes());
    let hex: String = digest
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    CreateKey::parse(&format!("c{hex}"))
}

/// A power action by its name (`boot`, `shutdown`, `restart`, `poweroff`), as people type it.
pub fn parse_power_action(text: &str) -> Result<PowerAction> {
    [
        PowerAction::Boot,
        PowerAction::Shutdown,
        PowerAction::Restart,
        PowerAction::Poweroff,
    ]
    .into_iter()
    .find(|action| action.as_str().eq_ignore_ascii_case(text.trim()))
    .ok_or_else(|| {
        Error::invalid(
            "action",
            format!("{text:?} is not a power action; use boot, shutdown, restart or poweroff"),
        )
    })
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

    /// Servers not deleted, as stored (the sync keeps them fresh): what lists and autocomplete
    /// answer from, without asking any provider.
    pub async fn list(&self, actor: &Actor, owners: Owners) -> Result<Vec<Server>> {
        let user = match owners {
            Owners::Own => Some(actor.user.ok_or_else(|| {
                Error::Forbidden(
                    "To see your servers, sign in first (on Discord: link your account with \
                     /link)."
                        .into(),
                )
            })?),
            Owners::Of(user) => Some(user),
            Owners::Everybody => None,
        };
        match user {
            Some(user) if actor.user == Some(user) => {
                actor.require(Permission::ReadOwnServers)?;
            }
            _ => {
                if let Err(error) = actor.require(Permission::ReadAnyServer) {
                    return Err(self
                        .refused(
                            actor,
                            "server.list",
                            user.map(|u| format!("user:{u}")),
                            error,
                        )
                        .await);
                }
            }
        }
        self.store.servers_of(user).await
    }

    /// One page of [`Servers::list`] (in id order) and how many there are in all: what the
    /// portal's list and `GET /api/v1/servers` show.
    pub async fn list_page(
        &self,
        actor: &Actor,
        owners: Owners,
        page: Page,
    ) -> Result<Paginated<Server>> {
        let all = self.list(actor, owners).await?;
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        let skip = u64::from(page.page - 1) * u64::from(page.limit);
        let items = all
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(Paginated {
            items,
            page: page.page,
            limit: page.limit,
            total,
        })
    }

    /// One server with its live state, traffic and what it has cost so far.
    pub async fn get(&self, actor: &Actor, id: ServerId) -> Result<ServerView> {
        let mut server = self
            .authorize(
                actor,
                id,
                Permission::ReadOwnServers,
                Permission::ReadAnyServer,
                "server.get",
            )
            .await?;
        let mut view_live = None;
        let mut usage = None;
        let mut live_error = None;
        if let (Some(remote), true) = (server.remote_id.clone(), server.state.is_on_provider()) {
            let provider = self.providers.require(&server.provider)?;
            match provider.server(&remote).await {
                Ok(live) => {
                    if let Some(state) = server.state.observed(live.state) {
                        self.store
                            .set_server_states(
                                &[(server.id, state)],
                                EventSource::Sync,
                                self.clock.now(),
                            )
                            .await?;
                        server.state = state;
                    }
                    usage = provider.usage(&remote).await.ok().flatten();
                    view_live = Some(live);
                }
                Err(error) => live_error = Some(shown(Error::from(error))),
            }
        }
        let charged = self.store.server_charged(server.id).await?;
        Ok(ServerView {
            server,
            live: view_live,
            usage,
            live_error,
            charged,
        })
    }

    /// Boots, shuts down, restarts or powers off a server. Refused while it is suspended.
    pub async fn power(&self, actor: &Actor, id: ServerId, action: PowerAction) -> Result<Server> {
        let server = self
            .authorize(
                actor,
                id,
                Permission::ControlOwnServers,
                Permission::ControlAnyServer,
                "server.power",
            )
            .await?;
        if server.is_suspended() {
            return Err(suspended(
                &server,
                "top up your credit and it starts again.",
            ));
        }
        let (provider, remote) = self.on_provider(&server)?;
        let entry = AuditEntry::new(actor, "server.power")
            .target(posting_reference(id))
            .detail(serde_json::json!({ "action": action.as_str() }));
        if let Err(error) = provider.power(&remote, action).await {
            return Err(self.failed(entry, error).await);
        }
        let state = match action {
            PowerAction::Boot | PowerAction::Restart => ServerStatus::Running,
            PowerAction::Shutdown | PowerAction::Poweroff => ServerStatus::Stopped,
        };
        self.store
            .set_server_states(&[(id, state)], EventSource::Action, self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Deletes a server on its provider and stops its billing at the hour.
    pub async fn delete(&self, actor: &Actor, id: ServerId) -> Result<Server> {
        let server = self
            .authorize(
                actor,
                id,
                Permission::DeleteOwnServers,
                Permission::ControlAnyServer,
                "server.delete",
            )
            .await?;
        let entry = AuditEntry::new(actor, "server.delete").target(posting_reference(id));
        if server.state == ServerStatus::Creating {
            return Err(Error::Conflict(format!(
                "{} is still being created; delete it once it is running.",
                server.name
            )));
        }
        if let Some(remote) = &server.remote_id {
            let provider = self.providers.require(&server.provider)?;
            if let Err(error) = provider.delete(remote).await {
                return Err(self.failed(entry, error).await);
            }
        }
        self.store
            .server_deleted(id, EventSource::Action, self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Suspends a server (staff, or the platform for billing): stopped on the provider, and
    /// its owner's power actions refused until it is unsuspended.
    pub async fn suspend(&self, actor: &Actor, id: ServerId, reason: &str) -> Result<Server> {
        let reason = self
            .check_suspension(actor, "server.suspend", reason)
            .await?;
        let server = self.existing(id).await?;
        if server.is_suspended() {
            return Err(Error::Conflict(format!(
                "{} is already suspended ({}).",
                server.name,
                server
                    .suspend_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )));
        }
        let entry = AuditEntry::new(actor, "server.suspend")
            .target(posting_reference(id))
            .detail(serde_json::json!({ "reason": reason }));
        if let Some(remote) = &server.remote_id {
            let provider = self.providers.require(&server.provider)?;
            if let Err(error) = provider.suspend(remote).await {
                return Err(self.failed(entry, error).await);
            }
        }
        let state = if server.state.is_on_provider() {
            ServerStatus::Stopped
        } else {
            server.state
        };
        self.store
            .set_server_suspension(id, Some(&reason), state, source_of(actor), self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Lifts a suspension and starts the server again.
    pub async fn unsuspend(&self, actor: &Actor, id: ServerId, reason: &str) -> Result<Server> {
        let reason = self
            .check_suspension(actor, "server.unsuspend", reason)
            .await?;
        let server = self.existing(id).await?;
        if !server.is_suspended() {
            return Err(Error::Conflict(format!(
                "{} is not suspended.",
                server.name
            )));
        }
        let entry = AuditEntry::new(actor, "server.unsuspend")
            .target(posting_reference(id))
            .detail(serde_json::json!({ "reason": reason }));
        if let Some(remote) = &server.remote_id {
            let provider = self.providers.require(&server.provider)?;
            if let Err(error) = provider.unsuspend(remote).await {
                return Err(self.failed(entry, error).await);
            }
        }
        let state = if server.state.is_on_provider() {
            ServerStatus::Running
        } else {
            server.state
        };
        self.store
            .set_server_suspension(id, None, state, source_of(actor), self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Suspends every server of `user` that is not suspended yet, for an unpaid balance. For
    /// the billing tick; a server its provider refused is tried again on the next call.
    pub async fn suspend_all_for_billing(&self, user: UserId) -> Result<BulkOutcome> {
        let system = Actor::system();
        let mut outcome = BulkOutcome::default();
        for server in self.store.servers_of(Some(user)).await? {
            if server.is_suspended() || !server.state.is_on_provider() {
                continue;
            }
            match self.suspend(&system, server.id, BILLING_REASON).await {
                Ok(_) => outcome.done.push(server.id),
                Err(error) => outcome.failed.push((server.id, error.to_string())),
            }
        }
        Ok(outcome)
    }

    /// Lifts every billing suspension of `user` (never one staff made), after a top-up.
    pub async fn unsuspend_billing(&self, user: UserId) -> Result<BulkOutcome> {
        let system = Actor::system();
        let mut outcome = BulkOutcome::default();
        for server in self.store.servers_of(Some(user)).await? {
            if server.suspend_reason.as_deref() != Some(BILLING_REASON) {
                continue;
            }
            match self
                .unsuspend(&system, server.id, "the balance was topped up")
                .await
            {
                Ok(_) => outcome.done.push(server.id),
                Err(error) => outcome.failed.push((server.id, error.to_string())),
            }
        }
        Ok(outcome)
    }

    /// Creates a server for the actor: price it; record it, within the customer's ceilings,
    /// with its first hour charged (refused if the balance does not cover it); ask the
    /// provider; refund the hour if the provider refused. The same key again returns the same
    /// server and charges nothing more.
    pub async fn create(&self, actor: &Actor, request: CreateServer) -> Result<Created> {
        actor.require(Permission::CreateServers)?;
        let user_id = actor
            .user
            .ok_or_else(|| Error::Forbidden("To create servers, sign in first.".into()))?;
        // A key seen before is its server; a create of the actor's that failed is tried again
        // as a new create of what it chose then (priced now, billed from now). Either only
        // with the request the key came with first.
        let fingerprint = request.fingerprint();
        let (request, retry) = match self.store.server_by_key(request.key.as_str()).await? {
            Some(existing) if existing.user == user_id => {
                let _ = self.remember_key(&request, &fingerprint).await?;
                if existing.state == ServerStatus::Failed {
                    (chosen_before(&existing, request)?, Some(existing.id))
                } else {
                    return self.replay(actor, existing);
                }
            }
            Some(existing) => return self.replay(actor, existing),
            None => (request, None),
        };
        let Reviewed {
            name,
            hostname,
            quote,
            image,
            provider,
        } = self.checked(actor, &request.choice).await?;
        let login = self.login(user_id, provider.as_ref(), &request).await?;
        let user = self.user(user_id).await?;
        // Everything the provider is sent is ready before the row is charged: nothing after
        // the charge but the provider's answer may fail the create.
        let owner = owner_of(&user)?;
        let first = quote.first_hour();
        // Remembered once the request passed its checks, before anything is made; forgotten
        // again if the store refuses the create (credit, a ceiling, the rate), so that the
        // corrected request may use the key.
        let remembered_now = retry.is_none() && self.remember_key(&request, &fingerprint).await?;
        let now = self.clock.now();
        let row = NewServerRow {
            user: user.id,
            provider: provider.name().to_owned(),
            key: request.key.clone(),
            name: name.clone(),
            hostname: hostname.as_str().to_owned(),
            plan: quote.plan.clone(),
            resources: quote.resources,
            image,
            location: Some(provider.name().to_owned()),
            rate: Rate {
                running: quote.running,
                stopped: quote.stopped,
                hours: quote.rate_hours,
                since: now,
            },
            billed_until: hour_of(now) + Duration::hours(1),
        };
        let charge = FirstHour {
            wallet: user.wallet,
            amount: first,
            overdraft: Overdraft::Forbid,
            limits: Some(&self.config.customer_limits),
        };
        let started = match retry {
            Some(id) => {
                self.store
                    .retry_failed_server(id, &row, Some(&charge))
                    .await
            }
            None => self.store.insert_server(&row, Some(&charge)).await,
        };
        if remembered_now && !matches!(started, Ok(CreateStart::Started(_) | CreateStart::Taken(_)))
        {
            crate::idempotency::forget(
                self.store.as_ref(),
                "server.create",
                request.key.as_str(),
                &fingerprint,
            )
            .await?;
        }
        let server = match started {
            Ok(CreateStart::Started(server)) => server,
            // Another request with the same key got there first.
            Ok(CreateStart::Taken(server)) => return self.replay(actor, server),
            Ok(CreateStart::NoFunds { balance }) => {
                return Err(Error::Conflict(format!(
                    "Not enough credit: the first hour of this server costs {} and your balance \
                     is {}. Top up, then try again.",
                    first.display(&self.config.billing.currency),
                    balance.display(&self.config.billing.currency)
                )));
            }
            Err(error) => {
                if matches!(
                    error.code(),
                    crate::ErrorCode::Conflict | crate::ErrorCode::RateLimited
                ) {
                    return Err(self.refused(actor, "server.create", None, error).await);
                }
                return Err(error);
            }
        };
        self.make(
            actor, server, provider, owner, &request, login, hostname, quote,
        )
        .await
    }

    /// Checks a create as chosen, in the order people should hear about it (permission first,
    /// then name, host name, size, image and location), and prices it. What the create, the
    /// held create and the portal's review step all ask.
    pub async fn review(&self, actor: &Actor, choice: &CreateChoice) -> Result<Quote> {
        Ok(self.checked(actor, choice).await?.quote)
    }

    async fn checked(&self, actor: &Actor, choice: &CreateChoice) -> Result<Reviewed> {
        actor.require(Permission::CreateServers)?;
        if actor.user.is_none() {
            return Err(Error::Forbidden("To create servers, sign in first.".into()));
        }
        let name = crate::text::name("name", "A server name", &choice.name, 64)?;
        let hostname = Hostname::parse(&choice.hostname)?;
        // Plans are checked when the pricing loads, custom sizes by the quote.
        let quote = self.pricing.quote(&choice.size)?;
        if choice.image.id().trim().is_empty() || choice.image.id().len() > 200 {
            return Err(Error::invalid(
                "image",
                "Choose an operating system to install from.",
            ));
        }
        let provider =
            match &choice.location {
                Some(location) => self.providers.require(location)?,
                None => self.providers.iter().next().cloned().ok_or_else(|| {
                    Error::Unavailable("No server provider is configured.".into())
                })?,
            };
        limits::check_size(&self.config, provider.name(), &quote.resources)?;
        // Only what the location lists, by exact id: never a free string to the provider.
        let listed = self
            .catalog
            .resolve(provider.as_ref(), &choice.image)
            .await?;
        let image = format!("{}:{}", listed.image.kind(), listed.image.id());
        Ok(Reviewed {
            name,
            hostname,
            quote,
            image,
            provider,
        })
    }

    /// Prices a create and keeps it until it is confirmed (a front door that asks before it
    /// creates, such as Discord's confirm button, which can only carry an id). Returns the
    /// held request's id and the price.
    pub async fn hold_create(&self, actor: &Actor, choice: CreateChoice) -> Result<(i64, Quote)> {
        let quote = self.review(actor, &choice).await?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("To create servers, sign in first.".into()))?;
        let (Size::Plan(plan), Image::Template(template)) = (choice.size, choice.image) else {
            return Err(Error::invalid(
                "plan",
                "A create that waits for its confirmation is of a plan and a template.",
            ));
        };
        let held = HeldCreate {
            user,
            name: choice.name.trim().to_owned(),
            hostname: choice.hostname,
            plan,
            template,
            location: choice.location,
        };
        let id = self
            .store
            .insert_create_request(&held, self.clock.now())
            .await?;
        Ok((id, quote))
    }

    /// Creates the server of a held request: only for the person who asked, and once however
    /// often it is confirmed (its create key comes from the request's id). `saved_keys` are
    /// the account's keys to install (checked to be the actor's).
    pub async fn create_held(
        &self,
        actor: &Actor,
        id: i64,
        saved_keys: &[SshKeyId],
    ) -> Result<Created> {
        let held = self
            .store
            .create_request(id)
            .await?
            .filter(|held| Some(held.user) == actor.user)
            .ok_or_else(|| {
                Error::NotFound("That create request is not yours or is gone.".into())
            })?;
        let choice = CreateChoice::of_plan(
            &held.name,
            &held.hostname,
            &held.plan,
            &held.template,
            held.location.as_deref(),
        );
        let request = CreateServer {
            saved_keys: saved_keys.to_vec(),
            ..CreateServer::new(client_key(held.user, &format!("held:{id}"))?, choice)
        };
        self.create(actor, request).await
    }

    /// A create key seen before: its server, priced as it was charged, and nothing new done.
    /// Remembers a create's key with its request, or refuses another request under it.
    async fn remember_key(
        &self,
        request: &CreateServer,
        fingerprint: &crate::idempotency::Fingerprint,
    ) -> Result<bool> {
        crate::idempotency::remember(
            self.store.as_ref(),
            "server.create",
            request.key.as_str(),
            fingerprint,
            self.clock.now(),
        )
        .await
    }

    fn replay(&self, actor: &Actor, existing: Server) -> Result<Created> {
        if Some(existing.user) != actor.user {
            return Err(Error::Conflict(
                "That create key is already used; start the create again for a new key.".into(),
            ));
        }
        Ok(Created {
            quote: existing.quote(),
            server: existing,
            replayed: true,
            root_password: None,
        })
    }

    /// Asks the provider for the server of a `creating` row (its first hour charged with it),
    /// and refunds the hour if the provider refused.
    // Each argument is a part of the create already checked; bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    async fn make(
        &self,
        actor: &Actor,
        server: Server,
        provider: Arc<dyn Provider>,
        owner: Owner,
        request: &CreateServer,
        login: Login,
        hostname: Hostname,
        quote: Quote,
    ) -> Result<Created> {
        let entry = AuditEntry::new(actor, "server.create")
            .target(posting_reference(server.id))
            .detail(serde_json::json!({
                "provider": server.provider,
                "plan": server.plan,
                "key": server.key,
                "first_hour_micros": quote.first_hour().micros(),
            }));
        let new = NewServer {
            key: request.key.clone(),
            owner,
            name: server.name.clone(),
            hostname,
            resources: server.resources,
            image: request.choice.image.clone(),
            plan: None,
            ssh_keys: login.ssh_keys,
            root_password: login.root_password.clone(),
        };
        match provider.create(&new).await {
            Ok(remote) => {
                // `false`: the sync found the server first and charged and audited it.
                if self
                    .finish_create(&server, &remote, EventSource::Action)
                    .await?
                {
                    self.audit.record(entry).await?;
                }
                Ok(Created {
                    server: self.existing(server.id).await?,
                    quote,
                    replayed: false,
                    root_password: login.root_password,
                })
            }
            Err(error) if maybe_done(&error) => {
                // The provider may have made it: the sync finds it by its key and charges then.
                Err(self.failed(entry, error).await)
            }
            Err(error) => {
                self.store
                    .server_failed(server.id, server.created_at, self.clock.now())
                    .await?;
                Err(self.failed(entry, error).await)
            }
        }
    }

    /// Records a server the provider made (its first hour was charged with its row). Returns
    /// `false` when the row was no longer `creating` (the sync or the create call finished it
    /// already, or it was given up on).
    pub(crate) async fn finish_create(
        &self,
        server: &Server,
        remote: &RemoteServer,
        source: EventSource,
    ) -> Result<bool> {
        let state = ServerStatus::from_remote(remote.state);
        if !self
            .store
            .server_created(
                server.id,
                &remote.remote_id,
                state,
                self.clock.now(),
                source,
            )
            .await?
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// The keys and password a new server gets: the keys given and the saved ones chosen
    /// (each checked to be `user`'s), and a generated root password when asked for or when
    /// there is no key, where the platform takes them.
    async fn login(
        &self,
        user: UserId,
        provider: &dyn Provider,
        request: &CreateServer,
    ) -> Result<Login> {
        // Bounded before any lookup: each saved id is one read.
        let saved: BTreeSet<SshKeyId> = request.saved_keys.iter().copied().collect();
        let given: BTreeSet<String> = request
            .ssh_keys
            .iter()
            .map(SshPublicKey::fingerprint)
            .collect();
        if saved.len() + given.len() > MAX_SSH_KEYS {
            return Err(Error::invalid(
                "ssh_keys",
                format!("A server takes at most {MAX_SSH_KEYS} SSH keys."),
            ));
        }
        let mut keys = request.ssh_keys.clone();
        for id in &saved {
            let saved = self
                .store
                .ssh_keys()
                .ssh_key(*id)
                .await?
                .filter(|saved| saved.user == user)
                .ok_or_else(|| Error::NotFound(format!("You have no saved SSH key {id}.")))?;
            keys.push(saved.key);
        }
        let mut seen = BTreeSet::new();
        keys.retain(|key| seen.insert(key.fingerprint()));
        if keys.len() > MAX_SSH_KEYS {
            return Err(Error::invalid(
                "ssh_keys",
                format!("A server takes at most {MAX_SSH_KEYS} SSH keys."),
            ));
        }
        let access = provider.access();
        if !keys.is_empty() && !access.ssh_keys {
            return Err(Error::invalid(
                "ssh_keys",
                format!(
                    "Servers in {} cannot get SSH keys at creation; create it without a key \
                     and add your key once you are logged in.",
                    provider.name()
                ),
            ));
        }
        let wanted = request.root_password || keys.is_empty();
        Ok(Login {
            ssh_keys: keys,
            root_password: (wanted && access.root_password).then(RootPassword::generate),
        })
    }

    async fn user(&self, id: UserId) -> Result<User> {
        self.store
            .user(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no user {id}.")))
    }

    async fn existing(&self, id: ServerId) -> Result<Server> {
        self.store
            .server(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no server {id}.")))
    }

    /// The server, if the actor may act on it: the owner with `own`, anybody else with `any`.
    /// Somebody else's server is refused as if it did not exist, and the refusal is audited.
    async fn authorize(
        &self,
        actor: &Actor,
        id: ServerId,
        own: Permission,
        any: Permission,
        action: &str,
    ) -> Result<Server> {
        // Somebody who may do this to no server at all is told so (with the scope or role it
        // needs) before any id is looked at.
        if !actor.can(own) && !actor.can(any) {
            let error = actor
                .require(own)
                .err()
                .unwrap_or_else(|| Error::Forbidden("You may not do this.".into()));
            return Err(self
                .refused(actor, action, Some(posting_reference(id)), error)
                .await);
        }
        let server = self.store.server(id).await?;
        match server {
            Some(server) if actor.user.is_some() && actor.user == Some(server.user) => {
                if let Err(error) = actor.require(own) {
                    return Err(self
                        .refused(actor, action, Some(posting_reference(id)), error)
                        .await);
                }
                Ok(server)
            }
            Some(server) if actor.can(any) => Ok(server),
            Some(_) => {
                let error = Error::NotFound(format!("You have no server {id}."));
                Err(self
                    .refused(actor, action, Some(posting_reference(id)), error)
                    .await)
            }
            None => Err(Error::NotFound(format!("You have no server {id}."))),
        }
    }

    async fn check_suspension(&self, actor: &Actor, action: &str, reason: &str) -> Result<String> {
        if let Err(error) = actor.require(Permission::SuspendServers) {
            return Err(self.refused(actor, action, None, error).await);
        }
        // Shown to the customer and staff later: a note, without hidden characters.
        crate::text::note("reason", "The reason", reason, 500)
    }

    /// The provider and remote id of a server that exists there, or why it cannot be acted on.
    fn on_provider(&self, server: &Server) -> Result<(Arc<dyn Provider>, RemoteId)> {
        match (&server.remote_id, server.state) {
            (_, ServerStatus::Deleted) => {
                Err(Error::NotFound(format!("{} was deleted.", server.name)))
            }
            (_, ServerStatus::Failed) => Err(Error::Conflict(format!(
                "{} was never created; create it again.",
                server.name
            ))),
            (Some(remote), _) => Ok((self.providers.require(&server.provider)?, remote.clone())),
            (None, _) => Err(Error::Conflict(format!(
                "{} is still being created; try again in a minute.",
                server.name
            ))),
        }
    }

    async fn refused(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<String>,
        error: Error,
    ) -> Error {
        let mut entry = AuditEntry::new(actor, action)
            .outcome(AuditOutcome::Denied)
            .detail(serde_json::json!({ "reason": error.to_string() }));
        if let Some(target) = target {
            entry = entry.target(target);
        }
        if let Err(write_error) = self.audit.record(entry).await {
            tracing::error!(error = %write_error, action, "could not write an audit entry for a refusal");
        }
        error
    }

    /// Audits a provider failure and hands back the error people see.
    async fn failed(&self, entry: AuditEntry, error: ProviderError) -> Error {
        let detail = serde_json::json!({
            "request": entry.detail,
            "error": error.to_string(),
        });
        let entry = entry.outcome(AuditOutcome::Failed).detail(detail);
        if let Err(write_error) = self.audit.record(entry).await {
            tracing::error!(error = %write_error, "could not write an audit entry for a failure");
        }
        tracing::warn!(error = %error, "a provider call failed");
        Error::from(error)
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

/// What a create that failed chose (its name, hostname, size, image and provider), to try it
/// again under the same key; only the SSH keys, never stored, come from the new request.
fn chosen_before(server: &Server, request: CreateServer) -> Result<CreateServer> {
    let image = match server.image.split_once(':') {
        Some(("template", id)) => Image::Template(id.to_owned()),
        Some(("iso", volume)) => Image::Iso(volume.to_owned()),
        _ => {
            return Err(Error::internal(
                "retrying a create",
                format!("{:?} is not a stored image", server.image),
            ));
        }
    };
    let size = if server.plan == "custom" {
        Size::Custom(server.resources)
    } else {
        Size::Plan(server.plan.clone())
    };
    Ok(CreateServer {
        key: request.key,
        choice: CreateChoice {
            name: server.name.clone(),
            hostname: server.hostname.clone(),
            size,
            image,
            location: Some(server.provider.clone()),
        },
        ssh_keys: request.ssh_keys,
        saved_keys: request.saved_keys,
        root_password: request.root_password,
    })
}

fn source_of(actor: &Actor) -> EventSource {
    if actor.via == crate::policy::Via::System {
        EventSource::Billing
    } else {
        EventSource::Action
    }
}

/// Whether a failed write may have happened anyway (its answer was lost).
fn maybe_done(error: &ProviderError) -> bool {
    matches!(
        error.failure,
        Failure::Timeout {
            maybe_done: true,
            ..
        } | Failure::Unreachable {
            maybe_done: true,
            ..
        } | Failure::StillRunning { .. }
    )
}

/// What a person may read of an error (internal details stay in the log).
fn shown(error: Error) -> String {
    if error.code() == crate::ErrorCode::Internal {
        let reference = crate::error::new_reference();
        tracing::error!(error = %error, reference, "a provider read failed");
        error.public_message(&reference)
    } else {
        error.to_string()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::providers::{Resources, ServerState};

    #[test]
    fn client_keys_are_per_user_and_stable() {
        let a = client_key(UserId(1), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("a key");
        assert_eq!(
            client_key(UserId(1), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("again"),
            a
        );
        assert_ne!(
            client_key(UserId(2), "3f1e2a9c-0b7d-4a51-9e0f-8c2d6b1a7e44").expect("b"),
            a
        );
        assert_eq!(a.as_str().len(), 25);
        assert!(client_key(UserId(1), " ").is_err());
    }

    #[test]
    fn the_hourly_price_is_the_burn_rate_of_the_server() {
        use chrono::TimeZone;
        let at = Utc
            .with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
            .single()
            .expect("a time");
        let mut server = Server {
            id: ServerId(1),
            user: UserId(1),
            provider: "vf".into(),
            remote_id: None,
            key: "k".into(),
            name: "web".into(),
            hostname: "web.example.com".into(),
            plan: "small".into(),
            resources: Resources {
                vcpus: 1,
                memory_mib: 1024,
                disk_gib: 25,
            },
            image: "template:11".into(),
            location: None,
            state: ServerStatus::Running,
            suspended_at: None,
            suspend_reason: None,
            rate: Rate {
                running: 5_000_000,
                stopped: 36_500,
                hours: 730,
                since: at,
            },
            billed_until: at,
            created_at: at,
            state_changed_at: at,
            deleted_at: None,
        };
        // $5 a month is 6,849.3 micros an hour: shown rounded up, as /balance shows it.
        assert_eq!(server.hourly(), Money::from_micros(6_850));
        server.suspended_at = Some(at);
        assert_eq!(server.hourly(), Money::from_micros(50));
        server.suspended_at = None;
        server.state = ServerStatus::Stopped;
        assert_eq!(server.hourly(), Money::from_micros(50));
    }

    #[test]
    fn states_round_trip_and_provider_states_map() {
        for state in ServerStatus::ALL {
            assert_eq!(ServerStatus::parse(state.as_str()).ok(), Some(state));
        }
        assert_eq!(
            ServerStatus::from_remote(ServerState::Suspended),
            ServerStatus::Stopped
        );
        assert!(!ServerStatus::Creating.is_on_provider());
        assert!(ServerStatus::Unknown.is_on_provider());
    }
}
