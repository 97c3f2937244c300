//! Every error answer in its door's shape: JSON (`crate::error`) under `/api/` and `/webhooks/`,
//! a portal page everywhere else; also for answers made outside any handler and for addresses
//! nothing answers.

use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use hostdeck_core::Error;

use crate::error::{ApiError, error_of_status};
use crate::portal::{PortalError, page_of_error};

/// Whether `path` is answered in JSON (the API and webhooks) rather than with pages.
pub fn speaks_json(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/webhooks/")
}

/// An address nothing answers: JSON for the API, a page on the portal.
pub async fn not_found(uri: Uri) -> Response {
    let error = Error::NotFound(format!("There is nothing at {}.", uri.path()));
    if speaks_json(uri.path()) {
        ApiError(error).into_response()
    } else {
        PortalError(error).into_response()
    }
}

/// Gives every error answer the shape of its door. An error answer with no JSON or HTML body
/// (axum's rejections of ids, queries and forms, the body limit's 413, an unknown method's 405,
/// the timeout's 408) becomes `{"error":{"code","message"}}` under `/api/` and `/webhooks/`,
/// and a page elsewhere, with the same status.
pub async fn uniform(
    axum::extract::State(state): axum::extract::State<crate::AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let json = speaks_json(request.uri().path());
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
        page_of_error(&state, error)
    };
    *shaped.status_mut() = status;
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(value) = response.headers().get(&name) {
            shaped.headers_mut().insert(name, value.clone());
        }
    }
    shaped
}
