//! The assistant's usage records and daily token counts, the same SQL on both engines.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::Result;
use crate::records::assistant::{AskUsage, UsageTotals};
use crate::store::assistant::AssistantStore;

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> AssistantStore for SqlStore<DB> {
    async fn reserve_tokens(&self, day: &str, tokens: i64, budget: i64) -> Result<Option<i64>> {
        // The conditional upsert is the whole check: two questions racing for the last tokens
        // each see the other's reservation.
        let row = sqlx::query(
            "INSERT INTO ask_token_days (day, tokens) SELECT $1, $2 WHERE $2 <= $3 \
             ON CONFLICT (day) DO UPDATE SET tokens = ask_token_days.tokens + $2 \
             WHERE ask_token_days.tokens + $2 <= $3 \
             RETURNING tokens",
        )
        .bind(day.to_owned())
        .bind(tokens)
        .bind(budget)
        .fetch_optional(&self.writer)
        .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("tokens")?),
            None => None,
        })
    }

    async fn adjust_tokens(&self, day: &str, delta: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO ask_token_days (day, tokens) VALUES ($1, $2) \
             ON CONFLICT (day) DO UPDATE SET tokens = ask_token_days.tokens + $2",
        )
        .bind(day.to_owned())
        .bind(delta)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn tokens_on(&self, day: &str) -> Result<i64> {
        let row = sqlx::query("SELECT tokens FROM ask_token_days WHERE day = $1")
            .bind(day.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("tokens")?,
            None => 0,
        })
    }

    async fn record_usage(&self, usage: &AskUsage) -> Result<()> {
        sqlx::query(
            "INSERT INTO ask_usage (asked_at, user_id, asker, channel, outcome, tokens) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(usage.asked_at)
        .bind(usage.user.map(|user| user.0))
        .bind(usage.asker.clone())
        .bind(usage.channel.clone())
        .bind(usage.outcome.clone())
        .bind(usage.tokens)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn usage_since(&self, since: DateTime<Utc>) -> Result<UsageTotals> {
        let rows = sqlx::query(
            "SELECT outcome, COUNT(*) AS questions, CAST(COALESCE(SUM(tokens), 0) AS BIGINT) AS tokens \
             FROM ask_usage WHERE asked_at >= $1 GROUP BY outcome ORDER BY questions DESC, outcome",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        let mut totals = UsageTotals::default();
        for row in rows {
            let questions: i64 = row.try_get("questions")?;
            let tokens: i64 = row.try_get("tokens")?;
            totals.questions += questions;
            totals.tokens += tokens;
            totals.by_outcome.push((row.try_get("outcome")?, questions));
        }
        Ok(totals)
    }
}
