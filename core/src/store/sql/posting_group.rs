//! Postings written as a group ([`crate::store::Store::post_group`]): the credits of the PayPal
//! events the worker processes side by side, with one statement per table for the whole group
//! and one commit. A group that cannot be written so is posted one transaction each.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::Result;
use crate::ids::{AccountId, PostingId};
use crate::records::audit::AuditEntry;
use crate::records::ledger::{Attached, Cap, Overdraft, PostOutcome, Posted, PostingRequest};
use crate::store::ledger::LedgerStore;
use crate::store::payments::{FinishedEvent, OrderStatus};

/// For an update of `rows` rows by id, each bound after the time (`$1`) as its id and two
/// values: `CASE id WHEN $id THEN $value ... END` for value `column` (1 or 2) of each row.
fn case_by_id(rows: usize, column: usize) -> String {
    let whens: String = (0..rows)
        .map(|row| format!(" WHEN ${} THEN ${}", 2 + row * 3, 2 + row * 3 + column))
        .collect();
    format!("CASE id{whens} END")
}

/// For rows bound as (id, amount) pairs from `$1`: raises `column` of each row by its amount
/// where it stays within the row's `amount`, the caps of [`crate::records::ledger::Cap`] for a group.
fn capped_update(table: &str, column: &str, rows: usize) -> String {
    let whens: String = (0..rows)
        .map(|row| format!(" WHEN ${} THEN ${}", 2 * row + 1, 2 * row + 2))
        .collect();
    let ids = (0..rows)
        .map(|row| format!("${}", 2 * row + 1))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE {table} SET {column} = {column} + CASE id{whens} END \
         WHERE id IN ({ids}) AND {column} + CASE id{whens} END <= amount"
    )
}

/// The id parameters of the rows of [`case_by_id`]: `$2, $5, ...`.
fn id_params(rows: usize) -> String {
    (0..rows)
        .map(|row| format!("${}", 2 + row * 3))
        .collect::<Vec<_>>()
        .join(", ")
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    /// [`Store::post_group`]: see there.
    pub(super) async fn post_grouped(
        &self,
        items: &[(PostingRequest, Attached)],
        at: DateTime<Utc>,
    ) -> Vec<Result<Posted>> {
        let mut results: Vec<Option<Result<Posted>>> = items
            .iter()
            .map(|(request, _)| request.validate().err().map(Err))
            .collect();
        // Grouped: what cannot be refused for want of credit and changes at most one wallet,
        // each order and event once. Whatever else is posted on its own.
        let mut grouped: Vec<usize> = Vec::new();
        for (index, (request, attached)) in items.iter().enumerate() {
            let wallets = [request.debit, request.credit]
                .into_iter()
                .filter(|account| self.is_wallet(*account))
                .count();
            let clash = grouped.iter().any(|&other| {
                let (_, before) = &items[other];
                let same = |a: Option<&str>, b: Option<&str>| a.is_some() && a == b;
                same(
                    attached.order.as_ref().map(|order| order.0.as_str()),
                    before.order.as_ref().map(|order| order.0.as_str()),
                ) || same(
                    attached.event.as_ref().map(|event| event.id.as_str()),
                    before.event.as_ref().map(|event| event.id.as_str()),
                ) || same(
                    attached.cap.as_ref().map(Cap::target),
                    before.cap.as_ref().map(Cap::target),
                )
            });
            if results[index].is_none()
                && request.overdraft == Overdraft::Allow
                && wallets <= 1
                && !clash
            {
                grouped.push(index);
            }
        }
        // In the order of the wallets they change (a stable sort: postings of one wallet keep
        // their order), so each wallet's postings are written together. The one UPDATE of the
        // wallets locks them in the order its plan meets them, so groups side by side (and a
        // tick batch) can still deadlock: PostgreSQL ends one, and that group is posted one by
        // one. Items left out of the group are posted after it.
        grouped.sort_by_key(|&index| {
            let (request, _) = &items[index];
            [request.debit, request.credit]
                .into_iter()
                .filter(|account| self.is_wallet(*account))
                .min()
        });
        if grouped.len() > 1 {
            let group: Vec<(&PostingRequest, &Attached)> = grouped
                .iter()
                .map(|&index| (&items[index].0, &items[index].1))
                .collect();
            match self.try_post_group(&group, at).await {
                Ok(Some(posted)) => {
                    for (&index, posted) in grouped.iter().zip(posted) {
                        results[index] = Some(Ok(posted));
                    }
                }
                // A key used before, or twice: nothing of the group was committed, and each
                // on its own finds out what its key means.
                Ok(None) => {}
                // Nothing of the group was committed (a deadlock PostgreSQL broke, a record
                // the database refused, ...): each on its own, with retries.
                Err(error) => {
                    tracing::warn!(%error, postings = grouped.len(), "a group of postings failed; posting them one by one");
                }
            }
        }
        for (index, slot) in results.iter_mut().enumerate() {
            if slot.is_none() {
                let (request, attached) = &items[index];
                *slot = Some(self.post_with(request, at, attached).await);
            }
        }
        results.into_iter().flatten().collect()
    }

    /// Several postings, each with what is attached to it, in one transaction, with one
    /// statement per table for the whole group. Only postings that cannot be refused are
    /// grouped (overdraft allowed, at most one wallet). `Ok(None)` when one of them was refused
    /// after all (its key was used before, or twice in the group): nothing is committed and
    /// the caller posts them one by one, as on `Err`.
    async fn try_post_group(
        &self,
        items: &[(&PostingRequest, &Attached)],
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<Posted>>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let moves = self.wallet_moves(items);
        // A wallet that is not there, a key used before, or a cap passed: each on its own says
        // which.
        let Some(after) = Self::move_wallets(&mut tx, items, &moves).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        let Some(ids) = Self::insert_group(&mut tx, items, &after, at).await? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if !Self::raise_group_caps(&mut tx, items).await? {
            tx.rollback().await?;
            return Ok(None);
        }
        // The records attached to each posting.
        Self::write_group_audits(&mut tx, items, &ids, at).await?;
        let woken = Self::write_group_payments(&mut tx, items, at).await?;
        tx.commit().await?;
        group_outcome(items, after, &ids, &woken, at).map(Some)
    }

    /// The wallet each posting changes, and by how much (`None` between system accounts).
    fn wallet_moves(
        &self,
        items: &[(&PostingRequest, &Attached)],
    ) -> Vec<Option<(AccountId, i64)>> {
        items
            .iter()
            .map(|(request, _)| {
                let amount = request.amount.micros();
                if self.is_wallet(request.debit) {
                    Some((request.debit, -amount))
                } else if self.is_wallet(request.credit) {
                    Some((request.credit, amount))
                } else {
                    None
                }
            })
            .collect()
    }

    /// Adds the group's total to each wallet in one statement; each posting's balances after
    /// it (debit side, credit side), or `None` when a wallet is not there.
    async fn move_wallets(
        tx: &mut sqlx::Transaction<'static, DB>,
        items: &[(&PostingRequest, &Attached)],
        moves: &[Option<(AccountId, i64)>],
    ) -> Result<Option<Vec<Sides>>, sqlx::Error> {
        let mut totals: Vec<(AccountId, i64)> = Vec::new();
        for (wallet, delta) in moves.iter().flatten() {
            match totals.iter_mut().find(|(account, _)| account == wallet) {
                Some((_, total)) => *total += delta,
                None => totals.push((*wallet, *delta)),
            }
        }
        // Each wallet's balance before the group (read back with the group's total added),
        // then after each of its postings in order.
        let mut balances: Vec<(AccountId, i64)> = Vec::with_capacity(totals.len());
        if !totals.is_empty() {
            let mut sql = String::from("UPDATE accounts SET balance = balance + CASE id");
            for index in 0..totals.len() {
                sql.push_str(&format!(" WHEN ${} THEN ${}", 2 * index + 1, 2 * index + 2));
            }
            sql.push_str(" END WHERE id IN (");
            for index in 0..totals.len() {
                sql.push_str(&format!(
                    "{}${}",
                    if index > 0 { ", " } else { "" },
                    2 * index + 1
                ));
            }
            sql.push_str(") RETURNING id, balance");
            let mut query = sqlx::query(&sql);
            for (account, total) in &totals {
                query = query.bind(account.0).bind(*total);
            }
            for row in query.fetch_all(&mut **tx).await? {
                let (id, balance): (i64, i64) = (row.try_get("id")?, row.try_get("balance")?);
                let total = totals
                    .iter()
                    .find(|(account, _)| account.0 == id)
                    .map_or(0, |(_, total)| *total);
                balances.push((AccountId(id), balance - total));
            }
            if balances.len() != totals.len() {
                return Ok(None);
            }
        }
        let mut after: Vec<Sides> = Vec::with_capacity(items.len());
        for ((request, _), moved) in items.iter().zip(moves) {
            let mut sides = (None, None);
            if let Some((wallet, delta)) = moved
                && let Some((_, balance)) =
                    balances.iter_mut().find(|(account, _)| account == wallet)
            {
                *balance += delta;
                if *wallet == request.debit {
                    sides.0 = Some(*balance);
                } else {
                    sides.1 = Some(*balance);
                }
            }
            after.push(sides);
        }
        Ok(Some(after))
    }

    /// Inserts the group's postings in one statement: their ids by key, or `None` when a key
    /// was used before (or twice in the group).
    async fn insert_group(
        tx: &mut sqlx::Transaction<'static, DB>,
        items: &[(&PostingRequest, &Attached)],
        after: &[Sides],
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<(String, PostingId)>>, sqlx::Error> {
        let mut sql = String::from(
            "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, \
             reference, memo, actor_user_id, actor_via, debit_balance_after, credit_balance_after, \
             created_at) VALUES ",
        );
        for index in 0..items.len() {
            let n = index * 12;
            sql.push_str(if index > 0 { ", (" } else { "(" });
            let params: Vec<String> = (1..=12).map(|k| format!("${}", n + k)).collect();
            sql.push_str(&params.join(", "));
            sql.push(')');
        }
        sql.push_str(" ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key");
        let mut query = sqlx::query(&sql);
        for ((request, _), (debit_after, credit_after)) in items.iter().zip(after) {
            query = Self::bind_posting(query, request, *debit_after, *credit_after, at);
        }
        let mut ids: Vec<(String, PostingId)> = Vec::with_capacity(items.len());
        for row in query.fetch_all(&mut **tx).await? {
            ids.push((
                row.try_get("idempotency_key")?,
                PostingId(row.try_get("id")?),
            ));
        }
        if ids.len() != items.len() {
            return Ok(None);
        }
        Ok(Some(ids))
    }

    /// The caps, one statement per kind for the group; `false` when one is over its cap, which
    /// sends the group back to be posted one by one, where it is refused on its own.
    async fn raise_group_caps(
        tx: &mut sqlx::Transaction<'static, DB>,
        items: &[(&PostingRequest, &Attached)],
    ) -> Result<bool, sqlx::Error> {
        let mut credits: Vec<(&str, &str, i64)> = Vec::new();
        let mut refunds: Vec<(&str, i64)> = Vec::new();
        for (request, attached) in items {
            match &attached.cap {
                Some(Cap::OrderCredit { order, capture }) => {
                    credits.push((order, capture, request.amount.micros()));
                }
                Some(Cap::CaptureRefund { capture }) => {
                    refunds.push((capture, request.amount.micros()));
                }
                None => {}
            }
        }
        if !credits.is_empty() {
            let sql = capped_update("paypal_orders", "credited", credits.len());
            let mut query = sqlx::query(&sql);
            for (order, _, amount) in &credits {
                query = query.bind((*order).to_owned()).bind(*amount);
            }
            let raised = query.execute(&mut **tx).await?;
            if DB::rows_affected(&raised) != credits.len() as u64 {
                return Ok(false);
            }
            let mut sql = String::from("INSERT INTO paypal_captures (id, amount) VALUES ");
            for index in 0..credits.len() {
                sql.push_str(&format!(
                    "{}(${}, ${})",
                    if index > 0 { ", " } else { "" },
                    2 * index + 1,
                    2 * index + 2
                ));
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING");
            let mut query = sqlx::query(&sql);
            for (_, capture, amount) in &credits {
                query = query.bind((*capture).to_owned()).bind(*amount);
            }
            query.execute(&mut **tx).await?;
        }
        if !refunds.is_empty() {
            let sql = capped_update("paypal_captures", "refunded", refunds.len());
            let mut query = sqlx::query(&sql);
            for (capture, amount) in &refunds {
                query = query.bind((*capture).to_owned()).bind(*amount);
            }
            let raised = query.execute(&mut **tx).await?;
            if DB::rows_affected(&raised) != refunds.len() as u64 {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The audit entries of the group, each naming its posting, in one statement.
    async fn write_group_audits(
        tx: &mut sqlx::Transaction<'static, DB>,
        items: &[(&PostingRequest, &Attached)],
        ids: &[(String, PostingId)],
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let audits: Vec<AuditEntry> = items
            .iter()
            .filter_map(|(request, attached)| {
                let mut entry = attached.audit.clone()?;
                if let (Some(serde_json::Value::Object(detail)), Some(id)) =
                    (&mut entry.detail, id_of(ids, &request.key))
                {
                    detail.insert("posting".to_owned(), serde_json::json!(id));
                }
                Some(entry)
            })
            .collect();
        if !audits.is_empty() {
            let mut sql = String::from(
                "INSERT INTO audit_log (at, actor_user_id, actor_via, action, target, outcome, \
                 detail) VALUES ",
            );
            for index in 0..audits.len() {
                let n = index * 6;
                sql.push_str(&format!(
                    "{}($1, ${}, ${}, ${}, ${}, ${}, ${})",
                    if index > 0 { ", " } else { "" },
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7
                ));
            }
            let mut query = sqlx::query(&sql).bind(at);
            for entry in &audits {
                query = query
                    .bind(entry.actor_user.map(|user| user.0))
                    .bind(entry.via.as_str().to_owned())
                    .bind(entry.action.clone())
                    .bind(entry.target.clone())
                    .bind(entry.outcome.as_str().to_owned())
                    .bind(entry.detail.as_ref().map(|detail| detail.to_string()));
            }
            query.execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// What the group's postings settle of PayPal's orders and events, and the events they
    /// wake; the captures the woken events waited for, one per event.
    async fn write_group_payments(
        tx: &mut sqlx::Transaction<'static, DB>,
        items: &[(&PostingRequest, &Attached)],
        at: DateTime<Utc>,
    ) -> Result<Vec<String>, sqlx::Error> {
        let orders: Vec<&(String, OrderStatus, String)> = items
            .iter()
            .filter_map(|(_, attached)| attached.order.as_ref())
            .collect();
        if !orders.is_empty() {
            let sql = format!(
                "UPDATE paypal_orders SET status = {}, \
                 capture_id = COALESCE(capture_id, {}), updated_at = $1 WHERE id IN ({})",
                case_by_id(orders.len(), 1),
                case_by_id(orders.len(), 2),
                id_params(orders.len()),
            );
            let mut query = sqlx::query(&sql).bind(at);
            for (order, status, capture_id) in &orders {
                query = query
                    .bind(order.clone())
                    .bind(status.as_str().to_owned())
                    .bind(capture_id.clone());
            }
            query.execute(&mut **tx).await?;
        }
        let events: Vec<&FinishedEvent> = items
            .iter()
            .filter_map(|(_, attached)| attached.event.as_ref())
            .collect();
        if !events.is_empty() {
            let sql = format!(
                "UPDATE paypal_events SET status = {}, waiting_for = NULL, outcome = {}, \
                 processed_at = $1, locked_until = NULL WHERE id IN ({})",
                case_by_id(events.len(), 1),
                case_by_id(events.len(), 2),
                id_params(events.len()),
            );
            let mut query = sqlx::query(&sql).bind(at);
            for event in &events {
                query = query
                    .bind(event.id.clone())
                    .bind(event.status.as_str().to_owned())
                    .bind(event.outcome.clone());
            }
            query.execute(&mut **tx).await?;
        }
        let waking: Vec<&String> = items
            .iter()
            .filter_map(|(_, attached)| attached.wake_waiting_for.as_ref())
            .collect();
        let mut woken: Vec<String> = Vec::new();
        if !waking.is_empty() {
            // Which capture each woken event waited for is gone once it is woken: read first,
            // in the same transaction (SQLite's one writer excludes any change in between).
            woken = Self::waiting_for(tx, &waking).await?;
            let ids = (0..waking.len())
                .map(|index| format!("${}", index + 1))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE paypal_events SET status = 'pending', waiting_for = NULL, \
                 locked_until = NULL WHERE status = 'waiting' AND waiting_for IN ({ids})"
            );
            let mut query = sqlx::query(&sql);
            for capture_id in &waking {
                query = query.bind((*capture_id).clone());
            }
            query.execute(&mut **tx).await?;
        }
        Ok(woken)
    }

    /// The captures the waiting events among `captures` wait for, one per waiting event.
    async fn waiting_for(
        tx: &mut sqlx::Transaction<'static, DB>,
        captures: &[&String],
    ) -> Result<Vec<String>, sqlx::Error> {
        let ids = (0..captures.len())
            .map(|index| format!("${}", index + 1))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT waiting_for FROM paypal_events WHERE status = 'waiting' \
             AND waiting_for IN ({ids})"
        );
        let mut query = sqlx::query(&sql);
        for capture_id in captures {
            query = query.bind((*capture_id).clone());
        }
        let mut waiting = Vec::new();
        for row in query.fetch_all(&mut **tx).await? {
            waiting.push(row.try_get("waiting_for")?);
        }
        Ok(waiting)
    }
}

/// A posting's balances after it: the debit side's and the credit side's (`None` for a system
/// account).
type Sides = (Option<i64>, Option<i64>);

/// The id the group's insert gave the posting of `key`.
fn id_of(ids: &[(String, PostingId)], key: &str) -> Option<PostingId> {
    ids.iter().find(|(used, _)| used == key).map(|(_, id)| *id)
}

/// What each posting of a committed group became.
fn group_outcome(
    items: &[(&PostingRequest, &Attached)],
    after: Vec<Sides>,
    ids: &[(String, PostingId)],
    woken: &[String],
    at: DateTime<Utc>,
) -> Result<Vec<Posted>, sqlx::Error> {
    let mut posted = Vec::with_capacity(items.len());
    for ((request, attached), (debit_after, credit_after)) in items.iter().zip(after) {
        let id = id_of(ids, &request.key)
            .ok_or_else(|| sqlx::Error::Protocol("a grouped posting has no id".to_owned()))?;
        let woken = attached.wake_waiting_for.as_ref().map_or(0, |capture_id| {
            woken.iter().filter(|waited| *waited == capture_id).count() as u64
        });
        posted.push(Posted {
            outcome: PostOutcome::Posted(request.posted(id, debit_after, credit_after, at)),
            woken,
        });
    }
    Ok(posted)
}
