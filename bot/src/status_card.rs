//! The status report as a Discord embed, for `/status` and the status channel's sticky message.
//! Built only from core's [`PublicReport`] (its allow-listed fields): the headline, the
//! components grouped with their state and reason in words, open incidents and maintenance
//! with their latest update, maintenance ahead, and a link to the public status page when
//! `web.public_url` is set. What staff wrote is shown as plain text (Discord markdown escaped);
//! like every card, it allows no mentions and breaks every `@`.

use hostdeck_core::status::public::{PublicIncident, PublicReport};
use hostdeck_core::status::{ComponentState, IncidentKind, plain_markdown};

use crate::render::Card;

/// How many incidents each list shows at most.
const INCIDENTS_SHOWN: usize = 5;

fn mark(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Operational => "🟢",
        ComponentState::Maintenance => "🔧",
        ComponentState::Unknown => "⚪",
        ComponentState::Degraded => "🟡",
        ComponentState::PartialOutage => "🟠",
        ComponentState::MajorOutage => "🔴",
    }
}

/// What the card is for: `/status` says when the sources were read; the sticky message, which
/// is edited only when the report changes, says how it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Use {
    Answer,
    Sticky,
}

/// The card of `report`; `public_url` is the portal's public address, if any.
pub fn status_card(report: &PublicReport, public_url: Option<&str>, use_: Use) -> Card {
    let mut lines = Vec::new();
    let mut group: Option<&str> = None;
    for component in &report.components {
        if component.group.as_deref() != group {
            group = component.group.as_deref();
            if let Some(name) = group {
                lines.push(format!("**{}**", plain_markdown(name)));
            }
        }
        let reason = if component.state == ComponentState::Operational {
            String::new()
        } else {
            format!(": {}", component.reason)
        };
        lines.push(format!(
            "{} {}: {}{reason}",
            mark(component.state),
            plain_markdown(&component.name),
            component.state_label,
        ));
    }
    if report.stale {
        lines.push("The last check is too old to trust: states are shown as unknown.".into());
    }
    if let Some(notice) = &report.maintenance_notice {
        lines.push(format!("🔧 {}", plain_markdown(notice)));
    }
    match (use_, report.checked_at) {
        (Use::Answer, Some(at)) => lines.push(format!("Checked <t:{}:R>.", at.timestamp())),
        (Use::Answer, None) => lines.push("Not checked yet.".into()),
        (Use::Sticky, _) => {}
    }
    let mut card = Card::new(report.headline).description(lines.join("\n"));
    if report.overall != ComponentState::Operational {
        card = card.warning();
    }
    for incident in report.active.iter().take(INCIDENTS_SHOWN) {
        let (name, value) = incident_field(incident, true);
        card = card.field(name, value);
    }
    for incident in report.scheduled.iter().take(INCIDENTS_SHOWN) {
        let (name, value) = incident_field(incident, false);
        card = card.field(name, value);
    }
    for notice in &report.monitoring_notices {
        card = card.field(notice.title, window(notice.starts_at, notice.ends_at));
    }
    if let Some(base) = public_url {
        card = card.field(
            "Status page",
            format!("{}/status", base.trim_end_matches('/')),
        );
    }
    card.footer(match use_ {
        Use::Answer => "Unknown means not checked or not reachable, never assumed working.",
        Use::Sticky => "This message is edited when the status changes.",
    })
}

fn window(
    starts_at: Option<chrono::DateTime<chrono::Utc>>,
    ends_at: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (starts_at, ends_at) {
        (Some(start), Some(end)) => {
            format!("<t:{}:f> to <t:{}:f>", start.timestamp(), end.timestamp())
        }
        (Some(start), None) => format!("Since <t:{}:f>", start.timestamp()),
        _ => "Now".into(),
    }
}

/// An incident's field: what and how bad, and its latest update.
fn incident_field(incident: &PublicIncident, active: bool) -> (String, String) {
    let kind = match (incident.kind, active) {
        (IncidentKind::Maintenance, true) => "Maintenance in progress",
        (IncidentKind::Maintenance, false) => "Scheduled maintenance",
        (IncidentKind::Incident, _) => "Incident",
    };
    let name = format!("{kind}: {}", plain_markdown(&incident.title));
    let mut value = match incident.kind {
        IncidentKind::Maintenance => window(incident.starts_at, incident.ends_at),
        IncidentKind::Incident => format!(
            "Impact {}, {}",
            incident.impact.as_str(),
            incident.status.as_str()
        ),
    };
    if let Some(update) = incident.updates.last() {
        value.push_str(&format!(
            "\n<t:{}:R>: {}",
            update.at.timestamp(),
            plain_markdown(&update.message)
        ));
    }
    (name, value)
}
