//! The ledger: postings, balances and statements. The rules are in [`crate::ledger`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::query::Query;

use super::{ATTEMPTS, Filter, SqlStore};
use crate::error::{Error, Result};
use crate::ids::{AccountId, PostingId, UserId};
use crate::money::Money;
use crate::records::ledger::{
    Attached, Discrepancy, Overdraft, PostOutcome, Posted, Posting, PostingKind, PostingRequest,
    StatementLine, SystemAccount,
};
use crate::store::ledger::LedgerStore;
use crate::store::{Page, Paginated};

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> LedgerStore for SqlStore<DB> {
    fn system_account(&self, which: SystemAccount) -> AccountId {
        self.system[which as usize]
    }

    async fn post_with(
        &self,
        request: &PostingRequest,
        at: DateTime<Utc>,
        attached: &Attached,
    ) -> Result<Posted> {
        request.validate()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_post(request, at, attached).await {
                Ok(Ok(posted)) => return Ok(posted),
                Ok(Err(refusal)) => {
                    // Nothing attached was written: it belongs to the first posting of the key.
                    let outcome = self.settle_refusal(request, refusal).await?;
                    return Ok(Posted { outcome, woken: 0 });
                }
                Err(error) if DB::is_transient(&error) && attempt < ATTEMPTS => {
                    tracing::debug!(%error, attempt, "ledger transaction retried");
                    tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
    }

    async fn post_group(
        &self,
        items: &[(PostingRequest, Attached)],
        at: DateTime<Utc>,
    ) -> Vec<Result<Posted>> {
        self.post_grouped(items, at).await
    }

    async fn posting_by_key(&self, key: &str) -> Result<Option<Posting>> {
        // Read from the writer side: the key may have been posted a moment ago.
        let row = sqlx::query(SELECT_POSTING_BY_KEY)
            .bind(key.to_owned())
            .fetch_optional(&self.writer)
            .await?;
        row.as_ref().map(posting_from_row).transpose()
    }

    async fn count_postings(&self) -> Result<u64> {
        Self::count_rows(&self.reader, sqlx::query("SELECT COUNT(*) FROM postings")).await
    }

    async fn account_balance(&self, account: AccountId) -> Result<Money> {
        let row = sqlx::query("SELECT balance FROM accounts WHERE id = $1")
            .bind(account.0)
            .fetch_optional(&self.reader)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no account {account}.")))?;
        Ok(Money::from_micros(
            row.try_get("balance").map_err(Error::from)?,
        ))
    }

    async fn statement(&self, account: AccountId, page: Page) -> Result<Paginated<StatementLine>> {
        let postings = self
            .page_of(
                STATEMENT,
                "SELECT COUNT(*) FROM postings WHERE debit_account = $1 OR credit_account = $1",
                Filter::Id(account.0),
                page,
                posting_from_row,
            )
            .await?;
        Ok(Paginated {
            items: postings
                .items
                .iter()
                .map(|p| StatementLine::for_account(p, account))
                .collect(),
            page: postings.page,
            limit: postings.limit,
            total: postings.total,
        })
    }

    async fn ledger_discrepancies(&self) -> Result<Vec<Discrepancy>> {
        let rows = sqlx::query(
            "SELECT id, balance, computed FROM (\
               SELECT a.id, a.balance, \
                 COALESCE((SELECT CAST(SUM(p.amount) AS BIGINT) FROM postings p WHERE p.credit_account = a.id), 0) \
               - COALESCE((SELECT CAST(SUM(p.amount) AS BIGINT) FROM postings p WHERE p.debit_account = a.id), 0) AS computed \
               FROM accounts a WHERE a.kind = 'wallet'\
             ) AS wallets WHERE balance <> computed ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Discrepancy {
                    account: AccountId(row.try_get("id")?),
                    stored: Money::from_micros(row.try_get("balance")?),
                    from_postings: Money::from_micros(row.try_get("computed")?),
                })
            })
            .collect()
    }
}

const SELECT_POSTING_BY_KEY: &str =
    concat!("SELECT ", posting_columns!(), " WHERE idempotency_key = $1");
/// The posting columns and table, for statements built elsewhere (payments).
pub(super) const POSTING_COLUMNS: &str = posting_columns!();

const STATEMENT: &str = concat!(
    "SELECT ",
    posting_columns!(),
    " WHERE debit_account = $1 OR credit_account = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
);

pub(super) enum Refusal {
    KeyUsed,
    NoFunds(AccountId),
    /// Over its [`crate::records::ledger::Cap`].
    Capped(crate::records::ledger::Cap),
}

#[hostdeck_macros::row_bounds]
pub(super) fn posting_from_row<R: Row>(row: &R) -> Result<Posting> {
    Ok(Posting {
        id: PostingId(row.try_get("id")?),
        debit: AccountId(row.try_get("debit_account")?),
        credit: AccountId(row.try_get("credit_account")?),
        amount: Money::from_micros(row.try_get("amount")?),
        kind: PostingKind::parse(&row.try_get::<String, _>("kind")?)?,
        key: row.try_get("idempotency_key")?,
        reference: row.try_get("reference")?,
        memo: row.try_get("memo")?,
        actor_user: row.try_get::<Option<i64>, _>("actor_user_id")?.map(UserId),
        actor_via: row.try_get("actor_via")?,
        debit_balance_after: row
            .try_get::<Option<i64>, _>("debit_balance_after")?
            .map(Money::from_micros),
        credit_balance_after: row
            .try_get::<Option<i64>, _>("credit_balance_after")?
            .map(Money::from_micros),
        created_at: row.try_get("created_at")?,
    })
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    pub(super) fn is_wallet(&self, account: AccountId) -> bool {
        !self.system.contains(&account)
    }

    /// One attempt at a posting and what is attached to it, in one transaction. `Ok(Err(why))`
    /// means the transaction was rolled back on purpose (key already used, or not enough
    /// credit) and the caller decides what that means.
    pub(super) async fn try_post(
        &self,
        request: &PostingRequest,
        at: DateTime<Utc>,
        attached: &Attached,
    ) -> Result<std::result::Result<Posted, Refusal>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        match self.write_posting(&mut *tx, request, at, attached).await? {
            Ok(posted) => {
                tx.commit().await?;
                Ok(Ok(posted))
            }
            Err(refusal) => {
                tx.rollback().await?;
                Ok(Err(refusal))
            }
        }
    }

    /// Writes a posting and what is attached to it on `tx`, without committing. On a refusal
    /// the caller must roll back what was written.
    pub(super) async fn write_posting(
        &self,
        conn: &mut DB::Connection,
        request: &PostingRequest,
        at: DateTime<Utc>,
        attached: &Attached,
    ) -> Result<std::result::Result<Posted, Refusal>, sqlx::Error> {
        let amount = request.amount.micros();
        // Wallet rows are updated in account order, so two transfers between the same two
        // wallets in opposite directions can never wait on each other.
        let mut sides = [
            (request.debit, -amount, request.overdraft),
            (request.credit, amount, Overdraft::Allow),
        ];
        sides.sort_by_key(|(account, _, _)| *account);
        let mut debit_after = None;
        let mut credit_after = None;
        for (account, delta, overdraft) in sides {
            if !self.is_wallet(account) {
                continue;
            }
            let row = sqlx::query(
                "UPDATE accounts SET balance = balance + $1 WHERE id = $2 AND ($3 OR balance + $1 >= 0) RETURNING balance",
            )
            .bind(delta)
            .bind(account.0)
            .bind(overdraft == Overdraft::Allow)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(row) = row else {
                return Ok(Err(Refusal::NoFunds(account)));
            };
            let balance: i64 = row.try_get("balance")?;
            if account == request.debit {
                debit_after = Some(balance);
            } else {
                credit_after = Some(balance);
            }
        }
        let query = sqlx::query(
            "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, reference, memo, \
             actor_user_id, actor_via, debit_balance_after, credit_balance_after, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        );
        let inserted = Self::bind_posting(query, request, debit_after, credit_after, at)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(inserted) = inserted else {
            return Ok(Err(Refusal::KeyUsed));
        };
        let id = PostingId(inserted.try_get("id")?);
        if let Some(cap) = &attached.cap
            && !Self::write_cap(&mut *conn, cap, amount).await?
        {
            return Ok(Err(Refusal::Capped(cap.clone())));
        }
        if let Some(entry) = &attached.audit {
            let mut entry = entry.clone();
            if let Some(serde_json::Value::Object(detail)) = &mut entry.detail {
                detail.insert("posting".to_owned(), serde_json::json!(id));
            }
            Self::write_audit(&mut *conn, &entry, at).await?;
        }
        if let Some((order, status, capture_id)) = &attached.order {
            Self::write_order_status(&mut *conn, order, *status, Some(capture_id), at).await?;
        }
        if let Some(event) = &attached.event {
            Self::write_event_outcome(
                &mut *conn,
                &event.id,
                event.status,
                None,
                &event.outcome,
                at,
            )
            .await?;
        }
        let woken = match &attached.wake_waiting_for {
            Some(capture_id) => Self::write_wake_waiting(&mut *conn, capture_id).await?,
            None => 0,
        };
        let posting = request.posted(id, debit_after, credit_after, at);
        Ok(Ok(Posted {
            outcome: PostOutcome::Posted(posting),
            woken,
        }))
    }

    /// Binds the twelve columns of a posting row, in the order every insert of `postings` names
    /// them: the accounts, amount, kind, key, reference, memo, actor, the two balances after it
    /// and the time.
    pub(super) fn bind_posting<'q>(
        query: Query<'q, DB, DB::Arguments<'q>>,
        request: &PostingRequest,
        debit_after: Option<i64>,
        credit_after: Option<i64>,
        at: DateTime<Utc>,
    ) -> Query<'q, DB, DB::Arguments<'q>> {
        query
            .bind(request.debit.0)
            .bind(request.credit.0)
            .bind(request.amount.micros())
            .bind(request.kind.as_str().to_owned())
            .bind(request.key.clone())
            .bind(request.reference.clone())
            .bind(request.memo.clone())
            .bind(request.actor_user.map(|user| user.0))
            .bind(request.actor_via.as_str().to_owned())
            .bind(debit_after)
            .bind(credit_after)
            .bind(at)
    }

    /// Counts a posting of `amount` against its cap, if it stays within it: `false` (and
    /// nothing counted) when it would not. The conditional update is the check, so postings in
    /// transactions side by side cannot both pass it (PostgreSQL re-reads the row it waited
    /// for; SQLite has one writer).
    pub(super) async fn write_cap(
        conn: &mut DB::Connection,
        cap: &crate::records::ledger::Cap,
        amount: i64,
    ) -> Result<bool, sqlx::Error> {
        use crate::records::ledger::Cap;
        match cap {
            Cap::OrderCredit { order, capture } => {
                const RAISE: &str = "UPDATE paypal_orders SET credited = credited + $1 \
                     WHERE id = $2 AND credited + $1 <= amount";
                if !Self::raise_within(&mut *conn, RAISE, amount, order).await? {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT INTO paypal_captures (id, amount) VALUES ($1, $2) \
                     ON CONFLICT (id) DO NOTHING",
                )
                .bind(capture.clone())
                .bind(amount)
                .execute(&mut *conn)
                .await?;
                Ok(true)
            }
            Cap::CaptureRefund { capture } => {
                const RAISE: &str = "UPDATE paypal_captures SET refunded = refunded + $1 \
                     WHERE id = $2 AND refunded + $1 <= amount";
                Self::raise_within(&mut *conn, RAISE, amount, capture).await
            }
        }
    }

    /// Runs `raise`, an update of row `$2` by `$1` that holds only within its limit: whether it
    /// changed the row.
    async fn raise_within(
        conn: &mut DB::Connection,
        raise: &'static str,
        amount: i64,
        id: &str,
    ) -> Result<bool, sqlx::Error> {
        let raised = sqlx::query(raise)
            .bind(amount)
            .bind(id.to_owned())
            .execute(&mut *conn)
            .await?;
        Ok(DB::rows_affected(&raised) == 1)
    }

    /// What a rolled-back posting means, decided from the key's first posting if it exists:
    /// the same request again returns that posting, whatever the balance is now.
    pub(super) async fn settle_refusal(
        &self,
        request: &PostingRequest,
        refusal: Refusal,
    ) -> Result<PostOutcome> {
        if let Some(first) = self.posting_by_key(&request.key).await? {
            return if request.matches(&first) {
                Ok(PostOutcome::Replayed(first))
            } else {
                // Whose posting it was, and of what, is not for the caller to learn.
                Err(Error::Conflict(format!(
                    "The key {:?} was already used for a different posting.",
                    request.key,
                )))
            };
        }
        match refusal {
            Refusal::KeyUsed => Err(Error::internal(
                "posting to the ledger",
                "the idempotency key was taken but its posting cannot be read",
            )),
            Refusal::Capped(cap) => Err(Error::Conflict(cap.refusal())),
            Refusal::NoFunds(account) => {
                let balance = sqlx::query("SELECT balance FROM accounts WHERE id = $1")
                    .bind(account.0)
                    .fetch_optional(&self.writer)
                    .await?;
                match balance {
                    None => Err(Error::NotFound(format!("There is no account {account}."))),
                    Some(row) => Err(Error::Conflict(format!(
                        "Not enough credit: the balance is {} and this needs {}.",
                        Money::from_micros(row.try_get("balance").map_err(Error::from)?)
                            .amount_text(),
                        request.amount.amount_text()
                    ))),
                }
            }
        }
    }
}
