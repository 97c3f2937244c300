//! The report and the pure rules that make it: what each source's answer means for a component
//! ([`Finding`], with its [`Reason`] in fixed words), what a refresh stores ([`Snapshot`]), and
//! how a snapshot, hostdeck's own incidents and maintenance mode become one [`Report`]
//! ([`compose`]). Nothing here does I/O.
//!
//! Honest first: a component whose source failed, is not configured, or whose reading is older
//! than `status.freshness` is unknown; the headline says all systems are operational only when
//! every component is known and operational.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::betterstack::{MonitorStatus, PageReport, Reading, SourceFailure};
use super::config::{ComponentConfig, MonitorMapping};
use crate::maintenance::MaintenanceState;
use crate::records::status::{ComponentState, Incident};

/// Why a component is in its state, in words the public may read. Never upstream text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Working,
    MonitorDown,
    SomeMonitorsDown,
    Recovering,
    MonitorMaintenance,
    MonitorPaused,
    NotMonitored,
    MonitorStale,
    MonitoringUnreachable,
    MonitoringRefused,
    MonitoringRateLimited,
    MonitoringSlow,
    MonitoringError,
    MonitoringMalformed,
    MonitoringEmpty,
    MonitoringForeignLink,
    MonitoringNotConfigured,
    DatabaseDown,
    ProviderDown,
    PaypalDown,
    GeminiDown,
    DiscordDown,
    DiscordUnreported,
    OutboxBacklog,
    BillingLate,
    BillingNeverRan,
    CheckTimedOut,
    CheckFailed,
    ReadingTooOld,
    NoReportYet,
    Incident,
    ScheduledMaintenance,
    MaintenanceMode,
}

impl Reason {
    pub const fn words(self) -> &'static str {
        match self {
            Self::Working => "Working normally",
            Self::MonitorDown => "Monitoring shows it down",
            Self::SomeMonitorsDown => "Monitoring shows part of it down",
            Self::Recovering => "Recovering from a problem",
            Self::MonitorMaintenance => "Under maintenance",
            Self::MonitorPaused => "Monitoring is paused",
            Self::NotMonitored => "Not monitored",
            Self::MonitorStale => "Not checked recently",
            Self::MonitoringUnreachable => "Our monitoring service could not be reached",
            Self::MonitoringRefused => "Our monitoring service refused our credentials",
            Self::MonitoringRateLimited => "Our monitoring service asked us to slow down",
            Self::MonitoringSlow => "Our monitoring service answered too slowly",
            Self::MonitoringError => "Our monitoring service is having problems",
            Self::MonitoringMalformed => "Our monitoring service sent an answer we could not read",
            Self::MonitoringEmpty => "Our monitoring service reported no monitors",
            Self::MonitoringForeignLink => "Our monitoring service sent us elsewhere",
            Self::MonitoringNotConfigured => "Monitoring is not set up",
            Self::DatabaseDown => "Our database is not answering",
            Self::ProviderDown => "Server control is not answering",
            Self::PaypalDown => "PayPal is not answering",
            Self::GeminiDown => "The assistant's model is not answering",
            Self::DiscordDown => "The Discord connection is down",
            Self::DiscordUnreported => "The Discord bot has not reported in",
            Self::OutboxBacklog => "Messages are delayed",
            Self::BillingLate => "Billing has not run recently",
            Self::BillingNeverRan => "Billing has not run yet",
            Self::CheckTimedOut => "The check took too long",
            Self::CheckFailed => "The check failed",
            Self::ReadingTooOld => "Status not checked recently",
            Self::NoReportYet => "Status not checked yet",
            Self::Incident => "Affected by an incident",
            Self::ScheduledMaintenance => "Scheduled maintenance in progress",
            Self::MaintenanceMode => "Maintenance mode is on",
        }
    }

    pub const fn of_failure(failure: SourceFailure) -> Self {
        match failure {
            SourceFailure::Unreachable => Self::MonitoringUnreachable,
            SourceFailure::Refused => Self::MonitoringRefused,
            SourceFailure::RateLimited => Self::MonitoringRateLimited,
            SourceFailure::Slow => Self::MonitoringSlow,
            SourceFailure::ServerError => Self::MonitoringError,
            SourceFailure::Malformed => Self::MonitoringMalformed,
            SourceFailure::Empty => Self::MonitoringEmpty,
            SourceFailure::ForeignLink => Self::MonitoringForeignLink,
            SourceFailure::NotConfigured => Self::MonitoringNotConfigured,
        }
    }
}

/// What one source, or all of a component's sources together, say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub state: ComponentState,
    pub reason: Reason,
}

impl Finding {
    pub const OPERATIONAL: Finding = Finding::new(ComponentState::Operational, Reason::Working);

    pub const fn new(state: ComponentState, reason: Reason) -> Self {
        Self { state, reason }
    }

    pub const fn unknown(reason: Reason) -> Self {
        Self::new(ComponentState::Unknown, reason)
    }

    /// The worse of the two (the first on a tie).
    pub fn worst(self, other: Finding) -> Finding {
        if other.state > self.state {
            other
        } else {
            self
        }
    }

    /// All findings together; unknown ("nothing feeds it") when there are none.
    pub fn combine(findings: impl IntoIterator<Item = Finding>) -> Finding {
        findings
            .into_iter()
            .reduce(Finding::worst)
            .unwrap_or(Finding::unknown(Reason::NotMonitored))
    }
}

/// What a refresh stores for every replica to read: each component's finding from its sources
/// (before incidents and maintenance mode, which are applied when the report is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub computed_at: DateTime<Utc>,
    /// Component id and finding, in the configured order.
    pub components: Vec<(String, Finding)>,
    /// BetterStack asked not to be read again before this (429 `Retry-After`).
    pub betterstack_not_before: Option<DateTime<Utc>>,
    /// Reports of the BetterStack status page: kinds and times only.
    pub page_reports: Vec<PageReport>,
}

/// What BetterStack's monitors say about one component.
pub fn from_monitors(
    mapping: &MonitorMapping,
    reading: &std::result::Result<Reading, SourceFailure>,
    now: DateTime<Utc>,
) -> Finding {
    let reading = match reading {
        Ok(reading) => reading,
        Err(failure) => return Finding::unknown(Reason::of_failure(*failure)),
    };
    let mine: Vec<_> = reading
        .monitors
        .iter()
        .filter(|monitor| {
            mapping.monitors.contains(&monitor.id)
                || monitor
                    .group
                    .as_ref()
                    .is_some_and(|group| mapping.monitor_groups.contains(group))
        })
        .collect();
    if mine.is_empty() {
        return Finding::unknown(Reason::NotMonitored);
    }
    let down = mine
        .iter()
        .filter(|monitor| monitor.status == MonitorStatus::Down)
        .count();
    if down == mine.len() {
        return Finding::new(ComponentState::MajorOutage, Reason::MonitorDown);
    }
    if down > 0 {
        return Finding::new(ComponentState::PartialOutage, Reason::SomeMonitorsDown);
    }
    Finding::combine(mine.iter().map(|monitor| {
        let paused_group = monitor
            .group
            .as_ref()
            .is_some_and(|group| reading.paused_groups.contains(group));
        match monitor.status {
            _ if paused_group => Finding::unknown(Reason::MonitorPaused),
            MonitorStatus::Up if monitor.stale_at(now) => Finding::unknown(Reason::MonitorStale),
            MonitorStatus::Up if reading.incident_monitors.contains(&monitor.id) => {
                Finding::new(ComponentState::Degraded, Reason::Recovering)
            }
            MonitorStatus::Up => Finding::OPERATIONAL,
            MonitorStatus::Validating => Finding::new(ComponentState::Degraded, Reason::Recovering),
            MonitorStatus::Maintenance => {
                Finding::new(ComponentState::Maintenance, Reason::MonitorMaintenance)
            }
            MonitorStatus::Paused => Finding::unknown(Reason::MonitorPaused),
            MonitorStatus::Pending | MonitorStatus::Other | MonitorStatus::Down => {
                Finding::unknown(Reason::NotMonitored)
            }
        }
    }))
}

/// One public component in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    pub state: ComponentState,
    pub reason: Reason,
    /// When its sources were last read (`None`: never).
    pub checked_at: Option<DateTime<Utc>>,
}

/// The one status report every door shows (through [`super::public`] for the public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// When this report was put together from the stored snapshot.
    pub generated_at: DateTime<Utc>,
    /// When the sources were last read (`None`: never).
    pub computed_at: Option<DateTime<Utc>>,
    /// The snapshot is older than `status.freshness` (so every component is unknown).
    pub stale: bool,
    pub components: Vec<Component>,
    /// The worst component state.
    pub overall: ComponentState,
    pub headline: &'static str,
    /// Open incidents and maintenance windows in progress, newest first.
    pub active: Vec<Incident>,
    /// Maintenance windows ahead.
    pub scheduled: Vec<Incident>,
    /// Incidents resolved recently.
    pub resolved: Vec<Incident>,
    /// The maintenance-mode notice while it is on.
    pub maintenance_notice: Option<String>,
    /// BetterStack status-page reports (kinds and times).
    pub page_reports: Vec<PageReport>,
}

impl Report {
    /// Whether every component is known and operational.
    pub fn all_operational(&self) -> bool {
        !self.components.is_empty()
            && self
                .components
                .iter()
                .all(|component| component.state == ComponentState::Operational)
    }

    pub fn component(&self, id: &str) -> Option<&Component> {
        self.components.iter().find(|component| component.id == id)
    }
}

/// The headline for a set of component states.
pub fn headline(states: &[ComponentState]) -> &'static str {
    let worst = states.iter().copied().max();
    match worst {
        None => "Status unknown",
        Some(ComponentState::Operational) => "All systems operational",
        Some(ComponentState::Maintenance) => "Maintenance in progress",
        Some(ComponentState::Unknown)
            if states.iter().all(|state| *state == ComponentState::Unknown) =>
        {
            "Status unknown"
        }
        Some(ComponentState::Unknown) => "Status partly unknown",
        Some(ComponentState::Degraded) => "Degraded performance",
        Some(ComponentState::PartialOutage) => "Partial outage",
        Some(ComponentState::MajorOutage) => "Major outage",
    }
}

/// What [`compose`] reads besides the snapshot.
pub struct Inputs<'a> {
    pub components: &'a [ComponentConfig],
    pub snapshot: Option<&'a Snapshot>,
    /// Incidents not resolved and those resolved recently.
    pub incidents: Vec<Incident>,
    pub maintenance: &'a MaintenanceState,
    pub now: DateTime<Utc>,
    pub freshness: std::time::Duration,
}

/// The report: each component's finding from the snapshot (unknown when there is none or it is
/// too old), made worse by active incidents naming it, shown as maintenance during a window or
/// maintenance mode unless something worse is known.
pub fn compose(inputs: Inputs<'_>) -> Report {
    let Inputs {
        components,
        snapshot,
        incidents,
        maintenance,
        now,
        freshness,
    } = inputs;
    let freshness = chrono::Duration::from_std(freshness).unwrap_or(chrono::Duration::MAX);
    let stale = snapshot.is_none_or(|snapshot| now - snapshot.computed_at > freshness);
    let (active, rest): (Vec<_>, Vec<_>) = incidents
        .into_iter()
        .partition(|incident| incident.active_at(now));
    let (scheduled, rest): (Vec<_>, Vec<_>) = rest
        .into_iter()
        .partition(|incident| incident.scheduled_at(now));
    let resolved = rest
        .into_iter()
        .filter(|incident| incident.resolved_at.is_some())
        .collect();
    let shown: Vec<Component> = components
        .iter()
        .map(|config| {
            let base = match snapshot {
                None => Finding::unknown(Reason::NoReportYet),
                Some(_) if stale => Finding::unknown(Reason::ReadingTooOld),
                Some(snapshot) => snapshot
                    .components
                    .iter()
                    .find(|(id, _)| *id == config.id)
                    .map_or(Finding::unknown(Reason::NoReportYet), |(_, finding)| {
                        *finding
                    }),
            };
            let finding = apply_incidents(base, &config.id, &active);
            let finding = if maintenance.enabled
                && config.maintenance_mode
                && finding.state <= ComponentState::Unknown
            {
                Finding::new(ComponentState::Maintenance, Reason::MaintenanceMode)
            } else {
                finding
            };
            Component {
                id: config.id.clone(),
                name: config.name.clone(),
                group: config.group.clone(),
                state: finding.state,
                reason: finding.reason,
                checked_at: snapshot.map(|snapshot| snapshot.computed_at),
            }
        })
        .collect();
    let states: Vec<_> = shown.iter().map(|component| component.state).collect();
    Report {
        generated_at: now,
        computed_at: snapshot.map(|snapshot| snapshot.computed_at),
        stale,
        overall: states
            .iter()
            .copied()
            .max()
            .unwrap_or(ComponentState::Unknown),
        headline: headline(&states),
        components: shown,
        active,
        scheduled,
        resolved,
        maintenance_notice: maintenance
            .enabled
            .then(|| maintenance.message.clone())
            .filter(|message| !message.is_empty()),
        page_reports: snapshot
            .map(|snapshot| snapshot.page_reports.clone())
            .unwrap_or_default(),
    }
}

/// An active incident naming the component makes it at least as bad as its impact; a
/// maintenance window in progress makes a component that is not known worse "maintenance".
fn apply_incidents(base: Finding, component: &str, active: &[Incident]) -> Finding {
    active
        .iter()
        .filter(|incident| incident.components.iter().any(|id| id == component))
        .fold(base, |finding, incident| match incident.kind {
            crate::records::status::IncidentKind::Incident => {
                finding.worst(Finding::new(incident.impact.state(), Reason::Incident))
            }
            crate::records::status::IncidentKind::Maintenance
                if finding.state <= ComponentState::Unknown =>
            {
                Finding::new(ComponentState::Maintenance, Reason::ScheduledMaintenance)
            }
            crate::records::status::IncidentKind::Maintenance => finding,
        })
}
