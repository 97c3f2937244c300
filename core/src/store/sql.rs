//! The one implementation of [`Store`], generic over the engine. Every statement here is
//! plain `$N` SQL that SQLite and PostgreSQL both accept.

mod payments;
mod posting_group;
mod servers;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

mod billing;

use super::{CODE_ATTEMPTS, CodeCheck, NewCode, NewOutboxMessage, OutboxMessage};
use super::{EngineKind, Page, Paginated, Store};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{AccountId, AuditId, PostingId, UserId};
use crate::money::Money;
use crate::policy::{Role, Scope, Scopes};
use crate::records::audit::{AuditEntry, AuditRecord};
use crate::records::auth::SessionRecord;
use crate::records::auth::{ApiKeyInfo, NewApiKey};
use crate::records::ledger::{
    Attached, Discrepancy, Overdraft, PostOutcome, Posted, Posting, PostingKind, PostingRequest,
    StatementLine, SystemAccount,
};
use crate::records::users::{NewUser, User, UserAuth, UserStatus};

/// What differs between engines.
pub(crate) trait Engine: Database {
    const KIND: EngineKind;
    /// The statement that opens a transaction that will write.
    const BEGIN_WRITE: &'static str;
    /// Whether running the same transaction again may succeed.
    fn is_transient(error: &sqlx::Error) -> bool;

    // What hourly billing's set-based SQL spells differently (see `sql/billing.rs`).
    /// The number of the UTC hour a timestamp `column` falls in, as an integer (NULL stays NULL).
    fn hour_of(column: &str) -> String;
    /// `column` is one of the ids in the text parameter `param` (written by [`Self::ids_text`]).
    fn in_ids(column: &str, param: &str) -> String;
    fn ids_text(ids: &[i64]) -> String;
    /// The largest and smallest of several values.
    const GREATEST: &'static str;
    const LEAST: &'static str;
    /// With `HOURS_JOIN` after `FROM claimed c`: one row per hour `HOUR` from `c.from_h` up to
    /// (not including) `c.to_h`. `HOURS_CTE` follows the `claimed` CTE.
    const HOURS_CTE: &'static str;
    /// Written after `claimed AS`: whether the claimed servers are computed once into a table
    /// of their own (SQLite would otherwise compute them again for each use).
    const MATERIALIZED: &'static str;
    const HOURS_JOIN: &'static str;
    const HOUR: &'static str;
    /// `HOUR` as text `YYYY-MM-DDTHH:00Z`, as in `usage:{server}:{hour}` keys.
    const HOUR_LABEL: &'static str;
    /// Row locks (empty where the write transaction already excludes every other writer).
    const FOR_UPDATE: &'static str;
    /// Run first in each billing transaction (the tick's lock among them).
    const BATCH_SETUP: &'static [&'static str];
    /// Creates (if need be) the connection's temporary table `billing_due`
    /// (id, wallet, h, amount, idempotency_key), empty at the start of each transaction.
    const DUE_TABLE: &'static str;
    /// Rows a statement wrote.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// A Rust type that is a column type of `DB`.
pub(crate) trait Column<DB: Database>:
    Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Send
{
}
impl<DB: Database, T> Column<DB> for T where
    T: Type<DB> + for<'q> Encode<'q, DB> + for<'r> Decode<'r, DB> + Send
{
}

/// How often a transaction that hit a transient error is run again.
const ATTEMPTS: u32 = 8;

pub(crate) struct SqlStore<DB: Database> {
    /// Connections that write. For SQLite exactly one.
    writer: Pool<DB>,
    reader: Pool<DB>,
    system: [AccountId; SystemAccount::ALL.len()],
}

// Column lists as macros, so `concat!` can build whole statements at compile time.
macro_rules! user_fields {
    () => {
        "u.id, u.email, u.role, u.status, u.email_verified_at, u.created_at, u.display_name, \
         u.totp_enabled_at, a.id AS wallet"
    };
}
macro_rules! auth_fields {
    () => {
        "u.password_hash, u.sessions_valid_after, u.totp_secret, u.totp_pending_secret, u.totp_last_step"
    };
}
macro_rules! user_columns {
    () => {
        concat!(
            user_fields!(),
            " FROM users u JOIN accounts a ON a.user_id = u.id"
        )
    };
}
macro_rules! posting_columns {
    () => {
        "id, debit_account, credit_account, amount, kind, idempotency_key, reference, memo, \
         actor_user_id, actor_via, debit_balance_after, credit_balance_after, created_at FROM postings"
    };
}
macro_rules! api_key_fields {
    () => {
        "k.id AS key_id, k.user_id AS key_user, k.name AS key_name, k.prefix, k.last4, k.scopes, \
         k.created_at AS key_created_at, k.expires_at AS key_expires_at, k.last_used_at, \
         k.revoked_at AS key_revoked_at"
    };
}

// After the column macros, which it uses.
mod discord;
mod ssh_keys;

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
const SELECT_POSTING_BY_KEY: &str =
    concat!("SELECT ", posting_columns!(), " WHERE idempotency_key = $1");
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
/// The posting columns and table, for statements built elsewhere (payments).
const POSTING_COLUMNS: &str = posting_columns!();
const STATEMENT: &str = concat!(
    "SELECT ",
    posting_columns!(),
    " WHERE debit_account = $1 OR credit_account = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
);

impl<DB: Engine> SqlStore<DB> {
    /// A transaction that will write, on the writer pool. `BEGIN` runs in a task of its own, so
    /// a caller that goes away meanwhile (a request whose client hung up, an aborted task)
    /// cannot leave the connection inside a transaction nobody ends. sqlx 0.8 counts a
    /// transaction as open only once `BEGIN` has answered, and a future dropped before that
    /// returns the connection to the pool still inside it: on SQLite, holding the one write
    /// lock for good. Here `BEGIN` always finishes into a `Transaction`, whose drop rolls back.
    pub(super) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, DB>, sqlx::Error> {
        let writer = self.writer.clone();
        tokio::spawn(async move { writer.begin_with(DB::BEGIN_WRITE).await })
            .await
            .map_err(|error| sqlx::Error::Protocol(format!("BEGIN did not finish: {error}")))?
    }
}

impl<DB> SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    bool: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<String>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
{
    pub(crate) async fn new(writer: Pool<DB>, reader: Pool<DB>) -> Result<Self, sqlx::Error> {
        let rows = sqlx::query("SELECT id, code FROM accounts WHERE kind = 'system'")
            .fetch_all(&writer)
            .await?;
        let mut system = [AccountId(0); SystemAccount::ALL.len()];
        for (slot, which) in system.iter_mut().zip(SystemAccount::ALL) {
            let row = rows
                .iter()
                .find(|row| {
                    row.try_get::<String, _>("code")
                        .is_ok_and(|code| code == which.code())
                })
                .ok_or_else(|| {
                    sqlx::Error::Protocol(format!("system account {} is missing", which.code()))
                })?;
            *slot = AccountId(row.try_get("id")?);
        }
        Ok(Self {
            writer,
            reader,
            system,
        })
    }

    fn is_wallet(&self, account: AccountId) -> bool {
        !self.system.contains(&account)
    }

    /// One attempt at a posting and what is attached to it, in one transaction. `Ok(Err(why))`
    /// means the transaction was rolled back on purpose (key already used, or not enough
    /// credit) and the caller decides what that means.
    async fn try_post(
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
    async fn write_posting(
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
        let inserted = sqlx::query(
            "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, reference, memo, \
             actor_user_id, actor_via, debit_balance_after, credit_balance_after, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(request.debit.0)
        .bind(request.credit.0)
        .bind(amount)
        .bind(request.kind.as_str().to_owned())
        .bind(request.key.clone())
        .bind(request.reference.clone())
        .bind(request.memo.clone())
        .bind(request.actor_user.map(|user| user.0))
        .bind(request.actor_via.as_str().to_owned())
        .bind(debit_after)
        .bind(credit_after)
        .bind(at)
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
        let posting = Posting {
            id,
            debit: request.debit,
            credit: request.credit,
            amount: request.amount,
            kind: request.kind,
            key: request.key.clone(),
            reference: request.reference.clone(),
            memo: request.memo.clone(),
            actor_user: request.actor_user,
            actor_via: request.actor_via.as_str().to_owned(),
            debit_balance_after: debit_after.map(Money::from_micros),
            credit_balance_after: credit_after.map(Money::from_micros),
            created_at: at,
        };
        Ok(Ok(Posted {
            outcome: PostOutcome::Posted(posting),
            woken,
        }))
    }

    /// Counts a posting of `amount` against its cap, if it stays within it: `false` (and
    /// nothing counted) when it would not. The conditional update is the check, so postings in
    /// transactions side by side cannot both pass it (PostgreSQL re-reads the row it waited
    /// for; SQLite has one writer).
    async fn write_cap(
        conn: &mut DB::Connection,
        cap: &crate::records::ledger::Cap,
        amount: i64,
    ) -> Result<bool, sqlx::Error> {
        use crate::records::ledger::Cap;
        match cap {
            Cap::OrderCredit { order, capture } => {
                let raised = sqlx::query(
                    "UPDATE paypal_orders SET credited = credited + $1 \
                     WHERE id = $2 AND credited + $1 <= amount",
                )
                .bind(amount)
                .bind(order.clone())
                .execute(&mut *conn)
                .await?;
                if DB::rows_affected(&raised) != 1 {
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
                let raised = sqlx::query(
                    "UPDATE paypal_captures SET refunded = refunded + $1 \
                     WHERE id = $2 AND refunded + $1 <= amount",
                )
                .bind(amount)
                .bind(capture.clone())
                .execute(&mut *conn)
                .await?;
                Ok(DB::rows_affected(&raised) == 1)
            }
        }
    }

    /// Queues an outbox message (on its own, or inside the transaction that decided it).
    pub(super) async fn write_outbox(
        conn: &mut DB::Connection,
        message: &NewOutboxMessage,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO outbox (channel, recipient, payload, created_at, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(message.channel.clone())
        .bind(message.recipient.clone())
        .bind(message.payload.to_string())
        .bind(at)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Appends an audit entry (on its own, or inside a posting's or a step's transaction).
    pub(super) async fn write_audit(
        conn: &mut DB::Connection,
        entry: &AuditEntry,
        at: DateTime<Utc>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_user_id, actor_via, action, target, outcome, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(at)
        .bind(entry.actor_user.map(|user| user.0))
        .bind(entry.via.as_str().to_owned())
        .bind(entry.action.clone())
        .bind(entry.target.clone())
        .bind(entry.outcome.as_str().to_owned())
        .bind(entry.detail.as_ref().map(|detail| detail.to_string()))
        .execute(conn)
        .await?;
        Ok(())
    }

    /// What a rolled-back posting means, decided from the key's first posting if it exists:
    /// the same request again returns that posting, whatever the balance is now.
    async fn settle_refusal(
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

    /// Runs an `UPDATE users ... RETURNING id`; no row means no such user.
    async fn update_user<'q>(
        &self,
        query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
        user: UserId,
    ) -> Result<()> {
        match query.fetch_optional(&self.writer).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound(format!("There is no user {user}."))),
        }
    }

    async fn page_of<T>(
        &self,
        sql: &'static str,
        count_sql: &'static str,
        filter: Filter,
        page: Page,
        decode: impl Fn(&DB::Row) -> Result<T>,
    ) -> Result<Paginated<T>> {
        let rows = filter
            .bind(sqlx::query(sql))
            .bind(i64::from(page.limit))
            .bind(page.offset())
            .fetch_all(&self.reader)
            .await?;
        let total: i64 = filter
            .bind(sqlx::query(count_sql))
            .fetch_one(&self.reader)
            .await?
            .try_get(0usize)
            .map_err(Error::from)?;
        Ok(Paginated {
            items: rows.iter().map(decode).collect::<Result<_>>()?,
            page: page.page,
            limit: page.limit,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// The one parameter a listing is filtered by, bound as `$1`.
#[derive(Clone)]
enum Filter {
    None,
    Text(String),
    Id(i64),
}

impl Filter {
    fn bind<'q, DB>(
        &self,
        query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    ) -> sqlx::query::Query<'q, DB, DB::Arguments<'q>>
    where
        DB: Database,
        i64: Column<DB>,
        String: Column<DB>,
    {
        match self {
            Self::None => query,
            Self::Text(text) => query.bind(text.clone()),
            Self::Id(id) => query.bind(*id),
        }
    }
}

enum Refusal {
    KeyUsed,
    NoFunds(AccountId),
    /// Over its [`crate::records::ledger::Cap`].
    Capped(crate::records::ledger::Cap),
}

fn user_from_row<R: Row>(row: &R) -> Result<User>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<i64>: Column<R::Database>,
    Option<String>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
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

fn user_auth_from_row<R: Row>(row: &R) -> Result<UserAuth>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<i64>: Column<R::Database>,
    Option<String>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
    Ok(UserAuth {
        user: user_from_row(row)?,
        password_hash: row.try_get("password_hash")?,
        sessions_valid_after: row.try_get("sessions_valid_after")?,
        totp_secret: row.try_get("totp_secret")?,
        totp_pending_secret: row.try_get("totp_pending_secret")?,
        totp_last_step: row.try_get("totp_last_step")?,
    })
}

fn api_key_from_row<R: Row>(row: &R) -> Result<ApiKeyInfo>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
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

fn posting_from_row<R: Row>(row: &R) -> Result<Posting>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<i64>: Column<R::Database>,
    Option<String>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
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

fn audit_from_row<R: Row>(row: &R) -> Result<AuditRecord>
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: Column<R::Database>,
    String: Column<R::Database>,
    DateTime<Utc>: Column<R::Database>,
    Option<i64>: Column<R::Database>,
    Option<String>: Column<R::Database>,
    Option<DateTime<Utc>>: Column<R::Database>,
{
    let detail: Option<String> = row.try_get("detail")?;
    Ok(AuditRecord {
        id: AuditId(row.try_get("id")?),
        at: row.try_get("at")?,
        actor_user: row.try_get::<Option<i64>, _>("actor_user_id")?.map(UserId),
        via: row.try_get("actor_via")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        outcome: row.try_get("outcome")?,
        detail: detail
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|error| Error::internal("reading the audit log", error))?,
    })
}

/// `%term%` for LIKE, with the user's own `%`, `_` and `\` taken literally.
fn like_pattern(search: Option<&str>) -> String {
    let term = search.unwrap_or("").trim().to_lowercase();
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait::async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Engine,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    bool: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<String>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
{
    fn discord(&self) -> &dyn super::discord::DiscordStore {
        self
    }

    fn engine(&self) -> EngineKind {
        DB::KIND
    }

    fn ssh_keys(&self) -> &dyn super::ssh_keys::SshKeyStore {
        self
    }

    fn payments(&self) -> &dyn super::payments::PaymentStore {
        self
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

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
            .bind(
                email
                    .former_key()
                    .map_or_else(|| email.key(), str::to_owned),
            )
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
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM users WHERE role = $1")
            .bind(role.as_str().to_owned())
            .fetch_one(&self.reader)
            .await?
            .try_get(0usize)
            .map_err(Error::from)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

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
        let count: i64 = sqlx::query("SELECT COUNT(*) FROM postings")
            .fetch_one(&self.reader)
            .await?
            .try_get(0usize)
            .map_err(Error::from)?;
        Ok(u64::try_from(count).unwrap_or(0))
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

    async fn record_audit(&self, entry: &AuditEntry, at: DateTime<Utc>) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        Self::write_audit(&mut *conn, entry, at).await?;
        Ok(())
    }

    async fn audit_log(&self, page: Page) -> Result<Paginated<AuditRecord>> {
        self.page_of(
            "SELECT id, at, actor_user_id, actor_via, action, target, outcome, detail FROM audit_log \
             ORDER BY id DESC LIMIT $1 OFFSET $2",
            "SELECT COUNT(*) FROM audit_log",
            Filter::None,
            page,
            audit_from_row,
        )
        .await
    }

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
            .bind(
                email
                    .former_key()
                    .map_or_else(|| email.key(), str::to_owned),
            )
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

    async fn enqueue(&self, message: &NewOutboxMessage, at: DateTime<Utc>) -> Result<()> {
        let mut conn = self.writer.acquire().await?;
        Self::write_outbox(&mut conn, message, at).await?;
        Ok(())
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>> {
        // The conditions stand in the outer WHERE too: on PostgreSQL a row another sender
        // claimed meanwhile is re-checked after its lock is released, and skipped.
        let rows = sqlx::query(
            "UPDATE outbox SET locked_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL \
                            AND next_attempt_at <= $2 AND (locked_until IS NULL OR locked_until <= $2) \
                          ORDER BY id LIMIT $3) \
               AND sent_at IS NULL AND failed_at IS NULL AND (locked_until IS NULL OR locked_until <= $2) \
             RETURNING id, channel, recipient, payload, attempts",
        )
        .bind(lease_until)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.writer)
        .await?;
        rows.iter()
            .map(|row| {
                let payload: String = row.try_get("payload")?;
                Ok(OutboxMessage {
                    id: row.try_get("id")?,
                    channel: row.try_get("channel")?,
                    recipient: row.try_get("recipient")?,
                    payload: serde_json::from_str(&payload)
                        .map_err(|error| Error::internal("reading an outbox message", error))?,
                    attempts: row.try_get("attempts")?,
                })
            })
            .collect()
    }

    async fn outbox_sent(&self, id: i64, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET sent_at = $1, locked_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn outbox_retry(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE outbox SET next_attempt_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3")
            .bind(next_attempt_at)
            .bind(error.to_owned())
            .bind(id)
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn outbox_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET failed_at = $1, locked_until = NULL, last_error = $2 WHERE id = $3",
        )
        .bind(at)
        .bind(error.to_owned())
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn outbox_pending(&self) -> Result<u64> {
        let count: i64 =
            sqlx::query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
                .fetch_one(&self.writer)
                .await?
                .try_get(0usize)
                .map_err(Error::from)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| row.try_get("value").map_err(Error::from))
            .transpose()
    }

    async fn put_setting(&self, key: &str, value: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key.to_owned())
        .bind(value.to_owned())
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn throttle_hit(
        &self,
        key: &str,
        now: DateTime<Utc>,
        ends: DateTime<Utc>,
    ) -> Result<(i64, DateTime<Utc>)> {
        // One row per key (window_index 0): a window that is over starts again at this attempt.
        let row = sqlx::query(
            "INSERT INTO throttle_counts (key, window_index, hits, expires_at) VALUES ($1, 0, 1, $2) \
             ON CONFLICT (key, window_index) DO UPDATE SET \
             hits = CASE WHEN throttle_counts.expires_at <= $3 THEN 1 ELSE throttle_counts.hits + 1 END, \
             expires_at = CASE WHEN throttle_counts.expires_at <= $3 THEN $2 ELSE throttle_counts.expires_at END \
             RETURNING hits, expires_at",
        )
        .bind(key.to_owned())
        .bind(ends)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok((row.try_get("hits")?, row.try_get("expires_at")?))
    }

    async fn throttle_give_back(&self, key: &str, window: i64) -> Result<()> {
        sqlx::query(
            "UPDATE throttle_counts SET hits = hits - 1 WHERE key = $1 AND window_index = $2 AND hits > 0",
        )
        .bind(key.to_owned())
        .bind(window)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn throttle_clear(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM throttle_counts WHERE key = $1")
            .bind(key.to_owned())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn throttle_purge(&self, now: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM throttle_counts WHERE expires_at < $1")
            .bind(now)
            .execute(&self.writer)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn insert_setting_if_absent(
        &self,
        key: &str,
        value: &str,
        at: DateTime<Utc>,
    ) -> Result<String> {
        sqlx::query("INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING")
            .bind(key.to_owned())
            .bind(value.to_owned())
            .bind(at)
            .execute(&self.writer)
            .await?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key.to_owned())
            .fetch_one(&self.writer)
            .await?;
        row.try_get("value").map_err(Error::from)
    }

    async fn remember_key(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        at: DateTime<Utc>,
    ) -> Result<(String, bool)> {
        let stored = sqlx::query(
            "INSERT INTO idempotency_keys (scope, client_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (scope, client_key) DO NOTHING",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .bind(fingerprint.to_owned())
        .bind(at)
        .execute(&self.writer)
        .await?;
        if DB::rows_affected(&stored) == 1 {
            return Ok((fingerprint.to_owned(), true));
        }
        let row = sqlx::query(
            "SELECT fingerprint FROM idempotency_keys WHERE scope = $1 AND client_key = $2",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .fetch_one(&self.writer)
        .await?;
        Ok((row.try_get("fingerprint").map_err(Error::from)?, false))
    }

    async fn forget_key(&self, scope: &str, key: &str, fingerprint: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM idempotency_keys \
             WHERE scope = $1 AND client_key = $2 AND fingerprint = $3",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .bind(fingerprint.to_owned())
        .execute(&self.writer)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_patterns_take_the_search_literally() {
        assert_eq!(like_pattern(None), "%%");
        assert_eq!(like_pattern(Some(" Alice ")), "%alice%");
        assert_eq!(like_pattern(Some("50%_off\\")), "%50\\%\\_off\\\\%");
    }
}
