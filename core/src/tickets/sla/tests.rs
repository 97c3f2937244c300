//! The SLA rules on plain tickets and a moved clock.

use chrono::TimeZone;

use super::*;

fn at(hour: i64) -> DateTime<Utc> {
    chrono::Utc
        .with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("a time")
        + Duration::hours(hour)
}

fn ticket(priority: Priority) -> Ticket {
    let config = TicketsConfig::default();
    Ticket {
        priority,
        due_at: Some(first_response_due(&config, at(0), priority)),
        ..Ticket::example(at(0))
    }
}

#[test]
fn deadlines_follow_priority_and_the_first_response() {
    let config = TicketsConfig::default();
    let mut high = ticket(Priority::High);
    assert_eq!(due_for(&config, &high), Some(at(2)));
    high.first_response_at = Some(at(1));
    assert_eq!(due_for(&config, &high), Some(at(24)));
    high.status = TicketStatus::Closed;
    assert_eq!(due_for(&config, &high), None);
}

#[test]
fn warning_then_breach_each_once() {
    let config = TicketsConfig::default();
    let mut high = ticket(Priority::High);
    assert_eq!(step_for(&config, &high, at(1)), None);
    let warn_at = at(2) - Duration::minutes(30);
    assert_eq!(step_for(&config, &high, warn_at), Some(DueStep::SlaWarning));
    high.sla_warned_at = Some(warn_at);
    assert_eq!(
        step_for(&config, &high, warn_at + Duration::minutes(1)),
        None
    );
    assert_eq!(step_for(&config, &high, at(2)), Some(DueStep::SlaBreach));
    high.sla_breached_at = Some(at(2));
    assert_eq!(step_for(&config, &high, at(50)), None);
    // Awaiting the customer: nobody is paged.
    let mut waiting = ticket(Priority::High);
    waiting.status = TicketStatus::AwaitingCustomer;
    assert_eq!(step_for(&config, &waiting, at(3)), None);
}

#[test]
fn autoclose_warns_then_closes() {
    let config = TicketsConfig::default();
    let mut quiet = ticket(Priority::Normal);
    quiet.status = TicketStatus::AwaitingCustomer;
    assert_eq!(step_for(&config, &quiet, at(71)), None);
    assert_eq!(
        step_for(&config, &quiet, at(72)),
        Some(DueStep::AutocloseWarning)
    );
    quiet.autoclose_warned_at = Some(at(72));
    assert_eq!(step_for(&config, &quiet, at(119)), None);
    assert_eq!(step_for(&config, &quiet, at(120)), Some(DueStep::Autoclose));
}

#[test]
fn nearest_rank_percentiles() {
    let values: Vec<i64> = (1..=10).collect();
    assert_eq!(nearest_rank(&values, 50), Some(5));
    assert_eq!(nearest_rank(&values, 90), Some(9));
    assert_eq!(nearest_rank(&[7], 90), Some(7));
    assert_eq!(nearest_rank(&[], 50), None);
    assert_eq!(nearest_rank(&[1, 2, 3], 50), Some(2));
}

#[test]
fn the_report_groups_by_department_and_assignee() {
    let mut tickets = Vec::new();
    for (minutes, department, assignee) in [
        (10, "billing", Some(UserId(9))),
        (20, "billing", Some(UserId(9))),
        (30, "technical", None),
        (40, "technical", Some(UserId(8))),
    ] {
        let mut one = ticket(Priority::Normal);
        one.department = department.into();
        one.assignee = assignee;
        one.first_response_at = Some(one.created_at + Duration::minutes(minutes));
        tickets.push(one);
    }
    tickets[0].status = TicketStatus::Closed;
    tickets[0].closed_at = Some(at(5));
    let report = report(at(0), at(24), &tickets, |user| format!("staff {user}"));
    assert_eq!(report.overall.tickets, 4);
    assert_eq!(report.overall.first_response.median_secs, Some(20 * 60));
    assert_eq!(report.overall.first_response.p90_secs, Some(40 * 60));
    assert_eq!(report.overall.resolution.count, 1);
    assert_eq!(report.overall.resolution.median_secs, Some(5 * 3600));
    let departments: Vec<&str> = report
        .by_department
        .iter()
        .map(|group| group.department.as_str())
        .collect();
    assert_eq!(departments, ["billing", "technical"]);
    assert_eq!(report.by_staff.len(), 2);
    assert_eq!(report.by_staff[1].staff, UserId(9));
    assert_eq!(report.by_staff[1].figures.tickets, 2);
    assert_eq!(report.by_staff[1].name, "staff 9");
}
