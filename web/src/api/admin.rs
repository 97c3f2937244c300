//! Staff administration: users, credit adjustments, maintenance mode.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use hostdeck_core::Role;
use hostdeck_core::ids::UserId;
use hostdeck_core::money::Money;
use hostdeck_core::users::UserStatus;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, MoneyView, PageView, UserView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(adjust_credits))
        .routes(routes!(
            get_maintenance,
            enable_maintenance,
            disable_maintenance
        ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// Part of the email address.
    pub search: Option<String>,
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Users whose email contains `search`.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserSearch),
    responses((status = 200, body = PageView<UserView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UserSearch>,
) -> Result<Json<PageView<UserView>>, ApiError> {
    let page = hostdeck_core::store::Page::new(query.page.unwrap_or(1), query.limit.unwrap_or(50))?;
    let users = state
        .core
        .users
        .list(caller.actor(), query.search.as_deref(), page)
        .await?;
    Ok(Json(PageView::map(&users, |user| UserView::from(user))))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses((status = 200, body = UserView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<UserView>, ApiError> {
    let actor = caller.actor();
    state
        .core
        .audit
        .require(actor, hostdeck_core::Permission::ReadAnyUser)
        .await?;
    let user = state.core.users.get(actor, UserId(id)).await?;
    Ok(Json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    /// customer, support, billing or admin.
    pub role: Option<String>,
    /// active or disabled.
    pub status: Option<String>,
}

/// Changes a user's role or status.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")), request_body = UpdateUserRequest,
    responses((status = 200, body = UserView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    let actor = caller.actor();
    state
        .core
        .audit
        .require(actor, hostdeck_core::Permission::ManageUsers)
        .await?;
    let mut user = state.core.users.get(actor, UserId(id)).await?;
    if let Some(role) = &body.role {
        user = state
            .core
            .users
            .set_role(actor, UserId(id), Role::parse(role)?)
            .await?;
    }
    if let Some(status) = &body.status {
        user = state
            .core
            .users
            .set_status(actor, UserId(id), UserStatus::parse(status)?)
            .await?;
    }
    Ok(Json(UserView::from(&user)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreditRequest {
    /// Decimal text: digits, then at most the currency's decimals after a point; a leading
    /// minus takes credit away, e.g. "5.00" or "-2.50". No plus sign, spaces or separators.
    pub amount: String,
    /// Why; kept in the ledger and the audit log.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
    /// The same key again with the same request posts nothing new and answers with the first
    /// result; with another customer, amount or reason it is refused (422
    /// `idempotency_mismatch`). Make one per adjustment.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreditView {
    pub posting_id: i64,
    pub amount: MoneyView,
    pub balance_after: Option<MoneyView>,
    /// False when the idempotency key had been used: this is the first result again.
    pub new: bool,
    pub created_at: DateTime<Utc>,
}

/// Adjusts a customer's credit with a reason, through the ledger.
#[utoipa::path(post, path = "/api/v1/admin/users/{id}/credits", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The user's id")), request_body = CreditRequest,
    responses((status = 200, body = CreditView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView),
              (status = 422, body = ErrorView, description = "Invalid input (`invalid`), or `idempotency_key` was used before with a different request (`idempotency_mismatch`)")))]
async fn adjust_credits(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CreditRequest>,
) -> Result<Json<CreditView>, ApiError> {
    let actor = caller.actor();
    state
        .core
        .audit
        .require(actor, hostdeck_core::Permission::AdjustCredits)
        .await?;
    let amount = Money::parse_entered_signed(&body.amount, &state.core.config.billing.currency)?;
    let customer = state.core.users.get(actor, UserId(id)).await?;
    let key = match body.idempotency_key {
        Some(key) if !key.trim().is_empty() => format!("api:{}", key.trim()),
        _ => format!("api:{}", hostdeck_core::auth::sessions::random_id()),
    };
    let outcome = state
        .core
        .ledger
        .adjust(actor, &customer, amount, &body.reason, &key)
        .await?;
    let currency = &state.core.config.billing.currency;
    let posting = outcome.posting();
    let balance_after =
        hostdeck_core::ledger::StatementLine::for_account(posting, customer.wallet).balance_after;
    Ok(Json(CreditView {
        posting_id: posting.id.0,
        amount: MoneyView::new(amount, currency),
        balance_after: balance_after.map(|b| MoneyView::new(b, currency)),
        new: outcome.is_new(),
        created_at: posting.created_at,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceView {
    pub enabled: bool,
    pub message: String,
    pub since: Option<DateTime<Utc>>,
}

impl From<hostdeck_core::maintenance::MaintenanceState> for MaintenanceView {
    fn from(state: hostdeck_core::maintenance::MaintenanceState) -> Self {
        Self {
            enabled: state.enabled,
            message: state.message,
            since: state.since,
        }
    }
}

/// Whether maintenance mode is on.
#[utoipa::path(get, path = "/api/v1/admin/maintenance", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = MaintenanceView), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn get_maintenance(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MaintenanceView>, ApiError> {
    Ok(Json(
        state.core.maintenance.status(caller.actor()).await?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MaintenanceRequest {
    /// What everyone but admins sees meanwhile.
    #[schema(min_length = 1, max_length = 500)]
    pub message: String,
}

/// Turns maintenance mode on.
#[utoipa::path(post, path = "/api/v1/admin/maintenance", tag = "admin", security(("bearer" = [])), request_body = MaintenanceRequest,
    responses((status = 200, body = MaintenanceView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn enable_maintenance(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<MaintenanceRequest>,
) -> Result<Json<MaintenanceView>, ApiError> {
    Ok(Json(
        state
            .core
            .maintenance
            .enable(caller.actor(), &body.message)
            .await?
            .into(),
    ))
}

/// Turns maintenance mode off.
#[utoipa::path(delete, path = "/api/v1/admin/maintenance", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = MaintenanceView), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn disable_maintenance(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<MaintenanceView>, ApiError> {
    Ok(Json(
        state.core.maintenance.disable(caller.actor()).await?.into(),
    ))
}
