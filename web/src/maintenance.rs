//! Maintenance mode at the door: core decides whom it admits (while it is on, only admins); the
//! refused get its notice. The router puts this gate only around the routes maintenance closes:
//! health checks, metrics, webhooks, the OpenAPI document and signing in and out are routed
//! outside it (an admin must be able to sign in to turn it off). The actor comes from the
//! verified session or key, never from anything the client could set.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hostdeck_core::Error;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::portal::PortalError;

/// The API's gate: the refusal is JSON.
pub async fn api_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    gate(&state, request, next, |refusal| {
        ApiError(refusal).into_response()
    })
    .await
}

/// The portal's gate: the refusal is the maintenance page.
pub async fn portal_gate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    gate(&state, request, next, |refusal| {
        PortalError(refusal).into_response()
    })
    .await
}

async fn gate(
    state: &AppState,
    request: Request,
    next: Next,
    refuse: impl FnOnce(Error) -> Response,
) -> Response {
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
    let mut response = refuse(refusal);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("300"));
    response
}
