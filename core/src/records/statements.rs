//! Which postings a statement shows. Statements themselves are [`crate::statements`].

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use crate::error::{Error, Result};
use crate::records::ledger::PostingKind;

/// Which postings of a wallet a statement shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementFilter {
    pub kind: Option<PostingKind>,
    /// From this instant, inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Until this instant, exclusive.
    pub until: Option<DateTime<Utc>>,
}

impl StatementFilter {
    /// A filter from the text of `kind`, `from` and `to` (whole UTC days, `to` included);
    /// empty text filters nothing.
    pub fn parse(kind: Option<&str>, from: Option<&str>, to: Option<&str>) -> Result<Self> {
        let kind = match kind.map(str::trim).filter(|kind| !kind.is_empty()) {
            None => None,
            Some(kind) => Some(PostingKind::parse(kind)?),
        };
        Ok(Self {
            kind,
            from: parse_date("from", from)?.map(day_start),
            until: parse_date("to", to)?.map(|day| day_start(day) + Duration::days(1)),
        })
    }
}

/// A date typed in a filter (`YYYY-MM-DD`), or nothing when left empty.
pub fn parse_date(field: &'static str, text: Option<&str>) -> Result<Option<NaiveDate>> {
    match text.map(str::trim).filter(|text| !text.is_empty()) {
        None => Ok(None),
        // Years 1970 to 9999: anything else is no date of a transaction, and keeps the day
        // arithmetic far from chrono's limits.
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .ok()
            .filter(|day| (1970..=9999).contains(&day.year()))
            .map(Some)
            .ok_or_else(|| {
                Error::invalid(field, format!("{text:?} is not a date like 2026-01-31"))
            }),
    }
}

/// The first instant of a UTC day.
pub fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}
