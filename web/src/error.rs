//! From a core [`Error`] to an HTTP answer: the status from the stable code, and
//! `{"error":{"code","message"}}` (plus `field` for invalid input). Internal errors are logged
//! with their cause under a reference id; the body carries only the apology and the reference.
//!
//! Answers made outside any handler (a malformed id, a body too large or of the wrong type, an
//! unknown method, a timeout) take the same shape through the layers of `error_shape`: JSON in
//! the API's and the webhooks' rooms, a page in the others.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hostdeck_core::Error;
use hostdeck_core::error::{ErrorCode, new_reference};
use serde_json::json;

/// A core error on its way out of a handler.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.0;
        let code = error.code();
        let reference = new_reference();
        if code == ErrorCode::Internal {
            tracing::error!(reference, error = ?error, "internal error");
        }
        let mut body =
            json!({ "code": code.as_str(), "message": error.public_message(&reference) });
        match &error {
            Error::Invalid {
                field: Some(field), ..
            } => body["field"] = json!(field),
            Error::Internal { .. } => body["reference"] = json!(reference),
            _ => {}
        }
        let status = status_of(code);
        let mut response = (status, Json(json!({ "error": body }))).into_response();
        if let Error::RateLimited { retry_after, .. } = &error {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// A JSON body, whose parse errors come out in the API's error shape naming what is wrong.
pub struct ApiJson<T>(pub T);

impl<S, T> axum::extract::FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Unreadable;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            // 400 for JSON that does not parse, 413 for a body too large, 415 for another
            // content type, 422 for JSON of the wrong shape: each with code `invalid`.
            Err(rejection) => Err(Unreadable {
                status: rejection.status(),
                error: Error::Invalid {
                    field: None,
                    message: rejection.body_text(),
                },
            }),
        }
    }
}

/// A request the API could not read: the usual shape with code `invalid`, under the status
/// that says why (400, 413, 415 or 422).
#[derive(Debug)]
pub struct Unreadable {
    pub status: StatusCode,
    pub error: Error,
}

impl IntoResponse for Unreadable {
    fn into_response(self) -> Response {
        let mut response = ApiError(self.error).into_response();
        if self.status.is_client_error() {
            *response.status_mut() = self.status;
        }
        response
    }
}

/// Query parameters, with the same error shape.
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError(Error::Invalid {
                field: None,
                message: rejection.body_text(),
            })),
        }
    }
}

/// Path parameters. An id that cannot be one (not a number, or out of range) names nothing
/// that exists: a 404 in the usual shape, as for an id that is not there.
pub struct ApiPath<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError(Error::NotFound(format!(
                "There is nothing at {}.",
                parts.uri.path()
            )))),
        }
    }
}

/// What an error answer without a body of its own means, by its status.
pub fn error_of_status(status: StatusCode, max_body: usize) -> Error {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Error::Invalid {
            field: None,
            message: format!(
                "The request body is larger than the {max_body} bytes this server accepts; \
                 send less."
            ),
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Error::Invalid {
            field: None,
            message: "This content type is not accepted here; send JSON with \
                      Content-Type: application/json (forms on the portal)."
                .into(),
        },
        StatusCode::METHOD_NOT_ALLOWED => Error::Invalid {
            field: None,
            message: "This address does not take that method; see the Allow header.".into(),
        },
        StatusCode::NOT_FOUND => Error::NotFound("There is nothing at this address.".into()),
        StatusCode::UNAUTHORIZED => Error::Unauthenticated("Sign in first.".into()),
        StatusCode::FORBIDDEN => Error::Forbidden("This is not allowed.".into()),
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            message: "Too many requests; wait a moment and try again.".into(),
            retry_after: std::time::Duration::from_secs(1),
        },
        StatusCode::REQUEST_TIMEOUT
        | StatusCode::SERVICE_UNAVAILABLE
        | StatusCode::GATEWAY_TIMEOUT => Error::Unavailable(
            "The request took too long or could not be served now; try again in a moment.".into(),
        ),
        status if status.is_server_error() => Error::internal(
            "answering a request",
            format!("an answer with status {status} and no body"),
        ),
        _ => Error::Invalid {
            field: None,
            message: "The request could not be read; check the address, its parameters and \
                      the body."
                .into(),
        },
    }
}

/// The answer when a handler panicked: logged, and a 500 in the usual shape.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError(Error::internal("answering a request", "a handler panicked")).into_response()
}
