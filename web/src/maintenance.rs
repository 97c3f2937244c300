//! Maintenance mode at the door: while it is on, everyone but admins gets a maintenance answer.
//! Health checks, metrics, webhooks and signing in stay open (an admin must be able to sign in
//! to turn it off). Admin is decided from the verified session or key, never from anything
//! the client could set, and paths are matched exactly as routed.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hostdeck_core::{Error, Role};

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
    let maintenance = match state.core.maintenance.current().await {
        Ok(maintenance) => maintenance,
        // Without the database nothing works anyway; let the request fail on its own.
        Err(_) => return next.run(request).await,
    };
    if !maintenance.enabled {
        return next.run(request).await;
    }
    let admin = request
        .extensions()
        .get::<Caller>()
        .is_some_and(|caller| caller.0.user.role == Role::Admin);
    if admin {
        return next.run(request).await;
    }
    let message = format!(
        "{} is under maintenance: {}",
        state.core.config.company.name, maintenance.message
    );
    let mut response = if path.starts_with("/api/") {
        ApiError(Error::Unavailable(message)).into_response()
    } else {
        crate::portal::PortalError(Error::Unavailable(message)).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
    response
}
