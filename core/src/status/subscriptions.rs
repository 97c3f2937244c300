//! Email subscriptions to the status page's incidents. A signed-in person subscribes (on the
//! status page or their account page) and unsubscribes there or with the link in every email,
//! which works without signing in: its id is opaque (128 random bits), unique to the
//! subscription, and does nothing but end it.
//!
//! When an incident or maintenance window is declared, updated or resolved, every subscriber's
//! email (active accounts whose address is verified) is an outbox row written in the change's own transaction ([`IncidentMail`]), so the
//! change and its emails commit together or not at all. An email holds only what the public
//! page shows: the title and update staff wrote for the public, component names from the
//! config, states in fixed words, times and links to the page.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Status;
use super::config::ComponentConfig;
use crate::audit::AuditEntry;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::notify::{EMAIL, EmailMessage};
use crate::policy::{Actor, Permission};
use crate::records::outbox::NewOutboxMessage;
use crate::records::status::{IncidentId, IncidentKind, IncidentStatus, Subscriber};

/// The longest unsubscribe id accepted (they are 32 characters).
const TOKEN_CHARS: usize = 64;

impl Status {
    /// Subscribes the signed-in actor to incident emails (again: nothing changes).
    pub async fn subscribe(&self, actor: &Actor) -> Result<()> {
        self.audit
            .require(actor, Permission::UpdateOwnProfile)
            .await?;
        let user = own(actor)?;
        let token = format!("{:032x}", rand::random::<u128>());
        self.store
            .status()
            .subscribe(user, &token, self.clock.now())
            .await?;
        self.audit
            .record(AuditEntry::new(actor, "status.subscribe").target(format!("user:{user}")))
            .await
    }

    /// Ends the signed-in actor's subscription, if any.
    pub async fn unsubscribe(&self, actor: &Actor) -> Result<()> {
        self.audit
            .require(actor, Permission::UpdateOwnProfile)
            .await?;
        let user = own(actor)?;
        if self.store.status().unsubscribe(user).await? {
            self.audit
                .record(AuditEntry::new(actor, "status.unsubscribe").target(format!("user:{user}")))
                .await?;
        }
        Ok(())
    }

    /// Whether the signed-in actor gets incident emails.
    pub async fn subscribed(&self, actor: &Actor) -> Result<bool> {
        actor.require(Permission::ReadOwnProfile)?;
        self.store.status().subscribed(own(actor)?).await
    }

    /// The unsubscribe link of an email: ends the subscription it names. Anyone holding the
    /// link may use it; an unknown or used link is `not_found`.
    pub async fn unsubscribe_link(&self, actor: &Actor, token: &str) -> Result<()> {
        let token = token.trim();
        let plausible = !token.is_empty()
            && token.len() <= TOKEN_CHARS
            && token.chars().all(|c| c.is_ascii_alphanumeric());
        let user = if plausible {
            self.store.status().unsubscribe_token(token).await?
        } else {
            None
        };
        let Some(user) = user else {
            return Err(Error::NotFound(
                "That unsubscribe link is not in use: the subscription has ended already.".into(),
            ));
        };
        self.audit
            .record(
                AuditEntry::new(actor, "status.unsubscribe")
                    .target(format!("user:{user}"))
                    .detail(json!({ "by": "link" })),
            )
            .await
    }
}

fn own(actor: &Actor) -> Result<crate::ids::UserId> {
    actor
        .user
        .ok_or_else(|| Error::Unauthenticated("Sign in to manage incident emails.".into()))
}

/// What happened to an incident, for its emails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Declared,
    Updated,
}

/// The email every subscriber gets about one change of an incident, made into outbox rows once
/// the incident's id is known (inside the change's transaction).
pub(super) struct IncidentMail {
    pub change: Change,
    pub kind: IncidentKind,
    pub title: String,
    pub status: IncidentStatus,
    pub message: String,
    /// Names of the components it affects.
    pub components: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl IncidentMail {
    /// Component names for `ids`, in the page's order.
    pub(super) fn names(components: &[ComponentConfig], ids: &[String]) -> Vec<String> {
        components
            .iter()
            .filter(|component| ids.contains(&component.id))
            .map(|component| component.name.clone())
            .collect()
    }

    /// One email row per subscriber.
    pub(super) fn rows(
        &self,
        config: &Config,
        id: IncidentId,
        subscribers: &[Subscriber],
    ) -> Vec<NewOutboxMessage> {
        let company = &config.company.name;
        let stage = status_words(self.kind, self.status);
        let what = match (self.kind, self.change, self.status) {
            (IncidentKind::Maintenance, Change::Declared, _) => "Maintenance is scheduled",
            (IncidentKind::Incident, Change::Declared, _) => "We are working on an incident",
            (IncidentKind::Maintenance, _, IncidentStatus::Resolved) => "Maintenance is over",
            (IncidentKind::Incident, _, IncidentStatus::Resolved) => "The incident is resolved",
            (_, Change::Updated, _) => "There is an update",
        };
        let mut lines = vec![
            format!("{what}: {}", self.title),
            format!("Status: {stage}"),
            format!("Affects: {}", self.components.join(", ")),
        ];
        if self.kind == IncidentKind::Maintenance
            && let (Some(start), Some(end)) = (self.starts_at, self.ends_at)
        {
            lines.push(format!(
                "Window: {} to {}",
                start.format("%Y-%m-%d %H:%M UTC"),
                end.format("%Y-%m-%d %H:%M UTC")
            ));
        }
        let page = config.web.portal_url(&format!("/status#incident-{id}"));
        let subject = format!("[{company} status] {}: {stage}", self.title);
        subscribers
            .iter()
            .map(|subscriber| {
                let unsubscribe = config
                    .web
                    .portal_url(&format!("/status/unsubscribe?token={}", subscriber.token));
                let text = format!(
                    "{head}\n\n{message}\n\nFollow it on the status page: {page}\n\n\
                     You get these emails because you subscribed to incident emails. To stop \
                     them, open: {unsubscribe}\n\n{company}",
                    head = lines.join("\n"),
                    message = self.message,
                );
                let email = EmailMessage {
                    subject: subject.clone(),
                    text,
                };
                NewOutboxMessage {
                    channel: EMAIL.to_owned(),
                    recipient: subscriber.email.clone(),
                    payload: serde_json::to_value(email).unwrap_or_default(),
                }
            })
            .collect()
    }
}

/// Where an incident or a maintenance window stands, in words.
pub fn status_words(kind: IncidentKind, status: IncidentStatus) -> &'static str {
    match (kind, status) {
        (IncidentKind::Maintenance, IncidentStatus::Resolved) => "Completed",
        (IncidentKind::Maintenance, IncidentStatus::Investigating | IncidentStatus::Identified) => {
            "Scheduled"
        }
        (IncidentKind::Maintenance, IncidentStatus::Monitoring) => "In progress",
        (IncidentKind::Incident, IncidentStatus::Investigating) => "Investigating",
        (IncidentKind::Incident, IncidentStatus::Identified) => "Identified",
        (IncidentKind::Incident, IncidentStatus::Monitoring) => "Monitoring",
        (IncidentKind::Incident, IncidentStatus::Resolved) => "Resolved",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_per_subscriber_with_their_own_link() {
        let mut config = Config::default();
        config.company.name = "Example Hosting".into();
        let mail = IncidentMail {
            change: Change::Declared,
            kind: IncidentKind::Incident,
            title: "Frankfurt servers unreachable".into(),
            status: IncidentStatus::Investigating,
            message: "We are looking into it.".into(),
            components: vec!["Frankfurt VPS".into()],
            starts_at: None,
            ends_at: None,
        };
        let subscribers = [
            Subscriber {
                user: crate::ids::UserId(1),
                email: "a@example.test".into(),
                token: "aaaa".into(),
            },
            Subscriber {
                user: crate::ids::UserId(2),
                email: "b@example.test".into(),
                token: "bbbb".into(),
            },
        ];
        let rows = mail.rows(&config, IncidentId(7), &subscribers);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].recipient, "b@example.test");
        let text = rows[1].payload["text"].as_str().unwrap_or_default();
        assert!(text.contains("/status/unsubscribe?token=bbbb"), "{text}");
        assert!(!text.contains("aaaa"), "{text}");
        assert!(text.contains("/status#incident-7"), "{text}");
        assert!(text.contains("Affects: Frankfurt VPS"), "{text}");
        assert_eq!(
            rows[0].payload["subject"],
            "[Example Hosting status] Frankfurt servers unreachable: Investigating"
        );
    }
}
