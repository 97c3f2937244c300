//! Users as stored: a user, what sign-in reads, and what creating one writes.
//! The rules for users are in [`crate::users`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::policy::Role;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    Active,
    /// Cannot sign in or act; data kept.
    Disabled,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Disabled => "disabled",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "active" => Ok(Self::Active),
            "disabled" => Ok(Self::Disabled),
            other => Err(Error::invalid(
                "status",
                format!("{other:?} is not a status; use active or disabled"),
            )),
        }
    }
}

/// An account as stored (the password hash is never part of it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub role: Role,
    pub status: UserStatus,
    /// The user's wallet in the ledger.
    pub wallet: AccountId,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// How the person likes to be addressed; optional.
    pub display_name: Option<String>,
    /// Whether two-factor authentication is on.
    pub two_factor: bool,
}

/// An account with what sign-in needs. Never serialized: it holds the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAuth {
    pub user: User,
    pub password_hash: Option<String>,
    /// Sessions started before this are over.
    pub sessions_valid_after: Option<DateTime<Utc>>,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_last_step: Option<i64>,
}

/// What the store needs to create an account and its wallet.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub role: Role,
    pub password_hash: Option<String>,
    pub email_verified: bool,
}
