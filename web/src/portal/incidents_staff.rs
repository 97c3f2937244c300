//! Staff's incident pages (support and admin, `ManageIncidents`, checked by core): the list
//! with the form that declares an incident or a maintenance window (`/admin/incidents`), and
//! one incident with its updates and the forms that post an update or resolve it
//! (`/admin/incidents/{id}`, posting to `/admin/incidents/{id}/update` and `/resolve`).
//! Times typed into the forms are UTC.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, NaiveDateTime, Utc};
use hostdeck_core::status::public::PublicIncident;
use hostdeck_core::status::{Declare, Impact, IncidentId, IncidentKind, IncidentStatus};
use hostdeck_core::{Error, Permission};

use super::context::{
    NoticeQuery, PageContext, PortalError, PortalForm, render, see_other, shown, staff,
};
use super::incident_views::IncidentView;
use crate::AppState;
use crate::auth::Caller;

/// How far back the list shows resolved incidents.
const LISTED_DAYS: i64 = 30;

/// A component to tick in the declare form.
pub struct ComponentChoice {
    id: String,
    name: String,
    checked: bool,
}

/// What was typed into the declare form, shown again after a refusal.
#[derive(Default)]
pub struct Typed {
    kind: String,
    title: String,
    impact: String,
    status: String,
    message: String,
    starts_at: String,
    ends_at: String,
}

#[derive(askama::Template)]
#[template(path = "admin/incidents.html")]
struct IncidentsPage {
    page: PageContext,
    incidents: Vec<IncidentView>,
    components: Vec<ComponentChoice>,
    typed: Typed,
}

async fn list_page(
    state: &AppState,
    page: PageContext,
    typed: Typed,
    chosen: &[&str],
) -> Result<Response, PortalError> {
    let core = &state.core;
    let report = core.status.public_report().await?;
    let since = core.clock.now() - chrono::Duration::days(LISTED_DAYS);
    let incidents = core.status.incidents(since).await?;
    Ok(render(&IncidentsPage {
        page,
        incidents: incidents
            .iter()
            .map(|incident| IncidentView::new(&PublicIncident::of(incident), &report.components))
            .collect(),
        components: report
            .components
            .iter()
            .map(|component| ComponentChoice {
                id: component.id.clone(),
                name: component.name.clone(),
                checked: chosen.contains(&component.id.as_str()),
            })
            .collect(),
        typed,
    }))
}

/// `GET /admin/incidents`.
pub async fn list(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    staff(&state, caller, Permission::ManageIncidents).await?;
    let typed = Typed {
        kind: "incident".into(),
        impact: "minor".into(),
        status: "investigating".into(),
        ..Typed::default()
    };
    list_page(&state, page.notice(query.notice.as_deref()), typed, &[]).await
}

/// A time typed into a form (`2026-12-08T02:00` from a date-time field, or RFC 3339), as UTC;
/// empty is none.
fn typed_time(field: &'static str, text: &str) -> Result<Option<DateTime<Utc>>, Error> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| Error::invalid(field, "write the time as YYYY-MM-DD HH:MM (UTC)"))
}

fn declared(form: &PortalForm) -> Result<Declare, Error> {
    Ok(Declare {
        kind: IncidentKind::parse(form.get("kind"))?,
        title: form.get("title").to_owned(),
        impact: Impact::parse(form.get("impact"))?,
        components: form
            .all("components")
            .into_iter()
            .map(str::to_owned)
            .collect(),
        message: form.get("message").to_owned(),
        status: IncidentStatus::parse(form.get("status"))?,
        starts_at: typed_time("starts_at", form.get("starts_at"))?,
        ends_at: typed_time("ends_at", form.get("ends_at"))?,
    })
}

/// `POST /admin/incidents`: declares; on to its page, or the form again with the refusal.
pub async fn declare(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageIncidents).await?;
    let outcome = match declared(&form) {
        Ok(declare) => state.core.status.declare(caller.actor(), declare).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(incident) => Ok(see_other(&format!(
            "/admin/incidents/{}?notice=incident-declared",
            incident.id
        ))),
        Err(error @ Error::Invalid { .. }) => {
            let typed = Typed {
                kind: form.get("kind").to_owned(),
                title: form.get("title").to_owned(),
                impact: form.get("impact").to_owned(),
                status: form.get("status").to_owned(),
                message: form.get("message").to_owned(),
                starts_at: form.get("starts_at").to_owned(),
                ends_at: form.get("ends_at").to_owned(),
            };
            let chosen = form.all("components");
            list_page(&state, page.error(shown(&error)), typed, &chosen).await
        }
        Err(error) => Err(PortalError(error)),
    }
}

#[derive(askama::Template)]
#[template(path = "admin/incident.html")]
struct IncidentPage {
    page: PageContext,
    incident: IncidentView,
    open: bool,
    maintenance: bool,
}

fn incident_id(text: &str) -> Result<IncidentId, PortalError> {
    text.parse()
        .map(IncidentId)
        .map_err(|_| PortalError(Error::NotFound("There is no such incident.".into())))
}

async fn incident_page(
    state: &AppState,
    page: PageContext,
    id: IncidentId,
) -> Result<Response, PortalError> {
    let incident = state.core.status.incident(id).await?;
    let report = state.core.status.public_report().await?;
    Ok(render(&IncidentPage {
        page,
        open: incident.resolved_at.is_none(),
        maintenance: incident.kind == IncidentKind::Maintenance,
        incident: IncidentView::new(&PublicIncident::of(&incident), &report.components),
    }))
}

/// `GET /admin/incidents/{id}`.
pub async fn show(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    staff(&state, caller, Permission::ManageIncidents).await?;
    incident_page(
        &state,
        page.notice(query.notice.as_deref()),
        incident_id(&id)?,
    )
    .await
}

/// `POST /admin/incidents/{id}/{action}`: `update` (a status and a message) or `resolve`.
pub async fn action(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path((id, action)): Path<(String, String)>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageIncidents).await?;
    let id = incident_id(&id)?;
    let status = &state.core.status;
    let (outcome, notice) = match action.as_str() {
        "update" => match IncidentStatus::parse(form.get("status")) {
            Ok(to) => (
                status
                    .post_update(caller.actor(), id, to, form.get("message"))
                    .await,
                "incident-updated",
            ),
            Err(error) => (Err(error), ""),
        },
        "resolve" => (
            status
                .resolve(caller.actor(), id, form.get("message"))
                .await,
            "incident-resolved",
        ),
        _ => return Err(Error::NotFound("There is no such form.".into()).into()),
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!("/admin/incidents/{id}?notice={notice}"))),
        Err(error @ (Error::Invalid { .. } | Error::Conflict(_))) => {
            incident_page(&state, page.error(shown(&error)), id).await
        }
        Err(error) => Err(PortalError(error)),
    }
}
