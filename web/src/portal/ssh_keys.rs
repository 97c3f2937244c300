//! The SSH-key section of the account page: the saved keys, a form to add one, a button to
//! delete one. Keys are chosen on the create page.

use axum::extract::{Path, State};
use axum::response::Response;
use hostdeck_core::Error;
use hostdeck_core::ssh_keys::SshKeyId;

use super::account::{account_error, signed_in, when};
use super::context::{PageContext, PortalError, PortalForm, see_other};
use crate::AppState;
use crate::auth::Caller;

/// A saved key as the account and create pages show it.
pub struct SshKeyRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub fingerprint: String,
    pub created: String,
}

/// The caller's saved keys, oldest first.
pub(super) async fn rows(state: &AppState, caller: &Caller) -> Result<Vec<SshKeyRow>, PortalError> {
    Ok(state
        .core
        .ssh_keys
        .list(caller.actor())
        .await?
        .iter()
        .map(|key| SshKeyRow {
            id: key.id.0,
            name: key.name.clone(),
            kind: key.key.kind().to_owned(),
            fingerprint: key.fingerprint.clone(),
            created: when(key.created_at),
        })
        .collect())
}

pub async fn add(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    match state
        .core
        .ssh_keys
        .add(caller.actor(), form.get("name"), form.get("public_key"))
        .await
    {
        Ok(_) => Ok(see_other("/account?notice=ssh-key-added")),
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(id): Path<String>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id: i64 = id
        .parse()
        .map_err(|_| PortalError(Error::NotFound("There is no such key.".into())))?;
    state
        .core
        .ssh_keys
        .delete(caller.actor(), SshKeyId(id))
        .await?;
    Ok(see_other("/account?notice=ssh-key-deleted"))
}
