//! hostdeck-web: the HTTP front door. Handlers stay thin: read the request, build the actor,
//! call core, render. No rule of the business lives here.
//!
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`metrics`]: the Prometheus recorder and `/metrics`.
//! - [`error`]: how a core error becomes a JSON answer; [`error_shape`]: every error answer in
//!   its door's shape (JSON or a page).
//! - [`auth`]: bearer tokens and API keys, rate limits, the client's address; [`cookies`]: the
//!   portal's cookies; [`public_url`]: where the platform is reached.
//! - [`portal`], [`api`], [`webhooks`]: the doors.
//! - [`security_headers`]: CSP, framing, sniffing, referrer and HSTS on every answer.
//! - [`router`]: every route and the middleware around them.

pub mod api;
pub mod auth;
pub mod cookies;
pub mod download;
pub mod error;
pub mod error_shape;
pub mod health;
pub mod maintenance;
pub mod metrics;
pub mod portal;
pub mod public_url;
pub mod security_headers;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, StatusCode, header};
use axum::routing::get;
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
}

impl AppState {
    pub fn new(core: Arc<Core>, metrics: PrometheusHandle) -> Self {
        let (_, openapi) = api::routes();
        Self {
            core,
            metrics,
            openapi: Arc::new(openapi),
        }
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface with its middleware: request ids, tracing (with credentials kept out
/// of the log), a per-request timeout, a body size limit, metrics, a 500 instead of a
/// dropped connection if a handler panics, and every error answer in its door's shape.
pub fn router(state: AppState) -> Router {
    let config = &state.core.config.web;
    let timeout = config.request_timeout;
    let max_body = config.max_body_bytes;
    let (api, _) = api::routes();
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::render))
        .route("/api/openapi.json", get(api::openapi))
        .route("/webhooks/paypal", axum::routing::post(webhooks::paypal))
        .merge(api)
        .merge(portal::routes())
        .fallback(error_shape::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            maintenance::gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            portal::csrf,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            portal::session,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(
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
                .layer(RequestBodyLimitLayer::new(max_body))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                )),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error_shape::uniform,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::apply,
        ))
        .with_state(state)
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
