//! The tickets' SLA report over a period of days as people type them, for the portal and the
//! API alike: `from` and `to` are dates (YYYY-MM-DD, UTC), both days included, the last 30 days
//! by default (the statements' own reading of a period).

use chrono::{Duration, NaiveDate, NaiveTime};
use hostdeck_core::Core;
use hostdeck_core::tickets::SlaReport;

use crate::auth::Caller;

/// The report, and the first and last day it covers.
pub async fn of_days(
    core: &Core,
    caller: &Caller,
    from: Option<&str>,
    to: Option<&str>,
) -> hostdeck_core::Result<(NaiveDate, NaiveDate, SlaReport)> {
    let (first, last) = core.statements.period_of(from, to)?;
    let start = first.and_time(NaiveTime::MIN).and_utc();
    let end = (last + Duration::days(1))
        .and_time(NaiveTime::MIN)
        .and_utc();
    let report = core.tickets.report(caller.actor(), start, end).await?;
    Ok((first, last, report))
}
