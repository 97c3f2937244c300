//! Every error answer in its door's shape: JSON (`crate::error`) in the API's and the webhooks'
//! rooms, a portal page in the portal's and the operators' rooms; also for answers made outside
//! any handler and for addresses nothing answers. Each room of the router ([`crate::router`])
//! puts its own shaping layer around itself, so nothing here looks at the path.

use axum::extract::{OriginalUri, Request, State};
use axum::http::{Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hostdeck_core::Error;

use crate::AppState;
use crate::error::{ApiError, error_of_status};
use crate::portal::{PortalError, page_of_error};

fn nothing_at(uri: &Uri) -> Error {
    Error::NotFound(format!("There is nothing at {}.", uri.path()))
}

/// An address nothing answers under `/api/` or `/webhooks/`: JSON. The whole address is named
/// (the room is nested, so the request's own URI has lost its prefix).
pub async fn not_found_json(OriginalUri(uri): OriginalUri) -> Response {
    ApiError(nothing_at(&uri)).into_response()
}

/// An address nothing answers on the portal: a page.
pub async fn not_found_page(uri: Uri) -> Response {
    PortalError(nothing_at(&uri)).into_response()
}

/// Gives every error answer of the API and the webhooks the JSON shape (see [`uniform`]).
pub async fn json(State(state): State<AppState>, request: Request, next: Next) -> Response {
    uniform(&state, true, request, next).await
}

/// Gives every error answer of the portal and the operators' endpoints a page (see
/// [`uniform`]).
pub async fn page(State(state): State<AppState>, request: Request, next: Next) -> Response {
    uniform(&state, false, request, next).await
}

/// Gives every error answer the shape of its door. An error answer with no JSON or HTML body
/// (axum's rejections of ids, queries and forms, the body limit's 413, an unknown method's 405,
/// the timeout's 408) becomes `{"error":{"code","message"}}` when `json`, and a page
/// otherwise, with the same status.
async fn uniform(state: &AppState, json: bool, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("application/json") || kind.starts_with("text/html"));
    if shaped {
        return response;
    }
    let error = error_of_status(status, state.core.config.web.max_body_bytes);
    let mut shaped = if json {
        ApiError(error).into_response()
    } else {
        page_of_error(state, error)
    };
    *shaped.status_mut() = status;
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}
