//! hostdeck-web: the HTTP front door. Handlers stay thin: read the request, build the actor,
//! call core, render. No rule of the business lives here.
//!
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: the Prometheus recorder and `/metrics`.
//! - [`error`]: how a core error becomes a JSON answer; [`error_shape`]: the layers that give
//!   every error answer its room's shape (JSON or a page).
//! - [`auth`]: bearer tokens and API keys, rate limits, the client's address; [`cookies`]: the
//!   portal's cookies; [`public_url`]: where the platform is reached.
//! - [`portal`], [`api`], [`webhooks`]: the doors.
//! - [`security_headers`]: CSP, framing, sniffing, referrer and HSTS on every answer.
//! - [`maintenance`]: the gate maintenance mode puts around the rooms it closes.
//! - [`status_bodies`]: the public status routes' bodies, written once per report.
//! - [`download`]: files to save; [`sla_report`]: the tickets' SLA report over typed dates;
//!   both for the portal and the API alike.
//! - [`router`]: every route, in a room per area (API, webhooks, operators, portal), each
//!   with its own middleware.

pub mod api;
pub mod auth;
pub mod cookies;
pub mod download;
pub mod error;
pub mod error_shape;
pub mod health;
pub mod maintenance;
pub mod markdown;
pub mod metrics;
pub mod portal;
pub mod public_url;
pub mod security_headers;
pub mod sla_report;
pub mod status_bodies;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use hostdeck_core::Core;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub metrics: PrometheusHandle,
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// The status routes' bodies, written once per report.
    pub status_bodies: Arc<status_bodies::StatusBodies>,
}

impl AppState {
    pub fn new(core: Arc<Core>, metrics: PrometheusHandle) -> Self {
        Self {
            core,
            metrics,
            openapi: Arc::new(api::routes().openapi),
            status_bodies: Arc::default(),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface: a room per area, each with its own middleware, and security headers
/// on every answer.
///
/// - the API (`/api/`): bearer tokens, JSON errors, a JSON 404 for any address under `/api/`
///   nothing answers; maintenance closes it except for the OpenAPI document and signing in and
///   out;
/// - the webhooks (`/webhooks/`): the portal's session layer, JSON errors, always open;
/// - the operators' endpoints (`/healthz`, `/readyz`, `/metrics`): the portal's session and
///   form-token layers and error pages, always open;
/// - the portal (every other address): the session cookie, form tokens, error pages and a
///   page for any address nothing answers; maintenance closes it except for signing in and out
///   and the stylesheet.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api_room(&state))
        .merge(webhook_room(&state))
        .merge(ops_room(&state))
        .merge(portal_room(&state))
        .layer(from_fn_with_state(state.clone(), security_headers::apply))
        .with_state(state)
}

fn api_room(state: &AppState) -> Router<AppState> {
    let api::Routes { open, gated, .. } = api::routes();
    let gated = gated
        .nest("/api/", Router::new().fallback(error_shape::not_found_json))
        .layer(from_fn_with_state(state.clone(), maintenance::api_gate));
    let room = Router::new()
        .route("/api/openapi.json", get(api::openapi))
        .merge(open)
        .merge(gated)
        .layer(from_fn_with_state(state.clone(), auth::authenticate));
    shared_layers(room, state).layer(from_fn_with_state(state.clone(), error_shape::json))
}

fn webhook_room(state: &AppState) -> Router<AppState> {
    let room = Router::new()
        .nest(
            "/webhooks/",
            Router::new()
                .route("/paypal", post(webhooks::paypal))
                .fallback(error_shape::not_found_json),
        )
        // A portal session cookie sent here is checked and counted as on the portal.
        .layer(from_fn_with_state(state.clone(), portal::session));
    shared_layers(room, state).layer(from_fn_with_state(state.clone(), error_shape::json))
}

fn ops_room(state: &AppState) -> Router<AppState> {
    let room = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        // As on the portal: a browser gets its visit cookie here too, a state-changing request
        // must be a form of this site (so a POST is refused with 415 before the 405), and a
        // session cookie is checked and counted.
        .layer(from_fn_with_state(state.clone(), portal::csrf))
        .layer(from_fn_with_state(state.clone(), portal::session));
    shared_layers(room, state).layer(from_fn_with_state(state.clone(), error_shape::page))
}

fn portal_room(state: &AppState) -> Router<AppState> {
    let gated = portal::routes()
        .fallback(error_shape::not_found_page)
        .layer(from_fn_with_state(state.clone(), maintenance::portal_gate));
    let room = portal::open_routes()
        .merge(gated)
        .layer(from_fn_with_state(state.clone(), portal::csrf))
        .layer(from_fn_with_state(state.clone(), portal::session));
    shared_layers(room, state).layer(from_fn_with_state(state.clone(), error_shape::page))
}

/// What every room has around its own middleware, inside its error shaping (so the body
/// limit's 413 and the timeout's 408 come out in the room's shape): request ids, tracing (with
/// credentials kept out of the log), a 500 instead of a dropped connection if a handler panics,
/// a body size limit, a per-request timeout, and metrics.
fn shared_layers(room: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.core.config.web;
    room.layer(axum::middleware::from_fn(metrics::track)).layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                header::SET_COOKIE,
            ]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(make_span)
                    .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(CatchPanicLayer::custom(error::panicked))
            .layer(RequestBodyLimitLayer::new(config.max_body_bytes))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            )),
    )
}

fn make_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id,
    )
}

/// How long a graceful shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
