//! hostdeck's own incidents and maintenance windows: support and admin staff (with two-factor)
//! declare them, post public updates in order and resolve them; anyone reads them. Every change
//! is audited and shows in the report at once in this process (the others within the report's
//! two-second cache).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::Status;
use super::subscriptions::{Change, IncidentMail};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::notify::{ChannelPost, DISCORD_CHANNEL};
use crate::policy::{Actor, Permission};
use crate::records::outbox::NewOutboxMessage;
use crate::records::status::{
    Impact, Incident, IncidentId, IncidentKind, IncidentStatus, IncidentUpdate, NewIncident,
    Subscriber,
};

const TITLE_CHARS: usize = 120;
const MESSAGE_CHARS: usize = 2000;
/// A post in the status channel: Discord's 2,000 characters, less room for the role's mention.
const POST_CHARS: usize = 1960;

/// What staff declare: an incident now, or a maintenance window ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declare {
    pub kind: IncidentKind,
    pub title: String,
    pub impact: Impact,
    /// Ids of configured components.
    pub components: Vec<String>,
    /// The first public update.
    pub message: String,
    /// Where it stands (`investigating` for most incidents; `identified` for maintenance).
    pub status: IncidentStatus,
    /// Maintenance: the window (both required). Incidents: when it began (default now).
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl Status {
    pub async fn declare(&self, actor: &Actor, declare: Declare) -> Result<Incident> {
        self.audit
            .require(actor, Permission::ManageIncidents)
            .await?;
        let title = crate::text::name("title", "the title", &declare.title, TITLE_CHARS)?;
        let message = crate::text::note("message", "the update", &declare.message, MESSAGE_CHARS)?;
        if declare.components.is_empty() {
            return Err(Error::invalid(
                "components",
                "name at least one component it affects",
            ));
        }
        for id in &declare.components {
            if !self.components.iter().any(|component| &component.id == id) {
                return Err(Error::invalid(
                    "components",
                    format!("there is no component {id:?}; see the status page for their ids"),
                ));
            }
        }
        if declare.status == IncidentStatus::Resolved {
            return Err(Error::invalid(
                "status",
                "a new incident cannot start resolved",
            ));
        }
        let now = self.clock.now();
        let (starts_at, ends_at) = match declare.kind {
            IncidentKind::Maintenance => match (declare.starts_at, declare.ends_at) {
                (Some(start), Some(end)) if start < end => (Some(start), Some(end)),
                _ => {
                    return Err(Error::invalid(
                        "ends_at",
                        "a maintenance window needs a start and an end after it",
                    ));
                }
            },
            IncidentKind::Incident => (Some(declare.starts_at.unwrap_or(now)), None),
        };
        let mut new = NewIncident {
            kind: declare.kind,
            title,
            impact: declare.impact,
            components: declare.components,
            starts_at,
            ends_at,
            first_update: IncidentUpdate {
                status: declare.status,
                message,
                at: now,
                author: actor.user,
            },
            announce: None,
        };
        new.announce = self.announcement(&new);
        let mail = IncidentMail {
            change: Change::Declared,
            kind: new.kind,
            title: new.title.clone(),
            status: new.first_update.status,
            message: new.first_update.message.clone(),
            components: IncidentMail::names(&self.components, &new.components),
            starts_at,
            ends_at,
        };
        let notices =
            |id: IncidentId, subscribers: &[Subscriber]| mail.rows(&self.config, id, subscribers);
        let incident = self
            .store
            .status()
            .insert_incident(&new, now, &notices)
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "status.incident.declare")
                    .target(format!("incident:{}", incident.id))
                    .detail(json!({
                        "kind": incident.kind.as_str(),
                        "impact": incident.impact.as_str(),
                        "components": incident.components,
                    })),
            )
            .await?;
        self.forget_cached();
        Ok(incident)
    }

    /// The status channel's post about a new incident or maintenance window (with the one
    /// configured role's ping), or `None` without `discord.status_channel_id`. Only what the
    /// public sees: the title, impact, the components' names, the window and the first update.
    fn announcement(&self, new: &NewIncident) -> Option<NewOutboxMessage> {
        let channel = self.config.discord.status_channel_id?;
        let names: Vec<&str> = new
            .components
            .iter()
            .filter_map(|id| self.components.iter().find(|known| &known.id == id))
            .map(|component| component.name.as_str())
            .collect();
        let mut content = match (new.kind, new.starts_at, new.ends_at) {
            (IncidentKind::Maintenance, Some(start), Some(end)) => format!(
                "**Scheduled maintenance: {}**\nFrom <t:{}:f> to <t:{}:f>. Affects: {}.",
                plain_markdown(&new.title),
                start.timestamp(),
                end.timestamp(),
                plain_markdown(&names.join(", ")),
            ),
            _ => format!(
                "**Incident: {}**\nImpact: {}. Affects: {}.",
                plain_markdown(&new.title),
                new.impact.as_str(),
                plain_markdown(&names.join(", ")),
            ),
        };
        let link = match &self.config.web.public_url {
            Some(page) => format!("\nStatus: <{}/status>", page.as_str().trim_end_matches('/')),
            None => String::new(),
        };
        // The update is shortened, not the post refused: it fits beside the rest and the role's
        // mention the bot puts first, and the link to the page stays.
        let room = POST_CHARS.saturating_sub(discord_chars(&content) + discord_chars(&link) + 1);
        content.push('\n');
        content.push_str(&shortened(&plain_markdown(&new.first_update.message), room));
        content.push_str(&link);
        let post = ChannelPost {
            content,
            ping_role: self.config.status.incident_role_id,
        };
        Some(NewOutboxMessage {
            channel: DISCORD_CHANNEL.to_owned(),
            recipient: channel.to_string(),
            payload: serde_json::to_value(&post).unwrap_or_default(),
        })
    }

    /// Posts a public update and moves the incident to `status` (`resolved` ends it).
    pub async fn post_update(
        &self,
        actor: &Actor,
        id: IncidentId,
        status: IncidentStatus,
        message: &str,
    ) -> Result<Incident> {
        self.audit
            .require(actor, Permission::ManageIncidents)
            .await?;
        let message = crate::text::note("message", "the update", message, MESSAGE_CHARS)?;
        let current = self.incident(id).await?;
        if current.resolved_at.is_some() {
            return Err(Error::Conflict(format!(
                "Incident {id} is resolved already; declare a new one if the problem is back."
            )));
        }
        let update = IncidentUpdate {
            status,
            message,
            at: self.clock.now(),
            author: actor.user,
        };
        let mail = IncidentMail {
            change: Change::Updated,
            kind: current.kind,
            title: current.title.clone(),
            status,
            message: update.message.clone(),
            components: IncidentMail::names(&self.components, &current.components),
            starts_at: current.starts_at,
            ends_at: current.ends_at,
        };
        let notices =
            |id: IncidentId, subscribers: &[Subscriber]| mail.rows(&self.config, id, subscribers);
        let incident = self
            .store
            .status()
            .add_incident_update(id, &update, &notices)
            .await?;
        let Some(incident) = incident else {
            // Not there, or resolved since it was read above (a racing resolve).
            self.incident(id).await?;
            return Err(Error::Conflict(format!(
                "Incident {id} is resolved already; declare a new one if the problem is back."
            )));
        };
        let action = if status == IncidentStatus::Resolved {
            "status.incident.resolve"
        } else {
            "status.incident.update"
        };
        self.audit
            .record(
                AuditEntry::new(actor, action)
                    .target(format!("incident:{id}"))
                    .detail(json!({ "status": status.as_str() })),
            )
            .await?;
        self.forget_cached();
        Ok(incident)
    }

    /// Resolves an incident (or ends a maintenance window) with a last public update.
    pub async fn resolve(&self, actor: &Actor, id: IncidentId, message: &str) -> Result<Incident> {
        self.post_update(actor, id, IncidentStatus::Resolved, message)
            .await
    }

    /// One incident with its updates (public).
    pub async fn incident(&self, id: IncidentId) -> Result<Incident> {
        self.store
            .status()
            .incident(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no incident {id}.")))
    }

    /// Open incidents, maintenance ahead or in progress, and those resolved since `since`,
    /// newest first (public).
    pub async fn incidents(&self, since: DateTime<Utc>) -> Result<Vec<Incident>> {
        self.store.status().recent_incidents(since).await
    }
}

/// How many characters `text` takes once the bot has made it inert: a zero-width space follows
/// every `@` (see the bot's `render::inert`), so an `@` counts twice.
fn discord_chars(text: &str) -> usize {
    text.chars()
        .map(|c| if matches!(c, '@' | '\u{FF20}') { 2 } else { 1 })
        .sum()
}

/// `text` in at most `max` characters as [`discord_chars`] counts them, ending in "…" when
/// cut (never in a dangling escape).
fn shortened(text: &str, max: usize) -> String {
    if discord_chars(text) <= max {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let width = discord_chars(c.encode_utf8(&mut [0; 4]));
        if used + width > max.saturating_sub(1) {
            break;
        }
        used += width;
        out.push(c);
    }
    while out.ends_with('\\') {
        out.pop();
    }
    out.push('…');
    out
}

/// Text shown as itself in Discord's markdown: every character that could start formatting, a
/// masked link or a heading gets a backslash, so what staff wrote cannot turn into a link,
/// a heading or a spoiler. (Mentions are the bot's business: it sends with none allowed and
/// breaks every `@`.)
pub fn plain_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for c in text.chars() {
        let special = matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '<' | '>'
        ) || (line_start && matches!(c, '#' | '-' | '+'));
        if special {
            out.push('\\');
        }
        out.push(c);
        line_start = c == '\n' || (line_start && c.is_whitespace());
    }
    out
}
