//! Typed configuration: built-in defaults < `config/hostdeck.toml` (or `--config PATH`) <
//! environment variables `HOSTDECK_SECTION__KEY`.
//!
//! Every section is a struct with `deny_unknown_fields`, so a misspelt key fails at start with
//! a message naming it, instead of being ignored. Secrets are [`SecretString`]s: they print as
//! `[redacted]` in `hostdeck config check` and in `Debug` output. `config/hostdeck.example.toml`
//! documents every key; a test keeps it in step with these structs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

pub mod values;

pub mod company;
pub mod discord;
pub mod web;

pub use company::{CompanyConfig, HexColor};
pub use discord::{DiscordConfig, DiscordRoles};
pub use values::ConfigError;
pub use web::{TrustedProxy, WebConfig};

pub use crate::assistant::config::{AssistantConfig, GeminiConfig};
pub use crate::auth::config::AuthConfig;
pub use crate::billing::config::BillingConfig;

use crate::providers::config::ProvidersConfig;

pub use crate::store::config::{DatabaseConfig, redact_url_password};

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
    /// The support desk ([`crate::tickets`]).
    pub tickets: crate::tickets::config::TicketsConfig,
    /// BetterStack Uptime, read for the status report ([`crate::status`]).
    pub betterstack: crate::status::config::BetterstackConfig,
    /// The status report: components, checks, refresh ([`crate::status`]).
    pub status: crate::status::config::StatusConfig,
    /// Where the help search's glossary additions are ([`crate::knowledge::config`]).
    pub knowledge: crate::knowledge::config::KnowledgeConfig,
    /// Where the model is and how long it may take (`/ask`).
    pub gemini: GeminiConfig,
    /// What `/ask` answers with: prompts, quotas, output bounds.
    pub assistant: AssistantConfig,
    /// Prices, loaded from the file `billing.pricing` names (not part of this file's TOML).
    #[serde(skip)]
    pub pricing: std::sync::Arc<crate::pricing::Pricing>,
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
            &Figment::new()
                .merge(Toml::file(&file))
                .merge(Self::env_provider())
                .merge(EnvDecimals::read()),
        )
    }

    /// Loads from a TOML text and the environment (for tests and `config check` of a string).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        Self::from_figment(
            &Figment::new()
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

    fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
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
        problems.extend(self.tickets.problems());
        problems.extend(self.status.problems(&self.betterstack));
        problems.extend(self.assistant.problems(&self.gemini));
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

#[cfg(test)]
mod tests;
