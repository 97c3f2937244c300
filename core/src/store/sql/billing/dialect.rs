//! What hourly billing's set-based SQL spells differently on each engine. Only the billing
//! store uses these; what every store needs is [`Engine`].

use sqlx::{Postgres, Sqlite};

use crate::store::sql::Engine;

pub(crate) trait BillingDialect: Engine {
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

    /// Run first in each billing transaction (the tick's lock among them).
    const BATCH_SETUP: &'static [&'static str];

    /// Creates (if need be) the connection's temporary table `billing_due`
    /// (id, wallet, h, amount, idempotency_key), empty at the start of each transaction.
    const DUE_TABLE: &'static str;
}

impl BillingDialect for Sqlite {
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

    const BATCH_SETUP: &'static [&'static str] = &[];

    const DUE_TABLE: &'static str = "CREATE TEMP TABLE IF NOT EXISTS billing_due \
         (id INTEGER, wallet INTEGER, h INTEGER, amount INTEGER, idempotency_key TEXT)";
}

impl BillingDialect for Postgres {
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
