//! Top-ups with PayPal and the caller's statement exports.
//!
//! A client creates an order (the server sets the amount's currency and checks its limits),
//! sends the person to `approve_url`, and after approval asks for the capture; only then is
//! credit added. PayPal's webhooks credit the same capture if the client never comes back.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::DateTime;
use chrono::Utc;
use hostdeck_core::Permission;
use hostdeck_core::money::Money;
use hostdeck_core::payments::Settlement;
use hostdeck_core::store::payments::StoredOrder;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, MoneyView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::public_url::create_topup_order;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(capture_order))
        .routes(routes!(export_csv))
        .routes(routes!(statement_pdf))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateOrderRequest {
    /// The amount to top up, as decimal text in the platform's currency: digits, then at most
    /// the currency's decimals after a point, e.g. "10" or "10.00". No sign, spaces or
    /// separators.
    pub amount: String,
}

/// A PayPal order of the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: String,
    pub amount: MoneyView,
    /// created, completed, pending, declined, failed or cancelled.
    pub status: String,
    pub capture_id: Option<String>,
    /// Where to send the person to approve the payment (only when just created).
    pub approve_url: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl OrderView {
    fn new(order: &StoredOrder, state: &AppState, approve_url: Option<String>) -> Self {
        Self {
            id: order.id.clone(),
            amount: MoneyView::new(order.amount, &state.core.config.billing.currency),
            status: order.status.as_str().into(),
            capture_id: order.capture_id.clone(),
            approve_url,
            created_at: order.created_at,
        }
    }
}

/// The outcome of a capture.
#[derive(Debug, Serialize, ToSchema)]
pub struct CaptureView {
    /// credited, pending (PayPal is reviewing; credit follows), declined, or rejected (did
    /// not match its order; billing staff were told).
    pub status: String,
    pub credited: Option<MoneyView>,
    pub capture_id: Option<String>,
}

/// The caller's PayPal orders, newest first.
#[utoipa::path(get, path = "/api/v1/paypal/orders", tag = "billing", security(("bearer" = [])),
    responses((status = 200, body = Vec<OrderView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_orders(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let orders = state
        .core
        .payments
        .orders(caller.actor(), &caller.0.user)
        .await?;
    Ok(Json(
        orders
            .iter()
            .map(|order| OrderView::new(order, &state, None))
            .collect(),
    ))
}

/// Creates a PayPal order to top up the caller's credit.
#[utoipa::path(post, path = "/api/v1/paypal/orders", tag = "billing", security(("bearer" = [])), request_body = CreateOrderRequest,
    responses((status = 201, body = OrderView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 409, body = ErrorView), (status = 422, body = ErrorView), (status = 503, body = ErrorView)))]
async fn create_order(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateOrderRequest>,
) -> Result<Response, ApiError> {
    // Who may top up is answered before what they typed is judged.
    state
        .core
        .audit
        .require(caller.actor(), Permission::TopUp)
        .await?;
    let amount = Money::parse_entered(&body.amount, &state.core.config.billing.currency)?;
    let created = create_topup_order(&state, &headers, &caller, amount).await?;
    let order = state
        .core
        .payments
        .order(caller.actor(), &caller.0.user, &created.id)
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(OrderView::new(&order, &state, Some(created.approve_url))),
    )
        .into_response())
}

/// Captures an approved order and credits what was captured.
#[utoipa::path(post, path = "/api/v1/paypal/orders/{id}/capture", tag = "billing", security(("bearer" = [])),
    params(("id" = String, Path, description = "The PayPal order id")),
    responses((status = 200, body = CaptureView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)))]
async fn capture_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CaptureView>, ApiError> {
    let currency = &state.core.config.billing.currency;
    let settled = state
        .core
        .payments
        .capture(caller.actor(), &caller.0.user, &id)
        .await?;
    Ok(Json(match settled {
        Settlement::Credited {
            amount, capture_id, ..
        } => CaptureView {
            status: "credited".into(),
            credited: Some(MoneyView::new(amount, currency)),
            capture_id: Some(capture_id),
        },
        Settlement::Pending => CaptureView {
            status: "pending".into(),
            credited: None,
            capture_id: None,
        },
        Settlement::Declined => CaptureView {
            status: "declined".into(),
            credited: None,
            capture_id: None,
        },
        Settlement::Rejected(_) => CaptureView {
            status: "rejected".into(),
            credited: None,
            capture_id: None,
        },
    }))
}

/// `?kind=&from=&to=`: dates are `YYYY-MM-DD`, UTC, both days included.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// top_up, usage, refund, reversal, adjustment, signup_credit, free_credit, transfer or
    /// usage_refund.
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// `?from=&to=`: a statement period, dates `YYYY-MM-DD`, UTC, both days included; by default
/// the last 30 days up to today.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The caller's transactions as CSV, oldest first.
#[utoipa::path(get, path = "/api/v1/transactions/export.csv", tag = "billing", security(("bearer" = [])), params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn export_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    Ok(crate::download::transactions_csv(
        &state.core,
        &caller,
        query.kind.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?)
}

/// The caller's statement of a period (default: the last 30 days) as PDF.
#[utoipa::path(get, path = "/api/v1/statement.pdf", tag = "billing", security(("bearer" = [])), params(PeriodQuery),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn statement_pdf(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<PeriodQuery>,
) -> Result<Response, ApiError> {
    Ok(crate::download::statement_pdf(
        &state.core,
        &caller,
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?)
}
