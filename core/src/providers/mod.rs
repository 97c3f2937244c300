//! Providers: where customers' servers really run. One [`Provider`] trait, and one
//! implementation per platform: [`virtfusion`] (VirtFusion API v1), [`proxmox`] (Proxmox VE
//! API2, QEMU VMs and LXC containers), [`jelastic`] (Jelastic / Virtuozzo Application Platform
//! environments) and [`sandbox`] (in-process, no real servers, for the demo and for tests of
//! everything above providers).
//!
//! What lives here: the provider-neutral vocabulary ([`RemoteServer`], [`ServerState`],
//! [`PowerAction`], [`NewServer`], [`CreateKey`]), the [`ProviderError`] every call can return
//! and how it becomes a core [`Error`](crate::Error), the `[providers]` config section, one HTTP
//! client per provider with timeouts and retries of safe calls, and [`from_config`], which builds
//! the named providers. What does not: which customer owns which server, prices, permissions, the
//! sync job's bookkeeping. Those belong to the server service, which holds the database rows
//! and calls these providers.
//!
//! Rules every implementation keeps:
//! - Every call has a timeout. Reads are retried with backoff; writes (create, power, suspend,
//!   delete) are sent at most once, because a retried write that had in fact landed would act
//!   twice (resize is a write too). A write whose answer was lost says so ([`Failure::Timeout`] with `maybe_done`).
//! - Create is idempotent by a [`CreateKey`] the caller chooses: the key is stored with the
//!   server on the provider (see each implementation for where), and a create first looks for a
//!   server carrying it. Retrying a create with the same key never makes a second server.
//! - Power actions state the wanted end, not a button press: booting a running server or
//!   stopping a stopped one succeeds without doing anything.
//! - Resize changes vCPUs, memory and disk in place and never shrinks a disk; what a platform
//!   cannot change (VirtFusion's disk, Jelastic's vCPUs alone) it refuses with
//!   [`Failure::Unsupported`] before sending anything.
//! - Suspend stops the server; unsuspend starts it again. The server service records the
//!   suspension and refuses the customer's power actions meanwhile.
//! - Secrets are never logged and never shown by `Debug`.

pub mod config;
pub mod error;
pub(crate) mod http;
pub mod jelastic;
pub mod proxmox;
pub mod sandbox;
pub mod virtfusion;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::values::ConfigError;
use crate::email::Email;
use crate::ids::UserId;
use crate::ssh_keys::SshPublicKey;

pub use crate::records::providers::{CreateKey, PowerAction, RemoteId, Resources, ServerState};
pub use config::{ProviderConfig, ProvidersConfig};
pub use error::{Failure, ProviderError};

/// The platforms hostdeck can drive, as `kind` names them in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Virtfusion,
    Proxmox,
    Jelastic,
    Sandbox,
}

impl ProviderKind {
    /// The platform's own name, for messages.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Virtfusion => "VirtFusion",
            Self::Proxmox => "Proxmox VE",
            Self::Jelastic => "Jelastic",
            Self::Sandbox => "sandbox",
        }
    }

    /// The word used in the config file.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Virtfusion => "virtfusion",
            Self::Proxmox => "proxmox",
            Self::Jelastic => "jelastic",
            Self::Sandbox => "sandbox",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl Resources {
    /// [`Resources::check`] at the start of a provider's create, refused as that provider.
    pub(crate) fn check_for(&self, provider: &dyn Provider) -> Result<(), ProviderError> {
        self.check().map_err(|error| {
            let failure = match error {
                crate::Error::Invalid { field, message } => Failure::Invalid {
                    field: field.unwrap_or("resources"),
                    message,
                },
                other => Failure::Rejected {
                    detail: other.to_string(),
                },
            };
            ProviderError::new(provider.name(), provider.kind(), failure)
        })
    }
}

/// A server as its provider sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteServer {
    pub remote_id: RemoteId,
    /// The display name, without the create-key marker hostdeck adds on some platforms.
    pub name: String,
    pub hostname: Option<String>,
    pub state: ServerState,
    pub resources: Resources,
    pub ipv4: Vec<Ipv4Addr>,
    /// The key it was created with, when the provider shows it in this answer (the sync job
    /// uses it to match a server whose create answer was lost).
    pub key: Option<CreateKey>,
    /// hostdeck's user, when the provider records the owner (VirtFusion's external relation id).
    pub owner: Option<UserId>,
}

/// Where the next page of a listing starts. Opaque: pass back what the last page returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PageToken(String);

impl PageToken {
    /// For implementations: whatever lets the provider find its next page.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of a listing: one request to the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerPage {
    pub servers: Vec<RemoteServer>,
    /// `None` on the last page.
    pub next: Option<PageToken>,
}

/// What a new server is installed from. Each provider takes the kinds its platform has.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Image {
    /// A ready OS: a VirtFusion OS template id (`"11"`), a Proxmox container template volume
    /// (`"local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"`, makes an LXC container), a
    /// Jelastic node type (`"ubuntu-vps"`).
    Template(String),
    /// An installer ISO volume the customer installs from (`"local:iso/debian-12.iso"`, makes a
    /// Proxmox QEMU VM).
    Iso(String),
}

impl Image {
    /// The provider's id of it: a template id, a node type, a volume.
    pub fn id(&self) -> &str {
        match self {
            Self::Template(id) | Self::Iso(id) => id,
        }
    }

    /// `template` or `iso`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Template(_) => "template",
            Self::Iso(_) => "iso",
        }
    }
}

/// An operating system a provider offers for new servers: what the customer chooses from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OsImage {
    pub image: Image,
    /// What people see: `Debian 12 (Bookworm)`.
    pub name: String,
}

/// How a platform lets a customer into a new server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The platform installs the customer's SSH public keys.
    pub ssh_keys: bool,
    /// The platform sets a root password hostdeck chose.
    pub root_password: bool,
}

/// A root password hostdeck generated for a new server: shown to its owner once, sent to the
/// provider in its own field, never stored, logged or shown by `Debug`.
#[derive(Clone)]
pub struct RootPassword(secrecy::SecretString);

impl RootPassword {
    /// Characters without look-alikes (no 0/O, 1/l/I), safe in every platform's field.
    const ALPHABET: &'static [u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    /// 20 characters of 57: about 116 bits.
    const LENGTH: usize = 20;

    pub fn generate() -> Self {
        use rand::Rng;
        let mut rng = rand::rngs::OsRng;
        let text: String = (0..Self::LENGTH)
            .map(|_| char::from(Self::ALPHABET[rng.gen_range(0..Self::ALPHABET.len())]))
            .collect();
        Self(secrecy::SecretString::from(text))
    }

    /// The password itself, for the one answer that shows it and the provider's field.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl fmt::Debug for RootPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootPassword([redacted])")
    }
}

impl PartialEq for RootPassword {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for RootPassword {}

/// The customer a server is created for. VirtFusion keeps its own user per customer, found by
/// hostdeck's user id and created with this name and email on their first server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub user: UserId,
    pub name: String,
    pub email: Email,
}

/// Everything a create needs. The server service fills it from a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServer {
    /// Makes the create idempotent: a second create with the same key returns the first server.
    pub key: CreateKey,
    pub owner: Owner,
    /// A display name for the provider's panel.
    pub name: String,
    pub hostname: Hostname,
    pub resources: Resources,
    pub image: Image,
    /// The provider's own plan to start from (a VirtFusion package id); `None` uses the one
    /// configured for the provider. The resources above override its sizes.
    pub plan: Option<String>,
    /// SSH public keys to install for root, checked; only for a platform whose
    /// [`Provider::access`] takes them.
    pub ssh_keys: Vec<SshPublicKey>,
    /// A root password to set; only for a platform whose [`Provider::access`] takes one.
    pub root_password: Option<RootPassword>,
}

/// A server's host name: a DNS name, stored lower-case, because every platform refuses others.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Hostname(String);

impl Hostname {
    pub fn parse(text: &str) -> crate::Result<Self> {
        let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if (1..=253).contains(&name.len()) && name.split('.').all(label_ok) {
            Ok(Self(name))
        } else {
            Err(crate::Error::invalid(
                "hostname",
                "A hostname is letters, digits and hyphens in dot-separated parts, such as \
                 web1.example.com.",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Hostname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hostname {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Network traffic of a server, where the provider counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// First day of the counted period (VirtFusion counts per month); `None` when the counters
    /// run since the guest last started (Proxmox).
    pub period_start: Option<chrono::NaiveDate>,
    /// The traffic allowance of the period, when the provider has one.
    pub limit_gib: Option<u64>,
}

/// A provider that answered its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub latency: Duration,
    /// What the provider said about itself (a version), for the status report's details.
    pub detail: String,
}

/// A platform hostdeck drives servers on. Object-safe: providers live as `Arc<dyn Provider>`.
///
/// Every method is bounded by the provider's configured timeouts. Errors are
/// [`ProviderError`]s; `?` turns them into core [`Error`](crate::Error)s.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The name the config gives it (`[providers.NAME]`).
    fn name(&self) -> &str;

    fn kind(&self) -> ProviderKind;

    /// One page of all servers, one request per page; start with `None` and pass back `next`.
    async fn list_servers(&self, page: Option<&PageToken>) -> Result<ServerPage, ProviderError>;

    /// One server with its live state (the platform asked now, not a cache).
    async fn server(&self, id: &RemoteId) -> Result<RemoteServer, ProviderError>;

    async fn power(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError>;

    /// Creates a server, or returns the one already created with `new.key`. The server
    /// service has checked `new.image` against [`Provider::images`] (or the configured list).
    async fn create(&self, new: &NewServer) -> Result<RemoteServer, ProviderError>;

    /// The operating systems new servers can be installed from, read from the platform: its
    /// templates and ISOs, never other volumes. `Ok(empty)` where the platform has no listing
    /// (the list then comes from the config).
    async fn images(&self) -> Result<Vec<OsImage>, ProviderError>;

    /// What the platform takes to let the customer in: SSH keys, a root password.
    fn access(&self) -> Access;

    /// Stops the server and, where the platform has it, locks it against its owner. Where it
    /// has no lock, a power-off.
    async fn suspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        self.power(id, PowerAction::Poweroff).await
    }

    /// Lifts a suspension and starts the server. Where the platform has no lock, a boot.
    async fn unsuspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        self.power(id, PowerAction::Boot).await
    }

    /// Changes the server's vCPUs, memory and disk to `to`. Disks only grow (the server
    /// service refuses a shrink before asking). A write: sent once, never retried. What the
    /// platform cannot change is refused with [`Failure::Unsupported`] before anything is sent.
    async fn resize(&self, id: &RemoteId, to: &Resources) -> Result<(), ProviderError>;

    /// Deletes the server for good. Deleting a server that is already gone succeeds.
    async fn delete(&self, id: &RemoteId) -> Result<(), ProviderError>;

    /// Traffic counters; `None` where the platform has none.
    async fn usage(&self, id: &RemoteId) -> Result<Option<Usage>, ProviderError>;

    /// One cheap authenticated request: the platform answers and accepts the credentials.
    async fn health(&self) -> Result<Health, ProviderError>;
}

/// Follows the pages of a listing to the end: what a sync does, one request per page.
/// A server seen twice (a page shifted while it was read) is kept once.
pub async fn list_all(provider: &dyn Provider) -> Result<Vec<RemoteServer>, ProviderError> {
    let mut servers = Vec::new();
    let mut seen = BTreeSet::new();
    walk_pages(provider, |server| {
        if seen.insert(server.remote_id.clone()) {
            servers.push(server);
        }
        false
    })
    .await?;
    Ok(servers)
}

/// The first listed server `wanted` accepts, reading pages only until it is found. Pages are
/// followed as [`list_all`] follows them, so a listing that never ends is an error, not a loop.
pub async fn find_in_pages(
    provider: &dyn Provider,
    wanted: impl Fn(&RemoteServer) -> bool,
) -> Result<Option<RemoteServer>, ProviderError> {
    let mut found = None;
    walk_pages(provider, |server| {
        if wanted(&server) {
            found = Some(server);
            true
        } else {
            false
        }
    })
    .await?;
    Ok(found)
}

/// Hands every listed server to `visit` until it returns `true` or the pages end. A page token
/// offered twice means the platform is sending the same pages again: that is an error.
async fn walk_pages(
    provider: &dyn Provider,
    mut visit: impl FnMut(RemoteServer) -> bool,
) -> Result<(), ProviderError> {
    let mut tokens = BTreeSet::new();
    let mut page = provider.list_servers(None).await?;
    loop {
        for server in page.servers {
            if visit(server) {
                return Ok(());
            }
        }
        let Some(next) = page.next else {
            return Ok(());
        };
        if !tokens.insert(next.as_str().to_owned()) {
            return Err(ProviderError::new(
                provider.name(),
                provider.kind(),
                Failure::Protocol(format!("the listing returned page {} twice", next.as_str())),
            ));
        }
        page = provider.list_servers(Some(&next)).await?;
    }
}

/// The configured providers by name.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn Provider>>,
}

impl Providers {
    pub fn get(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.by_name.get(name).cloned()
    }

    /// The provider called `name`, or an error that says which names exist.
    pub fn require(&self, name: &str) -> crate::Result<Arc<dyn Provider>> {
        self.get(name).ok_or_else(|| {
            crate::Error::NotFound(format!(
                "There is no provider called {name:?}; the configured ones are: {}.",
                self.names().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Provider>> {
        self.by_name.values()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Adds a provider under its own name (tests use this with a [`sandbox::Sandbox`]).
    pub fn insert(&mut self, provider: Arc<dyn Provider>) {
        self.by_name.insert(provider.name().to_owned(), provider);
    }
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.by_name.iter().map(|(name, p)| (name, p.kind())))
            .finish()
    }
}

/// The name of the provider used when the config names none.
pub const DEFAULT_SANDBOX: &str = "sandbox";

/// Builds every provider of `[providers]`, each with its own HTTP client; with none configured,
/// one sandbox provider called `sandbox`, so a first run has somewhere to create servers.
pub fn from_config(config: &ProvidersConfig) -> Result<Providers, ConfigError> {
    let mut providers = Providers::default();
    let mut problems = Vec::new();
    for (name, entry) in &config.named {
        let built: Result<Arc<dyn Provider>, String> = match entry.kind {
            ProviderKind::Virtfusion => virtfusion::VirtFusion::new(name, entry)
                .map(|provider| Arc::new(provider) as Arc<dyn Provider>),
            ProviderKind::Proxmox => proxmox::Proxmox::new(name, entry)
                .map(|provider| Arc::new(provider) as Arc<dyn Provider>),
            ProviderKind::Jelastic => jelastic::Jelastic::new(name, entry)
                .map(|provider| Arc::new(provider) as Arc<dyn Provider>),
            ProviderKind::Sandbox => Ok(Arc::new(sandbox::Sandbox::with_page_size(
                name,
                entry.page_size.unwrap_or(sandbox::DEFAULT_PAGE_SIZE),
            ))),
        };
        match built {
            Ok(provider) => providers.insert(provider),
            Err(problem) => problems.push(problem),
        }
    }
    if !problems.is_empty() {
        return Err(ConfigError(problems));
    }
    if providers.is_empty() {
        providers.insert(Arc::new(sandbox::Sandbox::new(DEFAULT_SANDBOX)));
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_keys_are_short_lower_case_labels() {
        assert!(CreateKey::parse("k3f9x2m1").is_ok());
        assert!(CreateKey::parse("order-1234").is_ok());
        for bad in [
            "short",
            "UPPER-case",
            "-leading",
            "trailing-",
            "with space",
            "ünï-code",
        ] {
            assert!(CreateKey::parse(bad).is_err(), "{bad}");
        }
        assert!(CreateKey::parse(&"a".repeat(31)).is_err());
        let random = CreateKey::random();
        assert_eq!(CreateKey::parse(random.as_str()).ok(), Some(random.clone()));
    }

    #[test]
    fn a_marker_is_found_at_the_start_of_a_word_only() {
        let key = CreateKey::parse("abc123").expect("key");
        assert_eq!(key.marker(), "hd-abc123");
        assert_eq!(CreateKey::find_in("web [hd-abc123]"), Some(key.clone()));
        assert_eq!(CreateKey::find_in("hd-abc123"), Some(key.clone()));
        assert_eq!(CreateKey::find_in("other;hd-abc123;x"), Some(key));
        assert_eq!(CreateKey::find_in("shd-abc123"), None);
        assert_eq!(CreateKey::find_in("hd-ab"), None);
        assert_eq!(CreateKey::find_in("no marker here"), None);
    }

    #[test]
    fn hostnames_are_dns_names() {
        assert_eq!(
            Hostname::parse("Web1.Example.com.")
                .expect("valid")
                .as_str(),
            "web1.example.com"
        );
        for bad in ["", "-web", "web-", "web_1", "a..b", &"a".repeat(64)] {
            assert!(Hostname::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resources_need_something_of_each() {
        let fine = Resources {
            vcpus: 1,
            memory_mib: 512,
            disk_gib: 10,
        };
        assert!(fine.check().is_ok());
        assert!(Resources { vcpus: 0, ..fine }.check().is_err());
        assert!(
            Resources {
                memory_mib: 32,
                ..fine
            }
            .check()
            .is_err()
        );
        assert!(
            Resources {
                disk_gib: 0,
                ..fine
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn a_root_password_is_random_and_never_shown_by_debug() {
        let password = RootPassword::generate();
        assert_eq!(password.expose().len(), 20);
        assert_ne!(password, RootPassword::generate());
        let shown = format!("{password:?}");
        assert!(!shown.contains(password.expose()), "{shown}");
        assert!(shown.contains("redacted"));
    }

    #[tokio::test]
    async fn no_configured_provider_means_one_sandbox() {
        let providers = from_config(&ProvidersConfig::default()).expect("providers");
        assert_eq!(providers.names().collect::<Vec<_>>(), vec!["sandbox"]);
        let sandbox = providers.require("sandbox").expect("sandbox");
        assert_eq!(sandbox.kind(), ProviderKind::Sandbox);
        let error = providers.require("nope").err().expect("unknown");
        assert!(error.to_string().contains("sandbox"), "{error}");
    }
}
