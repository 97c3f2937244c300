//! SSH public keys saved on the caller's account, to choose when a server is created.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hostdeck_core::ssh_keys::{SavedSshKey, SshKeyId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorView;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_ssh_keys, add_ssh_key))
        .routes(routes!(delete_ssh_key))
}

/// A saved SSH public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct SshKeyView {
    /// What a create's `ssh_key_ids` names.
    pub id: i64,
    pub name: String,
    /// The public key line.
    pub public_key: String,
    /// `SHA256:...`, as `ssh-keygen -l` shows it.
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

impl From<&SavedSshKey> for SshKeyView {
    fn from(key: &SavedSshKey) -> Self {
        Self {
            id: key.id.0,
            name: key.name.clone(),
            public_key: key.key.as_str().to_owned(),
            fingerprint: key.fingerprint.clone(),
            created_at: key.created_at,
        }
    }
}

/// The SSH keys saved on the caller's account.
#[utoipa::path(get, path = "/api/v1/ssh-keys", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<SshKeyView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_ssh_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<SshKeyView>>, ApiError> {
    let keys = state.core.ssh_keys.list(caller.actor()).await?;
    Ok(Json(keys.iter().map(SshKeyView::from).collect()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddSshKeyRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    /// One OpenSSH public key line: ssh-ed25519, ecdsa-sha2-nistp256/384/521, or ssh-rsa of at
    /// least 2048 bits; no options.
    #[schema(max_length = 4096)]
    pub public_key: String,
}

/// Saves an SSH public key on the caller's account.
#[utoipa::path(post, path = "/api/v1/ssh-keys", tag = "account", security(("bearer" = [])), request_body = AddSshKeyRequest,
    responses((status = 201, body = SshKeyView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn add_ssh_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<AddSshKeyRequest>,
) -> Result<(StatusCode, Json<SshKeyView>), ApiError> {
    let saved = state
        .core
        .ssh_keys
        .add(caller.actor(), &body.name, &body.public_key)
        .await?;
    Ok((StatusCode::CREATED, Json(SshKeyView::from(&saved))))
}

/// Deletes one of the caller's saved SSH keys (servers made with it keep it).
#[utoipa::path(delete, path = "/api/v1/ssh-keys/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The key's id")),
    responses((status = 204), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn delete_ssh_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .core
        .ssh_keys
        .delete(caller.actor(), SshKeyId(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
