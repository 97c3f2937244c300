//! [`BillingStore`] over both engines.
//!
//! The tick runs in batches. Each batch is one transaction:
//!
//! 1. take the tick's lock, so that batches of two replicas run one after the other (on
//!    PostgreSQL an advisory lock held until the batch ends; SQLite has one writer and
//!    `BEGIN IMMEDIATE` does the same), each seeing what the other committed;
//! 2. sum up the next `batch_servers` servers after the previous batch, in id order, in one
//!    row: how many are due, and the oldest hour any of them is billed up to, which bounds the
//!    hours each owes. Usually (each billed up to the last hour) that shows they all fit in
//!    `batch_rows`; when it does not (catching up after downtime), the due ones are read and
//!    taken in id order while their hours fit. Either way the batch is a range of ids, and
//!    its servers are the due ones in it (one condition, `is_due`, asked by every statement
//!    of the batch);
//! 3. compute the charges into `billing_due`, a temporary table of the connection;
//! 4. move the servers' `billed_until` to the current hour, only where it is still before it.
//!    It lives in `server_billing`, a narrow table beside `servers`, so that the hourly move
//!    of every server rewrites small rows, not the wide ones (on SQLite that took a fifth of
//!    the tick, most of it writing the pages at commit).
//!    The move must meet as many servers as the claim counted. Resizes and the monthly credit
//!    take the tick's lock, so what can change under a batch is a writer that does not: a
//!    server that became due since (a create that finished), or one whose `billed_until`
//!    moved. Then the batch starts again instead of posting charges computed from what it
//!    read (counts, not sets, are compared: no change today makes one server leave the due
//!    ones while another joins);
//! 5. take each wallet's total from its balance in one `UPDATE ... FROM`, and insert the
//!    postings in one `INSERT ... SELECT`, each with the balance after it: the new balance plus
//!    the wallet's charges posted after it (one `SUM(...) OVER` of the following rows). A
//!    wallet's postings are inserted together, in hour and server order, the order the window
//!    sorts them in, so the insert needs no sort of its own.
//!
//! Nothing is locked just to be read: a row lock is a write of its own on PostgreSQL (locking
//! the servers took about a sixth of a batch's time, the wallets a tenth). The `billed_until`
//! condition in step 4 already says whether what was read still holds. The wallets are locked
//! by their own update, in no particular order. The monthly free credit
//! ([`BillingStore::grant_credit_to_all`]) takes the tick's lock too; a single posting touches
//! one customer wallet (its other side is a platform account); a group of PayPal postings
//! (`Store::post_group`) updates several wallets without the lock, so it and a batch can
//! deadlock. PostgreSQL then ends one of the two transactions: the batch runs again
//! (`deadlock_detected` is transient here) or the group is posted one by one. The wallet
//! update and the postings read the same charges, so balances and `balance_after` stay exact.
//!
//! An hour is posted in the transaction that moves its server's `billed_until` past it, so the
//! charges of a batch are not looked up in the ledger one by one. There is deliberately no
//! `ON CONFLICT DO NOTHING` either: a key posted already would make a silently skipped row and
//! a wrong balance. The UNIQUE constraint aborts the batch instead, and it runs again looking
//! each key up and leaving the posted ones out ([`Posted`]). A tick that dies half-way loses
//! only its open transaction; committed batches stay billed.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Row};

mod dialect;
mod queries;

use super::{Column, SqlStore};
use crate::error::Result;
use crate::ids::{AccountId, UserId};
use crate::money::Money;
use crate::records::ledger::PostingKind;
use crate::records::meter::{hour_cost, hour_number, hour_start, refund_key, usage_key};
use crate::store::NewOutboxMessage;
use crate::store::billing::{
    BalanceStep, BalanceWatch, BillingState, BillingStore, RateChange, RateChanged, TickPlan,
    TickTotals,
};
pub(crate) use dialect::BillingDialect;
pub(crate) use queries::unbillable_states;
use queries::{Posted, charges_cte, is_due, watch_select, window_of, window_sql};

/// How often one batch is run again after a transient failure.
const BATCH_ATTEMPTS: u32 = 8;
/// Customers credited per transaction by [`BillingStore::grant_credit_to_all`].
const GRANT_BATCH: i64 = 1000;

/// The servers one batch bills: the due ones with ids after the previous batch's up to `last`.
struct Claim {
    last: i64,
    /// How many servers that is.
    servers: u64,
    /// Hours left unbilled because they are older than the catch-up limit.
    skipped: u64,
}

/// How one batch went.
enum Step {
    /// Nothing is due after the given server any more.
    Done,
    /// Committed.
    Billed(Batch),
    /// Nothing was due among the servers up to the given one.
    Passed(i64),
    /// A server changed by a writer outside the tick's lock between the batch's read and its
    /// write: rolled back, to be run again.
    Raced,
}

/// What one committed batch did.
struct Batch {
    last_id: i64,
    servers: u64,
    postings: u64,
    amount: i64,
    skipped: u64,
}

#[hostdeck_macros::sql_bounds(BillingDialect)]
impl<DB> SqlStore<DB> {
    /// One batch of the tick, after server `after`: first without looking for posted keys,
    /// and again looking for them if the UNIQUE key refused one.
    async fn bill_batch(&self, plan: &TickPlan, after: i64) -> Result<Step, sqlx::Error> {
        match self.bill_batch_once(plan, after, Posted::Unchecked).await {
            Err(error) if is_unique_violation(&error) => {
                tracing::warn!(
                    after,
                    "billing: some due hours of the servers after this one were posted already \
                     (billed_until is behind the ledger); billed again leaving them out"
                );
                self.bill_batch_once(plan, after, Posted::LeftOut).await
            }
            outcome => outcome,
        }
    }

    async fn bill_batch_once(
        &self,
        plan: &TickPlan,
        after: i64,
        posted: Posted,
    ) -> Result<Step, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        match self.bill_batch_in(&mut tx, plan, after, posted).await {
            Ok(Step::Billed(batch)) => {
                tx.commit().await?;
                Ok(Step::Billed(batch))
            }
            outcome => {
                // Roll back now, not when the connection is next used: until then a failed
                // batch would keep the tick's lock and the rows it wrote.
                tx.rollback().await?;
                outcome
            }
        }
    }

    async fn bill_batch_in(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        plan: &TickPlan,
        after: i64,
        posted: Posted,
    ) -> Result<Step, sqlx::Error> {
        let now_h = hour_number(plan.now_hour);
        let oldest = now_h - plan.max_catchup_hours;
        for setup in DB::BATCH_SETUP {
            sqlx::query(setup).execute(&mut **tx).await?;
        }
        let budget = plan.batch_rows.max(1);
        let window = plan.batch_servers.max(1);
        // The next window of servers in one row: how many are due, and the oldest hour any of
        // them is billed up to, which bounds the hours each owes. Usually (every server billed
        // up to the last hour) that bound says they all fit the batch, and no row of the window
        // needs to leave the database; otherwise they are read and counted one by one.
        let summary = sqlx::query(&format!(
            "SELECT MAX(id) AS window_end, \
               CAST(COALESCE(SUM(CASE WHEN {due} THEN 1 ELSE 0 END), 0) AS BIGINT) AS due, \
               MIN(CASE WHEN {due} THEN billed_until END) AS oldest_billed \
             FROM {window}",
            due = is_due("", "", "$3"),
            window = window_of("$1", "$2"),
        ))
        .bind(after)
        .bind(window)
        .bind(plan.now_hour)
        .fetch_one(&mut **tx)
        .await?;
        let Some(window_end) = summary.try_get::<Option<i64>, _>("window_end")? else {
            return Ok(Step::Done);
        };
        let due: i64 = summary.try_get("due")?;
        let Some(oldest_billed) = summary.try_get::<Option<DateTime<Utc>>, _>("oldest_billed")?
        else {
            return Ok(Step::Passed(window_end));
        };
        let oldest_billed = hour_number(oldest_billed);
        let claim = if oldest_billed >= oldest && due * (now_h - oldest_billed) <= budget {
            Claim {
                last: window_end,
                servers: u64::try_from(due).unwrap_or(0),
                skipped: 0,
            }
        } else {
            self.claim_within(tx, plan, after, oldest, window_end)
                .await?
        };
        self.fill_due(tx, after, claim.last, now_h, plan.max_catchup_hours, posted)
            .await?;
        // Only servers nobody billed since they were read: otherwise the charges are stale.
        let moved = sqlx::query(&format!(
            "UPDATE server_billing AS b SET billed_until = $1 FROM servers s \
             WHERE s.id = b.server_id AND b.server_id > $2 AND b.server_id <= $3 AND {}",
            is_due("s.", "b.", "$1")
        ))
        .bind(plan.now_hour)
        .bind(after)
        .bind(claim.last)
        .execute(&mut **tx)
        .await?;
        let servers = DB::rows_affected(&moved);
        if servers != claim.servers {
            return Ok(Step::Raced);
        }
        let (postings, amount) = self.post_due(tx, plan.usage_account, plan.at).await?;
        tracing::debug!(servers, postings, "billing batch committed");
        Ok(Step::Billed(Batch {
            last_id: claim.last,
            servers,
            postings,
            amount,
            skipped: claim.skipped,
        }))
    }

    /// The claim of a window whose due servers may owe more hours than a batch posts
    /// (catching up after downtime), read one by one: the due servers in id order while their
    /// hours fit, and always the first of them; the whole window when they all fit.
    async fn claim_within(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        plan: &TickPlan,
        after: i64,
        oldest: i64,
        window_end: i64,
    ) -> Result<Claim, sqlx::Error> {
        let rows = sqlx::query(&format!("{} WHERE due = 1 ORDER BY id", window_sql::<DB>()))
            .bind(after)
            .bind(hour_number(plan.now_hour))
            .bind(oldest)
            .bind(plan.batch_servers.max(1))
            .bind(plan.now_hour)
            .fetch_all(&mut **tx)
            .await?;
        let mut claim = Claim {
            last: window_end,
            servers: 0,
            skipped: 0,
        };
        let mut budget = plan.batch_rows.max(1);
        let mut taken = after;
        for row in &rows {
            let hours: i64 = row.try_get("hours")?;
            if claim.servers > 0 && hours > budget {
                // The rest are taken by the next batch.
                claim.last = taken;
                break;
            }
            budget -= hours;
            taken = row.try_get("id")?;
            claim.servers += 1;
            claim.skipped += u64::try_from(row.try_get::<i64, _>("skipped")?).unwrap_or(0);
        }
        Ok(claim)
    }

    /// A resize's rate switch, in the transaction `tx` (see [`BillingStore::change_rate`]).
    async fn change_rate_in(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        change: &RateChange,
    ) -> Result<RateChanged, sqlx::Error> {
        for setup in DB::BATCH_SETUP {
            sqlx::query(setup).execute(&mut **tx).await?;
        }
        let id = change.server.0;
        // With the tick's lock (in the setup above) no tick batch runs meanwhile; the row lock
        // keeps the server service's own writes out.
        let row = sqlx::query(&format!(
            "SELECT b.billed_until, s.state FROM servers s JOIN server_billing b ON b.server_id = s.id \
             WHERE s.id = $1{}",
            DB::FOR_UPDATE
        ))
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
        let billed_until: DateTime<Utc> = row.try_get("billed_until")?;
        let state: String = row.try_get("state")?;
        let now_h = hour_number(change.at);
        let current = hour_start(now_h);
        // Hours before `through` are billed now at the old rate: the complete ones, and the
        // current one too unless the new rate is larger.
        let through = if change.larger { now_h } else { now_h + 1 };
        self.fill_due(
            tx,
            id - 1,
            id,
            through,
            change.max_catchup_hours + (through - now_h),
            // One server: the look-up costs nothing worth saving.
            Posted::LeftOut,
        )
        .await?;
        if change.larger && billed_until > current {
            // The current hour was paid already (at creation, or by a smaller resize): it is
            // topped up to what it costs at the new rate, under a key of its own.
            self.top_up_hour(tx, change, &state, current).await?;
        }
        let (postings, amount) = self.post_due(tx, change.usage_account, change.at).await?;
        let billed_until = billed_until.max(hour_start(through));
        let rate_since = if change.larger {
            current
        } else {
            hour_start(now_h + 1)
        };
        sqlx::query(
            "UPDATE servers SET plan = $2, vcpus = $3, memory_mib = $4, disk_gib = $5, \
               rate_running = $6, rate_stopped = $7, rate_hours = $8, rate_since = $9, \
               resizing_until = NULL, resizing_vcpus = NULL, resizing_memory_mib = NULL, \
               resizing_disk_gib = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(change.plan.clone())
        .bind(i64::from(change.resources.vcpus))
        .bind(i64::try_from(change.resources.memory_mib).unwrap_or(i64::MAX))
        .bind(i64::try_from(change.resources.disk_gib).unwrap_or(i64::MAX))
        .bind(change.rate_running)
        .bind(change.rate_stopped)
        .bind(change.rate_hours)
        .bind(rate_since)
        .execute(&mut **tx)
        .await?;
        sqlx::query("UPDATE server_billing SET billed_until = $2 WHERE server_id = $1")
            .bind(id)
            .bind(billed_until)
            .execute(&mut **tx)
            .await?;
        Ok(RateChanged {
            postings,
            amount: Money::from_micros(amount),
        })
    }

    /// Adds to `billing_due` what the already billed hour `current` still owes at the new
    /// rate ([`Self::hour_top_up`]).
    async fn top_up_hour(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        change: &RateChange,
        state: &str,
        current: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        let id = change.server.0;
        let top_up = Self::hour_top_up(
            &mut **tx,
            change.server,
            state,
            current,
            (change.rate_running, change.rate_stopped, change.rate_hours),
        )
        .await?;
        if let Some((amount, key)) = top_up {
            sqlx::query(
                "INSERT INTO billing_due (id, wallet, h, amount, idempotency_key) \
                 SELECT s.id, (SELECT w.id FROM accounts w WHERE w.user_id = s.user_id), $2, $3, $4 \
                 FROM servers s WHERE s.id = $1",
            )
            .bind(id)
            .bind(hour_number(current))
            .bind(amount)
            .bind(key)
            .execute(&mut **tx)
            .await?;
        }
        Ok(())
    }

    /// Fills `billing_due` with the charges of the due servers with ids after `after` up to
    /// `last`, for the hours before hour number `now_h` (the one metering rule, see
    /// [`charges_cte`]).
    async fn fill_due(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        after: i64,
        last: i64,
        now_h: i64,
        max_catchup_hours: i64,
        posted: Posted,
    ) -> Result<(), sqlx::Error> {
        // The charges are computed once, into a table private to this connection, and both the
        // wallet update and the postings are taken from it.
        sqlx::query(DB::DUE_TABLE).execute(&mut **tx).await?;
        sqlx::query("DELETE FROM billing_due")
            .execute(&mut **tx)
            .await?;
        sqlx::query(&format!(
            "{charges}INSERT INTO billing_due (id, wallet, h, amount, idempotency_key) \
             SELECT id, wallet, h, amount, idempotency_key FROM due",
            charges = charges_cte::<DB>(posted)
        ))
        .bind(after)
        .bind(now_h)
        .bind(max_catchup_hours)
        .bind(last)
        .bind(hour_start(now_h))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Posts what `billing_due` holds: each wallet's total taken from its balance, and one
    /// usage posting per row with its balance after it. Returns the postings and their sum.
    async fn post_due(
        &self,
        tx: &mut sqlx::Transaction<'_, DB>,
        usage_account: AccountId,
        at: DateTime<Utc>,
    ) -> Result<(u64, i64), sqlx::Error> {
        sqlx::query(
            "UPDATE accounts SET balance = balance - totals.total \
             FROM (SELECT wallet, CAST(SUM(amount) AS BIGINT) AS total FROM billing_due GROUP BY wallet) AS totals \
             WHERE accounts.id = totals.wallet",
        )
        .execute(&mut **tx)
        .await?;
        let insert_postings = format!(
            "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, \
               reference, actor_via, debit_balance_after, created_at) \
             SELECT d.wallet, $1, d.amount, '{kind}', d.idempotency_key, 'server:' || CAST(d.id AS TEXT), 'system', \
               a.balance + CAST(COALESCE(SUM(d.amount) OVER (PARTITION BY d.wallet ORDER BY d.h, d.id \
                 ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING), 0) AS BIGINT), \
               $2 \
             FROM billing_due d JOIN accounts a ON a.id = d.wallet WHERE a.id = d.wallet ORDER BY d.wallet, d.h, d.id",
            kind = PostingKind::Usage.as_str(),
        );
        let postings = sqlx::query(&insert_postings)
            .bind(usage_account.0)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        let postings = DB::rows_affected(&postings);
        let amount: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM billing_due",
        )
        .fetch_one(&mut **tx)
        .await?
        .try_get("total")?;
        Ok((postings, amount))
    }

    /// One batch of a credit to everybody, after user `after`; `None` when everybody has it.
    #[expect(
        clippy::too_many_arguments,
        reason = "one batch's statement binds each of these once; a struct would only rename them"
    )]
    async fn grant_batch(
        &self,
        from: AccountId,
        amount: Money,
        kind: PostingKind,
        key_prefix: &str,
        key_suffix: &str,
        at: DateTime<Utc>,
        after: i64,
    ) -> Result<Option<(i64, u64)>, sqlx::Error> {
        let key = "$2 || CAST(u.id AS TEXT) || $3";
        let mut tx = self.begin_write().await?;
        // Under the tick's lock: the two are the only writers of many wallets at once.
        for setup in DB::BATCH_SETUP {
            sqlx::query(setup).execute(&mut *tx).await?;
        }
        let rows = sqlx::query(&format!(
            "SELECT u.id FROM users u WHERE u.id > $1 AND u.role = 'customer' AND u.status = 'active' \
               AND u.email_verified_at IS NOT NULL \
               AND (SELECT p.id FROM postings p WHERE p.idempotency_key = {key}) IS NULL \
             ORDER BY u.id LIMIT $4"
        ))
        .bind(after)
        .bind(key_prefix.to_owned())
        .bind(key_suffix.to_owned())
        .bind(GRANT_BATCH)
        .fetch_all(&mut *tx)
        .await?;
        let Some(last) = rows.last() else {
            tx.rollback().await?;
            return Ok(None);
        };
        let last: i64 = last.try_get("id")?;
        let ids: Vec<i64> = rows
            .iter()
            .map(|row| row.try_get("id"))
            .collect::<Result<_, _>>()?;
        let ids_text = DB::ids_text(&ids);
        let in_ids = DB::in_ids("u.id", "$1");
        let owed = format!(
            "SELECT u.id FROM users u WHERE {in_ids} \
               AND (SELECT p.id FROM postings p WHERE p.idempotency_key = {key}) IS NULL"
        );
        sqlx::query(&format!(
            "UPDATE accounts SET balance = balance + $4 WHERE user_id IN ({owed})"
        ))
        .bind(ids_text.clone())
        .bind(key_prefix.to_owned())
        .bind(key_suffix.to_owned())
        .bind(amount.micros())
        .execute(&mut *tx)
        .await?;
        let credited = sqlx::query(&format!(
            "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, \
               actor_via, credit_balance_after, created_at) \
             SELECT $5, a.id, $4, $6, $2 || CAST(a.user_id AS TEXT) || $3, 'system', a.balance, $7 \
             FROM accounts a WHERE a.user_id IN ({owed}) ORDER BY a.id"
        ))
        .bind(ids_text)
        .bind(key_prefix.to_owned())
        .bind(key_suffix.to_owned())
        .bind(amount.micros())
        .bind(from.0)
        .bind(kind.as_str().to_owned())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((last, DB::rows_affected(&credited))))
    }

    async fn retrying<T, F, Fut>(&self, what: &str, mut attempt_once: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match attempt_once().await {
                Ok(value) => return Ok(value),
                Err(error)
                    if (DB::is_transient(&error) || is_unique_violation(&error))
                        && attempt < BATCH_ATTEMPTS =>
                {
                    tracing::debug!(%error, attempt, "{what}: batch run again");
                    tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// What the server store asks of billing too: what a key posted, and the top-up of an hour.
#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    /// What the already billed hour `current` of `server` (in `state` now) still owes at the
    /// rate `(running, stopped, hours)`: its cost at that rate (hour 0 of it) less what its
    /// postings add up to, refunds taken off, with the key to post it under: the hour's usage
    /// key with `+1`, `+2`, ... for each top-up of the same hour. `None` when nothing is owed.
    pub(super) async fn hour_top_up(
        conn: &mut DB::Connection,
        server: crate::ids::ServerId,
        state: &str,
        current: DateTime<Utc>,
        (rate_running, rate_stopped, rate_hours): (i64, i64, i64),
    ) -> Result<Option<(i64, String)>, sqlx::Error> {
        let hour_key = usage_key(server, current);
        let ran: bool = sqlx::query(&format!(
            "SELECT EXISTS (SELECT 1 FROM server_events e WHERE e.server_id = $1 \
               AND {} = $2 AND e.state = 'running') AS ran",
            DB::hour_of("e.at")
        ))
        .bind(server.0)
        .bind(hour_number(current))
        .fetch_one(&mut *conn)
        .await?
        .try_get("ran")?;
        let rate = if state == "running" || ran {
            rate_running
        } else {
            rate_stopped
        };
        let owed = hour_cost(rate, rate_hours, 0);
        let mut paid = 0i64;
        let mut next = 1u32;
        let mut key = hour_key.clone();
        loop {
            let amount = Self::posted_amount(&mut *conn, &key).await?;
            match amount {
                Some(amount) => {
                    let refunded = Self::posted_amount(&mut *conn, &refund_key(&key)).await?;
                    paid += amount - refunded.unwrap_or(0);
                }
                // The first hour of a free server posted nothing: later keys may still exist.
                None if key == hour_key => {}
                None => break,
            }
            key = format!("{hour_key}+{next}");
            next += 1;
        }
        Ok((owed > paid).then(|| (owed - paid, key)))
    }

    /// The amount of the posting of `key`, if there is one.
    pub(super) async fn posted_amount(
        conn: &mut DB::Connection,
        key: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query("SELECT amount FROM postings WHERE idempotency_key = $1")
            .bind(key.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get("amount"))
            .transpose()
    }
}

fn watch_of_row<DB: BillingDialect>(row: &DB::Row) -> Result<BalanceWatch>
where
    for<'a> &'a str: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    String: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
{
    Ok(BalanceWatch {
        user: UserId(row.try_get("id")?),
        email: row.try_get("email")?,
        balance: Money::from_micros(row.try_get("balance")?),
        low_notice_at: row.try_get("low_notice_at")?,
        negative_since: row.try_get("negative_since")?,
        reminder_at: row.try_get("reminder_at")?,
        suspended_at: row.try_get("suspended_at")?,
    })
}

/// A key another transaction posted between our read and our insert: running the batch again
/// leaves it out.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[hostdeck_macros::sql_bounds(BillingDialect)]
#[async_trait::async_trait]
impl<DB> BillingStore for SqlStore<DB> {
    async fn change_rate(&self, change: &RateChange) -> Result<RateChanged> {
        self.retrying("resize", || async {
            let mut tx = self.begin_write().await?;
            match self.change_rate_in(&mut tx, change).await {
                Ok(changed) => {
                    tx.commit().await?;
                    Ok(changed)
                }
                Err(error) => {
                    tx.rollback().await?;
                    Err(error)
                }
            }
        })
        .await
    }

    async fn bill_hours(&self, plan: &TickPlan) -> Result<TickTotals> {
        let mut totals = TickTotals::default();
        let mut after = 0;
        let mut amount = 0i64;
        let mut races = 0;
        while plan.max_batches.is_none_or(|most| totals.batches < most) {
            let batch = match self
                .retrying("billing tick", || self.bill_batch(plan, after))
                .await?
            {
                Step::Done => break,
                Step::Passed(last) => {
                    after = last;
                    races = 0;
                    continue;
                }
                Step::Billed(batch) => {
                    races = 0;
                    batch
                }
                // A batch that keeps meeting changes gives up; each batch has its own count.
                Step::Raced if races < BATCH_ATTEMPTS => {
                    races += 1;
                    tracing::debug!(
                        after,
                        races,
                        "billing batch raced a server change; run again"
                    );
                    continue;
                }
                Step::Raced => {
                    return Err(crate::error::Error::Unavailable(
                        "servers kept being billed elsewhere while the billing tick ran; \
                         the next tick carries on"
                            .to_owned(),
                    ));
                }
            };
            after = batch.last_id;
            totals.batches += 1;
            totals.servers += batch.servers;
            totals.postings += batch.postings;
            totals.skipped_hours += batch.skipped;
            amount += batch.amount;
        }
        totals.amount = Money::from_micros(amount);
        Ok(totals)
    }

    async fn grant_credit_to_all(
        &self,
        from: AccountId,
        amount: Money,
        kind: PostingKind,
        key_prefix: &str,
        key_suffix: &str,
        at: DateTime<Utc>,
    ) -> Result<u64> {
        if !amount.is_positive() {
            return Ok(0);
        }
        let mut after = 0;
        let mut credited = 0;
        loop {
            let batch = self
                .retrying("free credit", || {
                    self.grant_batch(from, amount, kind, key_prefix, key_suffix, at, after)
                })
                .await?;
            let Some((last, count)) = batch else {
                return Ok(credited);
            };
            after = last;
            credited += count;
        }
    }

    async fn balances_to_watch(&self, low_balance_hours: i64) -> Result<Vec<BalanceWatch>> {
        let rows = sqlx::query(&format!(
            "{} WHERE a.balance < COALESCE(b.burn_ceiling, 0) * $1 OR a.balance < 0 \
               OR st.low_notice_at IS NOT NULL OR st.negative_since IS NOT NULL \
               OR st.suspended_at IS NOT NULL \
             ORDER BY u.id",
            watch_select()
        ))
        .bind(low_balance_hours)
        .fetch_all(&self.writer)
        .await?;
        rows.iter().map(watch_of_row::<DB>).collect()
    }

    async fn billing_state_of(&self, user: UserId) -> Result<BillingState> {
        let row = sqlx::query(
            "SELECT negative_since, suspended_at FROM billing_states WHERE user_id = $1",
        )
        .bind(user.0)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(BillingState::default());
        };
        Ok(BillingState {
            negative_since: row.try_get("negative_since")?,
            suspended_at: row.try_get("suspended_at")?,
        })
    }

    async fn take_balance_step(
        &self,
        user: UserId,
        step: BalanceStep,
        at: DateTime<Utc>,
        notices: &[NewOutboxMessage],
        audit: Option<&crate::records::audit::AuditEntry>,
    ) -> Result<bool> {
        let change = match step {
            BalanceStep::LowNotice => {
                "low_notice_at = $2 WHERE user_id = $1 AND low_notice_at IS NULL"
            }
            BalanceStep::LowRearmed => {
                "low_notice_at = NULL WHERE user_id = $1 AND low_notice_at IS NOT NULL AND negative_since IS NULL"
            }
            BalanceStep::WentNegative => {
                "negative_since = $2, low_notice_at = COALESCE(low_notice_at, $2) \
                 WHERE user_id = $1 AND negative_since IS NULL"
            }
            BalanceStep::Reminder => {
                "reminder_at = $2 WHERE user_id = $1 AND reminder_at IS NULL AND negative_since IS NOT NULL"
            }
            BalanceStep::Suspended => {
                "suspended_at = $2 WHERE user_id = $1 AND suspended_at IS NULL AND negative_since IS NOT NULL"
            }
            BalanceStep::Recovered => {
                "negative_since = NULL, reminder_at = NULL, suspended_at = NULL \
                 WHERE user_id = $1 AND (negative_since IS NOT NULL OR suspended_at IS NOT NULL)"
            }
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO billing_states (user_id, updated_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        let taken = sqlx::query(&format!(
            "UPDATE billing_states SET updated_at = $2, {change} RETURNING user_id"
        ))
        .bind(user.0)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        if taken.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        for notice in notices {
            Self::write_outbox(&mut *tx, notice, at).await?;
        }
        if let Some(entry) = audit {
            Self::write_audit(&mut *tx, entry, at).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
