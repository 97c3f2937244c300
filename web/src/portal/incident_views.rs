//! How an incident or maintenance window reads on a page, shared by the public status page and
//! staff's incident pages (as `conversation.rs` is for tickets): kind, title, status and impact
//! in words, the names of its components, its window, and its updates in order.

use hostdeck_core::status::public::{PublicComponent, PublicIncident};
use hostdeck_core::status::{Affecting, Impact, IncidentKind, status_words};

use super::context::when;

pub struct UpdateView {
    pub status: &'static str,
    pub at: String,
    pub message: String,
}

pub struct IncidentView {
    pub id: i64,
    pub kind: &'static str,
    pub title: String,
    pub status: &'static str,
    pub impact: &'static str,
    pub components: String,
    pub window: Option<String>,
    pub resolved: Option<String>,
    pub updates: Vec<UpdateView>,
}

impl IncidentView {
    pub fn new(incident: &PublicIncident, components: &[PublicComponent]) -> Self {
        let names: Vec<&str> = components
            .iter()
            .filter(|component| incident.components.contains(&component.id))
            .map(|component| component.name.as_str())
            .collect();
        let window = match (incident.kind, incident.starts_at, incident.ends_at) {
            (IncidentKind::Maintenance, Some(start), Some(end)) => {
                Some(format!("{} to {}", when(start), when(end)))
            }
            (_, Some(start), _) => Some(format!("since {}", when(start))),
            _ => None,
        };
        Self {
            id: incident.id,
            kind: match incident.kind {
                IncidentKind::Incident => "Incident",
                IncidentKind::Maintenance => "Maintenance",
            },
            title: incident.title.clone(),
            status: status_words(incident.kind, incident.status),
            impact: impact_words(incident.impact),
            components: names.join(", "),
            window,
            resolved: incident.resolved_at.map(when),
            updates: incident
                .updates
                .iter()
                .map(|update| UpdateView {
                    status: status_words(incident.kind, update.status),
                    at: when(update.at),
                    message: update.message.clone(),
                })
                .collect(),
        }
    }
}

pub fn impact_words(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "no impact",
        Impact::Minor => "minor impact",
        Impact::Major => "major impact",
        Impact::Critical => "critical impact",
    }
}

/// An incident that touches a customer, as their server and ticket pages show it.
pub struct IncidentNote {
    pub id: i64,
    /// `Incident "Title" (Investigating; affects Frankfurt VPS)`.
    pub line: String,
    pub latest: String,
    /// Resolved since (a ticket opened during it).
    pub resolved: Option<String>,
}

impl From<&Affecting> for IncidentNote {
    fn from(affecting: &Affecting) -> Self {
        Self {
            id: affecting.incident.id,
            line: affecting.line(),
            latest: affecting.latest().unwrap_or_default().to_owned(),
            resolved: affecting.incident.resolved_at.map(when),
        }
    }
}

/// Core's incidents acting at `at` that touch a customer with servers on `providers`.
pub async fn incident_notes(
    state: &crate::AppState,
    providers: &[&str],
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<IncidentNote>, super::context::PortalError> {
    let affecting = state.core.status.affecting(providers, at).await?;
    Ok(affecting.iter().map(IncidentNote::from).collect())
}

/// The incidents a ticket shows (those that touched its customer when it was opened).
pub async fn ticket_incident_notes(
    state: &crate::AppState,
    actor: &hostdeck_core::Actor,
    id: hostdeck_core::ids::TicketId,
) -> Result<Vec<IncidentNote>, super::context::PortalError> {
    let affecting = state.core.ticket_incidents(actor, id).await?;
    Ok(affecting.iter().map(IncidentNote::from).collect())
}
