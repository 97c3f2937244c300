//! The SQLite engine: one writer connection (SQLite allows one writer at a time, so queueing in
//! the pool beats spinning on SQLITE_BUSY), many readers, WAL, full fsync on commit.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::config::DatabaseConfig;
use super::sql::{Engine, SqlStore};
use super::{EngineKind, OpenError};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/sqlite");

impl Engine for Sqlite {
    const KIND: EngineKind = EngineKind::Sqlite;
    // Takes the write lock at BEGIN, so a transaction never fails half-way on a busy database.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn is_transient(error: &sqlx::Error) -> bool {
        // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes: another process
        // (say `hostdeck billing tick` beside `serve`) held the lock past busy_timeout.
        database_code(error)
            .is_some_and(|code| matches!(code.parse::<i64>().map(|c| c & 0xff), Ok(5 | 6)))
    }

    fn hour_of(column: &str) -> String {
        format!("(unixepoch({column}) / 3600)")
    }

    fn in_ids(column: &str, param: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each({param}))")
    }

    fn ids_text(ids: &[i64]) -> String {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!("[{}]", list.join(","))
    }

    const GREATEST: &'static str = "MAX";
    const LEAST: &'static str = "MIN";
    // SQLite has no generate_series outside its shell: the hours are counted by a recursive
    // CTE, each with its label made once rather than once per server.
    const HOURS_CTE: &'static str = ", hour_labels(h, label) AS (\
           SELECT MIN(from_h), strftime('%Y-%m-%dT%H:00Z', MIN(from_h) * 3600, 'unixepoch') FROM claimed \
           UNION ALL SELECT h + 1, strftime('%Y-%m-%dT%H:00Z', (h + 1) * 3600, 'unixepoch') FROM hour_labels \
           WHERE h + 1 < (SELECT MAX(to_h) FROM claimed))";
    // `claimed` is read twice (by `hour_labels` and by `hours`) and would be computed for each.
    const MATERIALIZED: &'static str = "MATERIALIZED ";
    const HOURS_JOIN: &'static str = "JOIN hour_labels o ON o.h >= c.from_h AND o.h < c.to_h";
    const HOUR: &'static str = "o.h";
    const HOUR_LABEL: &'static str = "o.label";
    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    // One writer: `BEGIN IMMEDIATE` already keeps every other writer out.
    const FOR_UPDATE: &'static str = "";
    const BATCH_SETUP: &'static [&'static str] = &[];
    const DUE_TABLE: &'static str = "CREATE TEMP TABLE IF NOT EXISTS billing_due \
         (id INTEGER, wallet INTEGER, h INTEGER, amount INTEGER, idempotency_key TEXT)";
}

fn database_code(error: &sqlx::Error) -> Option<String> {
    error
        .as_database_error()
        .and_then(|e| e.code())
        .map(|code| code.into_owned())
}

pub(super) async fn open(
    url: &str,
    config: &DatabaseConfig,
) -> Result<SqlStore<Sqlite>, OpenError> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(OpenError::Connect)?
        .create_if_missing(true)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    if in_memory {
        // An in-memory database lives in its connection: one connection serves everything and
        // is never closed while the store lives.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(config.connect_timeout)
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        MIGRATOR.run(&pool).await.map_err(OpenError::Migrate)?;
        return SqlStore::new(pool.clone(), pool)
            .await
            .map_err(OpenError::Connect);
    }
    let filename = options.get_filename().to_owned();
    if let Some(parent) = filename.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private_files::create_dir_all(parent).map_err(|error| {
            OpenError::Prepare(format!("cannot create {}: {error}", parent.display()))
        })?;
    }
    // Created here, 0600, before SQLite opens it: SQLite gives its -wal and -shm files the
    // database file's own mode.
    crate::private_files::create_file_if_absent(&filename).map_err(|error| {
        OpenError::Prepare(format!("cannot create {}: {error}", filename.display()))
    })?;
    if crate::private_files::readable_by_others(&filename) {
        tracing::warn!(
            database = %filename.display(),
            "the database file can be read by other users of this machine; make it 0600 (chmod 600) \
             and its folder 0700"
        );
    }
    let options = options
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(config.connect_timeout.max(Duration::from_secs(30)))
        .connect_with(options.clone())
        .await
        .map_err(OpenError::Connect)?;
    MIGRATOR.run(&writer).await.map_err(OpenError::Migrate)?;
    let reader = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.connect_timeout)
        .connect_with(options.read_only(true))
        .await
        .map_err(OpenError::Connect)?;
    SqlStore::new(writer, reader)
        .await
        .map_err(OpenError::Connect)
}
