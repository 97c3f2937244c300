//! The SQL text the tick and the balance watch run, built once per engine: the charges of a
//! batch of servers, which servers are due, and the window of ids a batch walks.

use super::BillingDialect;
use crate::records::meter::UNBILLABLE_STATES;

/// The plan is pinned by the shape of the SQL rather than left to statistics (fresh tables and
/// generic plans guess wrong): wallets, and posted keys when they are looked for, are looked up
/// per row through their unique indexes, as scalar subqueries, never as joins the planner could
/// turn into scans.
///
/// The charges of the due servers with ids after `$1` up to `$4` (`$2` the current hour's
/// number, `$5` its start, `$3` the catch-up limit in hours), as the CTEs `claimed`, `hours`,
/// `charges` and `due` (the charges to post, with their wallet; `posted` says whether keys
/// posted already are looked for). The rule is in `crate::billing`; its Rust twin is
/// `crate::records::meter::ServerHistory::charges`.
pub(super) fn charges_cte<DB: BillingDialect>(posted: Posted) -> String {
    let hour = DB::HOUR;
    format!(
        "WITH RECURSIVE claimed AS {materialized}(\
           SELECT s.id, s.user_id, s.state, s.rate_running, s.rate_stopped, s.rate_hours, \
             {since} AS since_h, \
             {greatest}({billed}, $2 - $3, {created}) AS from_h, \
             CASE WHEN s.deleted_at IS NULL THEN $2 ELSE {least}($2, {deleted} + 1) END AS to_h, \
             {suspended} AS suspended_h, \
             EXISTS (SELECT 1 FROM server_events e WHERE e.server_id = s.id AND e.at >= b.billed_until) AS changed, \
             (SELECT w.id FROM accounts w WHERE w.user_id = s.user_id) AS wallet \
           FROM servers s JOIN server_billing b ON b.server_id = s.id \
           WHERE s.id > $1 AND s.id <= $4 AND {due}\
         ){hours_cte}, \
         hours AS (\
           SELECT c.id, c.wallet, c.rate_running, c.rate_stopped, c.rate_hours, {hour} AS h, {label} AS label, \
             {greatest}({hour} - c.since_h, 0) AS k, \
             CASE \
               WHEN c.suspended_h IS NOT NULL AND c.suspended_h < {hour} THEN 0 \
               WHEN NOT c.changed THEN CASE WHEN c.state = 'running' AND c.suspended_h IS NULL THEN 1 ELSE 0 END \
               WHEN COALESCE((SELECT e.state FROM server_events e WHERE e.server_id = c.id AND {event_hour} < {hour} \
                              ORDER BY e.at DESC, e.id DESC LIMIT 1), c.state) = 'running' THEN 1 \
               WHEN EXISTS (SELECT 1 FROM server_events e WHERE e.server_id = c.id AND {event_hour} = {hour} \
                            AND e.state = 'running') THEN 1 \
               ELSE 0 END AS running \
           FROM claimed c {hours_join}\
         ), \
         charges AS (\
           SELECT hr.id, hr.wallet, hr.h, \
             CASE WHEN hr.running = 1 \
               THEN (hr.k + 1) * hr.rate_running / hr.rate_hours - hr.k * hr.rate_running / hr.rate_hours \
               ELSE (hr.k + 1) * hr.rate_stopped / hr.rate_hours - hr.k * hr.rate_stopped / hr.rate_hours END AS amount, \
             'usage:' || CAST(hr.id AS TEXT) || ':' || hr.label AS idempotency_key \
           FROM hours hr\
         ), \
         due AS (\
           SELECT c.id, c.wallet, c.h, c.amount, c.idempotency_key FROM charges c \
           WHERE c.amount > 0{not_posted}\
         ) ",
        not_posted = match posted {
            Posted::Unchecked => "",
            Posted::LeftOut => {
                " AND (SELECT p.id FROM postings p WHERE p.idempotency_key = c.idempotency_key) IS NULL"
            }
        },
        materialized = DB::MATERIALIZED,
        since = DB::hour_of("s.rate_since"),
        greatest = DB::GREATEST,
        least = DB::LEAST,
        billed = DB::hour_of("b.billed_until"),
        created = DB::hour_of("s.created_at"),
        deleted = DB::hour_of("s.deleted_at"),
        suspended = DB::hour_of("s.suspended_at"),
        due = is_due("s.", "b.", "$5"),
        hours_cte = DB::HOURS_CTE,
        hours_join = DB::HOURS_JOIN,
        event_hour = DB::hour_of("e.at"),
        label = DB::HOUR_LABEL,
    )
}

/// What the charges do about hours whose usage key is posted already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Posted {
    /// Nothing: the UNIQUE key makes the insert fail instead. A server's hours are posted when
    /// its `billed_until` moves past them, in the same transaction, so a due hour has no posting
    /// and a look-up per charge (a sixth of the charges' time on SQLite) finds nothing.
    Unchecked,
    /// Each key is looked up and the posted ones are left out: the batch runs this way after
    /// the UNIQUE key refused one, so that a `billed_until` behind the ledger (a database put
    /// back from a backup, say) bills each hour once and does not stop the tick.
    LeftOut,
}

/// Whether a server (columns of `servers` prefixed by `server`, say `s.`, and of its
/// `server_billing` row by `billing`) has hours to bill before the time `until` (a parameter,
/// the start of an hour): not billed up to it, in a billable state, and not billed past its
/// deletion. The claim, the charges and the move of `billed_until` all ask this, so that they
/// agree on the servers of a batch.
pub(super) fn is_due(server: &str, billing: &str, until: &str) -> String {
    format!(
        "{billing}billed_until < {until} AND {server}state NOT IN ({unbillable}) \
         AND ({server}deleted_at IS NULL OR {billing}billed_until <= {server}deleted_at)",
        unbillable = unbillable_states(),
    )
}

/// The next `limit` servers (a parameter) after server `after` in id order, as `w`, with the
/// columns [`is_due`] asks for, unprefixed: a walk of the primary key.
pub(super) fn window_of(after: &str, limit: &str) -> String {
    format!(
        "(SELECT s.id, b.billed_until, s.deleted_at, s.state \
          FROM servers s JOIN server_billing b ON b.server_id = s.id \
          WHERE s.id > {after} ORDER BY s.id LIMIT {limit}) AS w"
    )
}

/// Per server of the next window of `$4` servers after `$1` in id order, due or not (`$2` the
/// current hour's number, `$5` its start, `$3` the oldest hour billed): `id`, `due` (1 or 0), and the hours it
/// is billed and skipped now. A walk of the primary key whatever the planner knows (a filter
/// inside the LIMIT makes PostgreSQL sort the whole table when it has no statistics yet).
pub(super) fn window_sql<DB: BillingDialect>() -> String {
    format!(
        "SELECT id, due, {greatest}(to_h - {greatest}(billed_h, $3), 0) AS hours, \
           {greatest}({least}(to_h, $3) - billed_h, 0) AS skipped \
         FROM (SELECT id, {billed} AS billed_h, \
                 CASE WHEN deleted_at IS NULL THEN $2 ELSE {least}($2, {deleted} + 1) END AS to_h, \
                 CAST(CASE WHEN {due} THEN 1 ELSE 0 END AS BIGINT) AS due \
               FROM {window}) AS s",
        greatest = DB::GREATEST,
        least = DB::LEAST,
        billed = DB::hour_of("billed_until"),
        deleted = DB::hour_of("deleted_at"),
        due = is_due("", "", "$5"),
        window = window_of("$1", "$4"),
    )
}

/// Each customer's balance, an upper bound of their burn per hour (`burn_ceiling`: each
/// server's running or stopped rate per hour rounded up to a micro-unit, so the candidates
/// include everybody [`crate::burn_rate::is_low`] would call low) and balance steps; callers add
/// the WHERE. Which of them is low is decided in Rust, at the exact rate.
pub(super) fn watch_select() -> String {
    format!(
        "SELECT u.id, u.email, a.balance, \
       st.low_notice_at, st.negative_since, st.reminder_at, st.suspended_at \
     FROM users u JOIN accounts a ON a.user_id = u.id \
     LEFT JOIN (SELECT s.user_id, CAST(SUM((CASE WHEN s.state = 'running' AND s.suspended_at IS NULL \
                  THEN s.rate_running ELSE s.rate_stopped END + s.rate_hours - 1) / s.rate_hours) AS BIGINT) AS burn_ceiling \
                FROM servers s WHERE s.deleted_at IS NULL AND s.state NOT IN ({}) \
                GROUP BY s.user_id) b ON b.user_id = u.id \
     LEFT JOIN billing_states st ON st.user_id = u.id",
        unbillable_states()
    )
}

/// [`UNBILLABLE_STATES`] as an SQL list: `'creating', 'failed'`.
pub(crate) fn unbillable_states() -> String {
    UNBILLABLE_STATES
        .iter()
        .map(|state| format!("'{state}'"))
        .collect::<Vec<_>>()
        .join(", ")
}
