//! The one implementation of [`Store`], generic over the engine. Every statement here is
//! plain `$N` SQL that SQLite and PostgreSQL both accept.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::{EngineKind, Page, Paginated, Store};
use crate::audit::{AuditEntry, AuditRecord};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::{AccountId, AuditId, PostingId, UserId};
use crate::ledger::{
    Discrepancy, Overdraft, PostOutcome, Posting, PostingKind, PostingRequest, StatementLine,
    SystemAccount,
};
use crate::money::Money;
use crate::policy::Role;
use crate::users::{NewUser, User, UserStatus};

/// What differs between engines.
pub(crate) trait Engine: Database {
    const KIND: EngineKind;
    /// The statement that opens a transaction that will write.
    const BEGIN_WRITE: &'static str;
    /// Whether running the same transaction again may succeed.
    fn is_transient(error: &sqlx::Error) -> bool;
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
macro_rules! user_columns {
    () => {
        "u.id, u.email, u.role, u.status, u.email_verified_at, u.created_at, a.id AS wallet \
         FROM users u JOIN accounts a ON a.user_id = u.id"
    };
}
macro_rules! posting_columns {
    () => {
        "id, debit_account, credit_account, amount, kind, idempotency_key, reference, memo, \
         actor_user_id, actor_via, debit_balance_after, credit_balance_after, created_at FROM postings"
    };
}

const SELECT_USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " WHERE u.id = $1");
const SELECT_USER_BY_EMAIL: &str = concat!("SELECT ", user_columns!(), " WHERE u.email_key = $1");
const LIST_USERS: &str = concat!(
    "SELECT ",
    user_columns!(),
    " WHERE u.email_key LIKE $1 ESCAPE '\\' ORDER BY u.id LIMIT $2 OFFSET $3"
);
const SELECT_POSTING_BY_KEY: &str =
    concat!("SELECT ", posting_columns!(), " WHERE idempotency_key = $1");
const STATEMENT: &str = concat!(
    "SELECT ",
    posting_columns!(),
    " WHERE debit_account = $1 OR credit_account = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
);

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

    /// One attempt at a posting. `Ok(Err(why))` means the transaction was rolled back on
    /// purpose (key already used, or not enough credit) and the caller decides what that means.
    async fn try_post(
        &self,
        request: &PostingRequest,
        at: DateTime<Utc>,
    ) -> Result<std::result::Result<Posting, Refusal>, sqlx::Error> {
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
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
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                tx.rollback().await?;
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
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inserted) = inserted else {
            tx.rollback().await?;
            return Ok(Err(Refusal::KeyUsed));
        };
        tx.commit().await?;
        Ok(Ok(Posting {
            id: PostingId(inserted.try_get("id")?),
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
        }))
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
                Err(Error::Conflict(format!(
                    "The key {:?} was already used for a different posting ({} from account {} to {}).",
                    request.key,
                    first.amount.amount_text(),
                    first.debit,
                    first.credit
                )))
            };
        }
        match refusal {
            Refusal::KeyUsed => Err(Error::internal(
                "posting to the ledger",
                "the idempotency key was taken but its posting cannot be read",
            )),
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
    fn engine(&self) -> EngineKind {
        DB::KIND
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
        let mut tx = self.writer.begin_with(DB::BEGIN_WRITE).await?;
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

    async fn post(&self, request: &PostingRequest, at: DateTime<Utc>) -> Result<PostOutcome> {
        request.validate()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_post(request, at).await {
                Ok(Ok(posting)) => return Ok(PostOutcome::Posted(posting)),
                Ok(Err(refusal)) => return self.settle_refusal(request, refusal).await,
                Err(error) if DB::is_transient(&error) && attempt < ATTEMPTS => {
                    tracing::debug!(%error, attempt, "ledger transaction retried");
                    tokio::time::sleep(Duration::from_millis(5 << attempt.min(6))).await;
                }
                Err(error) => return Err(error.into()),
            }
        }
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
        .execute(&self.writer)
        .await?;
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
