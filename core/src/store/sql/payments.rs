//! [`PaymentStore`] for the generic SQL store: the same `$N` SQL on both engines.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::ledger::posting_from_row;
use crate::error::{Error, Result};
use crate::ids::{AccountId, UserId};
use crate::money::Money;
use crate::records::ledger::{PostingKind, StatementLine};
use crate::store::payments::{
    EventStatus, NewEvent, OrderStatus, PaymentStore, StatementFilter, StoredEvent, StoredOrder,
};
use crate::store::{Page, Paginated};

const ORDER_COLUMNS: &str = "SELECT id, user_id, amount, currency, request_id, status, capture_id, \
     created_at, updated_at FROM paypal_orders";
const EVENT_COLUMNS: &str = "id, event_type, body, status, attempts, outcome, received_at";
/// Records an order's new status; a capture id, once set, is kept.
const SET_ORDER_STATUS: &str = "UPDATE paypal_orders SET status = $1, \
     capture_id = COALESCE(capture_id, $2), updated_at = $3 WHERE id = $4";
const FILTERED: &str = "(debit_account = $1 OR credit_account = $1) \
     AND ($2 IS NULL OR kind = $2) AND ($3 IS NULL OR created_at >= $3) \
     AND ($4 IS NULL OR created_at < $4)";

#[hostdeck_macros::row_bounds]
fn order_from_row<R: Row>(row: &R) -> Result<StoredOrder> {
    let status: String = row.try_get("status")?;
    Ok(StoredOrder {
        id: row.try_get("id")?,
        user: UserId(row.try_get("user_id")?),
        amount: Money::from_micros(row.try_get("amount")?),
        currency: row.try_get("currency")?,
        request_id: row.try_get("request_id")?,
        status: OrderStatus::parse(&status).ok_or_else(|| {
            Error::internal("reading an order", format!("unknown status {status}"))
        })?,
        capture_id: row.try_get("capture_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

#[hostdeck_macros::row_bounds]
fn event_from_row<R: Row>(row: &R) -> Result<StoredEvent> {
    let status: String = row.try_get("status")?;
    Ok(StoredEvent {
        id: row.try_get("id")?,
        event_type: row.try_get("event_type")?,
        body: row.try_get("body")?,
        status: EventStatus::parse(&status).ok_or_else(|| {
            Error::internal(
                "reading a webhook event",
                format!("unknown status {status}"),
            )
        })?,
        attempts: row.try_get("attempts")?,
        outcome: row.try_get("outcome")?,
        received_at: row.try_get("received_at")?,
    })
}

fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// The writes a posting's transaction shares with the payment store's own
/// ([`crate::records::ledger::Attached`]).
#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    pub(super) async fn write_order_status(
        conn: &mut DB::Connection,
        id: &str,
        status: OrderStatus,
        capture_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(SET_ORDER_STATUS)
            .bind(status.as_str().to_owned())
            .bind(capture_id.map(str::to_owned))
            .bind(at)
            .bind(id.to_owned())
            .execute(conn)
            .await?;
        Ok(())
    }

    pub(super) async fn write_event_outcome(
        conn: &mut DB::Connection,
        id: &str,
        status: EventStatus,
        waiting_for: Option<&str>,
        outcome: &str,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE paypal_events SET status = $1, waiting_for = $2, outcome = $3, \
             processed_at = $4, locked_until = NULL WHERE id = $5",
        )
        .bind(status.as_str().to_owned())
        .bind(waiting_for.map(str::to_owned))
        .bind(outcome.to_owned())
        .bind(at)
        .bind(id.to_owned())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Puts the events waiting for `capture_id` back in the queue; how many.
    pub(super) async fn write_wake_waiting(
        conn: &mut DB::Connection,
        capture_id: &str,
    ) -> Result<u64, sqlx::Error> {
        let woken = sqlx::query(
            "UPDATE paypal_events SET status = 'pending', waiting_for = NULL, locked_until = NULL \
             WHERE status = 'waiting' AND waiting_for = $1 RETURNING id",
        )
        .bind(capture_id.to_owned())
        .fetch_all(conn)
        .await?;
        Ok(woken.len() as u64)
    }
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> PaymentStore for SqlStore<DB> {
    async fn insert_order(&self, order: &StoredOrder) -> Result<()> {
        sqlx::query(
            "INSERT INTO paypal_orders (id, user_id, amount, currency, request_id, status, \
             capture_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(order.id.clone())
        .bind(order.user.0)
        .bind(order.amount.micros())
        .bind(order.currency.clone())
        .bind(order.request_id.clone())
        .bind(order.status.as_str().to_owned())
        .bind(order.capture_id.clone())
        .bind(order.created_at)
        .bind(order.updated_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn order(&self, id: &str) -> Result<Option<StoredOrder>> {
        // Readers see every committed write on both engines (WAL on SQLite).
        let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE id = $1"))
            .bind(id.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn order_by_capture(&self, capture_id: &str) -> Result<Option<StoredOrder>> {
        let row = sqlx::query(&format!("{ORDER_COLUMNS} WHERE capture_id = $1"))
            .bind(capture_id.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(order_from_row).transpose()
    }

    async fn set_order_status(
        &self,
        id: &str,
        status: OrderStatus,
        capture_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        Self::write_order_status(&mut *conn, id, status, capture_id, at).await?;
        Ok(())
    }

    async fn cancel_order(&self, id: &str, at: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE paypal_orders SET status = 'cancelled', updated_at = $1 \
             WHERE id = $2 AND status = 'created'",
        )
        .bind(at)
        .bind(id.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<StoredOrder>> {
        let rows = sqlx::query(&format!(
            "{ORDER_COLUMNS} WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
        ))
        .bind(user.0)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(order_from_row).collect()
    }

    async fn capture_refunds(&self, capture_id: &str) -> Result<Option<(Money, Money)>> {
        let row = sqlx::query("SELECT amount, refunded FROM paypal_captures WHERE id = $1")
            .bind(capture_id.to_owned())
            .fetch_optional(&self.writer)
            .await?;
        row.map(|row| -> Result<(Money, Money)> {
            Ok((
                Money::from_micros(row.try_get("amount")?),
                Money::from_micros(row.try_get("refunded")?),
            ))
        })
        .transpose()
    }

    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<bool>> {
        // One multi-row statement is one commit. An id given twice is sent once: its first
        // delivery is the new one.
        let mut firsts: Vec<&NewEvent> = Vec::with_capacity(events.len());
        for event in events {
            if !firsts.iter().any(|first| first.id == event.id) {
                firsts.push(event);
            }
        }
        if firsts.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql =
            String::from("INSERT INTO paypal_events (id, event_type, body, received_at) VALUES ");
        for index in 0..firsts.len() {
            let n = index * 4;
            if index > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
        }
        sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
        let mut query = sqlx::query(&sql);
        for event in &firsts {
            query = query
                .bind(event.id.clone())
                .bind(event.event_type.clone())
                .bind(event.body.clone())
                .bind(event.received_at);
        }
        let rows = query.fetch_all(&self.writer).await?;
        let mut inserted = Vec::with_capacity(rows.len());
        for row in &rows {
            inserted.push(row.try_get::<String, _>("id")?);
        }
        // Each id is new for the first of the given events that carries it, when inserted now.
        let mut answered: Vec<&str> = Vec::with_capacity(events.len());
        Ok(events
            .iter()
            .map(|event| {
                let first = !answered.contains(&event.id.as_str());
                if first {
                    answered.push(&event.id);
                }
                first && inserted.contains(&event.id)
            })
            .collect())
    }

    async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        // As the outbox: the conditions stand in the outer WHERE too, so on PostgreSQL a row
        // another worker claimed meanwhile is skipped after its lock is released.
        let rows = sqlx::query(&format!(
            "UPDATE paypal_events SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM paypal_events WHERE status = 'pending' \
                            AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY received_at LIMIT $3) \
               AND status = 'pending' AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING {EVENT_COLUMNS}"
        ))
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        let mut events: Vec<StoredEvent> =
            rows.iter().map(event_from_row).collect::<Result<_>>()?;
        events.sort_by_key(|event| event.received_at);
        Ok(events)
    }

    async fn finish_event(
        &self,
        id: &str,
        status: EventStatus,
        waiting_for: Option<&str>,
        outcome: &str,
        order: Option<(&str, OrderStatus, &str)>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if let Some((order, order_status, capture_id)) = order {
            Self::write_order_status(&mut *tx, order, order_status, Some(capture_id), at).await?;
        }
        Self::write_event_outcome(&mut *tx, id, status, waiting_for, outcome, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn wake_waiting(&self, capture_id: &str) -> Result<u64> {
        // Almost always nothing waits: a read answers that without taking the write lock.
        let waiting = sqlx::query(
            "SELECT id FROM paypal_events WHERE status = 'waiting' AND waiting_for = $1 LIMIT 1",
        )
        .bind(capture_id.to_owned())
        .fetch_optional(&self.reader)
        .await?;
        if waiting.is_none() {
            return Ok(0);
        }
        let mut conn = self.writer.acquire().await?;
        Ok(Self::write_wake_waiting(&mut *conn, capture_id).await?)
    }

    async fn count_events(&self, status: EventStatus) -> Result<u64> {
        let query = sqlx::query("SELECT COUNT(*) FROM paypal_events WHERE status = $1")
            .bind(status.as_str().to_owned());
        Self::count_rows(&self.writer, query).await
    }

    async fn statement_filtered(
        &self,
        account: AccountId,
        filter: &StatementFilter,
        page: Page,
    ) -> Result<Paginated<StatementLine>> {
        let kind = filter.kind.map(|kind| kind.as_str().to_owned());
        let rows = sqlx::query(&format!(
            "SELECT {} WHERE {FILTERED} ORDER BY id DESC LIMIT $5 OFFSET $6",
            super::ledger::POSTING_COLUMNS
        ))
        .bind(account.0)
        .bind(kind.clone())
        .bind(filter.from)
        .bind(filter.until)
        .bind(i64::from(page.limit))
        .bind(page.offset())
        .fetch_all(&self.reader)
        .await?;
        let total: i64 = sqlx::query(&format!("SELECT COUNT(*) FROM postings WHERE {FILTERED}"))
            .bind(account.0)
            .bind(kind)
            .bind(filter.from)
            .bind(filter.until)
            .fetch_one(&self.reader)
            .await?
            .try_get(0usize)
            .map_err(Error::from)?;
        let items = rows
            .iter()
            .map(|row| posting_from_row(row).map(|p| StatementLine::for_account(&p, account)))
            .collect::<Result<_>>()?;
        Ok(Paginated {
            items,
            page: page.page,
            limit: page.limit,
            total: count(total),
        })
    }

    async fn statement_lines(
        &self,
        account: AccountId,
        filter: &StatementFilter,
        cap: u32,
    ) -> Result<Vec<StatementLine>> {
        let rows = sqlx::query(&format!(
            "SELECT {} WHERE {FILTERED} ORDER BY id LIMIT $5",
            super::ledger::POSTING_COLUMNS
        ))
        .bind(account.0)
        .bind(filter.kind.map(|kind| kind.as_str().to_owned()))
        .bind(filter.from)
        .bind(filter.until)
        .bind(i64::from(cap))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| posting_from_row(row).map(|p| StatementLine::for_account(&p, account)))
            .collect()
    }

    async fn balance_before(&self, account: AccountId, at: DateTime<Utc>) -> Result<Money> {
        let row = sqlx::query(
            "SELECT CASE WHEN credit_account = $1 THEN credit_balance_after \
                         ELSE debit_balance_after END AS balance \
             FROM postings WHERE (debit_account = $1 OR credit_account = $1) AND created_at < $2 \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(account.0)
        .bind(at)
        .fetch_optional(&self.reader)
        .await?;
        let balance: Option<i64> = match row {
            Some(row) => row.try_get("balance").map_err(Error::from)?,
            None => None,
        };
        Ok(Money::from_micros(balance.unwrap_or(0)))
    }

    async fn usage_since(
        &self,
        account: AccountId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Money)>> {
        let rows = sqlx::query(
            "SELECT created_at, CASE WHEN kind = $4 THEN -amount ELSE amount END AS amount \
             FROM postings \
             WHERE ((debit_account = $1 AND kind = $2) OR (credit_account = $1 AND kind = $4)) \
             AND created_at >= $3 ORDER BY id",
        )
        .bind(account.0)
        .bind(PostingKind::Usage.as_str().to_owned())
        .bind(since)
        .bind(PostingKind::UsageRefund.as_str().to_owned())
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("created_at")?,
                    Money::from_micros(row.try_get("amount")?),
                ))
            })
            .collect()
    }
}
