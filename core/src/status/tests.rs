//! The pure rules of the report: monitors to a finding, the headline, and what incidents and
//! maintenance mode do to a component.

use chrono::{DateTime, Utc};

use super::betterstack::{Monitor, MonitorStatus, Reading, SourceFailure};
use super::config::{ComponentConfig, MonitorMapping};
use super::report::{Finding, Inputs, Reason, Snapshot, compose, from_monitors, headline};
use crate::maintenance::MaintenanceState;
use crate::records::status::{
    ComponentState, Impact, Incident, IncidentId, IncidentKind, IncidentStatus,
};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().expect("a time")
}

fn monitor(id: &str, status: MonitorStatus, checked: &str) -> Monitor {
    Monitor {
        id: id.into(),
        group: Some("g".into()),
        status,
        last_checked_at: Some(at(checked)),
        check_frequency: Some(60),
    }
}

fn reading(monitors: Vec<Monitor>) -> Result<Reading, SourceFailure> {
    Ok(Reading {
        monitors,
        paused_groups: Vec::new(),
        incident_monitors: Vec::new(),
        page_reports: Vec::new(),
    })
}

#[test]
fn monitors_make_a_finding_and_only_fresh_up_is_operational() {
    let now = at("2026-12-07T10:00:00Z");
    let group = MonitorMapping {
        monitors: Vec::new(),
        monitor_groups: vec!["g".into()],
    };
    let fresh = "2026-12-07T09:59:00Z";
    let up = |id| monitor(id, MonitorStatus::Up, fresh);
    let down = |id| monitor(id, MonitorStatus::Down, fresh);
    let state = |monitors| from_monitors(&group, &reading(monitors), now);
    assert_eq!(state(vec![up("a"), up("b")]), Finding::OPERATIONAL);
    assert_eq!(
        state(vec![up("a"), down("b")]).state,
        ComponentState::PartialOutage
    );
    assert_eq!(
        state(vec![down("a"), down("b")]).state,
        ComponentState::MajorOutage
    );
    assert_eq!(
        state(vec![
            up("a"),
            monitor("b", MonitorStatus::Up, "2026-12-07T09:00:00Z")
        ]),
        Finding::unknown(Reason::MonitorStale)
    );
    for status in [
        MonitorStatus::Paused,
        MonitorStatus::Pending,
        MonitorStatus::Other,
    ] {
        assert_eq!(
            state(vec![up("a"), monitor("b", status, fresh)]).state,
            ComponentState::Unknown
        );
    }
    assert_eq!(state(Vec::new()), Finding::unknown(Reason::NotMonitored));
    assert_eq!(
        from_monitors(&group, &Err(SourceFailure::Refused), now),
        Finding::unknown(Reason::MonitoringRefused)
    );
}

#[test]
fn the_headline_says_all_operational_only_when_all_are_known_and_operational() {
    use ComponentState::*;
    assert_eq!(
        headline(&[Operational, Operational]),
        "All systems operational"
    );
    assert_eq!(headline(&[Operational, Unknown]), "Status partly unknown");
    assert_eq!(headline(&[Unknown, Unknown]), "Status unknown");
    assert_eq!(headline(&[]), "Status unknown");
    assert_eq!(headline(&[Unknown, MajorOutage]), "Major outage");
    assert_eq!(
        headline(&[Operational, Maintenance]),
        "Maintenance in progress"
    );
}

#[test]
fn incidents_and_maintenance_mode_act_on_the_components_they_name() {
    let now = at("2026-12-07T10:00:00Z");
    let component = |id: &str, maintenance_mode| ComponentConfig {
        id: id.into(),
        name: id.into(),
        group: None,
        checks: Vec::new(),
        maintenance_mode,
    };
    let components = [component("a", true), component("b", false)];
    let snapshot = Snapshot {
        computed_at: now,
        components: vec![
            ("a".into(), Finding::OPERATIONAL),
            ("b".into(), Finding::OPERATIONAL),
        ],
        betterstack_not_before: None,
        page_reports: Vec::new(),
    };
    let incident = Incident {
        id: IncidentId(1),
        kind: IncidentKind::Incident,
        title: "t".into(),
        impact: Impact::Critical,
        status: IncidentStatus::Investigating,
        components: vec!["b".into()],
        starts_at: Some(now),
        ends_at: None,
        created_at: now,
        resolved_at: None,
        created_by: None,
        updates: Vec::new(),
    };
    let maintenance = MaintenanceState {
        enabled: true,
        message: "Upgrading".into(),
        since: Some(now),
    };
    let report = compose(Inputs {
        components: &components,
        snapshot: Some(&snapshot),
        incidents: vec![incident],
        maintenance: &maintenance,
        now,
        freshness: std::time::Duration::from_secs(300),
    });
    let states: Vec<_> = report
        .components
        .iter()
        .map(|component| (component.state, component.reason))
        .collect();
    assert_eq!(
        states,
        [
            (ComponentState::Maintenance, Reason::MaintenanceMode),
            (ComponentState::MajorOutage, Reason::Incident),
        ]
    );
    assert_eq!(report.active.len(), 1);
    assert_eq!(report.maintenance_notice.as_deref(), Some("Upgrading"));
    assert!(!report.all_operational());
}
