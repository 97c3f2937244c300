//! The SLA clock: a due time on every ticket, a warning to staff before it passes and an
//! escalation when it does, the auto-close of tickets the customer left, and the report of
//! first-response and resolution times.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::UserId;

/// What one [`super::Tickets::run_due`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DueOutcome {
    pub sla_warnings: u64,
    pub sla_breaches: u64,
    pub autoclose_warnings: u64,
    pub autoclosed: u64,
}

/// How long something took over a set of tickets, in seconds. Percentiles are nearest-rank:
/// the median is the value at rank ceil(n/2), the 90th percentile at ceil(0.9 n).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// How many tickets had it (a first response, a close).
    pub count: u64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// First-response and resolution times of a group of tickets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SlaFigures {
    /// Tickets opened in the period.
    pub tickets: u64,
    pub first_response: Timing,
    pub resolution: Timing,
    /// Tickets whose deadline passed (escalated).
    pub breached: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DepartmentSla {
    pub department: String,
    pub figures: SlaFigures,
}

/// The tickets assigned to one staff member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaffSla {
    pub staff: UserId,
    pub name: String,
    pub figures: SlaFigures,
}

/// The report over the tickets opened in `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaReport {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub overall: SlaFigures,
    pub by_department: Vec<DepartmentSla>,
    /// By assignee; unassigned tickets count only in `overall` and their department.
    pub by_staff: Vec<StaffSla>,
}
