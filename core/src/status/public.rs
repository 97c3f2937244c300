//! What leaves hostdeck: the report as the public sees it, built from an allow-list of fields.
//!
//! [`PublicReport`] and [`Summary`] (the shape Atlassian Statuspage clients read) are built
//! field by field from the [`Report`]: component names and groups from the config, states and
//! reasons in fixed words, incident titles and updates that staff wrote for the public, times.
//! Nothing read from an outside service (a monitor's URL or name, an error's text, a host, an
//! address) is in the report to begin with, and no field here could carry it.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::report::{Report, headline};
use crate::records::status::{
    ComponentState, DayCounts, Impact, Incident, IncidentKind, IncidentStatus,
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicReport {
    pub headline: &'static str,
    /// The worst component state.
    pub overall: ComponentState,
    /// True only when every component is known and operational.
    pub all_operational: bool,
    pub generated_at: DateTime<Utc>,
    /// When the sources were last read (`None`: never).
    pub checked_at: Option<DateTime<Utc>>,
    /// The last reading is too old to trust.
    pub stale: bool,
    pub components: Vec<PublicComponent>,
    /// Open incidents and maintenance in progress.
    pub active: Vec<PublicIncident>,
    /// Maintenance windows ahead.
    pub scheduled: Vec<PublicIncident>,
    /// Incidents resolved recently.
    pub resolved: Vec<PublicIncident>,
    /// What maintenance mode tells people, while it is on.
    pub maintenance_notice: Option<String>,
    /// Incidents and maintenance our monitoring's status page reports (kind and times only).
    pub monitoring_notices: Vec<MonitoringNotice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicComponent {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub state: ComponentState,
    pub state_label: &'static str,
    pub reason: &'static str,
    pub checked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicIncident {
    pub id: i64,
    pub kind: IncidentKind,
    pub title: String,
    pub impact: Impact,
    pub status: IncidentStatus,
    /// Ids of the components it affects.
    pub components: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Oldest first.
    pub updates: Vec<PublicUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicUpdate {
    pub status: IncidentStatus,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonitoringNotice {
    pub title: &'static str,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl PublicIncident {
    /// The public fields of an incident (no author, no staff-only ids).
    pub fn of(incident: &Incident) -> Self {
        Self {
            id: incident.id.0,
            kind: incident.kind,
            title: incident.title.clone(),
            impact: incident.impact,
            status: incident.status,
            components: incident.components.clone(),
            starts_at: incident.starts_at,
            ends_at: incident.ends_at,
            created_at: incident.created_at,
            resolved_at: incident.resolved_at,
            updates: incident
                .updates
                .iter()
                .map(|update| PublicUpdate {
                    status: update.status,
                    message: update.message.clone(),
                    at: update.at,
                })
                .collect(),
        }
    }
}

impl PublicReport {
    pub fn of(report: &Report) -> Self {
        let incidents = |list: &[Incident]| list.iter().map(PublicIncident::of).collect();
        Self {
            headline: report.headline,
            overall: report.overall,
            all_operational: report.all_operational(),
            generated_at: report.generated_at,
            checked_at: report.computed_at,
            stale: report.stale,
            components: report
                .components
                .iter()
                .map(|component| PublicComponent {
                    id: component.id.clone(),
                    name: component.name.clone(),
                    group: component.group.clone(),
                    state: component.state,
                    state_label: component.state.label(),
                    reason: component.reason.words(),
                    checked_at: component.checked_at,
                })
                .collect(),
            active: incidents(&report.active),
            scheduled: incidents(&report.scheduled),
            resolved: incidents(&report.resolved),
            maintenance_notice: report.maintenance_notice.clone(),
            monitoring_notices: report
                .page_reports
                .iter()
                .filter(|notice| notice.open)
                .map(|notice| MonitoringNotice {
                    title: if notice.maintenance {
                        "Maintenance reported by our monitoring"
                    } else {
                        "Incident reported by our monitoring"
                    },
                    starts_at: notice.starts_at,
                    ends_at: notice.ends_at,
                })
                .collect(),
        }
    }
}

/// The summary Atlassian Statuspage publishes (`/api/v2/summary.json`), which status widgets
/// and bots read. Statuspage has no "unknown": an unknown component is shown as
/// `degraded_performance` (never operational), and makes the indicator at least `minor`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub page: SummaryPage,
    pub status: SummaryStatus,
    pub components: Vec<SummaryComponent>,
    pub incidents: Vec<SummaryIncident>,
    pub scheduled_maintenances: Vec<SummaryIncident>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryPage {
    pub id: &'static str,
    pub name: String,
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryStatus {
    /// `none`, `minor`, `major` or `critical`.
    pub indicator: &'static str,
    pub description: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryComponent {
    pub id: String,
    pub name: String,
    /// `operational`, `degraded_performance`, `partial_outage`, `major_outage` or
    /// `under_maintenance`.
    pub status: &'static str,
    pub group_name: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub position: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryIncident {
    pub id: String,
    pub name: String,
    pub status: &'static str,
    pub impact: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    pub incident_updates: Vec<SummaryUpdate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SummaryUpdate {
    pub status: &'static str,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

const fn statuspage_state(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Operational => "operational",
        ComponentState::Maintenance => "under_maintenance",
        ComponentState::Unknown | ComponentState::Degraded => "degraded_performance",
        ComponentState::PartialOutage => "partial_outage",
        ComponentState::MajorOutage => "major_outage",
    }
}

fn summary_incident(incident: &PublicIncident, maintenance: bool) -> SummaryIncident {
    let status = |status: IncidentStatus| match (maintenance, status) {
        (true, IncidentStatus::Resolved) => "completed",
        (true, _) => "scheduled",
        (false, status) => status.as_str(),
    };
    SummaryIncident {
        id: incident.id.to_string(),
        name: incident.title.clone(),
        status: status(incident.status),
        impact: incident.impact.as_str(),
        created_at: incident.created_at,
        updated_at: incident
            .updates
            .last()
            .map_or(incident.created_at, |update| update.at),
        scheduled_for: incident.starts_at.filter(|_| maintenance),
        scheduled_until: incident.ends_at.filter(|_| maintenance),
        incident_updates: incident
            .updates
            .iter()
            .rev()
            .map(|update| SummaryUpdate {
                status: status(update.status),
                body: update.message.clone(),
                created_at: update.at,
            })
            .collect(),
    }
}

impl Summary {
    /// `company` names the page; `url` is the public status page, when known.
    pub fn of(report: &PublicReport, company: &str, url: Option<String>) -> Self {
        let states: Vec<_> = report
            .components
            .iter()
            .map(|component| component.state)
            .collect();
        let indicator = match report.overall {
            ComponentState::Operational if report.all_operational => "none",
            ComponentState::Operational
            | ComponentState::Maintenance
            | ComponentState::Unknown
            | ComponentState::Degraded => "minor",
            ComponentState::PartialOutage => "major",
            ComponentState::MajorOutage => "critical",
        };
        let updated_at = report.checked_at.unwrap_or(report.generated_at);
        let (maintenances, incidents): (Vec<_>, Vec<_>) = report
            .active
            .iter()
            .partition(|incident| incident.kind == IncidentKind::Maintenance);
        Self {
            page: SummaryPage {
                id: "hostdeck",
                name: company.to_owned(),
                url,
                updated_at,
            },
            status: SummaryStatus {
                indicator,
                description: headline(&states),
            },
            components: report
                .components
                .iter()
                .enumerate()
                .map(|(position, component)| SummaryComponent {
                    id: component.id.clone(),
                    name: component.name.clone(),
                    status: statuspage_state(component.state),
                    group_name: component.group.clone(),
                    updated_at,
                    position: position + 1,
                })
                .collect(),
            incidents: incidents
                .into_iter()
                .map(|incident| summary_incident(incident, false))
                .collect(),
            scheduled_maintenances: maintenances
                .into_iter()
                .chain(&report.scheduled)
                .map(|incident| summary_incident(incident, true))
                .collect(),
        }
    }
}

/// One component's day, for the uptime bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayUptime {
    pub day: NaiveDate,
    /// Samples taken that day (one per refresh interval).
    pub samples: u64,
    pub unknown: u64,
    /// The worst state seen that day (`None`: no samples).
    pub worst: Option<ComponentState>,
    /// Of the samples whose state was known, the share up (operational, degraded or planned
    /// maintenance) in thousandths; `None` when nothing was known that day.
    pub uptime_permille: Option<u32>,
}

impl DayUptime {
    pub fn of(day: NaiveDate, counts: Option<&DayCounts>) -> Self {
        let Some(counts) = counts else {
            return Self {
                day,
                samples: 0,
                unknown: 0,
                worst: None,
                uptime_permille: None,
            };
        };
        let unknown = counts.of(ComponentState::Unknown);
        let up = counts.of(ComponentState::Operational)
            + counts.of(ComponentState::Degraded)
            + counts.of(ComponentState::Maintenance);
        let known = counts.total() - unknown;
        Self {
            day,
            samples: counts.total(),
            unknown,
            worst: counts.counts.iter().map(|(state, _)| *state).max(),
            uptime_permille: (known > 0).then(|| u32::try_from(up * 1000 / known).unwrap_or(1000)),
        }
    }
}
