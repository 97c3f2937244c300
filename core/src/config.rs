//! Typed configuration: built-in defaults < `config/hostdeck.toml` (or `--config PATH`) <
//! environment variables `HOSTDECK_SECTION__KEY`.
//!
//! Every section is a struct with `deny_unknown_fields`, so a misspelt key fails at start with
//! a message naming it, instead of being ignored. Secrets are [`SecretString`]s: they print as
//! `[redacted]` in `hostdeck config check` and in `Debug` output. `config/hostdeck.example.toml`
//! documents every key; a test keeps it in step with these structs.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

pub mod values;

pub use values::{ConfigError, REDACTED, amount, amounts, serialize_secret};

use crate::money::{Currency, Money};
use crate::providers::config::ProvidersConfig;

/// Where the config file is looked for when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "config/hostdeck.toml";
/// The environment variable prefix; `HOSTDECK_WEB__BIND` sets `web.bind`.
pub const ENV_PREFIX: &str = "HOSTDECK_";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub company: CompanyConfig,
    pub database: DatabaseConfig,
    pub web: WebConfig,
    pub auth: AuthConfig,
    pub smtp: SmtpConfig,
    pub billing: BillingConfig,
    pub discord: DiscordConfig,
    pub providers: ProvidersConfig,
    pub paypal: crate::payments::config::PaypalConfig,
    /// What one customer may run at once ([`crate::servers::limits`]).
    pub customer_limits: crate::servers::limits::CustomerLimits,
    /// Prices, loaded from the file `billing.pricing` names (not part of this file's TOML).
    #[serde(skip)]
    pub pricing: std::sync::Arc<crate::pricing::Pricing>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompanyConfig {
    /// The hosting company's name, shown in the portal and in emails.
    pub name: String,
    /// The portal's main colour, as `#rrggbb`.
    pub primary_color: HexColor,
    /// Where customers write for help; shown in emails and on error pages.
    pub support_email: Option<String>,
    /// The registered name, when it differs from `name`; heads PDF statements.
    pub legal_name: Option<String>,
    /// The postal address, one line per entry; printed on PDF statements.
    pub address: Vec<String>,
    /// A VAT or other tax number; printed on PDF statements.
    pub tax_id: Option<String>,
}

impl Default for CompanyConfig {
    fn default() -> Self {
        Self {
            name: "hostdeck".into(),
            primary_color: HexColor("#2563eb".into()),
            support_email: None,
            legal_name: None,
            address: Vec::new(),
            tax_id: None,
        }
    }
}

impl CompanyConfig {
    /// What a statement prints under the company's name: the legal name, the address, the tax
    /// number and the support address, each when set.
    pub fn details(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(legal) = self.legal_name.as_deref().filter(|l| !l.trim().is_empty()) {
            lines.push(legal.trim().to_owned());
        }
        lines.extend(
            self.address
                .iter()
                .map(|line| line.trim())
                .filter(|line| !line.is_empty())
                .map(str::to_owned),
        );
        if let Some(tax) = self.tax_id.as_deref().filter(|t| !t.trim().is_empty()) {
            lines.push(format!("Tax ID: {}", tax.trim()));
        }
        if let Some(email) = self.support_email.as_deref() {
            lines.push(email.to_owned());
        }
        lines
    }
}

/// A colour written `#rrggbb`: validated, because it ends up in the portal's stylesheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HexColor(String);

impl HexColor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HexColor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let ok = text.len() == 7
            && text.starts_with('#')
            && text[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(text.to_ascii_lowercase()))
        } else {
            Err(serde::de::Error::custom(format!(
                "{text:?} is not a colour; write it like \"#2563eb\""
            )))
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Signs session tokens (HS256). When unset, one is generated on first start and kept in
    /// the database, so every replica on that database shares it.
    #[serde(serialize_with = "serialize_secret")]
    pub jwt_secret: Option<SecretString>,
    /// How long a sign-in lasts.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Requests allowed for each API key in any minute (a sliding window, counted by each
    /// replica for itself).
    pub api_key_requests_per_minute: u32,
    /// Requests allowed for each signed-in session (API token or portal cookie) in any minute,
    /// counted the same way.
    pub session_requests_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            session_ttl: Duration::from_secs(12 * 3600),
            api_key_requests_per_minute: 100,
            session_requests_per_minute: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// `smtp://user:password@host:587` (STARTTLS), `smtps://...:465` (TLS), or
    /// `smtp://host:25?tls=none` for a local relay. Unset: mail is written to `spool_dir`.
    #[serde(serialize_with = "serialize_optional_url")]
    pub url: Option<SecretString>,
    /// The sender of every email.
    pub from: String,
    /// Where mail goes as .eml files while no SMTP server is configured.
    pub spool_dir: PathBuf,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: None,
            from: "hostdeck <no-reply@localhost>".into(),
            spool_dir: PathBuf::from("data/mail"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created on first run) or `postgres://user:password@host/db`.
    #[serde(serialize_with = "serialize_database_url")]
    pub url: SecretString,
    /// Connections kept open to PostgreSQL (SQLite uses one writer and this many readers).
    pub max_connections: u32,
    /// How long to wait for a connection before answering "the database is not answering".
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: SecretString::from("sqlite://data/hostdeck.db"),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Address the web server listens on.
    pub bind: SocketAddr,
    /// The address people use to reach the portal (for links in emails); `https` turns on
    /// secure cookies.
    pub public_url: Option<url::Url>,
    /// A request that takes longer is answered 408 and its work dropped.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies (addresses or CIDR networks) whose `X-Forwarded-For` is believed; the
    /// client is the rightmost address in it that is not one of these. Empty: the peer is the
    /// client and the header is ignored.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// How long a connection may take to send a request's headers, counted from when it opens
    /// and, on a kept-alive connection, from the end of the previous answer (so an idle
    /// connection is closed after this long too).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (a stalled
    /// upload, a client that stops reading its answer).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// The longest wait for the next part of a request body.
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(20),
            max_connections: 1024,
        }
    }
}

impl WebConfig {
    /// The client's address: the peer, or, when the peer is a trusted proxy, the rightmost
    /// address in `X-Forwarded-For` (its values in order, as bytes) that is not a trusted proxy.
    /// Entries left of that are whatever the client wrote, so they are never believed. An entry
    /// that is no address (not UTF-8, garbage) where the client should be names the client by
    /// an opaque `xff:` id of its text: never the proxy, which would make every client behind
    /// it one.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> String {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|p| p.contains(*ip));
        let mut client = peer.to_canonical();
        if !trusted(&client) {
            return client.to_string();
        }
        let hops = forwarded_for
            .flat_map(|value| value.split(|b| *b == b','))
            .rev();
        for hop in hops {
            let Some(ip) = parse_hop(hop) else {
                return opaque_hop(hop);
            };
            client = ip;
            if !trusted(&client) {
                break;
            }
        }
        client.to_string()
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:80`.
fn parse_hop(hop: &[u8]) -> Option<IpAddr> {
    let hop = std::str::from_utf8(hop).ok()?.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

/// A client known only by an `X-Forwarded-For` entry that is no address.
fn opaque_hop(hop: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(hop.trim_ascii());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("xff:{short}")
}

/// An address or a network, written `10.0.0.1`, `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wrong = || {
            format!(
                "{text:?} is not an address or network; write it like \"10.0.0.1\" or \"10.0.0.0/8\""
            )
        };
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network = address
            .parse::<IpAddr>()
            .map_err(|_| wrong())?
            .to_canonical();
        let most = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= most)
                .ok_or_else(wrong)?,
            None => most,
        };
        Ok(Self { network, prefix })
    }
}

impl std::fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TrustedProxy {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The platform's one currency (ISO 4217).
    pub currency: Currency,
    /// How often `serve` bills the hours that ended (and checks balances).
    #[serde(with = "humantime_serde")]
    pub tick_interval: Duration,
    /// After downtime, bill at most this many past hours; older ones are never billed.
    pub max_catchup_hours: u32,
    /// Credit given once when a customer verifies their email.
    #[serde(with = "amount")]
    pub signup_credit: Money,
    /// Credit given to every verified customer once a calendar month (UTC).
    #[serde(with = "amount")]
    pub monthly_free_credit: Money,
    /// A notice goes out when the balance falls under this many hours of current use.
    pub low_balance_hours: u32,
    /// Hours below zero before the customer's servers are suspended.
    pub grace_hours: u32,
    /// The pricing file; unset means config/pricing.toml if present, else the built-in prices.
    pub pricing: Option<PathBuf>,
}

impl BillingConfig {
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // A zero interval would panic the ticker task (and with it all billing) at start.
        if self.tick_interval < Duration::from_secs(1) {
            problems.push("billing.tick_interval: expected at least 1s".to_owned());
        }
        if self.max_catchup_hours == 0 {
            problems.push("billing.max_catchup_hours: expected at least 1".to_owned());
        }
        let most = crate::ledger::MAX_POSTING;
        for (key, amount) in [
            ("signup_credit", self.signup_credit),
            ("monthly_free_credit", self.monthly_free_credit),
        ] {
            if amount > most {
                problems.push(format!(
                    "billing.{key}: expected at most {} (the largest single posting)",
                    most.amount_text()
                ));
            }
        }
        problems
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            currency: Currency::default(),
            tick_interval: Duration::from_secs(60),
            max_catchup_hours: 744,
            signup_credit: Money::ZERO,
            monthly_free_credit: Money::ZERO,
            low_balance_hours: 24,
            grace_hours: 72,
            pricing: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// The bot token. Without it the bot stays off.
    #[serde(serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    /// Discord's address; any other value routes the bot's REST and gateway there.
    pub api_base: url::Url,
    /// A channel webhook URL where billing staff are told of payments that credited nobody
    /// and of `/credits` adjustments. It carries the webhook's token, so it is treated as a
    /// secret, read when a post is sent and never stored in the outbox.
    #[serde(serialize_with = "serialize_secret")]
    pub billing_webhook: Option<SecretString>,
    /// The guild (server) the bot serves. Staff roles count only here; commands are
    /// registered here when set, otherwise globally.
    pub guild_id: Option<u64>,
    /// Which Discord role ids (never names) make a member support, billing or admin.
    pub roles: DiscordRoles,
    /// How many gateway shards to run; unset means as many as Discord recommends.
    pub shards: Option<u32>,
    /// Whether `hostdeck serve` registers the slash commands when the bot starts
    /// (`hostdeck bot register-commands` does it on demand).
    pub register_on_start: bool,
}

/// Discord role ids per platform role.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordRoles {
    pub admin: Vec<u64>,
    pub support: Vec<u64>,
    pub billing: Vec<u64>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            api_base: url::Url::parse("https://discord.com").unwrap_or_else(|_| unreachable!()),
            billing_webhook: None,
            guild_id: None,
            roles: DiscordRoles::default(),
            shards: None,
            register_on_start: true,
        }
    }
}

impl Config {
    /// Loads the layers and checks the values. `path` is `--config`; when it is given the file
    /// must exist, otherwise `config/hostdeck.toml` is read if present.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file: PathBuf = match path {
            Some(path) if !path.is_file() => {
                return Err(ConfigError(vec![format!(
                    "the config file {} does not exist (given with --config)",
                    path.display()
                )]));
            }
            Some(path) => path.to_owned(),
            None => PathBuf::from(DEFAULT_CONFIG_PATH),
        };
        Self::from_figment(
            Figment::new()
                .merge(Toml::file(&file))
                .merge(Self::env_provider())
                .merge(EnvDecimals::read()),
        )
    }

    /// Loads from a TOML text and the environment (for tests and `config check` of a string).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(
            Figment::new()
                .merge(Toml::string(text))
                .merge(Self::env_provider())
                .merge(EnvDecimals::read()),
        )
    }

    pub(crate) fn env_provider() -> Env {
        // Only `SECTION__KEY` variables are config; `HOSTDECK_LOG_FORMAT` and the like are not.
        Env::prefixed(ENV_PREFIX)
            .filter(|key| key.as_str().contains("__"))
            .split("__")
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let mut config: Config = figment.extract().map_err(ConfigError::from_figment)?;
        config.validate()?;
        config.pricing = std::sync::Arc::new(crate::pricing::Pricing::for_path(
            config.billing.pricing.as_deref(),
        )?);
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let url = self.database.url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres:")
            || url.starts_with("postgresql:"))
        {
            problems.push(
                "database.url: expected a URL starting with sqlite:// or postgres://".to_owned(),
            );
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections: expected at least 1".to_owned());
        }
        if self.auth.api_key_requests_per_minute == 0 {
            problems.push("auth.api_key_requests_per_minute: expected at least 1".to_owned());
        }
        if self.auth.session_ttl < Duration::from_secs(60) {
            problems.push("auth.session_ttl: expected at least 1m".to_owned());
        }
        if let Some(secret) = &self.auth.jwt_secret
            && secret.expose_secret().len() < 32
        {
            problems.push("auth.jwt_secret: expected at least 32 characters".to_owned());
        }
        if let Some(url) = &self.smtp.url
            && !(url.expose_secret().starts_with("smtp://")
                || url.expose_secret().starts_with("smtps://"))
        {
            problems.push("smtp.url: expected smtp://... or smtps://...".to_owned());
        }
        if !self.smtp.from.contains('@') {
            problems.push(
                "smtp.from: expected an address such as \"Example Hosting <no-reply@example.com>\""
                    .to_owned(),
            );
        }
        if self.auth.session_requests_per_minute == 0 {
            problems.push("auth.session_requests_per_minute: expected at least 1".to_owned());
        }
        for (key, value) in [
            ("header_read_timeout", self.web.header_read_timeout),
            ("idle_timeout", self.web.idle_timeout),
            ("body_read_timeout", self.web.body_read_timeout),
        ] {
            if value < Duration::from_millis(100) {
                problems.push(format!("web.{key}: expected at least 100ms"));
            }
        }
        if self.web.idle_timeout <= self.web.request_timeout {
            problems.push(
                "web.idle_timeout: expected longer than web.request_timeout (a request being \
                 answered moves no bytes)"
                    .to_owned(),
            );
        }
        if self.web.max_connections == 0 {
            problems.push("web.max_connections: expected at least 1".to_owned());
        }
        if self.web.max_body_bytes < 1024 {
            problems.push("web.max_body_bytes: expected at least 1024 bytes".to_owned());
        }
        if self
            .web
            .public_url
            .as_ref()
            .is_some_and(|url| !matches!(url.scheme(), "http" | "https"))
        {
            problems.push("web.public_url: expected an http:// or https:// address".to_owned());
        }
        if let Err(error) = crate::text::name("name", "the company name", &self.company.name, 100) {
            problems.push(format!("company.name: {error}"));
        }
        if self.discord.shards == Some(0) {
            problems.push("discord.shards: expected at least 1 (or leave it unset)".to_owned());
        }
        problems.extend(self.providers.problems());
        problems.extend(self.paypal.problems(&self.billing.currency));
        problems.extend(self.billing.problems());
        problems.extend(self.customer_limits.problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// The effective config as TOML with every secret redacted, for `hostdeck config check`.
    pub fn redacted_toml(&self) -> String {
        toml::to_string_pretty(self)
            .unwrap_or_else(|error| format!("# the config could not be shown: {error}\n"))
    }
}

/// The `HOSTDECK_SECTION__KEY` variables whose value has a decimal point (`1.50`), kept as the
/// text that was written. Figment reads every variable as the TOML value it looks like, so an
/// amount would arrive as a binary float, which amounts refuse; and no config key is a float.
struct EnvDecimals(Vec<(String, String)>);

impl EnvDecimals {
    fn read() -> Self {
        Self(
            Config::env_provider()
                .iter()
                .filter(|(_, value)| is_decimal(value))
                .map(|(key, value)| (key.as_str().to_owned(), value.trim().to_owned()))
                .collect(),
        )
    }
}

/// `12.5`, `-0.25`: digits, one point, digits.
fn is_decimal(text: &str) -> bool {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits.split_once('.').is_some_and(|(whole, fraction)| {
        !whole.is_empty()
            && !fraction.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && fraction.bytes().all(|b| b.is_ascii_digit())
    })
}

impl figment::Provider for EnvDecimals {
    fn metadata(&self) -> figment::Metadata {
        Config::env_provider().metadata()
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Tag, Value};
        let mut root = Dict::new();
        for (key, text) in &self.0 {
            let mut dict = &mut root;
            let mut parts = key.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    dict.insert(part.to_owned(), Value::from(text.clone()));
                    break;
                }
                let entry = dict
                    .entry(part.to_owned())
                    .or_insert_with(|| Value::Dict(Tag::Default, Dict::new()));
                match entry {
                    Value::Dict(_, inner) => dict = inner,
                    _ => break,
                }
            }
        }
        Ok(figment::Profile::Default.collect(root))
    }
}

impl ConfigError {
    fn from_figment(error: figment::Error) -> Self {
        Self(error.into_iter().map(|error| describe(&error)).collect())
    }
}

fn describe(error: &figment::Error) -> String {
    use figment::error::Kind;
    let mut key = error.path.join(".");
    let what = match &error.kind {
        Kind::UnknownField(field, expected) => {
            // figment's path may or may not end with the unknown field itself.
            let mut section = error.path.clone();
            if section.last() == Some(field) {
                section.pop();
            }
            let section = section.join(".");
            key = if section.is_empty() {
                field.clone()
            } else {
                format!("{section}.{field}")
            };
            let place = if section.is_empty() {
                "the top level".to_owned()
            } else {
                format!("[{section}]")
            };
            format!("unknown key; {place} has: {}", expected.join(", "))
        }
        Kind::MissingField(field) => {
            key = if key.is_empty() {
                field.to_string()
            } else {
                format!("{key}.{field}")
            };
            "this key is required".to_owned()
        }
        other => match expectation(&key) {
            Some(hint) => format!("{other}; expected {hint}"),
            None => other.to_string(),
        },
    };
    let source = error
        .metadata
        .as_ref()
        .map(|metadata| match &metadata.source {
            Some(source) => format!(" (from {source})"),
            None if metadata.name.contains("environment") => {
                format!(
                    " (from the environment variable {ENV_PREFIX}{})",
                    key.to_uppercase().replace('.', "__")
                )
            }
            None => format!(" (from {})", metadata.name),
        })
        .unwrap_or_default();
    if key.is_empty() {
        format!("{what}{source}")
    } else {
        format!("{key}: {what}{source}")
    }
}

/// What a key's value should look like, for keys whose type error alone would not say.
fn expectation(key: &str) -> Option<&'static str> {
    let last = key.rsplit('.').next().unwrap_or(key);
    match last {
        "bind" => Some("an address and port such as 127.0.0.1:8080"),
        "url" | "public_url" | "api_base" | "base_url" => {
            Some("a full address such as https://example.com")
        }
        _ if last.ends_with("timeout") || last.ends_with("interval") => {
            Some("a duration such as \"30s\" or \"5m\"")
        }
        _ => None,
    }
}

fn serialize_optional_url<S: Serializer>(
    url: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => serializer.serialize_str(&redact_url_password(url.expose_secret())),
        None => serializer.serialize_none(),
    }
}

/// Shows the database URL with its password, if any, redacted.
fn serialize_database_url<S: Serializer>(
    url: &SecretString,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url_password(url.expose_secret()))
}

/// `postgres://app:hunter2@db/x` becomes `postgres://app:[redacted]@db/x`.
pub fn redact_url_password(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(REDACTED));
            url.to_string().replace("%5Bredacted%5D", REDACTED)
        }
        Ok(_) => text.to_owned(),
        Err(_) => REDACTED.to_owned(),
    }
}

#[cfg(test)]
mod tests;
