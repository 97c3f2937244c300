//! The public status page (`/status`, no sign-in), its Atom feed of incidents
//! (`/status/feed.atom`), and incident emails: subscribing and unsubscribing while signed in,
//! and the unsubscribe link of every email (`/status/unsubscribe?token=...`), which asks before
//! it acts so a mail scanner opening the link changes nothing.
//!
//! Everything shown comes from core's public shapes (`PublicReport`, `PublicIncident`,
//! `DayUptime`), read from the report and the uptime cache the API shares
//! (`Status::overview`): no source is read per request. States are words beside their colours.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hostdeck_core::Via;
use hostdeck_core::status::public::{PublicIncident, PublicReport};
use hostdeck_core::status::{ComponentState, ComponentUptime, DayUptime, Overview};
use serde::Deserialize;

use super::context::{PageContext, PortalError, PortalForm, render, see_other, signed_in, when};
use super::incident_views::IncidentView;
use crate::AppState;
use crate::auth::Caller;
use crate::status_bodies::Body;

/// Days of uptime bars.
const UPTIME_DAYS: u32 = 90;
/// How far back the feed lists resolved incidents.
const FEED_DAYS: i64 = 90;

/// One day of a component's bar.
pub struct DayBar {
    /// `up`, `minor`, `down`, `unknown` or `nodata`: the colour; `words` says the same.
    class: &'static str,
    words: String,
}

pub struct ComponentView {
    name: String,
    state: &'static str,
    label: &'static str,
    reason: &'static str,
    uptime: String,
    bars: Vec<DayBar>,
}

pub struct GroupView {
    name: Option<String>,
    components: Vec<ComponentView>,
}

fn state_class(state: ComponentState) -> &'static str {
    match state {
        ComponentState::Operational => "up",
        ComponentState::Maintenance => "maintenance",
        ComponentState::Unknown => "unknown",
        ComponentState::Degraded => "minor",
        ComponentState::PartialOutage | ComponentState::MajorOutage => "down",
    }
}

fn day_bar(day: &DayUptime) -> DayBar {
    let date = day.day.format("%Y-%m-%d");
    match day.uptime_permille {
        None if day.samples == 0 => DayBar {
            class: "nodata",
            words: format!("{date}: no data"),
        },
        None => DayBar {
            class: "unknown",
            words: format!("{date}: not known (our checks could not tell)"),
        },
        Some(permille) => {
            // What is known to be wrong shows; a day known only in part is never drawn as up.
            let unknown_permille = day.unknown * 1000 / day.samples.max(1);
            DayBar {
                class: match permille {
                    999.. if unknown_permille > UNKNOWN_PERMILLE_SHOWN_UP => "unknown",
                    999.. => "up",
                    950..=998 => "minor",
                    _ => "down",
                },
                words: format!(
                    "{date}: {}.{}% up{}",
                    permille / 10,
                    permille % 10,
                    if day.unknown > 0 {
                        format!(
                            " while known; {}.{}% of the day not known",
                            unknown_permille / 10,
                            unknown_permille % 10
                        )
                    } else {
                        String::new()
                    }
                ),
            }
        }
    }
}

/// The share of a day (per mille) that may be unknown with the day still drawn as up: about a
/// quarter of an hour of checks that could not tell.
const UNKNOWN_PERMILLE_SHOWN_UP: u64 = 10;

/// "99.8% up over the 12 days with data (78 days without data)".
fn uptime_words(days: &[DayUptime]) -> String {
    let (mut up, mut known, mut without) = (0u64, 0u64, 0usize);
    for day in days {
        match day.uptime_permille {
            Some(permille) => {
                let counted = day.samples - day.unknown;
                up += u64::from(permille) * counted;
                known += counted;
            }
            None => without += 1,
        }
    }
    if known == 0 {
        return format!("No uptime data for the last {} days", days.len());
    }
    let permille = up / known;
    let with = days.len() - without;
    let mut words = format!(
        "{}.{}% up over the {with} day{} with data",
        permille / 10,
        permille % 10,
        if with == 1 { "" } else { "s" }
    );
    if without > 0 {
        words.push_str(&format!(" ({without} without data)"));
    }
    words
}

/// The components under their groups, in the configured order (a group where it first
/// appears).
fn groups(report: &PublicReport, uptime: &[ComponentUptime]) -> Vec<GroupView> {
    let mut groups: Vec<GroupView> = Vec::new();
    for component in &report.components {
        let days = uptime
            .iter()
            .find(|each| each.id == component.id)
            .map(|each| each.days.as_slice())
            .unwrap_or_default();
        let view = ComponentView {
            name: component.name.clone(),
            state: state_class(component.state),
            label: component.state_label,
            reason: component.reason,
            uptime: uptime_words(days),
            bars: days.iter().map(day_bar).collect(),
        };
        match groups
            .iter_mut()
            .find(|group| group.name == component.group)
        {
            Some(group) => group.components.push(view),
            None => groups.push(GroupView {
                name: component.group.clone(),
                components: vec![view],
            }),
        }
    }
    groups
}

#[derive(Debug, Default, Deserialize)]
pub struct StatusQuery {
    notice: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "status.html")]
struct StatusPage {
    page: PageContext,
    headline: &'static str,
    overall: &'static str,
    checked: String,
    stale: bool,
    maintenance_notice: Option<String>,
    groups: Vec<GroupView>,
    active: Vec<IncidentView>,
    scheduled: Vec<IncidentView>,
    resolved: Vec<IncidentView>,
    monitoring: Vec<String>,
    /// `None`: not signed in; else whether they get incident emails.
    subscribed: Option<bool>,
}

/// `GET /status`.
pub async fn page(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<StatusQuery>,
) -> Result<Response, PortalError> {
    let status = &state.core.status;
    let html = |body| ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    // Everybody not signed in, with no notice, sees the same page: written once per report.
    let anybody = caller.is_none() && query.notice.is_none();
    if anybody && let Some(body) = state.status_bodies.now(status, Body::Page) {
        return Ok(html(body));
    }
    let changes = status.changes();
    let overview = status.overview(UPTIME_DAYS).await?;
    if anybody {
        let key = status.stamp_of(changes, &overview.report);
        let body = state.status_bodies.get_or_write(Body::Page, key, || {
            status_page(page, overview.clone(), None)
                .render()
                .map(String::into_bytes)
                .map_err(|error| {
                    hostdeck_core::Error::internal("rendering a page", error.to_string())
                })
        })?;
        return Ok(html(body));
    }
    let subscribed = match &caller {
        Some(caller) => Some(status.subscribed(caller.actor()).await?),
        None => None,
    };
    Ok(render(&status_page(
        page.notice(query.notice.as_deref()),
        overview,
        subscribed,
    )))
}

/// The page of `overview`; `subscribed` is `None` for somebody not signed in.
fn status_page(page: PageContext, overview: Overview, subscribed: Option<bool>) -> StatusPage {
    let Overview { report, uptime } = overview;
    let incidents = |list: &[PublicIncident]| {
        list.iter()
            .map(|incident| IncidentView::new(incident, &report.components))
            .collect()
    };
    StatusPage {
        page,
        headline: report.headline,
        overall: state_class(report.overall),
        checked: report
            .checked_at
            .map_or_else(|| "not checked yet".to_owned(), when),
        stale: report.stale,
        maintenance_notice: report.maintenance_notice.clone(),
        groups: groups(&report, &uptime),
        active: incidents(&report.active),
        scheduled: incidents(&report.scheduled),
        resolved: incidents(&report.resolved),
        monitoring: report
            .monitoring_notices
            .iter()
            .map(|notice| match (notice.starts_at, notice.ends_at) {
                (Some(start), Some(end)) => {
                    format!("{} ({} to {})", notice.title, when(start), when(end))
                }
                (Some(start), None) => format!("{} (since {})", notice.title, when(start)),
                _ => notice.title.to_owned(),
            })
            .collect(),
        subscribed,
    }
}

pub struct FeedEntry {
    id: String,
    title: String,
    link: String,
    published: String,
    updated: String,
    summary: String,
    content: String,
}

#[derive(askama::Template)]
#[template(path = "status_feed.xml")]
struct Feed {
    id: String,
    title: String,
    page: String,
    own: String,
    updated: String,
    author: String,
    entries: Vec<FeedEntry>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `GET /status/feed.atom`: hostdeck's incidents and maintenance windows, open and from the
/// last 90 days, newest first; each entry's text is its updates in order.
pub async fn feed(State(state): State<AppState>) -> Result<Response, PortalError> {
    let core = &state.core;
    let now = core.clock.now();
    let report = core.status.public_report().await?;
    let incidents = core
        .status
        .incidents(now - chrono::Duration::days(FEED_DAYS))
        .await?;
    let page = core.config.web.portal_url("/status");
    let entries: Vec<FeedEntry> = incidents
        .iter()
        .map(|incident| {
            let public = PublicIncident::of(incident);
            let view = IncidentView::new(&public, &report.components);
            let updated = public
                .updates
                .last()
                .map_or(public.created_at, |update| update.at);
            let mut content = vec![format!(
                "{} ({}, {}). Affects: {}.",
                view.kind, view.status, view.impact, view.components
            )];
            if let Some(window) = &view.window {
                content.push(format!("Window: {window}."));
            }
            content.extend(
                view.updates
                    .iter()
                    .map(|update| format!("{}: {}: {}", update.at, update.status, update.message)),
            );
            FeedEntry {
                id: format!("{page}#incident-{}", public.id),
                link: format!("{page}#incident-{}", public.id),
                title: format!("{}: {} ({})", view.kind, view.title, view.status),
                published: rfc3339(public.created_at),
                updated: rfc3339(updated),
                summary: view
                    .updates
                    .last()
                    .map(|update| update.message.clone())
                    .unwrap_or_default(),
                content: content.join("\n\n"),
            }
        })
        .collect();
    let updated = incidents
        .iter()
        .flat_map(|incident| incident.updates.iter().map(|update| update.at))
        .max()
        .or(report.checked_at)
        .unwrap_or(report.generated_at);
    let feed = Feed {
        id: page.clone(),
        title: format!(
            "{} status: incidents and maintenance",
            core.config.company.name
        ),
        own: core.config.web.portal_url("/status/feed.atom"),
        page,
        updated: rfc3339(updated),
        author: core.config.company.name.clone(),
        entries,
    };
    let xml = askama::Template::render(&feed).map_err(|error| {
        PortalError(hostdeck_core::Error::internal(
            "rendering the status feed",
            error.to_string(),
        ))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/atom+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        xml,
    )
        .into_response())
}

/// `POST /status/subscribe`.
pub async fn subscribe(
    State(state): State<AppState>,
    caller: Option<Caller>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    state.core.status.subscribe(caller.actor()).await?;
    Ok(see_other("/status?notice=status-subscribed"))
}

/// `POST /status/unsubscribe`: signed in, or with the token of an email's link.
pub async fn unsubscribe(
    State(state): State<AppState>,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let token = form.get("token");
    if token.is_empty() {
        let caller = signed_in(caller)?;
        state.core.status.unsubscribe(caller.actor()).await?;
    } else {
        let anonymous = hostdeck_core::Actor::anonymous(Via::Portal);
        let actor = caller.as_ref().map_or(&anonymous, Caller::actor);
        state.core.status.unsubscribe_link(actor, token).await?;
    }
    Ok(see_other("/status?notice=status-unsubscribed"))
}

#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "status_unsubscribe.html")]
struct UnsubscribePage {
    page: PageContext,
    token: String,
}

/// `GET /status/unsubscribe?token=...`: the email's link; a button confirms.
pub async fn unsubscribe_page(page: PageContext, Query(query): Query<TokenQuery>) -> Response {
    render(&UnsubscribePage {
        page,
        token: query.token.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(samples: u64, unknown: u64, permille: Option<u32>) -> DayUptime {
        DayUptime {
            day: chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap_or_default(),
            samples,
            unknown,
            worst: None,
            uptime_permille: permille,
        }
    }

    #[test]
    fn days_without_data_are_not_up() {
        assert_eq!(day_bar(&day(0, 0, None)).class, "nodata");
        assert_eq!(day_bar(&day(10, 10, None)).class, "unknown");
        assert_eq!(day_bar(&day(10, 0, Some(1000))).class, "up");
        assert_eq!(day_bar(&day(10, 0, Some(500))).class, "down");
        // Up while known, but a third of the day not known: not drawn as up.
        let partly = day_bar(&day(30, 10, Some(1000)));
        assert_eq!(partly.class, "unknown");
        assert!(
            partly.words.contains("33.3% of the day not known"),
            "{}",
            partly.words
        );
        // A few minutes not known: still up, and the words say so.
        let mostly = day_bar(&day(1440, 5, Some(1000)));
        assert_eq!(mostly.class, "up");
        assert!(mostly.words.contains("not known"), "{}", mostly.words);
        // Known downtime shows whatever else is unknown.
        assert_eq!(day_bar(&day(30, 10, Some(500))).class, "down");
        assert_eq!(
            uptime_words(&[day(0, 0, None), day(0, 0, None)]),
            "No uptime data for the last 2 days"
        );
        assert_eq!(
            uptime_words(&[
                day(10, 0, Some(1000)),
                day(0, 0, None),
                day(10, 0, Some(900))
            ]),
            "95.0% up over the 2 days with data (1 without data)"
        );
    }
}
