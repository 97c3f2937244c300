//! The caller's personal API keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hostdeck_core::policy::Scope;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiKeyView, ErrorView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// The caller's API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, body = Vec<ApiKeyView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    let keys = state.core.auth.api_keys.list(caller.actor()).await?;
    Ok(Json(keys.iter().map(ApiKeyView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Any of read:user, read:servers, write:servers, read:billing, read:tickets, write:tickets,
    /// admin:users, admin:billing, admin:system, write:status (only those your role can use).
    pub scopes: Vec<String>,
    /// When the key stops working; never if absent.
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    /// The key. It is shown only this once: store it now.
    pub key: String,
    pub api_key: ApiKeyView,
}

/// Creates an API key. The answer is the only time the key is shown.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", security(("bearer" = [])), request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> Result<(StatusCode, Json<CreatedKeyView>), ApiError> {
    let scopes = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let created = state
        .core
        .auth
        .api_keys
        .create(caller.actor(), &body.name, &scopes, body.expires_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKeyView {
            key: created.key.expose_secret().to_owned(),
            api_key: ApiKeyView::from(&created.info),
        }),
    ))
}

/// Revokes one of the caller's API keys.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "api-keys", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.core.auth.api_keys.revoke(caller.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
