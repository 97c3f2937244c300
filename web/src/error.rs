//! From a core [`Error`] to an HTTP answer: the status from the stable code, and
//! `{"error":{"code","message"}}` (plus `field` for invalid input). Internal errors are logged
//! with their cause under a reference id; the body carries only the apology and the reference.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, Uri, header};
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
        let status = match &error {
            Error::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            _ => status_of(code),
        };
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
    type Rejection = ApiError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError(Error::Invalid {
                field: None,
                message: rejection.body_text(),
            })),
        }
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

pub async fn not_found(uri: Uri) -> ApiError {
    ApiError(Error::NotFound(format!(
        "There is nothing at {}.",
        uri.path()
    )))
}

/// The answer when a handler panicked: logged, and a 500 in the usual shape.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError(Error::internal("answering a request", "a handler panicked")).into_response()
}
