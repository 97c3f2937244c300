//! What sign-in reads and writes: password hashes, two-factor secrets, sessions, one-time
//! codes and API keys.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::users::user_auth_from_row;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Scope, Scopes};
use crate::records::auth::SessionRecord;
use crate::records::auth::{ApiKeyInfo, NewApiKey};
use crate::records::users::UserAuth;
use crate::store::auth::AuthStore;
use crate::store::{CODE_ATTEMPTS, CodeCheck, NewCode};

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> AuthStore for SqlStore<DB> {
    async fn user_auth(&self, id: UserId) -> Result<Option<UserAuth>> {
        let row = sqlx::query(SELECT_AUTH_BY_ID)
            .bind(id.0)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(user_auth_from_row).transpose()
    }

    async fn user_auth_by_email(&self, email: &Email) -> Result<Option<UserAuth>> {
        let row = sqlx::query(SELECT_AUTH_BY_EMAIL)
            .bind(email.key())
            .bind(email.stored_key())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(user_auth_from_row).transpose()
    }

    async fn set_password(
        &self,
        user: UserId,
        hash: &str,
        valid_after: DateTime<Utc>,
    ) -> Result<()> {
        self.update_user(
            sqlx::query("UPDATE users SET password_hash = $1, sessions_valid_after = $2 WHERE id = $3 RETURNING id")
                .bind(hash.to_owned())
                .bind(valid_after)
                .bind(user.0),
            user,
        )
        .await
    }

    async fn set_totp_pending(&self, user: UserId, secret: Option<&str>) -> Result<()> {
        self.update_user(
            sqlx::query("UPDATE users SET totp_pending_secret = $1 WHERE id = $2 RETURNING id")
                .bind(secret.map(str::to_owned))
                .bind(user.0),
            user,
        )
        .await
    }

    async fn confirm_totp(&self, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL, \
             totp_enabled_at = $1 WHERE id = $2 AND totp_pending_secret IS NOT NULL RETURNING id",
        )
        .bind(at)
        .bind(user.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn disable_totp(&self, user: UserId) -> Result<()> {
        self.update_user(
            sqlx::query(
                "UPDATE users SET totp_secret = NULL, totp_pending_secret = NULL, totp_enabled_at = NULL, \
                 totp_last_step = NULL WHERE id = $1 RETURNING id",
            )
            .bind(user.0),
            user,
        )
        .await
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 \
             AND (totp_last_step IS NULL OR totp_last_step < $1) RETURNING id",
        )
        .bind(step)
        .bind(user.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn insert_session(&self, session: &SessionRecord, client: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (id, user_id, two_factor, created_at, expires_at, client) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id.clone())
        .bind(session.user.0)
        .bind(session.two_factor)
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(client.chars().take(200).collect::<String>())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn session_with_user(&self, id: &str) -> Result<Option<(SessionRecord, UserAuth)>> {
        let row = sqlx::query(SELECT_SESSION)
            .bind(id.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let session = SessionRecord {
            id: row.try_get("session_id").map_err(Error::from)?,
            user: UserId(row.try_get("session_user").map_err(Error::from)?),
            two_factor: row.try_get("two_factor").map_err(Error::from)?,
            created_at: row.try_get("session_created_at").map_err(Error::from)?,
            expires_at: row.try_get("session_expires_at").map_err(Error::from)?,
            revoked_at: row.try_get("session_revoked_at").map_err(Error::from)?,
        };
        Ok(Some((session, user_auth_from_row(&row)?)))
    }

    async fn revoke_session(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(at)
            .bind(id.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL")
            .bind(at)
            .bind(user.0)
            .bind(keep.unwrap_or("").to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn insert_code(&self, code: &NewCode) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE one_time_codes SET used_at = $1 WHERE purpose = $2 AND user_id = $3 AND used_at IS NULL")
            .bind(code.created_at)
            .bind(code.purpose.to_owned())
            .bind(code.user.0)
            .execute(&mut *tx)
            .await?;
        let capped = code.hashes.iter().map(|hash| (hash, true));
        for (hash, capped) in capped.chain(code.link.iter().map(|hash| (hash, false))) {
            sqlx::query(
                "INSERT INTO one_time_codes (purpose, user_id, code_hash, created_at, expires_at, capped) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(code.purpose.to_owned())
            .bind(code.user.0)
            .bind(hash.clone())
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(capped)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn use_code(
        &self,
        purpose: &str,
        user: UserId,
        hash: &str,
        at: DateTime<Utc>,
    ) -> Result<CodeCheck> {
        let mut tx = self.begin_write().await?;
        // A live link token is looked up by its hash: it cannot be guessed, so it is not
        // counted, and wrong tries at the short code never put it out.
        let link = sqlx::query(
            "SELECT id FROM one_time_codes WHERE purpose = $1 AND user_id = $2 AND code_hash = $3 \
             AND capped = FALSE AND used_at IS NULL AND expires_at > $4",
        )
        .bind(purpose.to_owned())
        .bind(user.0)
        .bind(hash.to_owned())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        // The try at a short code is counted before the code is compared, in the statement
        // that finds the live codes: concurrent tries queue on the rows, so no more than
        // CODE_ATTEMPTS are compared.
        let live = if link.is_some() {
            Vec::new()
        } else {
            sqlx::query(
                "UPDATE one_time_codes SET attempts = attempts + 1 WHERE purpose = $1 AND user_id = $2 \
                 AND capped = TRUE AND used_at IS NULL AND expires_at > $3 AND attempts < $4 RETURNING code_hash",
            )
        .bind(purpose.to_owned())
        .bind(user.0)
        .bind(at)
            .bind(CODE_ATTEMPTS)
            .fetch_all(&mut *tx)
            .await?
        };
        if link.is_none() && live.is_empty() {
            tx.rollback().await?;
            return Ok(CodeCheck::NoCode);
        }
        let matched = link.is_some()
            || live.iter().any(|row| {
                row.try_get::<String, _>("code_hash")
                    .is_ok_and(|stored| stored == hash)
            });
        let mut accepted = false;
        if matched {
            let used = sqlx::query(
                "UPDATE one_time_codes SET used_at = $1 WHERE purpose = $2 AND user_id = $3 AND used_at IS NULL",
            )
            .bind(at)
            .bind(purpose.to_owned())
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
            accepted = DB::rows_affected(&used) > 0;
        }
        tx.commit().await?;
        Ok(if accepted {
            CodeCheck::Accepted
        } else {
            CodeCheck::Wrong
        })
    }

    async fn insert_api_key(&self, key: &NewApiKey) -> Result<ApiKeyInfo> {
        let scopes: Vec<&str> = key.scopes.iter().map(Scope::as_str).collect();
        let id: i64 = sqlx::query(
            "INSERT INTO api_keys (user_id, name, prefix, last4, secret_hash, scopes, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(key.user.0)
        .bind(key.name.clone())
        .bind(key.prefix.clone())
        .bind(key.last4.clone())
        .bind(key.secret_hash.clone())
        .bind(scopes.join(" "))
        .bind(key.created_at)
        .bind(key.expires_at)
        .fetch_one(&self.writer)
        .await?
        .try_get("id")
        .map_err(Error::from)?;
        Ok(ApiKeyInfo {
            id,
            user: key.user,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            last4: key.last4.clone(),
            scopes: key.scopes,
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: None,
            revoked_at: None,
        })
    }

    async fn api_keys_of(&self, user: UserId) -> Result<Vec<ApiKeyInfo>> {
        let rows = sqlx::query(SELECT_API_KEYS_OF)
            .bind(user.0)
            .fetch_all(&self.writer)
            .await?;
        rows.iter().map(api_key_from_row).collect()
    }

    async fn revoke_api_key(&self, user: UserId, id: i64, at: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at)
        .bind(id)
        .bind(user.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn revoke_api_keys_of(&self, user: UserId, at: DateTime<Utc>) -> Result<u64> {
        let rows = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(at)
        .bind(user.0)
        .fetch_all(&self.writer)
        .await?;
        Ok(rows.len() as u64)
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<Option<(ApiKeyInfo, UserAuth)>> {
        let row = sqlx::query(SELECT_API_KEY_BY_HASH)
            .bind(hash.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((api_key_from_row(&row)?, user_auth_from_row(&row)?)))
    }

    async fn touch_api_key(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }
}

const SELECT_AUTH_BY_ID: &str = concat!(
    "SELECT ",
    user_fields!(),
    ", ",
    auth_fields!(),
    " FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.id = $1"
);

const SELECT_AUTH_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_fields!(),
    ", ",
    auth_fields!(),
    " FROM users u JOIN accounts a ON a.user_id = u.id WHERE u.email_key IN ($1, $2) \
     ORDER BY (u.email_key = $1) DESC LIMIT 1"
);

const SELECT_SESSION: &str = concat!(
    "SELECT s.id AS session_id, s.user_id AS session_user, s.two_factor, s.created_at AS session_created_at, \
     s.expires_at AS session_expires_at, s.revoked_at AS session_revoked_at, ",
    user_fields!(),
    ", ",
    auth_fields!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id JOIN accounts a ON a.user_id = u.id WHERE s.id = $1"
);

const SELECT_API_KEY_BY_HASH: &str = concat!(
    "SELECT ",
    api_key_fields!(),
    ", ",
    user_fields!(),
    ", ",
    auth_fields!(),
    " FROM api_keys k JOIN users u ON u.id = k.user_id JOIN accounts a ON a.user_id = u.id \
     WHERE k.secret_hash = $1"
);

const SELECT_API_KEYS_OF: &str = concat!(
    "SELECT ",
    api_key_fields!(),
    " FROM api_keys k WHERE k.user_id = $1 ORDER BY k.id"
);

#[hostdeck_macros::row_bounds]
pub(super) fn api_key_from_row<R: Row>(row: &R) -> Result<ApiKeyInfo> {
    let scopes: String = row.try_get("scopes")?;
    let scopes = scopes
        .split_whitespace()
        .map(Scope::parse)
        .collect::<Result<Vec<_>>>()
        .map_err(|error| Error::internal("reading an API key's scopes", error.to_string()))?;
    Ok(ApiKeyInfo {
        id: row.try_get("key_id")?,
        user: UserId(row.try_get("key_user")?),
        name: row.try_get("key_name")?,
        prefix: row.try_get("prefix")?,
        last4: row.try_get("last4")?,
        scopes: Scopes::of(&scopes),
        created_at: row.try_get("key_created_at")?,
        expires_at: row.try_get("key_expires_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("key_revoked_at")?,
    })
}
