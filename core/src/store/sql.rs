//! The one implementation of [`Store`](super::Store), generic over the engine: here the engine
//! seam, the pools, retries and paging; each area's statements in a file of its own beside
//! this one, and the accessors in `areas.rs`. Every statement is plain `$N` SQL that SQLite
//! and PostgreSQL both accept, unless an engine's own trait says otherwise.

use chrono::{DateTime, Utc};
use sqlx::{Database, Decode, Encode, Pool, Row, Type};

use super::NewOutboxMessage;
use super::{EngineKind, Page, Paginated};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::records::audit::AuditEntry;
use crate::records::ledger::SystemAccount;

/// What differs between engines.
pub(crate) trait Engine: Database {
    const KIND: EngineKind;

    /// The statement that opens a transaction that will write.
    const BEGIN_WRITE: &'static str;

    /// Whether running the same transaction again may succeed.
    fn is_transient(error: &sqlx::Error) -> bool;
    /// The number of the UTC hour a timestamp `column` falls in, as an integer (NULL stays
    /// NULL).
    fn hour_of(column: &str) -> String;

    /// Row locks (empty where the write transaction already excludes every other writer).
    const FOR_UPDATE: &'static str;

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

// The areas come after the column macros above, which they use.
mod areas;
mod assistant;
mod audit;
mod auth;
mod billing;
mod discord;
mod idempotency;
mod knowledge;
mod ledger;
mod outbox;
mod payments;
mod posting_group;
mod servers;
mod settings;
mod ssh_keys;
mod status;
mod throttle;
mod tickets;
mod users;

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

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
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

    /// What a `SELECT COUNT(*)` statement counts, read on `pool` (a negative count, which no
    /// engine returns, reads as 0).
    pub(super) async fn count_rows<'q>(
        pool: &Pool<DB>,
        query: sqlx::query::Query<'q, DB, DB::Arguments<'q>>,
    ) -> Result<u64> {
        let count: i64 = query.fetch_one(pool).await?.try_get(0usize)?;
        Ok(u64::try_from(count).unwrap_or(0))
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
