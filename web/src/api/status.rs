//! The status: `GET /api/v1/status` (the public report and 90 days of uptime per component) and
//! `GET /api/v1/status/summary.json` (the shape Statuspage clients read), both without
//! authentication, open during maintenance, and answered from the stored report (core computes
//! it on a schedule; nothing here reads BetterStack or a check), with a short `max-age`. Staff
//! declare, update and resolve incidents with the `write:status` scope (or a session); core
//! checks `ManageIncidents`. Every shape is built from core's allow-listed public report.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use hostdeck_core::Permission;
use hostdeck_core::status::public::{PublicIncident, PublicReport, Summary, SummaryIncident};
use hostdeck_core::status::{
    Declare, Impact, Incident, IncidentId, IncidentKind, IncidentStatus, Overview,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorView;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};
use crate::status_bodies::Body;

/// Days of uptime `GET /api/v1/status` shows per component.
const UPTIME_DAYS: u32 = 90;
/// How long clients and proxies may reuse an answer (the report changes once a refresh).
const CACHE_CONTROL: &str = "public, max-age=15";

/// Open during maintenance: reading the status.
pub fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_status))
        .routes(routes!(get_summary))
}

/// Staff's incident routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(declare_incident))
        .routes(routes!(post_update))
        .routes(routes!(resolve_incident))
}

/// The status of the platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// "All systems operational" only when every component is known and operational.
    pub headline: String,
    /// The worst component state: operational, maintenance, unknown, degraded,
    /// partial_outage or major_outage.
    pub overall: String,
    pub all_operational: bool,
    pub generated_at: DateTime<Utc>,
    /// When the sources were last read (null: never).
    pub checked_at: Option<DateTime<Utc>>,
    /// The last reading is too old to trust (its components are unknown).
    pub stale: bool,
    pub components: Vec<StatusComponentView>,
    /// Open incidents and maintenance in progress.
    pub active: Vec<IncidentView>,
    /// Maintenance windows ahead.
    pub scheduled: Vec<IncidentView>,
    /// Incidents resolved in the last days.
    pub resolved: Vec<IncidentView>,
    /// What maintenance mode tells people, while it is on.
    pub maintenance_notice: Option<String>,
    /// Incidents and maintenance reported by the monitoring's own status page.
    pub monitoring_notices: Vec<MonitoringNoticeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusComponentView {
    pub id: String,
    pub name: String,
    pub group: Option<String>,
    /// operational, maintenance, unknown, degraded, partial_outage or major_outage.
    pub state: String,
    pub state_label: String,
    /// Why, in words.
    pub reason: String,
    pub checked_at: Option<DateTime<Utc>>,
    /// The last 90 UTC days, today last.
    pub uptime: Vec<DayUptimeView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayUptimeView {
    pub day: NaiveDate,
    /// Samples taken that day (one per refresh).
    pub samples: u64,
    /// Of them, how many found the component unknown.
    pub unknown: u64,
    /// The worst state seen that day (null: no samples).
    pub worst: Option<String>,
    /// Of the samples whose state was known, the share up, in thousandths (null: nothing known).
    pub uptime_permille: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    pub id: i64,
    /// incident or maintenance.
    pub kind: String,
    pub title: String,
    /// none, minor, major or critical.
    pub impact: String,
    /// investigating, identified, monitoring or resolved.
    pub status: String,
    /// Ids of the components it affects.
    pub components: Vec<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Public updates, oldest first.
    pub updates: Vec<IncidentUpdateView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentUpdateView {
    pub status: String,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MonitoringNoticeView {
    pub title: String,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
}

impl From<&PublicIncident> for IncidentView {
    fn from(incident: &PublicIncident) -> Self {
        Self {
            id: incident.id,
            kind: incident.kind.as_str().to_owned(),
            title: incident.title.clone(),
            impact: incident.impact.as_str().to_owned(),
            status: incident.status.as_str().to_owned(),
            components: incident.components.clone(),
            starts_at: incident.starts_at,
            ends_at: incident.ends_at,
            created_at: incident.created_at,
            resolved_at: incident.resolved_at,
            updates: incident
                .updates
                .iter()
                .map(|update| IncidentUpdateView {
                    status: update.status.as_str().to_owned(),
                    message: update.message.clone(),
                    at: update.at,
                })
                .collect(),
        }
    }
}

impl From<&Incident> for IncidentView {
    fn from(incident: &Incident) -> Self {
        Self::from(&PublicIncident::of(incident))
    }
}

impl StatusView {
    fn of(overview: &Overview) -> Self {
        let report: &PublicReport = &overview.report;
        let incidents = |list: &[PublicIncident]| list.iter().map(IncidentView::from).collect();
        Self {
            headline: report.headline.to_owned(),
            overall: report.overall.as_str().to_owned(),
            all_operational: report.all_operational,
            generated_at: report.generated_at,
            checked_at: report.checked_at,
            stale: report.stale,
            components: report
                .components
                .iter()
                .map(|component| StatusComponentView {
                    id: component.id.clone(),
                    name: component.name.clone(),
                    group: component.group.clone(),
                    state: component.state.as_str().to_owned(),
                    state_label: component.state_label.to_owned(),
                    reason: component.reason.to_owned(),
                    checked_at: component.checked_at,
                    uptime: overview
                        .uptime
                        .iter()
                        .find(|uptime| uptime.id == component.id)
                        .map(|uptime| {
                            uptime
                                .days
                                .iter()
                                .map(|day| DayUptimeView {
                                    day: day.day,
                                    samples: day.samples,
                                    unknown: day.unknown,
                                    worst: day.worst.map(|state| state.as_str().to_owned()),
                                    uptime_permille: day.uptime_permille,
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
            active: incidents(&report.active),
            scheduled: incidents(&report.scheduled),
            resolved: incidents(&report.resolved),
            maintenance_notice: report.maintenance_notice.clone(),
            monitoring_notices: report
                .monitoring_notices
                .iter()
                .map(|notice| MonitoringNoticeView {
                    title: notice.title.to_owned(),
                    starts_at: notice.starts_at,
                    ends_at: notice.ends_at,
                })
                .collect(),
        }
    }
}

/// The Statuspage summary (`/api/v2/summary.json` of Atlassian Statuspage).
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    pub page: SummaryPageView,
    pub status: SummaryStatusView,
    pub components: Vec<SummaryComponentView>,
    pub incidents: Vec<SummaryIncidentView>,
    pub scheduled_maintenances: Vec<SummaryIncidentView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryPageView {
    pub id: String,
    pub name: String,
    /// The public status page, when the portal's public address is set.
    pub url: Option<String>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryStatusView {
    /// none, minor, major or critical. Unknown components make it at least minor.
    pub indicator: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryComponentView {
    pub id: String,
    pub name: String,
    /// operational, degraded_performance (also when unknown), partial_outage, major_outage or
    /// under_maintenance.
    pub status: String,
    pub group_name: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub position: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryIncidentView {
    pub id: String,
    pub name: String,
    /// investigating, identified, monitoring, resolved; maintenance: scheduled or completed.
    pub status: String,
    pub impact: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub scheduled_for: Option<DateTime<Utc>>,
    pub scheduled_until: Option<DateTime<Utc>>,
    /// Newest first.
    pub incident_updates: Vec<SummaryUpdateView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryUpdateView {
    pub status: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

impl From<&SummaryIncident> for SummaryIncidentView {
    fn from(incident: &SummaryIncident) -> Self {
        Self {
            id: incident.id.clone(),
            name: incident.name.clone(),
            status: incident.status.to_owned(),
            impact: incident.impact.to_owned(),
            created_at: incident.created_at,
            updated_at: incident.updated_at,
            scheduled_for: incident.scheduled_for,
            scheduled_until: incident.scheduled_until,
            incident_updates: incident
                .incident_updates
                .iter()
                .map(|update| SummaryUpdateView {
                    status: update.status.to_owned(),
                    body: update.body.clone(),
                    created_at: update.created_at,
                })
                .collect(),
        }
    }
}

impl From<&Summary> for SummaryView {
    fn from(summary: &Summary) -> Self {
        Self {
            page: SummaryPageView {
                id: summary.page.id.to_owned(),
                name: summary.page.name.clone(),
                url: summary.page.url.clone(),
                updated_at: summary.page.updated_at,
            },
            status: SummaryStatusView {
                indicator: summary.status.indicator.to_owned(),
                description: summary.status.description.to_owned(),
            },
            components: summary
                .components
                .iter()
                .map(|component| SummaryComponentView {
                    id: component.id.clone(),
                    name: component.name.clone(),
                    status: component.status.to_owned(),
                    group_name: component.group_name.clone(),
                    updated_at: component.updated_at,
                    position: component.position,
                })
                .collect(),
            incidents: summary.incidents.iter().map(Into::into).collect(),
            scheduled_maintenances: summary
                .scheduled_maintenances
                .iter()
                .map(Into::into)
                .collect(),
        }
    }
}

/// A JSON body of the status, written once per report (see [`StatusBodies`]), with the
/// status's short cache lifetime.
fn json_once<T: Serialize>(
    state: &AppState,
    which: Body,
    key: String,
    write: impl FnOnce() -> T,
) -> Result<Response, ApiError> {
    let body = state.status_bodies.get_or_write(which, key, || {
        serde_json::to_vec(&write())
            .map_err(|error| hostdeck_core::Error::internal("writing the status", error))
    })?;
    Ok(json_body(body))
}

fn json_body(body: axum::body::Bytes) -> Response {
    (
        [
            (header::CACHE_CONTROL, CACHE_CONTROL),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body,
    )
        .into_response()
}

/// The status of the platform: each component's state with the reason in words and 90 days
/// of uptime, open incidents and maintenance with their updates, maintenance ahead. Needs no
/// authentication. What is not known is shown as unknown, never as operational.
#[utoipa::path(get, path = "/api/v1/status", tag = "status", security(()),
    responses((status = 200, body = StatusView, headers(("cache-control" = String))),
              (status = 503, body = ErrorView)))]
async fn get_status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = &state.core.status;
    if let Some(body) = state.status_bodies.now(status, Body::Status) {
        return Ok(json_body(body));
    }
    let changes = status.changes();
    let overview = status.overview(UPTIME_DAYS).await?;
    let key = status.stamp_of(changes, &overview.report);
    json_once(&state, Body::Status, key, || StatusView::of(&overview))
}

/// The status in the shape Atlassian Statuspage's `summary.json` has, for status widgets and
/// bots. Needs no authentication.
#[utoipa::path(get, path = "/api/v1/status/summary.json", tag = "status", security(()),
    responses((status = 200, body = SummaryView, headers(("cache-control" = String))),
              (status = 503, body = ErrorView)))]
async fn get_summary(State(state): State<AppState>) -> Result<Response, ApiError> {
    let status = &state.core.status;
    if let Some(body) = state.status_bodies.now(status, Body::Summary) {
        return Ok(json_body(body));
    }
    let page = state
        .core
        .config
        .web
        .public_url
        .as_ref()
        .map(|base| format!("{}/status", base.as_str().trim_end_matches('/')));
    let changes = status.changes();
    let report = status.public_report().await?;
    let key = status.stamp_of(changes, &report);
    json_once(&state, Body::Summary, key, || {
        SummaryView::from(&status.summary_of(&report, page))
    })
}

/// The permission first (audited), before the body's words are read: who may not declare
/// learns nothing about what a valid body looks like.
async fn refuse_early(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
    state
        .core
        .audit
        .require(caller.actor(), Permission::ManageIncidents)
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeclareRequest {
    /// incident (now) or maintenance (a window ahead or in progress).
    pub kind: String,
    /// What the public sees, up to 120 characters.
    pub title: String,
    /// none, minor, major or critical.
    pub impact: String,
    /// Ids of the components it affects (see `GET /api/v1/status`).
    pub components: Vec<String>,
    /// The first public update.
    pub message: String,
    /// investigating (default for incidents), identified (default for maintenance) or
    /// monitoring.
    pub status: Option<String>,
    /// Maintenance: the window's start (required). Incidents: when it began (default now).
    pub starts_at: Option<DateTime<Utc>>,
    /// Maintenance: the window's end (required, after the start).
    pub ends_at: Option<DateTime<Utc>>,
}

/// Staff (support, admin): declares an incident or a maintenance window. It shows in the
/// status at once and is posted in the Discord status channel once.
#[utoipa::path(post, path = "/api/v1/status/incidents", tag = "status", security(("bearer" = [])),
    request_body = DeclareRequest,
    responses((status = 201, body = IncidentView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn declare_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DeclareRequest>,
) -> Result<(StatusCode, Json<IncidentView>), ApiError> {
    refuse_early(&state, &caller).await?;
    let kind = IncidentKind::parse(&request.kind)?;
    let status = match request.status.as_deref() {
        Some(status) => IncidentStatus::parse(status)?,
        None if kind == IncidentKind::Maintenance => IncidentStatus::Identified,
        None => IncidentStatus::Investigating,
    };
    let declare = Declare {
        kind,
        title: request.title,
        impact: Impact::parse(&request.impact)?,
        components: request.components,
        message: request.message,
        status,
        starts_at: request.starts_at,
        ends_at: request.ends_at,
    };
    let incident = state.core.status.declare(caller.actor(), declare).await?;
    Ok((StatusCode::CREATED, Json(IncidentView::from(&incident))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRequest {
    /// investigating, identified, monitoring or resolved (which ends it).
    pub status: String,
    /// The public update.
    pub message: String,
}

/// Staff: posts a public update to an incident and moves it to `status`.
#[utoipa::path(post, path = "/api/v1/status/incidents/{id}/updates", tag = "status",
    security(("bearer" = [])), params(("id" = i64, Path, description = "The incident's id")),
    request_body = UpdateRequest,
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView),
              (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn post_update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<UpdateRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    refuse_early(&state, &caller).await?;
    let status = IncidentStatus::parse(&request.status)?;
    let incident = state
        .core
        .status
        .post_update(caller.actor(), IncidentId(id), status, &request.message)
        .await?;
    Ok(Json(IncidentView::from(&incident)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveRequest {
    /// The last public update.
    pub message: String,
}

/// Staff: resolves an incident (or ends maintenance) with a last public update.
#[utoipa::path(post, path = "/api/v1/status/incidents/{id}/resolve", tag = "status",
    security(("bearer" = [])), params(("id" = i64, Path, description = "The incident's id")),
    request_body = ResolveRequest,
    responses((status = 200, body = IncidentView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView),
              (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn resolve_incident(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let incident = state
        .core
        .status
        .resolve(caller.actor(), IncidentId(id), &request.message)
        .await?;
    Ok(Json(IncidentView::from(&incident)))
}
