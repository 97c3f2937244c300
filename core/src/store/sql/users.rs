//! Users: `users` and the wallet (their ledger account) each one gets.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Filter, SqlStore, like_pattern};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::policy::Role;
use crate::records::users::{NewUser, User, UserAuth, UserStatus};
use crate::store::users::UserStore;
use crate::store::{Page, Paginated};

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> UserStore for SqlStore<DB> {
    async fn insert_user(&self, user: &NewUser, at: DateTime<Utc>) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (email, email_key, password_hash, role, status, email_verified_at, created_at) \
             VALUES ($1, $2, $3, $4, 'active', $5, $6) ON CONFLICT (email_key) DO NOTHING RETURNING id",
        )
        .bind(user.email.as_str().to_owned())
        .bind(user.email.key())
        .bind(user.password_hash.clone())
        .bind(user.role.as_str().to_owned())
        .bind(user.email_verified.then_some(at))
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inserted) = inserted else {
            return Err(Error::Conflict(format!(
                "An account with the email {} already exists.",
                user.email
            )));
        };
        let id: i64 = inserted.try_get("id").map_err(Error::from)?;
        let wallet: i64 = sqlx::query(
            "INSERT INTO accounts (kind, user_id, balance, created_at) VALUES ('wallet', $1, 0, $2) RETURNING id",
        )
        .bind(id)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")
        .map_err(Error::from)?;
        tx.commit().await?;
        Ok(User {
            id: UserId(id),
            email: user.email.as_str().to_owned(),
            role: user.role,
            status: UserStatus::Active,
            wallet: AccountId(wallet),
            email_verified_at: user.email_verified.then_some(at),
            created_at: at,
            display_name: None,
            two_factor: false,
        })
    }

    async fn user(&self, id: UserId) -> Result<Option<User>> {
        let row = sqlx::query(SELECT_USER_BY_ID)
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>> {
        let row = sqlx::query(SELECT_USER_BY_EMAIL)
            .bind(email.key())
            .bind(email.stored_key())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn list_users(&self, search: Option<&str>, page: Page) -> Result<Paginated<User>> {
        self.page_of(
            LIST_USERS,
            "SELECT COUNT(*) FROM users WHERE email_key LIKE $1 ESCAPE '\\'",
            Filter::Text(like_pattern(search)),
            page,
            user_from_row,
        )
        .await
    }

    async fn set_user_role(&self, id: UserId, role: Role) -> Result<()> {
        let updated = sqlx::query("UPDATE users SET role = $1 WHERE id = $2 RETURNING id")
            .bind(role.as_str().to_owned())
            .bind(id.0)
            .fetch_optional(&self.writer)
            .await?;
        if updated.is_none() {
            return Err(Error::NotFound(format!("There is no user {id}.")));
        }
        Ok(())
    }

    async fn count_users_with_role(&self, role: Role) -> Result<u64> {
        let query = sqlx::query("SELECT COUNT(*) FROM users WHERE role = $1")
            .bind(role.as_str().to_owned());
        Self::count_rows(&self.reader, query).await
    }

    async fn mark_email_verified(&self, user: UserId, at: DateTime<Utc>) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE users SET email_verified_at = $1 WHERE id = $2 AND email_verified_at IS NULL RETURNING id",
        )
        .bind(at)
        .bind(user.0)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn set_display_name(&self, user: UserId, name: Option<&str>) -> Result<()> {
        self.update_user(
            sqlx::query("UPDATE users SET display_name = $1 WHERE id = $2 RETURNING id")
                .bind(name.map(str::to_owned))
                .bind(user.0),
            user,
        )
        .await
    }

    async fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.update_user(
            sqlx::query("UPDATE users SET status = $1, sessions_valid_after = $2 WHERE id = $3 RETURNING id")
                .bind(status.as_str().to_owned())
                .bind(at)
                .bind(user.0),
            user,
        )
        .await
    }
}

const SELECT_USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " WHERE u.id = $1");

/// `$1` the address's key, `$2` its former key (or the key again): an account stored before
/// domains were kept in their ASCII form is still found, and the current form wins.
const SELECT_USER_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_columns!(),
    " WHERE u.email_key IN ($1, $2) ORDER BY (u.email_key = $1) DESC LIMIT 1"
);

const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " WHERE u.email_key LIKE $1 ESCAPE '\\' ORDER BY u.id LIMIT $2 OFFSET $3"
);

#[hostdeck_macros::row_bounds]
pub(super) fn user_from_row<R: Row>(row: &R) -> Result<User> {
    Ok(User {
        id: UserId(row.try_get("id")?),
        email: row.try_get("email")?,
        role: Role::parse(&row.try_get::<String, _>("role")?)?,
        status: UserStatus::parse(&row.try_get::<String, _>("status")?)?,
        wallet: AccountId(row.try_get("wallet")?),
        email_verified_at: row.try_get("email_verified_at")?,
        created_at: row.try_get("created_at")?,
        display_name: row.try_get("display_name")?,
        two_factor: row
            .try_get::<Option<DateTime<Utc>>, _>("totp_enabled_at")?
            .is_some(),
    })
}

#[hostdeck_macros::row_bounds]
pub(super) fn user_auth_from_row<R: Row>(row: &R) -> Result<UserAuth> {
    Ok(UserAuth {
        user: user_from_row(row)?,
        password_hash: row.try_get("password_hash")?,
        sessions_valid_after: row.try_get("sessions_valid_after")?,
        totp_secret: row.try_get("totp_secret")?,
        totp_pending_secret: row.try_get("totp_pending_secret")?,
        totp_last_step: row.try_get("totp_last_step")?,
    })
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    /// Runs an `UPDATE users ... RETURNING id`; no row means no such user.
    pub(super) async fn update_user<'q>(
        &self,
        query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
        user: UserId,
    ) -> Result<()> {
        match query.fetch_optional(&self.writer).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("There is no user {user}."))),
        }
    }
}
