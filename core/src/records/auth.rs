//! Sign-in records as stored: API keys and sessions. Issuing and checking them is
//! [`crate::auth`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::UserId;
use crate::policy::{Scope, Scopes};

/// A key as listed: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub user: UserId,
    pub name: String,
    /// The first characters of the key, e.g. `hd_4kZ9`.
    pub prefix: String,
    pub last4: String,
    #[serde(serialize_with = "serialize_scopes")]
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn serialize_scopes<S: serde::Serializer>(
    scopes: &Scopes,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(scopes.iter().map(Scope::as_str))
}

/// What the store keeps for a new key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub user: UserId,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub secret_hash: String,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A session row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user: UserId,
    pub two_factor: bool,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A one-time code to store.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub purpose: &'static str,
    pub user: UserId,
    /// Hashes of the short codes sent: each dies after [`CODE_ATTEMPTS`] wrong tries.
    pub hashes: Vec<String>,
    /// The hash of a long link token sent beside them (a reset email), which cannot be
    /// guessed and so is not put out by wrong tries at the short code: a stranger guessing at
    /// someone's code cannot kill the link in that person's inbox.
    pub link: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// The result of checking a one-time code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Wrong,
    /// No live code (none sent, expired, used, or too many wrong tries).
    NoCode,
}

/// Wrong tries a code survives.
pub const CODE_ATTEMPTS: i64 = 5;
