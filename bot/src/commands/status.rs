//! `/status` (anyone, in DMs too): the status report as a card. `/incident declare|update|
//! resolve` (support and admin; core checks `ManageIncidents`): staff's incidents and
//! maintenance windows, components picked by autocomplete from `[[status.components]]`, open
//! incidents by autocomplete from core. (Discord does not let a command with subcommands be run
//! on its own, so the staff's subcommands are a command of their own beside `/status`.)

use chrono::{DateTime, NaiveDateTime, Utc};
use hostdeck_core::status::{Declare, Impact, Incident, IncidentId, IncidentKind, IncidentStatus};
use poise::serenity_prelude as serenity;

use crate::Context;
use crate::access::access;
use crate::errors::BotError;
use crate::render::{Answer, Card};
use crate::status_card::{Use, status_card};

/// The status of the platform: its components, incidents and maintenance.
#[poise::command(slash_command)]
pub async fn status(ctx: Context<'_>) -> Result<(), BotError> {
    let core = &ctx.data().core;
    let report = core.status.public_report().await?;
    let public_url = core.config.web.public_url.as_ref().map(url::Url::as_str);
    let card = status_card(&report, public_url, Use::Answer);
    ctx.send(Answer::card(card).reply()).await?;
    Ok(())
}

/// Incidents and maintenance on the status (support and admin).
#[poise::command(
    slash_command,
    subcommands("incident_declare", "incident_update", "incident_resolve"),
    subcommand_required
)]
pub async fn incident(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum KindChoice {
    #[name = "incident"]
    Incident,
    #[name = "maintenance"]
    Maintenance,
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum ImpactChoice {
    #[name = "none"]
    None,
    #[name = "minor"]
    Minor,
    #[name = "major"]
    Major,
    #[name = "critical"]
    Critical,
}

#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum StatusChoice {
    #[name = "investigating"]
    Investigating,
    #[name = "identified"]
    Identified,
    #[name = "monitoring"]
    Monitoring,
}

impl From<ImpactChoice> for Impact {
    fn from(choice: ImpactChoice) -> Self {
        match choice {
            ImpactChoice::None => Self::None,
            ImpactChoice::Minor => Self::Minor,
            ImpactChoice::Major => Self::Major,
            ImpactChoice::Critical => Self::Critical,
        }
    }
}

impl From<StatusChoice> for IncidentStatus {
    fn from(choice: StatusChoice) -> Self {
        match choice {
            StatusChoice::Investigating => Self::Investigating,
            StatusChoice::Identified => Self::Identified,
            StatusChoice::Monitoring => Self::Monitoring,
        }
    }
}

/// The configured components, for autocomplete of a comma-separated list: the ids typed so far
/// are kept and the last one is completed.
async fn components(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let (done, last) = match partial.rsplit_once(',') {
        Some((done, last)) => (format!("{},", done.trim()), last.trim().to_lowercase()),
        None => (String::new(), partial.trim().to_lowercase()),
    };
    let choices = ctx
        .data()
        .core
        .status
        .components()
        .iter()
        .filter(|component| {
            component.id.contains(&last) || component.name.to_lowercase().contains(&last)
        })
        .take(25)
        .map(|component| {
            let value = format!("{done}{}", component.id);
            let label = format!("{value} ({})", component.name);
            serenity::AutocompleteChoice::new(crate::render::truncate(&label, 100), value)
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Incidents and maintenance not resolved, for autocomplete.
async fn open_incidents(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let core = &ctx.data().core;
    let partial = partial.trim().to_lowercase();
    let open = core
        .status
        .incidents(core.clock.now())
        .await
        .unwrap_or_default();
    let choices = open
        .iter()
        .filter(|incident| incident.resolved_at.is_none())
        .filter(|incident| {
            incident.id.to_string().contains(&partial)
                || incident.title.to_lowercase().contains(&partial)
        })
        .take(25)
        .map(|incident| {
            let label = format!("#{} {}", incident.id, incident.title);
            serenity::AutocompleteChoice::new(crate::render::truncate(&label, 100), incident.id.0)
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// A time typed by staff: `2026-12-08 02:00` (UTC) or RFC 3339.
fn entered_time(text: &str) -> hostdeck_core::Result<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M")
        .map(|time| time.and_utc())
        .map_err(|_| {
            hostdeck_core::Error::invalid(
                "window",
                format!("{text:?}: write times in UTC as 2026-12-08 02:00"),
            )
        })
}

/// A maintenance window's start and end, when given.
type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// A window typed by staff: `START to END` (core checks the end is after the start).
fn entered_window(text: Option<&str>) -> hostdeck_core::Result<Window> {
    let Some(text) = text.map(str::trim).filter(|text| !text.is_empty()) else {
        return Ok((None, None));
    };
    let (start, end) = text.split_once(" to ").ok_or_else(|| {
        hostdeck_core::Error::invalid(
            "window",
            "write the window as 2026-12-08 02:00 to 2026-12-08 04:00 (UTC)",
        )
    })?;
    Ok((Some(entered_time(start)?), Some(entered_time(end)?)))
}

/// Sends `card` only to the member.
async fn say(ctx: Context<'_>, card: Card) -> Result<(), BotError> {
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

fn done(what: &str, incident: &Incident) -> Card {
    Card::new(format!("{what}: #{} {}", incident.id, incident.title)).description(format!(
        "Status {}, impact {}. It shows on the status page, in `/status` and the API.",
        incident.status.as_str(),
        incident.impact.as_str()
    ))
}

/// Declares an incident now, or a maintenance window ahead.
#[poise::command(slash_command, rename = "declare")]
pub async fn incident_declare(
    ctx: Context<'_>,
    #[description = "An incident now, or planned maintenance"] kind: KindChoice,
    #[description = "What the public sees, e.g. Amsterdam servers unreachable"]
    #[max_length = 120]
    title: String,
    #[description = "How bad it is"] impact: ImpactChoice,
    #[description = "Component ids, comma-separated"]
    #[autocomplete = "components"]
    components: String,
    #[description = "The first public update"]
    #[max_length = 2000]
    message: String,
    #[description = "Maintenance window in UTC: 2026-12-08 02:00 to 2026-12-08 04:00"]
    window: Option<String>,
) -> Result<(), BotError> {
    let (kind, status) = match kind {
        KindChoice::Incident => (IncidentKind::Incident, IncidentStatus::Investigating),
        KindChoice::Maintenance => (IncidentKind::Maintenance, IncidentStatus::Identified),
    };
    let (starts_at, ends_at) = entered_window(window.as_deref())?;
    let declare = Declare {
        kind,
        title,
        impact: impact.into(),
        components: components
            .split(',')
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .collect(),
        message,
        status,
        starts_at,
        ends_at,
    };
    let actor = access(ctx).await?.actor;
    let incident = ctx.data().core.status.declare(&actor, declare).await?;
    say(ctx, done("Declared", &incident)).await
}

/// Posts a public update to an incident and moves it on.
#[poise::command(slash_command, rename = "update")]
pub async fn incident_update(
    ctx: Context<'_>,
    #[description = "The incident"]
    #[autocomplete = "open_incidents"]
    incident: i64,
    #[description = "Where it stands now"] status: StatusChoice,
    #[description = "The public update"]
    #[max_length = 2000]
    message: String,
) -> Result<(), BotError> {
    let actor = access(ctx).await?.actor;
    let incident = ctx
        .data()
        .core
        .status
        .post_update(&actor, IncidentId(incident), status.into(), &message)
        .await?;
    say(ctx, done("Updated", &incident)).await
}

/// Resolves an incident (or ends maintenance) with a last public update.
#[poise::command(slash_command, rename = "resolve")]
pub async fn incident_resolve(
    ctx: Context<'_>,
    #[description = "The incident"]
    #[autocomplete = "open_incidents"]
    incident: i64,
    #[description = "The last public update"]
    #[max_length = 2000]
    message: String,
) -> Result<(), BotError> {
    let actor = access(ctx).await?.actor;
    let incident = ctx
        .data()
        .core
        .status
        .resolve(&actor, IncidentId(incident), &message)
        .await?;
    say(ctx, done("Resolved", &incident)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_windows_are_utc_in_two_spellings() {
        let start: DateTime<Utc> = "2026-12-08T02:00:00Z".parse().expect("a time");
        let end: DateTime<Utc> = "2026-12-08T04:00:00Z".parse().expect("a time");
        assert_eq!(
            entered_window(Some("2026-12-08 02:00 to 2026-12-08T05:00:00+01:00")).expect("read"),
            (Some(start), Some(end))
        );
        assert_eq!(entered_window(Some("  ")).expect("read"), (None, None));
        assert!(entered_window(Some("tomorrow to later")).is_err());
        assert!(entered_window(Some("2026-12-08 02:00")).is_err());
    }
}
