//! What the status report is made of, as the store keeps it: a component's state, hostdeck's
//! own incidents and maintenance windows with their public updates, and the samples the
//! per-day uptime is counted from. The rules that build a report are in `crate::status`.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::UserId;

/// How a public component is doing. Ordered from best to worst for the headline: anything not
/// known to work (`Unknown`) ranks above `Operational` and `Maintenance`, never with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentState {
    Operational,
    Maintenance,
    Unknown,
    Degraded,
    PartialOutage,
    MajorOutage,
}

impl ComponentState {
    pub const ALL: [ComponentState; 6] = [
        Self::Operational,
        Self::Maintenance,
        Self::Unknown,
        Self::Degraded,
        Self::PartialOutage,
        Self::MajorOutage,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::Maintenance => "maintenance",
            Self::Unknown => "unknown",
            Self::Degraded => "degraded",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    /// What people read: "Operational", "Partial outage".
    pub const fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::Maintenance => "Maintenance",
            Self::Unknown => "Unknown",
            Self::Degraded => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| Error::internal("reading a component state", text.to_owned()))
    }
}

impl fmt::Display for ComponentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An incident's or maintenance window's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IncidentId(pub i64);

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Something that goes wrong unplanned, or a planned maintenance window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentKind {
    Incident,
    Maintenance,
}

/// How badly an incident hurts the components it names (Statuspage's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    /// What an active incident of this impact makes of its components.
    pub const fn state(self) -> ComponentState {
        match self {
            Self::None => ComponentState::Operational,
            Self::Minor => ComponentState::Degraded,
            Self::Major => ComponentState::PartialOutage,
            Self::Critical => ComponentState::MajorOutage,
        }
    }
}

/// Where an incident stands (Statuspage's words); `Resolved` ends it. A maintenance window
/// uses the same: `Identified` while it is only scheduled, `Resolved` when it is over early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

macro_rules! words {
    ($type:ident { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $type {
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            pub fn parse(text: &str) -> Result<Self> {
                match text {
                    $($text => Ok(Self::$variant),)*
                    other => Err(Error::invalid(
                        stringify!($type),
                        format!("{other:?} is not one of: {}", [$($text),*].join(", ")),
                    )),
                }
            }
        }
    };
}

words!(IncidentKind { Incident => "incident", Maintenance => "maintenance" });
words!(Impact { None => "none", Minor => "minor", Major => "major", Critical => "critical" });
words!(IncidentStatus {
    Investigating => "investigating",
    Identified => "identified",
    Monitoring => "monitoring",
    Resolved => "resolved",
});

/// One public update of an incident, in the order posted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub status: IncidentStatus,
    pub message: String,
    pub at: DateTime<Utc>,
    /// Staff only: who wrote it.
    pub author: Option<UserId>,
}

/// An incident or maintenance window with its updates, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub kind: IncidentKind,
    pub title: String,
    pub impact: Impact,
    pub status: IncidentStatus,
    /// Configured component ids it affects.
    pub components: Vec<String>,
    /// A maintenance window's planned start and end; when an incident began.
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_by: Option<UserId>,
    pub updates: Vec<IncidentUpdate>,
}

impl Incident {
    /// Whether it acts on its components at `now`: an open incident, or a maintenance window
    /// that has started and neither ended nor been resolved.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        if self.resolved_at.is_some() {
            return false;
        }
        match self.kind {
            IncidentKind::Incident => true,
            IncidentKind::Maintenance => {
                self.starts_at.is_none_or(|start| start <= now)
                    && self.ends_at.is_none_or(|end| now < end)
            }
        }
    }

    /// A maintenance window still ahead of `now`.
    pub fn scheduled_at(&self, now: DateTime<Utc>) -> bool {
        self.resolved_at.is_none()
            && self.kind == IncidentKind::Maintenance
            && self.starts_at.is_some_and(|start| now < start)
    }
}

/// An incident to store with its first update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIncident {
    pub kind: IncidentKind,
    pub title: String,
    pub impact: Impact,
    pub components: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub first_update: IncidentUpdate,
    /// The status channel's post about it, queued in the insert's transaction.
    pub announce: Option<crate::records::outbox::NewOutboxMessage>,
}

/// The status channel's sticky message as the store keeps it (`status_sticky`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyMessage {
    pub channel_id: u64,
    /// `None` until posted, and again once Discord says it is gone.
    pub message_id: Option<u64>,
    /// The hash of the public report the message shows.
    pub report_hash: Option<String>,
    pub posted_at: Option<DateTime<Utc>>,
    /// The last post or edit.
    pub written_at: Option<DateTime<Utc>>,
    /// Discord asked to wait until then (429).
    pub not_before: Option<DateTime<Utc>>,
    /// The nonce of a post sent but not yet recorded: the next post is sent with it again.
    pub post_nonce: Option<String>,
}

/// One component's state at one refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSample {
    pub component: String,
    pub state: ComponentState,
}

/// How a component did on one UTC day: how many refreshes found it in each state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCounts {
    pub day: NaiveDate,
    pub counts: Vec<(ComponentState, u64)>,
}

impl DayCounts {
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|(_, count)| count).sum()
    }

    pub fn of(&self, state: ComponentState) -> u64 {
        self.counts
            .iter()
            .filter(|(each, _)| *each == state)
            .map(|(_, count)| count)
            .sum()
    }
}

/// The stored report as every replica reads it: its JSON and when it was computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReport {
    pub body: String,
    pub computed_at: DateTime<Utc>,
}

impl Incident {
    /// Whether it acted on its components at `at`, which may be in the past (a ticket's
    /// opening): begun by then (its start, or its declaration when it has none), and neither
    /// resolved nor (a maintenance window) over by then.
    pub fn was_active_at(&self, at: DateTime<Utc>) -> bool {
        let begun = self.starts_at.unwrap_or(self.created_at) <= at;
        let over = self.resolved_at.is_some_and(|resolved| resolved <= at)
            || (self.kind == IncidentKind::Maintenance
                && self.ends_at.is_some_and(|end| end <= at));
        begun && !over
    }
}

/// Someone who asked for the status page's incident emails, as an email is written to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub user: UserId,
    pub email: String,
    /// The opaque id of their unsubscribe link.
    pub token: String,
}

/// The outbox rows an incident's change sends, given its id and the subscribers read in the
/// change's own transaction (so whoever is subscribed when it commits hears of it).
pub type IncidentNotices<'a> = &'a (
        dyn Fn(IncidentId, &[Subscriber]) -> Vec<crate::records::outbox::NewOutboxMessage>
            + Send
            + Sync
    );
