//! What sign-in reads and writes: password hashes, two-factor secrets, sessions, one-time
//! codes and API keys.

use chrono::{DateTime, Utc};

use crate::email::Email;
use crate::error::Result;
use crate::ids::UserId;
use crate::records::auth::{ApiKeyInfo, CodeCheck, NewApiKey, NewCode, SessionRecord};
use crate::records::users::UserAuth;

#[async_trait::async_trait]
pub trait AuthStore: Send + Sync {
    async fn user_auth(&self, id: UserId) -> Result<Option<UserAuth>>;

    async fn user_auth_by_email(&self, email: &Email) -> Result<Option<UserAuth>>;

    /// Sets the password and ends every session started before `valid_after`.
    async fn set_password(
        &self,
        user: UserId,
        hash: &str,
        valid_after: DateTime<Utc>,
    ) -> Result<()>;

    async fn set_totp_pending(&self, user: UserId, secret: Option<&str>) -> Result<()>;

    /// Turns two-factor on with the pending secret; `false` if none was pending.
    async fn confirm_totp(&self, user: UserId, at: DateTime<Utc>) -> Result<bool>;

    async fn disable_totp(&self, user: UserId) -> Result<()>;

    /// Records `step` as used; `false` if it (or a later one) already was, so a code works once.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool>;

    async fn insert_session(&self, session: &SessionRecord, client: &str) -> Result<()>;

    async fn session_with_user(&self, id: &str) -> Result<Option<(SessionRecord, UserAuth)>>;

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<()>;

    /// Ends every session of `user` but `keep`.
    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Stores a one-time code's hash; earlier unused codes of the same purpose stop working.
    async fn insert_code(&self, code: &NewCode) -> Result<()>;

    /// Checks a code and uses it up if it matches.
    async fn use_code(
        &self,
        purpose: &str,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<CodeCheck>;

    async fn insert_api_key(&self, key: &NewApiKey) -> Result<ApiKeyInfo>;

    async fn api_keys_of(&self, user: UserId) -> Result<Vec<ApiKeyInfo>>;

    /// `false` if the user has no such live key.
    async fn revoke_api_key(&self, user: UserId, id: i64, at: DateTime<Utc>) -> Result<bool>;

    /// Revokes every live key of `user`; how many.
    async fn revoke_api_keys_of(&self, user: UserId, at: DateTime<Utc>) -> Result<u64>;

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<(ApiKeyInfo, UserAuth)>>;

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()>;
}
