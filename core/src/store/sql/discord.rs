//! [`DiscordStore`] for both engines: plain `$N` SQL, like the rest of [`super::SqlStore`].

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::users::user_from_row;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::money::Money;
use crate::records::users::User;
use crate::store::discord::{
    CreditDecision, CreditRequest, DiscordLink, DiscordStore, NewCreditRequest,
};

/// Discord ids are below 2^63 for centuries yet; stored as BIGINT.
fn snowflake(id: u64) -> Result<i64> {
    i64::try_from(id).map_err(|_| Error::invalid("discord_user_id", "not a Discord id"))
}

fn unsigned(id: i64) -> u64 {
    u64::try_from(id).unwrap_or_default()
}

const CREDIT_REQUEST_COLUMNS: &str = "SELECT id, idempotency_key, requested_by, customer_id, \
    amount, reason, created_at, expires_at, outcome, posting_id FROM discord_credit_requests";

#[hostdeck_macros::row_bounds]
fn credit_request_from_row<R: Row>(row: &R) -> Result<CreditRequest> {
    Ok(CreditRequest {
        id: row.try_get("id")?,
        idempotency_key: row.try_get("idempotency_key")?,
        requested_by: unsigned(row.try_get("requested_by")?),
        customer: UserId(row.try_get("customer_id")?),
        amount: Money::from_micros(row.try_get("amount")?),
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        decision: CreditRequest::decision_from(
            row.try_get::<Option<String>, _>("outcome")?.as_deref(),
        ),
        posting_id: row.try_get("posting_id")?,
    })
}

/// The `user_id` a statement returned.
#[hostdeck_macros::row_bounds]
fn user_id_from_row<R: Row>(row: &R) -> Result<UserId> {
    Ok(UserId(row.try_get("user_id")?))
}

#[hostdeck_macros::row_bounds]
fn link_from_row<R: Row>(row: &R) -> Result<DiscordLink> {
    Ok(DiscordLink {
        discord_user_id: unsigned(row.try_get("discord_user_id")?),
        user: UserId(row.try_get("link_user_id")?),
        discord_name: row.try_get("discord_name")?,
        linked_at: row.try_get("linked_at")?,
    })
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> DiscordStore for SqlStore<DB> {
    async fn insert_link_code(
        &self,
        user: UserId,
        hash: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM discord_link_codes WHERE user_id = $1")
            .bind(user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO discord_link_codes (code_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash.to_owned())
        .bind(user.0)
        .bind(created_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn redeem_link_code(&self, hash: &str, at: DateTime<Utc>) -> Result<Option<UserId>> {
        // One statement, so two redemptions of the same code cannot both win.
        let row = sqlx::query(
            "UPDATE discord_link_codes SET used_at = $1 \
             WHERE code_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(at)
        .bind(hash.to_owned())
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(user_id_from_row).transpose()
    }

    async fn link_discord(&self, link: &DiscordLink) -> Result<()> {
        let discord = snowflake(link.discord_user_id)?;
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM discord_links WHERE discord_user_id = $1 OR user_id = $2")
            .bind(discord)
            .bind(link.user.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO discord_links (discord_user_id, user_id, discord_name, linked_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(discord)
        .bind(link.user.0)
        .bind(link.discord_name.clone())
        .bind(link.linked_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn unlink_discord_user(&self, discord_user_id: u64) -> Result<Option<UserId>> {
        let row =
            sqlx::query("DELETE FROM discord_links WHERE discord_user_id = $1 RETURNING user_id")
                .bind(snowflake(discord_user_id)?)
                .fetch_optional(&self.writer)
                .await?;
        row.as_ref().map(user_id_from_row).transpose()
    }

    async fn unlink_account(&self, user: UserId) -> Result<Option<u64>> {
        let row =
            sqlx::query("DELETE FROM discord_links WHERE user_id = $1 RETURNING discord_user_id")
                .bind(user.0)
                .fetch_optional(&self.writer)
                .await?;
        Ok(row
            .map(|row| row.try_get::<i64, _>("discord_user_id"))
            .transpose()?
            .map(unsigned))
    }

    async fn link_of_discord_user(
        &self,
        discord_user_id: u64,
    ) -> Result<Option<(DiscordLink, User)>> {
        let row = sqlx::query(concat!(
            "SELECT l.discord_user_id, l.user_id AS link_user_id, l.discord_name, l.linked_at, ",
            user_fields!(),
            " FROM discord_links l JOIN users u ON u.id = l.user_id \
             JOIN accounts a ON a.user_id = u.id WHERE l.discord_user_id = $1"
        ))
        .bind(snowflake(discord_user_id)?)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| Ok((link_from_row(&row)?, user_from_row(&row)?)))
            .transpose()
    }

    async fn link_of_account(&self, user: UserId) -> Result<Option<DiscordLink>> {
        let row = sqlx::query(
            "SELECT discord_user_id, user_id AS link_user_id, discord_name, linked_at \
             FROM discord_links WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.reader)
        .await?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn count_discord_links(&self) -> Result<u64> {
        Self::count_rows(
            &self.reader,
            sqlx::query("SELECT COUNT(*) FROM discord_links"),
        )
        .await
    }

    async fn insert_credit_request(&self, request: &NewCreditRequest) -> Result<CreditRequest> {
        sqlx::query(
            "INSERT INTO discord_credit_requests (idempotency_key, requested_by, customer_id, \
             amount, reason, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(request.idempotency_key.clone())
        .bind(snowflake(request.requested_by)?)
        .bind(request.customer.0)
        .bind(request.amount.micros())
        .bind(request.reason.clone())
        .bind(request.created_at)
        .bind(request.expires_at)
        .execute(&self.writer)
        .await?;
        let row = sqlx::query(&format!(
            "{CREDIT_REQUEST_COLUMNS} WHERE idempotency_key = $1"
        ))
        .bind(request.idempotency_key.clone())
        .fetch_one(&self.writer)
        .await?;
        credit_request_from_row(&row)
    }

    async fn credit_request(&self, id: i64) -> Result<Option<CreditRequest>> {
        let row = sqlx::query(&format!("{CREDIT_REQUEST_COLUMNS} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(credit_request_from_row).transpose()
    }

    async fn decide_credit_request(
        &self,
        id: i64,
        decision: CreditDecision,
        posting_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE discord_credit_requests SET outcome = $1, posting_id = $2, decided_at = $3 \
             WHERE id = $4 AND outcome IS NULL RETURNING id",
        )
        .bind(decision.as_str().to_owned())
        .bind(posting_id)
        .bind(at)
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn record_credit_posting(&self, id: i64, posting_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE discord_credit_requests SET posting_id = $1 \
             WHERE id = $2 AND outcome = 'posted'",
        )
        .bind(posting_id)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn release_credit_claim(&self, id: i64) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE discord_credit_requests SET outcome = NULL, decided_at = NULL \
             WHERE id = $1 AND outcome = 'posted' AND posting_id IS NULL RETURNING id",
        )
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }
}
