//! Billing pages: top up with PayPal (and the pages PayPal sends the customer back to), the
//! transactions list with filters, CSV and PDF exports, and for billing staff
//! a customer's PayPal payments with refunds.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hostdeck_core::ids::UserId;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::money::{Currency, Money};
use hostdeck_core::payments::{RefundOutcome, Settlement};
use hostdeck_core::statements::StatementFilter;
use hostdeck_core::store::Page;
use hostdeck_core::store::payments::{OrderStatus, StoredOrder};
use hostdeck_core::users::User;
use hostdeck_core::{Error, Permission};
use serde::Deserialize;

use super::context::{
    LineRow, MessagePage, NoticeQuery, PageContext, PortalError, PortalForm, render, see_other,
    shown, signed_in, staff, when,
};
use crate::AppState;
use crate::auth::Caller;
use crate::public_url::create_topup_order;

fn message(page: PageContext, status: StatusCode, heading: &str, text: String) -> Response {
    (
        status,
        render(&MessagePage {
            page,
            heading: heading.into(),
            text,
            reference: None,
        }),
    )
        .into_response()
}

/// What a customer reads while top-ups are off (PayPal is not configured): no setting names,
/// and where their money can still be seen.
const TOPUPS_OFF: &str = "Top-ups are not available yet. Your balance, transactions and \
                          statements are still here; contact support if you need to add credit now.";

/// A top-up asked for while PayPal is not configured: the top-up page (balance, payments, the
/// way to transactions and statements) saying so, with 503.
async fn not_configured(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
) -> Result<Response, PortalError> {
    let view = topup_view(state, page.error(TOPUPS_OFF), caller).await?;
    Ok((StatusCode::SERVICE_UNAVAILABLE, view).into_response())
}

pub struct OrderRow {
    pub id: String,
    pub when: String,
    pub amount: String,
    pub status: &'static str,
    pub capture_id: String,
    pub refundable: bool,
}

impl OrderRow {
    fn new(order: &StoredOrder, currency: &Currency) -> Self {
        Self {
            id: order.id.clone(),
            when: when(order.created_at),
            amount: order.amount.display(currency),
            status: order.status.as_str(),
            capture_id: order.capture_id.clone().unwrap_or_default(),
            refundable: order.status == OrderStatus::Completed,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "billing/topup.html")]
struct TopUpPage {
    page: PageContext,
    currency: String,
    presets: Vec<String>,
    min: String,
    max: String,
    balance: String,
    orders: Vec<OrderRow>,
    /// Whether top-ups are on (PayPal is configured).
    enabled: bool,
    off_text: &'static str,
}

async fn topup_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
) -> Result<Response, PortalError> {
    let actor = caller.actor();
    let user = &caller.0.user;
    let currency = &state.core.config.billing.currency;
    let settings = state.core.payments.settings();
    let balance = state.core.ledger.balance(actor, user).await?;
    let orders = state.core.payments.orders(actor, user).await?;
    Ok(render(&TopUpPage {
        page,
        currency: currency.to_string(),
        presets: settings
            .presets
            .iter()
            .map(|preset| preset.amount_text())
            .collect(),
        min: settings.min_topup.amount_text(),
        max: settings.max_topup.amount_text(),
        balance: balance.display(currency),
        orders: orders
            .iter()
            .map(|order| OrderRow::new(order, currency))
            .collect(),
        enabled: state.core.payments.enabled(),
        off_text: TOPUPS_OFF,
    }))
}

/// `GET /billing`: the top-up page.
pub async fn topup_page(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    topup_view(&state, page.notice(query.notice.as_deref()), &caller).await
}

/// `POST /billing/topup`: creates the order for the chosen amount and sends the customer to
/// PayPal. A preset button sends `preset`; the custom field sends `amount`.
pub async fn topup(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    headers: HeaderMap,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    if !state.core.payments.enabled() {
        return not_configured(&state, page, &caller).await;
    }
    let chosen = match form.get("preset") {
        "" => form.get("amount"),
        preset => preset,
    };
    let created = match Money::parse_entered(chosen, &state.core.config.billing.currency) {
        Ok(amount) => create_topup_order(&state, &headers, &caller, amount).await,
        Err(error) => Err(error),
    };
    match created {
        Ok(order) => Ok(see_other(&order.approve_url)),
        Err(error @ (Error::Invalid { .. } | Error::Conflict(_))) => {
            topup_view(&state, page.error(shown(&error)), &caller).await
        }
        Err(error) => Err(PortalError(error)),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReturnQuery {
    token: Option<String>,
}

/// `GET /billing/paypal/return?token=ORDER`: the customer approved; capture and credit.
pub async fn paypal_return(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<ReturnQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    if !state.core.payments.enabled() {
        return not_configured(&state, page, &caller).await;
    }
    let order_id = query.token.unwrap_or_default();
    let currency = &state.core.config.billing.currency;
    let settled = state
        .core
        .payments
        .capture(caller.actor(), &caller.0.user, &order_id)
        .await;
    Ok(match settled {
        Ok(Settlement::Credited { amount, .. }) => paid(page, amount.display(currency)),
        Ok(Settlement::Pending) => message(
            page,
            StatusCode::OK,
            "Payment pending",
            "PayPal is reviewing this payment. Your credit is added as soon as PayPal completes it; \
             there is nothing more to do."
                .into(),
        ),
        Ok(Settlement::Declined) => message(
            page,
            StatusCode::PAYMENT_REQUIRED,
            "Payment declined",
            "PayPal declined this payment and nothing was charged or credited. Try again with \
             another funding source from the top-up page."
                .into(),
        ),
        Ok(Settlement::Rejected(_)) => message(
            page,
            StatusCode::CONFLICT,
            "Payment under review",
            "This payment did not match its order, so no credit was added. Our billing team has \
             been told and will sort it out; contact support if you have questions."
                .into(),
        ),
        Err(error @ Error::NotFound(_)) => return Err(PortalError(error)),
        Err(error) => message(
            page,
            StatusCode::BAD_GATEWAY,
            "Payment not completed",
            format!(
                "{} Nothing was credited. If PayPal charged you, the credit is added automatically \
                 once PayPal confirms the payment.",
                shown(&error)
            ),
        ),
    })
}

fn paid(page: PageContext, amount: String) -> Response {
    #[derive(askama::Template)]
    #[template(path = "billing/paid.html")]
    struct Paid {
        page: PageContext,
        amount: String,
    }
    render(&Paid { page, amount })
}

/// `GET /billing/paypal/cancel?token=ORDER`: the customer cancelled at PayPal.
pub async fn paypal_cancel(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<ReturnQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    if let Some(order_id) = query.token.as_deref() {
        // An unknown or foreign order id changes nothing; the page says the same.
        let _ = state
            .core
            .payments
            .cancelled(caller.actor(), &caller.0.user, order_id)
            .await;
    }
    Ok(message(
        page,
        StatusCode::OK,
        "Payment cancelled",
        "You cancelled the payment at PayPal. Nothing was charged and your credit is unchanged; \
         start again from the top-up page whenever you like."
            .into(),
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct TransactionsQuery {
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    page: Option<u32>,
}

#[derive(askama::Template)]
#[template(path = "billing/transactions.html")]
struct TransactionsPage {
    page: PageContext,
    /// (value, label) of each kind.
    kinds: Vec<(String, String)>,
    kind: String,
    from: String,
    to: String,
    query: String,
    transactions: Vec<LineRow>,
    page_number: u32,
    pages: u32,
    total: u64,
    statement_from: String,
    statement_to: String,
}

/// `GET /billing/transactions`: filters, pagination and the export links.
pub async fn transactions(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<TransactionsQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let currency = &state.core.config.billing.currency;
    let filter = StatementFilter::parse(
        query.kind.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    let listed = state
        .core
        .statements
        .transactions(
            caller.actor(),
            &caller.0.user,
            &filter,
            Page::new(query.page.unwrap_or(1).max(1), 50)?,
        )
        .await?;
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let (statement_from, statement_to) = state
        .core
        .statements
        .period_of(query.from.as_deref(), query.to.as_deref())?;
    let query_string = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("kind", &text(&query.kind))
        .append_pair("from", &text(&query.from))
        .append_pair("to", &text(&query.to))
        .finish();
    Ok(render(&TransactionsPage {
        page,
        kinds: PostingKind::ALL
            .iter()
            .map(|kind| (kind.as_str().to_owned(), kind.as_str().replace('_', " ")))
            .collect(),
        kind: text(&query.kind),
        from: text(&query.from),
        to: text(&query.to),
        query: query_string,
        transactions: listed
            .items
            .iter()
            .map(|line| LineRow::new(line, currency))
            .collect(),
        page_number: listed.page,
        pages: u32::try_from(listed.pages().max(1)).unwrap_or(u32::MAX),
        total: listed.total,
        statement_from: statement_from.format("%Y-%m-%d").to_string(),
        statement_to: statement_to.format("%Y-%m-%d").to_string(),
    }))
}

/// `GET /billing/transactions.csv`: the filtered transactions as CSV.
pub async fn transactions_csv(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Query(query): Query<TransactionsQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    Ok(crate::download::transactions_csv(
        &state.core,
        &caller,
        query.kind.as_deref(),
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?)
}

/// `GET /billing/statement.pdf?from=&to=`: the statement of a period as PDF.
pub async fn statement_pdf(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Query(query): Query<TransactionsQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    Ok(crate::download::statement_pdf(
        &state.core,
        &caller,
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?)
}

#[derive(askama::Template)]
#[template(path = "admin/payments.html")]
struct PaymentsPage {
    page: PageContext,
    id: i64,
    email: String,
    currency: String,
    can_refund: bool,
    idempotency_key: String,
    orders: Vec<OrderRow>,
}

async fn payments_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    customer: &User,
) -> Result<Response, PortalError> {
    let actor = caller.actor();
    let currency = &state.core.config.billing.currency;
    let orders = state.core.payments.orders(actor, customer).await?;
    Ok(render(&PaymentsPage {
        page,
        id: customer.id.0,
        email: customer.email.clone(),
        currency: currency.to_string(),
        can_refund: actor.can(Permission::RefundPayments) && state.core.payments.enabled(),
        idempotency_key: hostdeck_core::auth::sessions::random_id(),
        orders: orders
            .iter()
            .map(|order| OrderRow::new(order, currency))
            .collect(),
    }))
}

/// `GET /admin/users/{id}/payments`: a customer's PayPal payments, with refunds.
pub async fn admin_payments(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ReadAnyBilling).await?;
    let customer = state.core.users.get(caller.actor(), UserId(id)).await?;
    payments_view(
        &state,
        page.notice(query.notice.as_deref()),
        &caller,
        &customer,
    )
    .await
}

/// `POST /admin/users/{id}/refunds`: refunds a capture (all of it, or `amount`) at PayPal.
pub async fn admin_refund(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::RefundPayments).await?;
    let customer = state.core.users.get(caller.actor(), UserId(id)).await?;
    let capture_id = form.get("capture_id");
    let outcome = match form.get("amount") {
        "" => Ok(None),
        text => Money::parse_entered(text, &state.core.config.billing.currency).map(Some),
    };
    let outcome = match outcome {
        Ok(amount) => {
            state
                .core
                .payments
                .refund(
                    caller.actor(),
                    &customer,
                    capture_id,
                    amount,
                    form.get("reason"),
                    form.get("idempotency_key"),
                )
                .await
        }
        Err(error) => Err(error),
    };
    match outcome {
        Ok(RefundOutcome::Debited { .. }) => Ok(see_other(&format!(
            "/admin/users/{id}/payments?notice=refunded"
        ))),
        Ok(RefundOutcome::Pending { .. }) => Ok(see_other(&format!(
            "/admin/users/{id}/payments?notice=refund-pending"
        ))),
        Err(error @ (Error::Internal { .. } | Error::Forbidden(_))) => Err(PortalError(error)),
        Err(error) => payments_view(&state, page.error(shown(&error)), &caller, &customer).await,
    }
}
