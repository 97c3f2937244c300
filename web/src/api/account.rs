//! The caller's own account: profile, balance, transactions.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, MoneyView, PageQuery, PageView, StandingView, TransactionView, UserView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me))
        .routes(routes!(balance))
        .routes(routes!(standing))
        .routes(routes!(transactions))
}

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 429, body = ErrorView)))]
async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<UserView>, ApiError> {
    let user = state
        .core
        .users
        .own_profile(caller.actor(), &caller.0.user)?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateMeRequest {
    /// How you like to be addressed; empty or null to clear.
    #[schema(max_length = 80)]
    pub display_name: Option<String>,
}

/// Changes the caller's profile.
#[utoipa::path(patch, path = "/api/v1/me", tag = "account", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = UserView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<Json<UserView>, ApiError> {
    let user = state
        .core
        .identity
        .update_profile(caller.actor(), body.display_name.as_deref())
        .await?;
    Ok(Json(UserView::from(&user)))
}

/// The caller's prepaid credit.
#[utoipa::path(get, path = "/api/v1/balance", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = MoneyView), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn balance(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MoneyView>, ApiError> {
    let balance = state
        .core
        .ledger
        .balance(caller.actor(), &caller.0.user)
        .await?;
    Ok(Json(MoneyView::new(
        balance,
        &state.core.config.billing.currency,
    )))
}

/// Where the caller stands: balance, what their servers cost an hour, how long the balance
/// lasts, and, below zero, when their servers are suspended.
#[utoipa::path(get, path = "/api/v1/billing/standing", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = StandingView), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn standing(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<StandingView>, ApiError> {
    let standing = state
        .core
        .billing
        .standing(caller.actor(), &caller.0.user)
        .await?;
    Ok(Json(StandingView::new(
        &standing,
        &state.core.config.billing.currency,
    )))
}

/// The caller's transactions, newest first.
#[utoipa::path(get, path = "/api/v1/transactions", tag = "account", security(("bearer" = [])), params(PageQuery, super::payments::ExportQuery),
    responses((status = 200, body = PageView<TransactionView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn transactions(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PageQuery>,
    ApiQuery(filter): ApiQuery<super::payments::ExportQuery>,
) -> Result<Json<PageView<TransactionView>>, ApiError> {
    let filter = hostdeck_core::statements::StatementFilter::parse(
        filter.kind.as_deref(),
        filter.from.as_deref(),
        filter.to.as_deref(),
    )?;
    let page = state
        .core
        .statements
        .transactions(caller.actor(), &caller.0.user, &filter, query.page()?)
        .await?;
    let currency = &state.core.config.billing.currency;
    Ok(Json(PageView::map(&page, |line| {
        TransactionView::new(line, currency)
    })))
}
