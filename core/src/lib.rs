//! hostdeck-core: every rule of the platform, shared by the Discord bot, the web portal, the
//! JSON API and the scheduler. It knows nothing of Discord or HTTP.
//!
//! Every module, from the bottom floor up (a module imports only from floors below it):
//! - Values valid once they exist: [`error`] (the one error and its codes), [`ids`], [`money`],
//!   [`email`], [`text`] (names and notes people type), [`clock`] (the one source of "now"),
//!   [`private_files`] (files only the platform's user may read).
//! - [`policy`]: roles, scopes, the [`Actor`] of every call and the one permission table;
//!   [`discord_commands`]: the permission each Discord command needs.
//! - [`records`]: the plain types the store reads and writes (a user, a posting, a server...)
//!   and the pure rules on them that both sides need.
//! - [`store`]: the [`store::Store`] trait over SQLite and PostgreSQL, one accessor per area;
//!   it imports records, never a service.
//! - [`config`]: assembles the sections each area owns, and loads them.
//! - Services, each with its rules and permission checks: [`audit`] (the append-only log),
//!   [`users`] (people and their one role), [`auth`] (passwords, sessions, API keys, two-factor
//!   codes, throttles), [`identity`] (registration, sign-in, resets, two-factor enrolment, the
//!   first admin), [`ledger`] (prepaid credit as double-entry postings), [`idempotency`]
//!   (client keys), [`maintenance`] (maintenance mode and whom it admits), [`notify`] (the
//!   outbox, mail, Discord messages), [`pricing`] (exact prices), [`burn_rate`], [`providers`]
//!   (the platforms servers run on), [`ssh_keys`], [`servers`], [`billing`] (the hourly tick,
//!   free credit, suspension), [`payments`] (PayPal), [`statements`] (exports and PDFs),
//!   [`discord_links`] (Discord members as actors), [`tickets`] (the support desk: tickets,
//!   the SLA clock, transcripts, the Discord thread seam), [`status`] (the status report from
//!   BetterStack, internal checks, incidents and maintenance), [`knowledge`] (help articles and
//!   the search over them), [`assistant`] (`/ask`: Gemini,
//!   prompts, quotas, inert answers).
//!
//! [`Core`] ties them together; front doors hold an `Arc<Core>` and call its services with an
//! [`Actor`] they built from a session, an API key or a Discord member.

pub mod assistant;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod burn_rate;
pub mod clock;
pub mod config;
pub mod discord_commands;
pub mod discord_links;
pub mod email;
pub mod error;
pub mod idempotency;
pub mod identity;
pub mod ids;
pub mod knowledge;
pub mod ledger;
pub mod maintenance;
pub mod money;
pub mod notify;
pub mod payments;
pub mod policy;
pub mod pricing;
pub mod private_files;
pub mod providers;
pub mod records;
pub mod servers;
pub mod ssh_keys;
pub mod statements;
pub mod status;
pub mod store;
pub mod text;
pub mod tickets;
pub mod users;

use std::sync::Arc;

pub use error::{Error, ErrorCode, Result};
pub use policy::{Actor, Permission, Role, Via};

use audit::Audit;
use auth::Auth;
use auth::api_keys::{ApiKeys, KeyCache};
use auth::sessions::Sessions;
use billing::Billing;
use clock::{Clock, SystemClock};
use config::Config;
use discord_links::DiscordLinks;
use identity::Identity;
use knowledge::Knowledge;
use ledger::Ledger;
use maintenance::Maintenance;
use notify::Outbox;
use payments::Payments;
use providers::Providers;
use servers::Servers;
use statements::Statements;
use store::Store;
use users::Users;

/// The platform's services over one store and one clock.
#[derive(Clone)]
pub struct Core {
    pub config: Arc<Config>,
    /// Reached only through the services (and [`Core::ping`], [`Core::close`]).
    store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub audit: Audit,
    pub users: Users,
    pub ledger: Ledger,
    pub billing: Billing,
    pub auth: Auth,
    pub identity: Identity,
    pub outbox: Outbox,
    pub maintenance: Maintenance,
    pub payments: Payments,
    pub statements: Statements,
    /// The prices (the same as `config.pricing`).
    pub pricing: Arc<pricing::Pricing>,
    /// Customers' servers on the configured providers.
    pub servers: Servers,
    /// Discord members as actors: linking, and the core of the bot's commands.
    pub discord_links: DiscordLinks,
    /// SSH public keys saved on accounts.
    pub ssh_keys: ssh_keys::SshKeys,
    /// The support desk: tickets, their conversation, the SLA clock and the Discord seam.
    pub tickets: tickets::Tickets,
    /// The status report, its refresh, incidents and maintenance windows.
    pub status: status::Status,
    /// Help articles and the search over them.
    pub knowledge: Knowledge,
    /// `/ask`: answers from the help articles (with Gemini when `gemini.api_key` is set).
    pub assistant: assistant::Assistant,
}

impl Core {
    /// Answers when the database does; `/readyz` uses it.
    pub async fn ping(&self) -> Result<()> {
        self.store.ping().await
    }

    /// The incidents and maintenance acting when ticket `id` was opened that touched its
    /// customer (through its server's provider, or any of theirs when it names none, or a
    /// component every customer relies on): what the ticket shows to whoever may read it, in
    /// the portal, the API and its Discord thread.
    pub async fn ticket_incidents(
        &self,
        actor: &Actor,
        id: ids::TicketId,
    ) -> Result<Vec<status::Affecting>> {
        let ticket = self.tickets.get(actor, id).await?;
        // Read to pick providers only: what leaves is the public incidents.
        let servers = self
            .store
            .servers()
            .servers_of(Some(ticket.customer))
            .await?;
        let providers = status::ticket_providers(
            servers
                .iter()
                .map(|server| (server.id, server.provider.as_str())),
            ticket.server,
        );
        self.status.affecting(&providers, ticket.created_at).await
    }

    /// Closes the database's connections, waiting for work in flight.
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// The store under the services, for tests that set up or check rows directly. Only with
    /// the `testing` feature, which the end-to-end tests enable and no product crate does.
    #[cfg(feature = "testing")]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Opens the database named in the config (migrating it) on the wall clock.
    pub async fn open(config: Config) -> Result<Self> {
        let store = store::open(&config.database).await?;
        Self::new(config, store, Arc::new(SystemClock)).await
    }

    pub async fn new(config: Config, store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Result<Self> {
        let providers = providers::from_config(&config.providers).map_err(|problems| {
            Error::invalid(
                "providers",
                format!("the provider configuration is wrong: {problems}"),
            )
        })?;
        Self::with_providers(config, store, clock, providers).await
    }

    /// A core over the given providers instead of the configured ones (tests hand in a
    /// sandbox they can make fail).
    pub async fn with_providers(
        config: Config,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        providers: Providers,
    ) -> Result<Self> {
        let config = Arc::new(config);
        let audit = Audit::new(store.clone(), clock.clone());
        let outbox = Outbox::new(store.clone(), clock.clone());
        let sessions = Sessions::new(
            store.clone(),
            clock.clone(),
            config.auth.jwt_secret.as_ref(),
            config.auth.session_ttl,
        )
        .await?;
        let key_cache = KeyCache::default();
        let api_keys = ApiKeys::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            key_cache.clone(),
        );
        let ledger = Ledger::new(store.clone(), clock.clone());
        let payments = Payments::new(
            store.clone(),
            clock.clone(),
            config.clone(),
            ledger.clone(),
            audit.clone(),
            outbox.clone(),
        )?;
        let statements = Statements::new(store.clone(), clock.clone(), config.clone());
        let servers = Servers::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            outbox.clone(),
            providers,
            config.pricing.clone(),
            config.clone(),
        );
        let billing = Billing::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            config.clone(),
            Arc::new(servers.clone()),
        );
        let maintenance = Maintenance::new(store.clone(), clock.clone(), audit.clone());
        let status = status::Status::new(
            store.clone(),
            clock.clone(),
            audit.clone(),
            config.clone(),
            maintenance.clone(),
            status_checks(&config, &store, &clock, &servers, &payments),
        )?;
        let knowledge = knowledge_over(&store, &clock, &audit, &config).await?;
        let users = Users::new(store.clone(), clock.clone(), audit.clone(), key_cache);
        let facts = assistant::OwnAccount {
            users: users.clone(),
            servers: servers.clone(),
            ledger: ledger.clone(),
            store: store.clone(),
            currency: config.billing.currency.clone(),
            status: status.clone(),
        };
        let assistant = assistant_over(&store, &clock, &config, &knowledge, facts)?;
        Ok(Self {
            assistant,
            knowledge,
            status,
            payments,
            statements,
            discord_links: DiscordLinks::new(
                store.clone(),
                clock.clone(),
                audit.clone(),
                ledger.clone(),
                outbox.clone(),
                config.clone(),
            ),
            users,
            ledger,
            billing,
            auth: Auth::new(
                sessions.clone(),
                api_keys.clone(),
                clock.clone(),
                config.auth.api_key_requests_per_minute,
                config.auth.session_requests_per_minute,
            ),
            identity: Identity::new(
                store.clone(),
                clock.clone(),
                audit.clone(),
                outbox.clone(),
                sessions,
                api_keys,
                config.clone(),
            ),
            maintenance,
            ssh_keys: ssh_keys::SshKeys::new(store.clone(), clock.clone(), audit.clone()),
            tickets: tickets::Tickets::new(
                store.clone(),
                clock.clone(),
                audit.clone(),
                outbox.clone(),
                config.clone(),
            ),
            servers,
            outbox,
            audit,
            pricing: config.pricing.clone(),
            config,
            store,
            clock,
        })
    }
}

/// The assistant over the knowledge base, with the asker's own account as the only facts it
/// may add.
fn assistant_over(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    config: &Arc<Config>,
    knowledge: &Knowledge,
    facts: assistant::OwnAccount,
) -> Result<assistant::Assistant> {
    assistant::Assistant::new(assistant::Parts {
        store: store.clone(),
        clock: clock.clone(),
        config: config.clone(),
        passages: Arc::new(knowledge::passages::KnowledgePassages {
            knowledge: knowledge.clone(),
            web: config.web.clone(),
        }),
        facts: Arc::new(facts),
    })
}

/// The knowledge base, with Gemini's embeddings when a key is set, seeded with the starter
/// articles on a first start.
async fn knowledge_over(
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    audit: &Audit,
    config: &Config,
) -> Result<Knowledge> {
    let knowledge = Knowledge::new(
        store.clone(),
        clock.clone(),
        audit.clone(),
        &config.knowledge,
    )?
    .with_embeddings(knowledge::embeddings::Embeddings::from_config(
        &config.gemini,
        &config.knowledge,
    ));
    knowledge.seed_starter().await?;
    Ok(knowledge)
}

/// The internal checks hostdeck has: the database, the outbox, billing, each provider, PayPal
/// while payments are on, and the Discord gateway while the bot has a token.
fn status_checks(
    config: &Config,
    store: &Arc<dyn Store>,
    clock: &Arc<dyn Clock>,
    servers: &Servers,
    payments: &Payments,
) -> Vec<Arc<dyn status::checks::Check>> {
    use status::checks::{
        BillingCheck, Check, DatabaseCheck, DiscordCheck, OutboxCheck, PaypalCheck, ProviderCheck,
    };
    let age = |duration: std::time::Duration| {
        chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
    };
    let mut checks: Vec<Arc<dyn Check>> = vec![
        Arc::new(DatabaseCheck(store.clone())),
        Arc::new(OutboxCheck {
            store: store.clone(),
            max: config.status.outbox_backlog,
        }),
        Arc::new(BillingCheck {
            store: store.clone(),
            clock: clock.clone(),
            max_age: age(config.status.billing_run_max_age),
        }),
    ];
    for provider in servers.providers().iter() {
        checks.push(Arc::new(ProviderCheck(provider.clone())));
    }
    if payments.enabled() {
        checks.push(Arc::new(PaypalCheck(payments.clone())));
    }
    if config.discord.token.is_some() {
        checks.push(Arc::new(DiscordCheck {
            store: store.clone(),
            clock: clock.clone(),
            max_age: age(config.status.freshness),
        }));
    }
    checks
}
