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

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }

    // One writer: `BEGIN IMMEDIATE` already keeps every other writer out.
    const FOR_UPDATE: &'static str = "";
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
