//! Maintenance mode at the door: core decides whom it admits (while it is on, only admins); the
//! refused get its notice. Health checks, metrics, webhooks and signing in stay open (an admin
//! must be able to sign in to turn it off). The actor comes from the verified session or key,
//! never from anything the client could set, and paths are matched exactly as routed.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

const OPEN_PATHS: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/openapi.json",
    "/api/v1/auth/login",
    "/api/v1/auth/logout",
    "/login",
    "/logout",
    "/assets/portal.css",
];
const OPEN_PREFIXES: &[&str] = &["/webhooks/"];

pub async fn gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) || OPEN_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        return next.run(request).await;
    }
    let actor = request
        .extensions()
        .get::<Caller>()
        .map(|caller| caller.actor().clone());
    let admitted = state
        .core
        .maintenance
        .admit(actor.as_ref(), &state.core.config.company.name)
        .await;
    let Err(refusal) = admitted else {
        return next.run(request).await;
    };
    let mut response = if path.starts_with("/api/") {
        ApiError(refusal).into_response()
    } else {
        crate::portal::PortalError(refusal).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
    response
}
