//! What the billing stories and the billing benchmark share: customers, servers written
//! straight into the `servers` table (as the server service leaves them), and plain SQL reads.

use chrono::{DateTime, Utc};
use hostdeck_core::email::Email;
use hostdeck_core::store::Store;
use hostdeck_core::users::{NewUser, User};
use hostdeck_core::{Role, ids::ServerId};
use sqlx::{Connection, Row};

/// A verified customer `n`.
pub async fn customer(store: &dyn Store, n: usize, at: DateTime<Utc>) -> User {
    store
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse(&format!("customer{n}@example.com")).expect("an email"),
                role: Role::Customer,
                password_hash: None,
                email_verified: true,
            },
            at,
        )
        .await
        .expect("a customer")
}

/// One server row to write.
#[derive(Debug, Clone)]
pub struct SeedServer {
    pub user: i64,
    pub state: &'static str,
    pub rate_running: i64,
    pub rate_stopped: i64,
    pub rate_hours: i64,
    pub rate_since: DateTime<Utc>,
    pub billed_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl SeedServer {
    /// A running server of `user` created at `at`, with nothing billed yet.
    pub fn running(user: i64, at: DateTime<Utc>, rate_running: i64) -> Self {
        Self {
            user,
            state: "running",
            rate_running,
            rate_stopped: rate_running / 10,
            rate_hours: 730,
            rate_since: at,
            billed_until: at,
            created_at: at,
            suspended_at: None,
            deleted_at: None,
        }
    }
}

/// A timestamp as both engines take it in SQL text, and as sqlx writes it for SQLite.
pub fn sql_time(at: DateTime<Utc>) -> String {
    format!(
        "'{}'",
        at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
    )
}

fn sql_optional_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "NULL".to_owned(), sql_time)
}

/// Writes `servers` (ids from `first_id` on) with their `server_billing` rows and a `running` or
/// `stopped` event at creation, in chunks of multi-row INSERTs, and returns their ids.
pub async fn insert_servers(url: &str, first_id: i64, servers: &[SeedServer]) -> Vec<ServerId> {
    let mut ids = Vec::with_capacity(servers.len());
    let mut statements = Vec::new();
    for (chunk_index, chunk) in servers.chunks(2_000).enumerate() {
        let mut rows = Vec::with_capacity(chunk.len());
        let mut events = Vec::with_capacity(chunk.len());
        let mut marks = Vec::with_capacity(chunk.len());
        for (i, server) in chunk.iter().enumerate() {
            let id = first_id + (chunk_index * 2_000 + i) as i64;
            ids.push(ServerId(id));
            rows.push(format!(
                "({id}, {user}, 'sandbox', 'r{id}', 'create-{id}', 'server-{id}', 'server-{id}', 'small', 1, 1024, 25, \
                 'debian-12', '{state}', {suspended}, {running}, {stopped}, {hours}, {since}, {created}, {created}, {deleted})",
                user = server.user,
                state = server.state,
                suspended = sql_optional_time(server.suspended_at),
                running = server.rate_running,
                stopped = server.rate_stopped,
                hours = server.rate_hours,
                since = sql_time(server.rate_since),
                created = sql_time(server.created_at),
                deleted = sql_optional_time(server.deleted_at),
            ));
            marks.push(format!("({id}, {})", sql_time(server.billed_until)));
            let first_state = if server.state == "stopped" {
                "stopped"
            } else {
                "running"
            };
            events.push(format!(
                "({id}, {}, '{first_state}', 'action')",
                sql_time(server.created_at)
            ));
        }
        statements.push(format!(
            "INSERT INTO servers (id, user_id, provider, remote_id, create_key, name, hostname, plan, vcpus, \
             memory_mib, disk_gib, image, state, suspended_at, rate_running, rate_stopped, rate_hours, rate_since, \
             created_at, state_changed_at, deleted_at) VALUES {};\n\
             INSERT INTO server_billing (server_id, billed_until) VALUES {};\n\
             INSERT INTO server_events (server_id, at, state, source) VALUES {};",
            rows.join(", "),
            marks.join(", "),
            events.join(", ")
        ));
    }
    execute(url, &statements.join("\n")).await;
    ids
}

/// Records a state change of a server as the server service would (row and event).
pub async fn change_state(url: &str, server: ServerId, state: &str, at: DateTime<Utc>) {
    execute(
        url,
        &format!(
            "UPDATE servers SET state = '{state}', state_changed_at = {t} WHERE id = {server};\n\
             INSERT INTO server_events (server_id, at, state, source) VALUES ({server}, {t}, '{state}', 'action');",
            t = sql_time(at)
        ),
    )
    .await;
}

/// Runs SQL on the database at `url`.
pub async fn execute(url: &str, sql: &str) {
    crate::db::raw_at(url, sql).await.expect("run SQL");
}

/// The first `width` columns, integers, of every row `sql` answers with.
async fn integer_rows(url: &str, sql: &str, width: usize) -> Vec<Vec<i64>> {
    let read = |row: &dyn Fn(usize) -> i64| (0..width).map(row).collect::<Vec<i64>>();
    if url.starts_with("sqlite:") {
        let mut connection = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let rows = sqlx::query(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query");
        rows.iter()
            .map(|row| read(&|i| row.try_get::<i64, _>(i).expect("an integer")))
            .collect()
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.expect("connect");
        let rows = sqlx::query(sql)
            .fetch_all(&mut connection)
            .await
            .expect("query");
        rows.iter()
            .map(|row| read(&|i| row.try_get::<i64, _>(i).expect("an integer")))
            .collect()
    }
}

/// The one integer `sql` answers with.
/// The first column, an integer, of every row `sql` answers with.
pub async fn integers(url: &str, sql: &str) -> Vec<i64> {
    integer_rows(url, sql, 1)
        .await
        .into_iter()
        .map(|row| row[0])
        .collect()
}

pub async fn scalar(url: &str, sql: &str) -> i64 {
    let rows = integer_rows(url, sql, 1).await;
    assert_eq!(rows.len(), 1, "one row from {sql}");
    rows[0][0]
}

/// Every wallet's postings in id order: (account, signed amount, balance after). Used to check
/// that each posting's balance-after follows from the one before.
pub async fn wallet_chains(url: &str) -> Vec<(i64, i64, i64)> {
    let sql = "SELECT a.id AS account, \
                 CASE WHEN p.credit_account = a.id THEN p.amount ELSE -p.amount END AS delta, \
                 CASE WHEN p.credit_account = a.id THEN p.credit_balance_after ELSE p.debit_balance_after END AS after \
               FROM postings p JOIN accounts a ON a.kind = 'wallet' AND (a.id = p.debit_account OR a.id = p.credit_account) \
               ORDER BY a.id, p.id";
    integer_rows(url, sql, 3)
        .await
        .into_iter()
        .map(|row| (row[0], row[1], row[2]))
        .collect()
}

/// Panics unless every wallet's balance-after values run on from zero without a break.
pub async fn assert_balance_after_chains(url: &str) {
    let mut current: Option<(i64, i64)> = None;
    for (account, delta, after) in wallet_chains(url).await {
        let before = match current {
            Some((previous, balance)) if previous == account => balance,
            _ => 0,
        };
        assert_eq!(
            before + delta,
            after,
            "account {account}: a posting of {delta} after a balance of {before} must leave {}",
            before + delta
        );
        current = Some((account, after));
    }
}

/// Writes `count` verified customers straight into a fresh database, user ids 1..=count with
/// wallet ids [`wallet_of`] (for benchmarks: far quicker than one transaction per customer).
pub async fn insert_customers(url: &str, count: usize, at: DateTime<Utc>) {
    let mut statements = Vec::new();
    let ids: Vec<usize> = (1..=count).collect();
    for chunk in ids.chunks(2_000) {
        let users: Vec<String> = chunk
            .iter()
            .map(|id| {
                format!(
                    "({id}, 'c{id}@example.com', 'c{id}@example.com', 'customer', 'active', {t}, {t})",
                    t = sql_time(at)
                )
            })
            .collect();
        let wallets: Vec<String> = chunk
            .iter()
            .map(|id| {
                format!(
                    "({}, 'wallet', {id}, 0, {})",
                    wallet_of(*id as i64),
                    sql_time(at)
                )
            })
            .collect();
        statements.push(format!(
            "INSERT INTO users (id, email, email_key, role, status, email_verified_at, created_at) VALUES {};\n\
             INSERT INTO accounts (id, kind, user_id, balance, created_at) VALUES {};",
            users.join(", "),
            wallets.join(", ")
        ));
    }
    execute(url, &statements.join("\n")).await;
}

/// The wallet [`insert_customers`] gives user `user`.
pub fn wallet_of(user: i64) -> i64 {
    1_000 + user
}
