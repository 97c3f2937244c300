//! The PostgreSQL engine: one pool, READ COMMITTED. The billing tick's batches, resizes and the
//! monthly credit take the tick's advisory lock; see `sql/billing.rs` for what else writes
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

    fn in_ids(column: &str, param: &str) -> String {
        // A semi-join, not `= ANY(array)`: a sequential scan filtered by a 5,000-element array
        // (what a table without statistics gets) costs rows × elements.
        format!("{column} IN (SELECT unnest(CAST({param} AS BIGINT[])))")
    }

    fn ids_text(ids: &[i64]) -> String {
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        format!("{{{}}}", list.join(","))
    }

    const GREATEST: &'static str = "GREATEST";
    const LEAST: &'static str = "LEAST";
    const HOURS_CTE: &'static str = "";
    // Read once, so inlined into the query that reads it.
    const MATERIALIZED: &'static str = "";
    const HOURS_JOIN: &'static str =
        "CROSS JOIN LATERAL generate_series(c.from_h, c.to_h - 1) AS g(h)";
    const HOUR: &'static str = "g.h";
    const HOUR_LABEL: &'static str =
        "to_char(to_timestamp(g.h * 3600) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24\":00Z\"')";
    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }

    const FOR_UPDATE: &'static str = " FOR UPDATE";
    // The tick's statements look expensive to the planner (a series per server), which would
    // switch on JIT compilation: tens of milliseconds per statement for nothing.
    // (And "already exists, skipping" notices for the temporary table are not worth a log line.)
    // The advisory lock is the tick's: held until the batch's transaction ends, so that
    // replicas run their batches one after the other (its key is "hostdeck" in ASCII).
    const BATCH_SETUP: &'static [&'static str] = &[
        "SET LOCAL jit = off",
        "SET LOCAL client_min_messages = warning",
        "SELECT pg_advisory_xact_lock(CAST(x'686f73746465636b' AS BIGINT))",
    ];
    const DUE_TABLE: &'static str = "CREATE TEMP TABLE IF NOT EXISTS billing_due \
         (id BIGINT, wallet BIGINT, h BIGINT, amount BIGINT, idempotency_key TEXT) ON COMMIT DELETE ROWS";
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
