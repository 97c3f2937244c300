//! The PostgreSQL engine: one pool, READ COMMITTED. The billing tick's batches, resizes and the
//! monthly credit take the tick's advisory lock; see `sql/billing/` for what else writes
//! wallets.

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;

use super::config::DatabaseConfig;
use super::sql::{Engine, SqlStore};
use super::{EngineKind, OpenError};

static MIGRATOR: Migrator = sqlx::migrate!("../migrations/postgres");

impl Engine for Postgres {
    const KIND: EngineKind = EngineKind::Postgres;

    const BEGIN_WRITE: &'static str = "BEGIN";

    fn is_transient(error: &sqlx::Error) -> bool {
        // serialization_failure and deadlock_detected: safe to run the transaction again.
        error
            .as_database_error()
            .and_then(|e| e.code())
            .is_some_and(|code| code == "40001" || code == "40P01")
    }

    fn hour_of(column: &str) -> String {
        format!("CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 3600) AS BIGINT)")
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    const FOR_UPDATE: &'static str = " FOR UPDATE";
}

pub(super) async fn open(
    url: &str,
    config: &DatabaseConfig,
) -> Result<SqlStore<Postgres>, OpenError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(config.connect_timeout)
        .connect(url)
        .await
        .map_err(OpenError::Connect)?;
    // The migrator takes an advisory lock, so replicas starting together migrate once.
    MIGRATOR.run(&pool).await.map_err(OpenError::Migrate)?;
    SqlStore::new(pool.clone(), pool)
        .await
        .map_err(OpenError::Connect)
}
