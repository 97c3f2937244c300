//! Linking Discord from the account page: a one-time code to type into `/link` (shown once,
//! throttled by core), and the unlink button.

use axum::extract::State;
use axum::response::Response;

use super::context::{PageContext, PortalError, PortalForm, render, see_other, signed_in, when};
use crate::AppState;
use crate::auth::Caller;

#[derive(askama::Template)]
#[template(path = "discord_code.html")]
struct CodePage {
    page: PageContext,
    code: String,
    expires: String,
}

pub async fn link_code(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let code = state.core.discord_links.issue_code(caller.actor()).await?;
    Ok(render(&CodePage {
        page,
        code: secrecy::ExposeSecret::expose_secret(&code.code).to_owned(),
        expires: when(code.expires_at),
    }))
}

pub async fn unlink(
    State(state): State<AppState>,
    caller: Option<Caller>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    state
        .core
        .discord_links
        .unlink_account(caller.actor())
        .await?;
    Ok(see_other("/account?notice=discord-unlinked"))
}
