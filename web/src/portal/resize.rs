//! Resizing a server in the portal: the server page offers the plans, this module shows the
//! new price beside the current one (per hour and per month, and what the hour of the resize
//! costs) and resizes once the customer confirms with a CSRF-checked form. The rules, checks
//! and billing are core's (`Servers::quote_resize`, `Servers::resize`).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::ErrorCode;
use hostdeck_core::pricing::Size;
use serde::Deserialize;

use super::account::signed_in;
use super::context::{PageContext, PortalError, PortalForm, render, see_other, shown};
use super::servers::{server_id, server_view};
use crate::AppState;
use crate::auth::Caller;

#[derive(Debug, Deserialize)]
pub struct ResizeChoice {
    #[serde(default)]
    plan: String,
}

#[derive(askama::Template)]
#[template(path = "server_resize.html")]
struct ResizePage {
    page: PageContext,
    id: i64,
    name: String,
    plan: String,
    from_resources: String,
    from_per_hour: String,
    from_per_month: String,
    to_resources: String,
    to_per_hour: String,
    to_per_month: String,
    billing_note: &'static str,
    caveat: &'static str,
}

/// The price of the chosen plan beside the server's, and the button that resizes. A resize
/// core refuses (a shrinking disk, a suspended server) is shown on the server's page.
pub async fn review(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    Query(choice): Query<ResizeChoice>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let size = Size::Plan(choice.plan.clone());
    let quote = match state
        .core
        .servers
        .quote_resize(caller.actor(), id, &size)
        .await
    {
        Ok(quote) => quote,
        Err(error) if error.code() == ErrorCode::NotFound => return Err(error.into()),
        Err(error) => {
            let text = shown(&error);
            return server_view(&state, page.error(text), &caller, id).await;
        }
    };
    let currency = &state.core.config.billing.currency;
    Ok(render(&ResizePage {
        page,
        id: id.0,
        name: quote.server.name.clone(),
        plan: quote.to.plan.clone(),
        from_resources: quote.from.resources.to_string(),
        from_per_hour: format!("{} {}", quote.from.per_hour_text(), currency.code()),
        from_per_month: state
            .core
            .pricing
            .monthly_price(&quote.from)
            .display(currency),
        to_resources: quote.to.resources.to_string(),
        to_per_hour: format!("{} {}", quote.to.per_hour_text(), currency.code()),
        to_per_month: quote.per_month.display(currency),
        billing_note: quote.billing_note(),
        caveat: quote.caveat(),
    }))
}

pub async fn resize(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let size = Size::Plan(form.get("plan").to_owned());
    match state.core.servers.resize(caller.actor(), id, &size).await {
        Ok(_) => Ok(see_other(&format!("/servers/{id}?notice=server-resized"))),
        Err(error) if error.code() == ErrorCode::NotFound => Err(error.into()),
        Err(error) => {
            let text = shown(&error);
            server_view(&state, page.error(text), &caller, id).await
        }
    }
}
