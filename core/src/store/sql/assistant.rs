//! The assistant's usage records and daily token counts, the same SQL on both engines.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::Result;
use crate::ids::{TicketId, UserId};
use crate::records::assistant::{AnswerId, AskUsage, KeptAnswerRow, UsageTotals};
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

    async fn keep_answer(&self, row: &KeptAnswerRow) -> Result<AnswerId> {
        let id: i64 = sqlx::query(
            "INSERT INTO ask_answers (asked_at, user_id, asker, question, answer, sources, \
             conversation, outcome, feedback, ticket_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(row.asked_at)
        .bind(row.user.map(|user| user.0))
        .bind(row.asker.clone())
        .bind(row.question.clone())
        .bind(row.answer.clone())
        .bind(row.sources.clone())
        .bind(row.conversation.clone())
        .bind(row.outcome.clone())
        .bind(row.feedback.clone())
        .bind(row.ticket.map(|ticket| ticket.0))
        .fetch_one(&self.writer)
        .await?
        .try_get("id")?;
        Ok(AnswerId(id))
    }

    async fn kept_answer(&self, id: AnswerId) -> Result<Option<KeptAnswerRow>> {
        let row = sqlx::query(
            "SELECT asked_at, user_id, asker, question, answer, sources, conversation, outcome, \
             feedback, ticket_id FROM ask_answers WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let user: Option<i64> = row.try_get("user_id")?;
        let ticket: Option<i64> = row.try_get("ticket_id")?;
        Ok(Some(KeptAnswerRow {
            asked_at: row.try_get("asked_at")?,
            user: user.map(UserId),
            asker: row.try_get("asker")?,
            question: row.try_get("question")?,
            answer: row.try_get("answer")?,
            sources: row.try_get("sources")?,
            conversation: row.try_get("conversation")?,
            outcome: row.try_get("outcome")?,
            feedback: row.try_get("feedback")?,
            ticket: ticket.map(TicketId),
        }))
    }

    async fn set_feedback(&self, id: AnswerId, feedback: &str) -> Result<()> {
        sqlx::query("UPDATE ask_answers SET feedback = $1 WHERE id = $2")
            .bind(feedback.to_owned())
            .bind(id.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn claim_for_ticket(&self, id: AnswerId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ask_answers SET feedback = 'ticket' \
             WHERE id = $1 AND (feedback IS NULL OR feedback <> 'ticket')",
        )
        .bind(id.0)
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) == 1)
    }

    async fn set_answer_ticket(&self, id: AnswerId, ticket: TicketId) -> Result<()> {
        sqlx::query("UPDATE ask_answers SET ticket_id = $1 WHERE id = $2")
            .bind(ticket.0)
            .bind(id.0)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn feedback_since(&self, since: DateTime<Utc>) -> Result<Vec<(Option<String>, i64)>> {
        let rows = sqlx::query(
            "SELECT feedback, COUNT(*) AS answers FROM ask_answers WHERE asked_at >= $1 \
             GROUP BY feedback ORDER BY answers DESC",
        )
        .bind(since)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("feedback")?, row.try_get("answers")?)))
            .collect()
    }
}
