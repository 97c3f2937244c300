//! The `[database]` section: which database to open and how. The config loader assembles it
//! with the other sections; the store owns it.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, Serializer};

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

/// What a secret is shown as.
pub const REDACTED: &str = "[redacted]";

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
