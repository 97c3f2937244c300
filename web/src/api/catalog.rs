//! What a create chooses from: plans, locations, and the operating systems of each location.
//! Scope `read:servers`. A create names these exactly; anything else is refused in core.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, PriceView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_plans))
        .routes(routes!(list_locations))
        .routes(routes!(list_templates))
}

/// A plan of the price list.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// What a create's `plan` names.
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub price: PriceView,
}

/// The plans a server can be created with, each with its price.
#[utoipa::path(get, path = "/api/v1/plans", tag = "servers", security(("bearer" = [])),
    responses((status = 200, body = Vec<PlanView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_plans(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let currency = &state.core.config.billing.currency;
    let plans = state.core.servers.plans(caller.actor())?;
    Ok(Json(
        plans
            .iter()
            .map(|quote| PlanView {
                name: quote.plan.clone(),
                vcpus: quote.resources.vcpus,
                memory_mib: quote.resources.memory_mib,
                disk_gib: quote.resources.disk_gib,
                price: PriceView::new(quote, &state.core.pricing, currency),
            })
            .collect(),
    ))
}

/// A location servers can be created in.
#[derive(Debug, Serialize, ToSchema)]
pub struct LocationView {
    /// What a create's `location` names.
    pub name: String,
    /// The platform: VirtFusion, Proxmox VE, Jelastic or sandbox.
    pub platform: String,
    /// Whether servers here can get SSH keys at creation.
    pub ssh_keys: bool,
    /// Whether servers here get a generated root password, shown once in the create's answer.
    pub root_password: bool,
}

/// The locations servers can be created in.
#[utoipa::path(get, path = "/api/v1/locations", tag = "servers", security(("bearer" = [])),
    responses((status = 200, body = Vec<LocationView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_locations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<LocationView>>, ApiError> {
    // The same permission as the plans: somebody who may see servers.
    state.core.servers.plans(caller.actor())?;
    Ok(Json(
        state
            .core
            .servers
            .locations()
            .into_iter()
            .map(|location| LocationView {
                name: location.name,
                platform: location.platform.to_owned(),
                ssh_keys: location.ssh_keys,
                root_password: location.root_password,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct TemplatesQuery {
    /// One location's list; every location's when absent.
    pub location: Option<String>,
}

/// An operating system a location offers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateView {
    pub location: String,
    /// What a create's `template` (or `iso`, when `kind` is iso) names.
    pub id: String,
    /// template or iso.
    pub kind: String,
    pub name: String,
}

/// The operating systems new servers can be installed from: a create's `template` or `iso`
/// must be one of these for its location.
#[utoipa::path(get, path = "/api/v1/templates", tag = "servers", security(("bearer" = [])), params(TemplatesQuery),
    responses((status = 200, body = Vec<TemplateView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 503, body = ErrorView)))]
async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TemplatesQuery>,
) -> Result<Json<Vec<TemplateView>>, ApiError> {
    let offered = state
        .core
        .servers
        .templates(caller.actor(), query.location.as_deref())
        .await?;
    Ok(Json(
        offered
            .into_iter()
            .map(|offered| TemplateView {
                location: offered.location,
                id: offered.id,
                kind: offered.kind.to_owned(),
                name: offered.name,
            })
            .collect(),
    ))
}
