//! Staff pages: users, a user's detail with credit adjustment, maintenance mode.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::ids::UserId;
use hostdeck_core::money::Money;
use hostdeck_core::store::Page;
use hostdeck_core::users::UserStatus;
use hostdeck_core::{Error, Permission, Role};
use serde::Deserialize;

use super::context::{
    LineRow, PageContext, PortalError, PortalForm, render, see_other, shown, staff, when,
};
use crate::AppState;
use crate::auth::Caller;

#[derive(Debug, Default, Deserialize)]
pub struct UsersQuery {
    search: Option<String>,
    page: Option<u32>,
    notice: Option<String>,
}

pub struct UserRow {
    id: i64,
    email: String,
    role: &'static str,
    status: &'static str,
    created: String,
}

#[derive(askama::Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    page: PageContext,
    search: String,
    search_query: String,
    users: Vec<UserRow>,
    page_number: u32,
    pages: u32,
    total: u64,
}

pub async fn users(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ReadAnyUser).await?;
    let search = query.search.unwrap_or_default();
    let listed = state
        .core
        .users
        .list(
            caller.actor(),
            Some(&search),
            Page::new(query.page.unwrap_or(1).max(1), 50)?,
        )
        .await?;
    Ok(render(&UsersPage {
        page: page.notice(query.notice.as_deref()),
        search_query: url::form_urlencoded::byte_serialize(search.as_bytes()).collect(),
        search,
        users: listed
            .items
            .iter()
            .map(|user| UserRow {
                id: user.id.0,
                email: user.email.clone(),
                role: user.role.as_str(),
                status: user.status.as_str(),
                created: when(user.created_at),
            })
            .collect(),
        page_number: listed.page,
        pages: u32::try_from(listed.pages().max(1)).unwrap_or(u32::MAX),
        total: listed.total,
    }))
}

#[derive(askama::Template)]
#[template(path = "admin/user.html")]
struct UserPage {
    page: PageContext,
    id: i64,
    email: String,
    role: &'static str,
    status: &'static str,
    created: String,
    balance: String,
    currency: String,
    can_manage: bool,
    can_adjust: bool,
    roles: Vec<String>,
    idempotency_key: String,
    transactions: Vec<LineRow>,
}

async fn user_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: UserId,
) -> Result<Response, PortalError> {
    let actor = caller.actor();
    let user = state.core.users.get(actor, id).await?;
    let currency = &state.core.config.billing.currency;
    let can_see_billing = actor.can(Permission::ReadAnyBilling);
    let (balance, transactions) = if can_see_billing {
        let balance = state.core.ledger.balance(actor, &user).await?;
        let lines = state
            .core
            .ledger
            .statement(actor, &user, Page::first(25))
            .await?;
        (
            balance.display(currency),
            lines
                .items
                .iter()
                .map(|line| LineRow::new(line, currency))
                .collect(),
        )
    } else {
        ("hidden (billing staff only)".to_owned(), Vec::new())
    };
    Ok(render(&UserPage {
        page,
        id: user.id.0,
        email: user.email.clone(),
        role: user.role.as_str(),
        status: user.status.as_str(),
        created: when(user.created_at),
        balance,
        currency: currency.to_string(),
        can_manage: actor.can(Permission::ManageUsers),
        can_adjust: actor.can(Permission::AdjustCredits),
        roles: Role::ALL
            .iter()
            .map(|role| role.as_str().to_owned())
            .collect(),
        // One key per rendering of the form: a double-click posts once.
        idempotency_key: hostdeck_core::auth::sessions::random_id(),
        transactions,
    }))
}

pub async fn user(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ReadAnyUser).await?;
    user_view(
        &state,
        page.notice(query.notice.as_deref()),
        &caller,
        UserId(id),
    )
    .await
}

async fn user_error(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: UserId,
    error: Error,
) -> Result<Response, PortalError> {
    if matches!(
        error,
        Error::Internal { .. } | Error::Unavailable(_) | Error::NotFound(_)
    ) {
        return Err(PortalError(error));
    }
    user_view(state, page.error(shown(&error)), caller, id).await
}

pub async fn credits(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::AdjustCredits).await?;
    let id = UserId(id);
    let customer = state.core.users.get(caller.actor(), id).await?;
    let key = format!("portal:{}", form.get("idempotency_key"));
    let outcome = match Money::parse_entered_signed(
        form.get("amount"),
        &state.core.config.billing.currency,
    ) {
        Ok(amount) => {
            state
                .core
                .ledger
                .adjust(caller.actor(), &customer, amount, form.get("reason"), &key)
                .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?notice=adjusted"))),
        Err(error) => user_error(&state, page, &caller, id, error).await,
    }
}

/// After a change to a user: back to their page, or their page with the error.
async fn user_updated(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: UserId,
    outcome: hostdeck_core::Result<hostdeck_core::users::User>,
) -> Result<Response, PortalError> {
    match outcome {
        Ok(_) => Ok(see_other(&format!("/admin/users/{id}?notice=user-updated"))),
        Err(error) => user_error(state, page, caller, id, error).await,
    }
}

pub async fn role(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageUsers).await?;
    let id = UserId(id);
    let outcome = match Role::parse(form.get("role")) {
        Ok(role) => state.core.users.set_role(caller.actor(), id, role).await,
        Err(error) => Err(error),
    };
    user_updated(&state, page, &caller, id, outcome).await
}

pub async fn status(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageUsers).await?;
    let id = UserId(id);
    let outcome = match UserStatus::parse(form.get("status")) {
        Ok(status) => {
            state
                .core
                .users
                .set_status(caller.actor(), id, status)
                .await
        }
        Err(error) => Err(error),
    };
    user_updated(&state, page, &caller, id, outcome).await
}

#[derive(askama::Template)]
#[template(path = "admin/maintenance.html")]
struct MaintenancePage {
    page: PageContext,
    enabled: bool,
    message: String,
    since: String,
}

pub async fn maintenance_page(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<UsersQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageMaintenance).await?;
    let current = state.core.maintenance.status(caller.actor()).await?;
    Ok(render(&MaintenancePage {
        page: page.notice(query.notice.as_deref()),
        enabled: current.enabled,
        message: current.message,
        since: current.since.map(when).unwrap_or_default(),
    }))
}

pub async fn maintenance(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageMaintenance).await?;
    let outcome = match form.get("action") {
        "enable" => {
            state
                .core
                .maintenance
                .enable(caller.actor(), form.get("message"))
                .await
        }
        _ => state.core.maintenance.disable(caller.actor()).await,
    };
    match outcome {
        Ok(_) => Ok(see_other("/admin/maintenance?notice=maintenance")),
        Err(error) if matches!(error, Error::Invalid { .. }) => {
            let current = state.core.maintenance.current().await?;
            Ok(render(&MaintenancePage {
                page: page.error(shown(&error)),
                enabled: current.enabled,
                message: current.message,
                since: current.since.map(when).unwrap_or_default(),
            }))
        }
        Err(error) => Err(PortalError(error)),
    }
}
