//! `[auth]`: sessions, tokens and two-factor settings.

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::values::serialize_secret;

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
