//! The `[providers]` section: how often the sync runs, and one table per named provider.
//!
//! ```toml
//! [providers]
//! sync_interval = "5m"
//! pve_east.kind = "proxmox"
//! pve_east.base_url = "https://pve-east.example.com:8006"
//! ```
//!
//! Every provider table has the same keys; which are required, and which are refused, depends
//! on its `kind`, and [`ProvidersConfig::problems`] says so naming the key. Credentials are
//! [`SecretString`]s, shown as `[redacted]` by `config check` and `Debug`. Proxmox's `token_id`
//! is not secret: Proxmox writes it into every task id (UPID) it hands out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

use super::ProviderKind;
use crate::config::values::serialize_secret;

/// How long an ordinary provider call may take, unless `timeout` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a long operation (a Proxmox task, a Jelastic create) may take.
pub const DEFAULT_TASK_TIMEOUT: Duration = Duration::from_secs(600);
/// Servers per listing request: VirtFusion's largest page.
pub const DEFAULT_PAGE_SIZE: u32 = 200;

#[derive(Debug, Clone)]
pub struct ProvidersConfig {
    /// How often the sync job reads every provider's servers.
    pub sync_interval: Duration,
    /// A Discord channel webhook where staff are told about drift: servers deleted or created
    /// on a provider outside hostdeck. It carries the webhook's token, so it is a secret.
    pub drift_webhook: Option<SecretString>,
    /// `[providers.NAME]` tables, by name.
    pub named: BTreeMap<String, ProviderConfig>,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        Self {
            sync_interval: Duration::from_secs(300),
            drift_webhook: None,
            named: BTreeMap::new(),
        }
    }
}

/// One provider. Keys a kind does not use are refused by validation, not silently ignored.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a provider table with kind = \"virtfusion\", \"proxmox\", \"jelastic\" or \"sandbox\""
)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// The panel or cluster address (`https://cp.example.com`, `https://pve:8006`).
    pub base_url: Option<Url>,
    /// VirtFusion API token, or Jelastic access token (sent as `session`).
    #[serde(default, serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    /// Proxmox API token id, `USER@REALM!TOKENID`.
    pub token_id: Option<String>,
    #[serde(default, serialize_with = "serialize_secret")]
    pub token_secret: Option<SecretString>,
    /// The Proxmox node servers are listed on and created on.
    pub node: Option<String>,
    /// Longest wait for one ordinary call.
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// Longest wait for a long operation: a Proxmox task, a synchronous Jelastic call.
    #[serde(default, with = "humantime_serde")]
    pub task_timeout: Option<Duration>,
    /// Servers per listing request (VirtFusion: 1-200).
    pub page_size: Option<u32>,
    /// A PEM certificate to trust besides the usual roots, e.g. Proxmox's own
    /// `pve-root-ca.pem`, so a self-signed panel is verified instead of trusted blindly.
    pub ca_file: Option<PathBuf>,
    /// VirtFusion: the hypervisor group new servers go to.
    pub hypervisor_group_id: Option<u64>,
    /// VirtFusion: the package new servers start from (their sizes are overridden by the plan).
    pub package_id: Option<u64>,
    /// Proxmox: the bridge new guests' network attaches to.
    pub bridge: Option<String>,
    /// Proxmox: the storage new guests' disks are made on.
    pub storage: Option<String>,
    /// Jelastic: the region (hardware node group) new environments go to.
    pub region: Option<String>,
    /// The largest server made here: vCPUs, memory (MiB) and disk (GiB) of one server
    /// (defaults in [`crate::servers::limits`]).
    pub max_vcpus: Option<u32>,
    pub max_memory_mib: Option<u64>,
    pub max_disk_gib: Option<u64>,
    /// The OS templates customers may choose, `[{ id, name }]`. When set, this list is the
    /// whole allow-list; when not, the platform's own list is read (Jelastic: its VPS types).
    pub templates: Option<Vec<ConfiguredImage>>,
    /// Proxmox: the installer ISOs customers may choose, as `templates`.
    pub isos: Option<Vec<ConfiguredImage>>,
    /// Proxmox: the storage whose `vztmpl` and `iso` content is offered (default `local`).
    pub image_storage: Option<String>,
}

/// An OS offered for new servers, as the operator lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredImage {
    /// The provider's id: a VirtFusion template id, a Proxmox volume, a Jelastic node type.
    pub id: String,
    /// What customers see.
    pub name: String,
}

impl ProviderConfig {
    pub fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }

    pub fn task_timeout(&self) -> Duration {
        self.task_timeout.unwrap_or(DEFAULT_TASK_TIMEOUT)
    }

    /// Which keys are set, by name, for the per-kind checks.
    fn keys_set(&self) -> Vec<&'static str> {
        [
            ("base_url", self.base_url.is_some()),
            ("token", self.token.is_some()),
            ("token_id", self.token_id.is_some()),
            ("token_secret", self.token_secret.is_some()),
            ("node", self.node.is_some()),
            ("timeout", self.timeout.is_some()),
            ("task_timeout", self.task_timeout.is_some()),
            ("page_size", self.page_size.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("hypervisor_group_id", self.hypervisor_group_id.is_some()),
            ("package_id", self.package_id.is_some()),
            ("bridge", self.bridge.is_some()),
            ("storage", self.storage.is_some()),
            ("region", self.region.is_some()),
            ("max_vcpus", self.max_vcpus.is_some()),
            ("max_memory_mib", self.max_memory_mib.is_some()),
            ("max_disk_gib", self.max_disk_gib.is_some()),
            ("templates", self.templates.is_some()),
            ("isos", self.isos.is_some()),
            ("image_storage", self.image_storage.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
        .collect()
    }
}

/// A key a kind requires, or the config problem that names it. Validation has normally caught
/// a missing key already; this keeps a hand-built config from panicking.
pub(crate) fn required<'a, T: ?Sized>(
    value: Option<&'a T>,
    provider: &str,
    key: &str,
) -> Result<&'a T, String> {
    value.ok_or_else(|| format!("providers.{provider}.{key}: required for this kind"))
}

/// The keys every kind may have: the largest server it makes.
const SIZE_KEYS: [&str; 3] = ["max_vcpus", "max_memory_mib", "max_disk_gib"];

/// The keys each kind requires, and the keys it may have besides `kind` and [`SIZE_KEYS`].
fn keys_of(kind: ProviderKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ProviderKind::Virtfusion => (
            &["base_url", "token", "hypervisor_group_id", "package_id"],
            &[
                "base_url",
                "token",
                "hypervisor_group_id",
                "package_id",
                "page_size",
                "timeout",
                "ca_file",
                "templates",
            ],
        ),
        ProviderKind::Proxmox => (
            &["base_url", "token_id", "token_secret", "node"],
            &[
                "base_url",
                "token_id",
                "token_secret",
                "node",
                "bridge",
                "storage",
                "timeout",
                "task_timeout",
                "ca_file",
                "templates",
                "isos",
                "image_storage",
            ],
        ),
        ProviderKind::Jelastic => (
            &["base_url", "token"],
            &[
                "base_url",
                "token",
                "region",
                "timeout",
                "task_timeout",
                "ca_file",
                "templates",
            ],
        ),
        ProviderKind::Sandbox => (&[], &["page_size", "templates", "isos"]),
    }
}

impl ProvidersConfig {
    /// What is wrong, one line per problem, each naming its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.sync_interval < Duration::from_secs(10) {
            problems.push("providers.sync_interval: expected at least 10s".to_owned());
        }
        for (name, provider) in &self.named {
            provider_problems(name, provider, &mut problems);
        }
        problems
    }
}

/// What is wrong with one provider's section, one line per problem, each naming its key.
fn provider_problems(name: &str, provider: &ProviderConfig, problems: &mut Vec<String>) {
    let at = |key: &str| format!("providers.{name}.{key}");
    let name_ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !name_ok {
        problems.push(format!(
            "providers.{name}: a provider name is 1-40 lower-case letters, digits or _ \
                 (it is also used in environment variables)"
        ));
    }
    let kind = provider.kind.as_str();
    let (required, allowed) = keys_of(provider.kind);
    let set = provider.keys_set();
    for key in required {
        if !set.contains(key) {
            problems.push(format!("{}: required for kind = \"{kind}\"", at(key)));
        }
    }
    for key in &set {
        if !allowed.contains(key) && !SIZE_KEYS.contains(key) {
            problems.push(format!(
                "{}: not a key of kind = \"{kind}\"; it has: kind, {}, {}",
                at(key),
                allowed.join(", "),
                SIZE_KEYS.join(", ")
            ));
        }
    }
    for (key, value) in [
        ("max_vcpus", provider.max_vcpus.map(u64::from)),
        ("max_memory_mib", provider.max_memory_mib),
        ("max_disk_gib", provider.max_disk_gib),
    ] {
        if value == Some(0) {
            problems.push(format!("{}: expected at least 1", at(key)));
        }
    }
    if let Some(url) = &provider.base_url
        && !matches!(url.scheme(), "http" | "https")
    {
        problems.push(format!(
            "{}: expected an http:// or https:// address",
            at("base_url")
        ));
    }
    for (key, secret) in [
        ("token", &provider.token),
        ("token_secret", &provider.token_secret),
    ] {
        if secret
            .as_ref()
            .is_some_and(|secret| secret.expose_secret().trim().is_empty())
        {
            problems.push(format!("{}: must not be empty", at(key)));
        }
    }
    if let Some(token_id) = &provider.token_id {
        let shaped = token_id
            .split_once('@')
            .and_then(|(user, rest)| rest.split_once('!').map(|(realm, id)| (user, realm, id)))
            .is_some_and(|(user, realm, id)| {
                !user.is_empty() && !realm.is_empty() && !id.is_empty()
            });
        if !shaped {
            problems.push(format!(
                "{}: expected USER@REALM!TOKENID, such as \"hostdeck@pve!api\"",
                at("token_id")
            ));
        }
    }
    for (key, timeout) in [
        ("timeout", provider.timeout),
        ("task_timeout", provider.task_timeout),
    ] {
        if timeout.is_some_and(|t| t < Duration::from_millis(50) || t > Duration::from_secs(3600)) {
            problems.push(format!("{}: expected between 50ms and 1h", at(key)));
        }
    }
    if let Some(size) = provider.page_size {
        let most = if provider.kind == ProviderKind::Virtfusion {
            200
        } else {
            10_000
        };
        if size == 0 || size > most {
            problems.push(format!("{}: expected 1 to {most}", at("page_size")));
        }
    }
    for (key, value) in [
        ("node", &provider.node),
        ("bridge", &provider.bridge),
        ("storage", &provider.storage),
        ("region", &provider.region),
        ("image_storage", &provider.image_storage),
    ] {
        if let Some(value) = value
            && (value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            problems.push(format!(
                "{}: expected a name of letters, digits, -, _ or .",
                at(key)
            ));
        }
    }
    for (key, list) in [("templates", &provider.templates), ("isos", &provider.isos)] {
        for (index, image) in list.iter().flatten().enumerate() {
            if let Err(problem) = image.problem(provider.kind, key) {
                problems.push(format!("{}[{index}]: {problem}", at(key)));
            }
        }
    }
}

impl ConfiguredImage {
    /// What is wrong with an entry of `templates` or `isos` (`key`) of a provider of `kind`.
    fn problem(&self, kind: ProviderKind, key: &str) -> Result<(), String> {
        let id = self.id.as_str();
        if id.is_empty() || id.len() > 200 || id.chars().any(|c| c.is_control() || c == ' ') {
            return Err("id: expected 1 to 200 characters without spaces".into());
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 100 {
            return Err("name: expected 1 to 100 characters".into());
        }
        let content = if key == "isos" { "iso" } else { "vztmpl" };
        let shaped = match kind {
            ProviderKind::Virtfusion => id.chars().all(|c| c.is_ascii_digit()),
            ProviderKind::Proxmox => id.split_once(':').is_some_and(|(storage, path)| {
                !storage.is_empty()
                    && path.starts_with(&format!("{content}/"))
                    && !id.contains([',', '=', ';'])
            }),
            ProviderKind::Jelastic => id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            ProviderKind::Sandbox => true,
        };
        if shaped {
            Ok(())
        } else {
            Err(match kind {
                ProviderKind::Virtfusion => "id: expected a VirtFusion OS template number".into(),
                ProviderKind::Proxmox => {
                    format!("id: expected a volume such as local:{content}/NAME")
                }
                _ => "id: expected a node type such as ubuntu-vps".into(),
            })
        }
    }
}

impl Serialize for ProvidersConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "sync_interval",
            &humantime_serde::Serde::from(self.sync_interval),
        )?;
        if self.drift_webhook.is_some() {
            map.serialize_entry("drift_webhook", "[redacted]")?;
        }
        for (name, provider) in &self.named {
            map.serialize_entry(name, provider)?;
        }
        map.end()
    }
}

/// `sync_interval` beside tables named by the operator: every other key must be a provider.
impl<'de> Deserialize<'de> for ProvidersConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Section;

        impl<'de> Visitor<'de> for Section {
            type Value = ProvidersConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("sync_interval, drift_webhook and [providers.NAME] tables")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut config = ProvidersConfig::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "sync_interval" {
                        let interval: humantime_serde::Serde<Duration> = map.next_value()?;
                        config.sync_interval = interval.into_inner();
                    } else if key == "drift_webhook" {
                        config.drift_webhook = Some(map.next_value::<SecretString>()?);
                    } else {
                        let provider: ProviderConfig = map.next_value()?;
                        config.named.insert(key, provider);
                    }
                }
                Ok(config)
            }
        }

        deserializer.deserialize_map(Section)
    }
}

#[cfg(test)]
mod tests {
    use super::ProviderKind;
    use crate::config::Config;

    fn load(text: &str) -> Result<Config, String> {
        Config::from_toml(text).map_err(|error| error.to_string())
    }

    #[test]
    fn the_section_defaults_to_a_five_minute_sync_and_no_provider() {
        let config = load("").expect("valid");
        assert_eq!(config.providers.sync_interval.as_secs(), 300);
        assert!(config.providers.named.is_empty());
    }

    #[test]
    fn two_proxmox_clusters_and_a_panel_load_side_by_side() {
        let config = load(
            r#"
            [providers]
            sync_interval = "2m"
            [providers.pve_east]
            kind = "proxmox"
            base_url = "https://pve-east.example.com:8006"
            token_id = "hostdeck@pve!api"
            token_secret = "east-secret-1"
            node = "east1"
            [providers.pve_west]
            kind = "proxmox"
            base_url = "https://pve-west.example.com:8006"
            token_id = "hostdeck@pve!api"
            token_secret = "west-secret-2"
            node = "west1"
            storage = "ceph"
            [providers.vf]
            kind = "virtfusion"
            base_url = "https://cp.example.com"
            token = "vf-secret-3"
            hypervisor_group_id = 2
            package_id = 5
            timeout = "5s"
            "#,
        )
        .expect("valid");
        let named = &config.providers.named;
        assert_eq!(
            named.keys().collect::<Vec<_>>(),
            vec!["pve_east", "pve_west", "vf"]
        );
        assert_eq!(config.providers.sync_interval.as_secs(), 120);
        assert_eq!(named["vf"].timeout().as_secs(), 5);
        assert_eq!(named["pve_west"].storage.as_deref(), Some("ceph"));

        let shown = config.redacted_toml();
        let debug = format!("{config:?}");
        for secret in ["east-secret-1", "west-secret-2", "vf-secret-3"] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!debug.contains(secret), "{debug}");
        }
        let again = load(&shown).expect("the redacted config loads back");
        assert_eq!(again.providers.named.len(), 3);
    }

    #[test]
    fn problems_name_the_key() {
        let cases = [
            (
                "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"https://cp.example.com\"\n",
                "providers.vf.token: required for kind = \"virtfusion\"",
            ),
            (
                "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"https://cp\"\ntoken = \"t\"\nhypervisor_group_id = 1\npackage_id = 1\nnode = \"pve\"\n",
                "providers.vf.node: not a key of kind = \"virtfusion\"",
            ),
            (
                "[providers.pve]\nkind = \"proxmox\"\nbase_url = \"https://pve:8006\"\ntoken_id = \"root\"\ntoken_secret = \"s\"\nnode = \"pve\"\n",
                "providers.pve.token_id: expected USER@REALM!TOKENID",
            ),
            (
                "[providers.jel]\nkind = \"jelastic\"\nbase_url = \"ftp://x\"\ntoken = \"t\"\n",
                "providers.jel.base_url: expected an http:// or https:// address",
            ),
            (
                "[providers.jel]\nkind = \"jelastic\"\nbase_url = \"https://x\"\ntoken = \"t\"\ntimeout = \"soon\"\n",
                "providers.jel.timeout",
            ),
            ("[providers.x]\nkind = \"openstack\"\n", "providers.x.kind"),
            (
                "[providers.x]\nkind = \"sandbox\"\ncolour = \"blue\"\n",
                "providers.x.colour",
            ),
            (
                "[providers]\nsync_interval = \"1s\"\n",
                "providers.sync_interval",
            ),
            (
                "[providers.Big-Panel]\nkind = \"sandbox\"\n",
                "providers.Big-Panel: a provider name",
            ),
            (
                "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"https://cp\"\ntoken = \"t\"\nhypervisor_group_id = 1\npackage_id = 1\npage_size = 500\n",
                "providers.vf.page_size: expected 1 to 200",
            ),
        ];
        for (text, expected) in cases {
            let error = load(text).expect_err(text);
            assert!(error.contains(expected), "{text}\n=> {error}");
        }
    }

    #[test]
    fn the_example_file_documents_every_provider_key() {
        let example = include_str!("../../../config/hostdeck.example.toml");
        let mut keys = vec!["kind"];
        keys.extend(super::SIZE_KEYS);
        for kind in [
            ProviderKind::Virtfusion,
            ProviderKind::Proxmox,
            ProviderKind::Jelastic,
            ProviderKind::Sandbox,
        ] {
            keys.extend(super::keys_of(kind).1);
        }
        for key in keys {
            assert!(
                example.contains(&format!(".{key} = ")),
                "providers.NAME.{key} is not documented in config/hostdeck.example.toml"
            );
        }
    }

    #[test]
    fn a_misspelt_provider_key_is_named_with_the_keys_there_are() {
        let error = load("[providers.vf]\nkind = \"sandbox\"\npage_sise = 10\n").expect_err("typo");
        assert!(error.contains("providers.vf.page_sise"), "{error}");
        assert!(error.contains("page_size"), "{error}");
    }
}
