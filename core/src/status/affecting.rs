//! Which of hostdeck's incidents touch a customer, so support, the assistant and the pages
//! about a customer's servers can say so.
//!
//! **The rule.** A component whose `checks` name `provider:NAME` stands for the servers on that
//! provider: an incident on it affects a customer with a server there. A component with no
//! `provider:` check (the portal and API, billing, payments, the Discord bot) is one every
//! customer relies on: an incident on it affects every customer, servers or not. An incident
//! affects a customer when one of its components does; what is shown names only those.
//!
//! Incidents are public, so no permission is needed to ask; the caller passes the providers of
//! servers it may read (through the server service with the customer's own actor, or, for a
//! ticket, `Core::ticket_incidents` after the ticket's own check), and what comes back names
//! only public incidents and component names, so nobody learns another customer's servers.

use chrono::{DateTime, Utc};

use super::Status;
use super::config::ComponentConfig;
use super::public::PublicIncident;
use crate::error::Result;
use crate::ids::ServerId;
use crate::records::status::{Incident, IncidentKind};

/// The start of a check that stands for a provider's servers.
const PROVIDER_PREFIX: &str = "provider:";

/// An incident that touches a customer, with the names of the components through which it does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affecting {
    pub incident: PublicIncident,
    /// Names of its components that touch the customer, in the page's order.
    pub components: Vec<String>,
    /// It touches every customer (a component with no provider), not only through servers.
    pub everyone: bool,
}

impl Affecting {
    /// One line in words: `Incident "Title" (Investigating; affects Frankfurt VPS)`.
    pub fn line(&self) -> String {
        let kind = match self.incident.kind {
            IncidentKind::Incident => "Incident",
            IncidentKind::Maintenance => "Maintenance",
        };
        format!(
            "{kind} \"{}\" ({}; affects {})",
            self.incident.title,
            super::subscriptions::status_words(self.incident.kind, self.incident.status),
            self.components.join(", ")
        )
    }

    /// The latest public update's text.
    pub fn latest(&self) -> Option<&str> {
        self.incident
            .updates
            .last()
            .map(|update| update.message.as_str())
    }
}

/// Whether `component` touches a customer with servers on `providers`, and whether it touches
/// everyone.
fn touches(component: &ComponentConfig, providers: &[&str]) -> Option<bool> {
    let mut on_providers = component
        .checks
        .iter()
        .filter_map(|check| check.strip_prefix(PROVIDER_PREFIX))
        .peekable();
    if on_providers.peek().is_none() {
        return Some(true);
    }
    on_providers
        .any(|name| providers.contains(&name))
        .then_some(false)
}

/// The incidents of `incidents` acting at `at` that touch a customer with servers on
/// `providers` (pure: what [`Status::affecting`] applies).
pub fn affecting(
    components: &[ComponentConfig],
    incidents: &[Incident],
    providers: &[&str],
    at: DateTime<Utc>,
) -> Vec<Affecting> {
    incidents
        .iter()
        .filter(|incident| incident.was_active_at(at))
        .filter_map(|incident| {
            let touching: Vec<(&ComponentConfig, bool)> = components
                .iter()
                .filter(|component| incident.components.contains(&component.id))
                .filter_map(|component| touches(component, providers).map(|all| (component, all)))
                .collect();
            (!touching.is_empty()).then(|| Affecting {
                incident: PublicIncident::of(incident),
                everyone: touching.iter().all(|(_, all)| *all),
                components: touching
                    .iter()
                    .map(|(component, _)| component.name.clone())
                    .collect(),
            })
        })
        .collect()
}

/// The providers whose incidents count for a ticket: its server's, when it names one of the
/// customer's `servers`; otherwise those of every server they have.
pub fn ticket_providers<'a>(
    servers: impl IntoIterator<Item = (ServerId, &'a str)>,
    named: Option<ServerId>,
) -> Vec<&'a str> {
    let all: Vec<(ServerId, &str)> = servers.into_iter().collect();
    match named.and_then(|id| all.iter().find(|(server, _)| *server == id)) {
        Some((_, provider)) => vec![*provider],
        None => all.into_iter().map(|(_, provider)| provider).collect(),
    }
}

impl Status {
    /// hostdeck's incidents and maintenance windows acting at `at` (now, or a ticket's
    /// opening) that touch a customer whose servers run on `providers`, newest first.
    pub async fn affecting(&self, providers: &[&str], at: DateTime<Utc>) -> Result<Vec<Affecting>> {
        let incidents = self.store.status().recent_incidents(at).await?;
        Ok(affecting(&self.components, &incidents, providers, at))
    }

    /// [`Status::affecting`] at this moment.
    pub async fn affecting_now(&self, providers: &[&str]) -> Result<Vec<Affecting>> {
        self.affecting(providers, self.clock.now()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::status::{Impact, IncidentId, IncidentStatus, IncidentUpdate};

    fn component(id: &str, checks: &[&str]) -> ComponentConfig {
        ComponentConfig {
            id: id.into(),
            name: format!("Name of {id}"),
            group: None,
            checks: checks.iter().map(|check| (*check).to_owned()).collect(),
            maintenance_mode: false,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap_or_default()
    }

    fn incident(components: &[&str], resolved: Option<&str>) -> Incident {
        Incident {
            id: IncidentId(1),
            kind: IncidentKind::Incident,
            title: "Trouble".into(),
            impact: Impact::Major,
            status: IncidentStatus::Investigating,
            components: components.iter().map(|id| (*id).to_owned()).collect(),
            starts_at: Some(at("2026-12-07T10:00:00Z")),
            ends_at: None,
            created_at: at("2026-12-07T10:05:00Z"),
            resolved_at: resolved.map(at),
            created_by: None,
            updates: vec![IncidentUpdate {
                status: IncidentStatus::Investigating,
                message: "Looking".into(),
                at: at("2026-12-07T10:05:00Z"),
                author: None,
            }],
        }
    }

    #[test]
    fn servers_on_the_provider_are_touched_and_others_not() {
        let components = [
            component("portal", &["database"]),
            component("vps-fra", &["provider:fra"]),
            component("vps-ams", &["provider:ams"]),
        ];
        let down = [incident(&["vps-fra"], None)];
        let now = at("2026-12-07T11:00:00Z");
        let hit = affecting(&components, &down, &["fra"], now);
        assert_eq!(hit.len(), 1);
        assert_eq!(hit[0].components, ["Name of vps-fra"]);
        assert!(!hit[0].everyone);
        assert!(affecting(&components, &down, &["ams"], now).is_empty());
        assert!(affecting(&components, &down, &[], now).is_empty());

        // The portal is everyone's: a customer without servers is touched too.
        let portal = [incident(&["portal", "vps-ams"], None)];
        let hit = affecting(&components, &portal, &[], now);
        assert_eq!(hit[0].components, ["Name of portal"]);
        assert!(hit[0].everyone);
        let hit = affecting(&components, &portal, &["ams"], now);
        assert_eq!(hit[0].components, ["Name of portal", "Name of vps-ams"]);
        assert!(!hit[0].everyone);
    }

    #[test]
    fn only_what_acted_at_the_time_counts() {
        let components = [component("vps-fra", &["provider:fra"])];
        let resolved = [incident(&["vps-fra"], Some("2026-12-07T12:00:00Z"))];
        for (time, expected) in [
            ("2026-12-07T09:59:00Z", false),
            ("2026-12-07T10:00:00Z", true),
            ("2026-12-07T11:59:59Z", true),
            ("2026-12-07T12:00:00Z", false),
        ] {
            assert_eq!(
                !affecting(&components, &resolved, &["fra"], at(time)).is_empty(),
                expected,
                "{time}"
            );
        }
    }
}
