//! The hour arithmetic of metering: hour numbers, the cost of one hour of a rate, and the
//! ledger keys of usage postings. The store's SQL and the rules in [`crate::billing`] both
//! use these.

use chrono::{DateTime, TimeZone, Utc};

use crate::ids::ServerId;

/// The cost of hour `k` (0-based, counted from the rate's start) of a rate of `rate`
/// micro-units per `rate_hours` hours. The sum over hours 0..n is `floor(n·rate/rate_hours)`.
pub fn hour_cost(rate: i64, rate_hours: i64, k: i64) -> i64 {
    let rate = i128::from(rate);
    let hours = i128::from(rate_hours.max(1));
    let k = i128::from(k.max(0));
    let cost = (k + 1) * rate / hours - k * rate / hours;
    i64::try_from(cost).unwrap_or(i64::MAX)
}

pub const SECONDS_PER_HOUR: i64 = 3600;

/// The number of the UTC hour `at` falls in (hours since 1970-01-01T00:00Z).
pub fn hour_number(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(SECONDS_PER_HOUR)
}

/// The start of hour number `hour`.
pub fn hour_start(hour: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(hour * SECONDS_PER_HOUR, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

/// The start of the UTC hour `at` is in.
pub fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    hour_start(hour_number(at))
}

/// The ledger key of one hour of a server, `usage:{server}:{hour}`, the hour as its UTC start
/// (`2026-11-21T09:00Z`): the server service charges the first hour with it at creation, the
/// tick every later one, so an hour is charged once.
pub fn usage_key(id: ServerId, hour_start: DateTime<Utc>) -> String {
    format!("usage:{id}:{}", hour_start.format("%Y-%m-%dT%H:00Z"))
}

/// The ledger key that gives back the usage posting of key `key` (`usage:{server}:{hour}`, or
/// a top-up's `...+N`): `usage-refund:{server}:{hour}`, so each charge is refunded at most once.
pub fn refund_key(key: &str) -> String {
    format!("usage-refund:{}", key.strip_prefix("usage:").unwrap_or(key))
}

/// The server and hour a usage posting's key names (the inverse of [`usage_key`]; a resize's
/// top-up of the hour, `usage:{server}:{hour}+{n}`, names the same hour).
pub fn usage_of_key(key: &str) -> Option<(ServerId, DateTime<Utc>)> {
    let (id, hour) = key.strip_prefix("usage:")?.split_once(':')?;
    let hour = chrono::NaiveDateTime::parse_from_str(hour.get(..17)?, "%Y-%m-%dT%H:%MZ").ok()?;
    Some((ServerId(id.parse().ok()?), hour.and_utc()))
}

/// What a usage posting names as its reference (`server:{id}`).
pub fn posting_reference(id: ServerId) -> String {
    format!("server:{id}")
}

/// States in which a server is not billed by the tick at all.
pub const UNBILLABLE_STATES: [&str; 2] = ["creating", "failed"];
