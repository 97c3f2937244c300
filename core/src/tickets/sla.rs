//! The SLA clock: a due time on every ticket, a warning to staff before it passes and an
//! escalation when it does, the auto-close of tickets the customer left, and the report of
//! first-response and resolution times. The rules are plain functions of a ticket and the
//! time; [`super::Tickets::run_due`] applies them, each step once (its column is set with the
//! change, and a step whose column is set is never taken again).
//!
//! Deadlines: while no staff member has answered, `due_at` is the first response's
//! (`created_at + first_response[priority]`); after it, the resolution's (`created_at +
//! resolution[priority]`, or from the reopen for a reopened ticket). Only tickets waiting on
//! staff (open, awaiting staff) are warned and escalated: while the ticket awaits the customer
//! the clock runs but nobody is paged for it.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::config::TicketsConfig;
use crate::ids::UserId;
use crate::records::tickets::{Priority, Ticket, TicketStatus};

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
    /// Every department with tickets in the period, by name.
    pub by_department: Vec<DepartmentSla>,
    /// By assignee; unassigned tickets count only in `overall` and their department.
    pub by_staff: Vec<StaffSla>,
}

/// A step [`super::Tickets::run_due`] takes on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueStep {
    /// Staff are told the deadline comes close.
    SlaWarning,
    /// The deadline passed: escalated, pinging the configured role.
    SlaBreach,
    /// The customer is told the ticket closes unless they answer.
    AutocloseWarning,
    /// Nobody answered after the warning: closed.
    Autoclose,
}

fn span(duration: std::time::Duration) -> Duration {
    Duration::from_std(duration).unwrap_or(Duration::MAX / 4)
}

/// The first-response deadline of a ticket opened at `from`.
pub fn first_response_due(
    config: &TicketsConfig,
    from: DateTime<Utc>,
    priority: Priority,
) -> DateTime<Utc> {
    from + span(config.first_response.of(priority))
}

/// The resolution deadline counted from `from`.
pub fn resolution_due(
    config: &TicketsConfig,
    from: DateTime<Utc>,
    priority: Priority,
) -> DateTime<Utc> {
    from + span(config.resolution.of(priority))
}

/// The deadline a ticket has now, counted from its creation (see the module comment).
pub fn due_for(config: &TicketsConfig, ticket: &Ticket) -> Option<DateTime<Utc>> {
    match (ticket.status, ticket.first_response_at) {
        (TicketStatus::Closed, _) => None,
        (_, None) => Some(first_response_due(
            config,
            ticket.created_at,
            ticket.priority,
        )),
        (_, Some(_)) => Some(resolution_due(config, ticket.created_at, ticket.priority)),
    }
}

/// The step due on `ticket` at `now`, if any.
pub fn step_for(config: &TicketsConfig, ticket: &Ticket, now: DateTime<Utc>) -> Option<DueStep> {
    match ticket.status {
        TicketStatus::Closed => None,
        TicketStatus::AwaitingCustomer => match ticket.autoclose_warned_at {
            Some(warned) if warned + span(config.autoclose_after) <= now => {
                Some(DueStep::Autoclose)
            }
            Some(_) => None,
            None if ticket.last_activity_at + span(config.autoclose_warn_after) <= now => {
                Some(DueStep::AutocloseWarning)
            }
            None => None,
        },
        TicketStatus::Open | TicketStatus::AwaitingStaff => {
            let due = ticket.due_at?;
            if ticket.sla_breached_at.is_some() {
                None
            } else if due <= now {
                Some(DueStep::SlaBreach)
            } else if ticket.sla_warned_at.is_none() && due - span(config.warn_before) <= now {
                Some(DueStep::SlaWarning)
            } else {
                None
            }
        }
    }
}

/// The value at nearest rank `ceil(percent/100 · n)` of `sorted`.
pub fn nearest_rank(sorted: &[i64], percent: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn timing(mut seconds: Vec<i64>) -> Timing {
    seconds.sort_unstable();
    Timing {
        count: u64::try_from(seconds.len()).unwrap_or(u64::MAX),
        median_secs: nearest_rank(&seconds, 50),
        p90_secs: nearest_rank(&seconds, 90),
    }
}

/// The figures of a group of tickets.
pub fn figures<'a>(tickets: impl Iterator<Item = &'a Ticket>) -> SlaFigures {
    let mut count = 0_u64;
    let mut breached = 0_u64;
    let mut first = Vec::new();
    let mut resolution = Vec::new();
    for ticket in tickets {
        count += 1;
        if ticket.sla_breached_at.is_some() {
            breached += 1;
        }
        if let Some(at) = ticket.first_response_at {
            first.push((at - ticket.created_at).num_seconds());
        }
        if let (TicketStatus::Closed, Some(at)) = (ticket.status, ticket.closed_at) {
            resolution.push((at - ticket.created_at).num_seconds());
        }
    }
    SlaFigures {
        tickets: count,
        first_response: timing(first),
        resolution: timing(resolution),
        breached,
    }
}

/// The report over `tickets` (opened in `[from, to)`); `name` names staff members.
pub fn report(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tickets: &[Ticket],
    name: impl Fn(UserId) -> String,
) -> SlaReport {
    let mut departments: BTreeMap<&str, Vec<&Ticket>> = BTreeMap::new();
    let mut staff: BTreeMap<UserId, Vec<&Ticket>> = BTreeMap::new();
    for ticket in tickets {
        departments
            .entry(ticket.department.as_str())
            .or_default()
            .push(ticket);
        if let Some(assignee) = ticket.assignee {
            staff.entry(assignee).or_default().push(ticket);
        }
    }
    SlaReport {
        from,
        to,
        overall: figures(tickets.iter()),
        by_department: departments
            .into_iter()
            .map(|(department, group)| DepartmentSla {
                department: department.to_owned(),
                figures: figures(group.into_iter()),
            })
            .collect(),
        by_staff: staff
            .into_iter()
            .map(|(member, group)| StaffSla {
                staff: member,
                name: name(member),
                figures: figures(group.into_iter()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
