//! Tickets: list (filters, keyset pages), open, read, the conversation, close, reopen, rating;
//! for staff also claim, assign, priority, notes, the customer's context and the SLA report;
//! the incidents that touched the customer when it was opened; the transcript as an HTML file. Scopes: `read:tickets` to read, `write:tickets` to change;
//! core decides who may do what, and somebody else's ticket is 404 on every route. Opening and
//! posting a message honour `Idempotency-Key`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::Duration;
use hostdeck_core::Error;
use hostdeck_core::ids::{ServerId, UserId};
use hostdeck_core::tickets::{
    Assignee, OpenTicket, Priority, Ticket, TicketFilter, TicketId, TicketPage, TicketStatus,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    CustomerContextView, ErrorView, SlaReportView, TicketListView, TicketMessageView, TicketView,
};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tickets, open_ticket))
        .routes(routes!(ticket_report))
        .routes(routes!(get_ticket))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(close_ticket))
        .routes(routes!(reopen_ticket))
        .routes(routes!(rate_ticket))
        .routes(routes!(claim_ticket))
        .routes(routes!(assign_ticket))
        .routes(routes!(set_priority))
        .routes(routes!(add_note))
        .routes(routes!(ticket_context))
        .routes(routes!(ticket_incidents))
        .routes(routes!(ticket_transcript))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketQuery {
    /// One status: open (no staff reply yet), awaiting_staff, awaiting_customer or closed.
    pub status: Option<String>,
    /// Only tickets not closed.
    pub open: Option<bool>,
    pub department: Option<String>,
    /// Staff: `me`, `none` (unassigned) or a staff account id.
    pub assignee: Option<String>,
    /// Staff: one customer's tickets (their account id).
    pub customer: Option<i64>,
    /// Tickets about one server.
    pub server: Option<i64>,
    /// low, normal, high or urgent.
    pub priority: Option<String>,
    /// Only tickets whose SLA deadline is within this many minutes (or has passed).
    #[param(minimum = 0, maximum = 525600)]
    pub breaching_within_minutes: Option<u32>,
    /// Keyset paging: tickets with a smaller id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Tickets a page, 1 to 100 (default 25).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
}

impl TicketQuery {
    fn filter(&self, caller: &Caller) -> Result<TicketFilter, Error> {
        let assignee = match self.assignee.as_deref().map(str::trim) {
            None | Some("") => None,
            Some("none") => Some(Assignee::Unassigned),
            Some("me") => Some(Assignee::To(caller.0.user.id)),
            Some(id) => Some(Assignee::To(id.parse().map_err(|_| {
                Error::invalid("assignee", "assignee is `me`, `none` or an account id")
            })?)),
        };
        Ok(TicketFilter {
            status: self
                .status
                .as_deref()
                .map(TicketStatus::parse)
                .transpose()?,
            open_only: self.open.unwrap_or(false),
            department: self.department.clone().filter(|d| !d.is_empty()),
            assignee,
            customer: self.customer.map(UserId),
            server: self.server.map(ServerId),
            priority: self.priority.as_deref().map(Priority::parse).transpose()?,
            breaching_within: self
                .breaching_within_minutes
                .map(|minutes| Duration::minutes(i64::from(minutes))),
            before: self.before.map(TicketId),
            limit: self.limit.unwrap_or(TicketFilter::DEFAULT_LIMIT),
        })
    }
}

/// The ticket core answered with, as the API shows it.
fn ticket_json(ticket: hostdeck_core::Result<Ticket>) -> Result<Json<TicketView>, ApiError> {
    Ok(Json(TicketView::from(&ticket?)))
}

fn page_view(page: &TicketPage) -> TicketListView {
    TicketListView {
        tickets: page.tickets.iter().map(TicketView::from).collect(),
        next_before: page.next_before.map(|id| id.0),
    }
}

/// Tickets, newest first: a customer's own, or for staff everybody's. A page at a time: pass
/// the answer's `next_before` as `before` for the next.
#[utoipa::path(get, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = [])), params(TicketQuery),
    responses((status = 200, body = TicketListView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn list_tickets(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<TicketQuery>,
) -> Result<Json<TicketListView>, ApiError> {
    let filter = query.filter(&caller)?;
    let page = state.core.tickets.list(caller.actor(), &filter).await?;
    Ok(Json(page_view(&page)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenTicketRequest {
    /// One line, 1 to 120 characters.
    #[schema(min_length = 1, max_length = 120)]
    pub subject: String,
    /// The first message, 1 to 4000 characters (a Markdown subset, shown as text).
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
    /// One of the configured departments (billing, technical, sales, abuse by default).
    pub department: String,
    /// low, normal (default) or high; urgent only for staff.
    pub priority: Option<String>,
    /// One of your servers the ticket is about.
    pub server_id: Option<i64>,
    /// Staff opening a ticket for a customer: their account id.
    pub customer_id: Option<i64>,
}

/// The request's `Idempotency-Key`, if it sent one.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "Use plain ASCII text."))
        })
        .transpose()
}

/// 201 for what this request made, 200 for what an earlier one with its key made.
fn created(replayed: bool) -> StatusCode {
    if replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

/// Opens a ticket with its first message. A customer has at most a configured number of
/// tickets open at once (409 over it). With an `Idempotency-Key` a retried request opens one
/// ticket and answers it again with 200; the same key with another request is refused (422
/// `idempotency_mismatch`).
#[utoipa::path(post, path = "/api/v1/tickets", tag = "tickets", security(("bearer" = [])), request_body = OpenTicketRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 printable ASCII characters, unique per intended ticket; honoured for 24 hours")),
    responses((status = 201, body = TicketView), (status = 200, body = TicketView, description = "The key was used before: the ticket it opened"),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView),
              (status = 422, body = ErrorView, description = "Invalid input (`invalid`), or the key was used before with a different request (`idempotency_mismatch`)"),
              (status = 429, body = ErrorView)))]
async fn open_ticket(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<OpenTicketRequest>,
) -> Result<(StatusCode, Json<TicketView>), ApiError> {
    let priority = body.priority.as_deref().map(Priority::parse).transpose()?;
    let request = OpenTicket {
        subject: body.subject,
        body: body.body,
        department: body.department,
        priority,
        server: body.server_id.map(ServerId),
        customer: body.customer_id.map(UserId),
        attachments: Vec::new(),
    };
    let tickets = &state.core.tickets;
    let (ticket, replayed) = match idempotency_key(&headers)? {
        Some(key) => {
            let keyed = tickets.open_once(caller.actor(), request, key).await?;
            (keyed.value, keyed.replayed)
        }
        None => (tickets.open(caller.actor(), request).await?, false),
    };
    Ok((created(replayed), Json(TicketView::from(&ticket))))
}

/// One ticket.
#[utoipa::path(get, path = "/api/v1/tickets/{id}", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn get_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TicketView>, ApiError> {
    ticket_json(state.core.tickets.get(caller.actor(), TicketId(id)).await)
}

/// The conversation, oldest first. Staff also see their notes (`note: true`); customers never
/// do. A deleted message keeps its place with `deleted_at` set.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/messages", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = Vec<TicketMessageView>), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<TicketMessageView>>, ApiError> {
    let messages = state
        .core
        .tickets
        .messages(caller.actor(), TicketId(id))
        .await?;
    Ok(Json(messages.iter().map(TicketMessageView::from).collect()))
}

/// A message: text of 1 to 4000 characters.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MessageRequest {
    #[schema(min_length = 1, max_length = 4000)]
    pub body: String,
}

/// Replies on a ticket: the customer on their own, staff on anybody's. With an
/// `Idempotency-Key` a retried request posts once and answers the message again with 200; the
/// same key with another text is refused (422 `idempotency_mismatch`).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/messages", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id"),
           ("Idempotency-Key" = Option<String>, Header, description = "1 to 200 printable ASCII characters, unique per intended message; honoured for 24 hours")),
    request_body = MessageRequest,
    responses((status = 201, body = TicketMessageView), (status = 200, body = TicketMessageView, description = "The key was used before: the message it posted"),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView),
              (status = 422, body = ErrorView, description = "Invalid input (`invalid`), or the key was used before with a different request (`idempotency_mismatch`)"),
              (status = 429, body = ErrorView)))]
async fn post_message(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MessageRequest>,
) -> Result<(StatusCode, Json<TicketMessageView>), ApiError> {
    let tickets = &state.core.tickets;
    let id = TicketId(id);
    let (message, replayed) = match idempotency_key(&headers)? {
        Some(key) => {
            let keyed = tickets
                .reply_once(caller.actor(), id, &body.body, key)
                .await?;
            (keyed.value, keyed.replayed)
        }
        None => (
            tickets
                .reply(caller.actor(), id, &body.body, Vec::new())
                .await?,
            false,
        ),
    };
    Ok((created(replayed), Json(TicketMessageView::from(&message))))
}

/// Staff: a note on the ticket that the customer never sees, anywhere.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/notes", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")), request_body = MessageRequest,
    responses((status = 201, body = TicketMessageView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MessageRequest>,
) -> Result<(StatusCode, Json<TicketMessageView>), ApiError> {
    let note = state
        .core
        .tickets
        .note(caller.actor(), TicketId(id), &body.body)
        .await?;
    Ok((StatusCode::CREATED, Json(TicketMessageView::from(&note))))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CloseRequest {
    /// Why it is closed, 1 to 500 characters.
    #[schema(min_length = 1, max_length = 500)]
    pub reason: String,
}

/// Closes a ticket with a reason; the transcript is emailed to the customer.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/close", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")), request_body = CloseRequest,
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn close_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CloseRequest>,
) -> Result<Json<TicketView>, ApiError> {
    ticket_json(
        state
            .core
            .tickets
            .close(caller.actor(), TicketId(id), &body.reason)
            .await,
    )
}

/// Reopens a closed ticket: the customer within the configured time after the close, staff at
/// any time.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/reopen", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn reopen_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TicketView>, ApiError> {
    ticket_json(
        state
            .core
            .tickets
            .reopen(caller.actor(), TicketId(id))
            .await,
    )
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RatingRequest {
    /// 1 to 5.
    #[schema(minimum = 1, maximum = 5)]
    pub stars: u8,
    /// Up to 1000 characters.
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
}

/// The customer rates their closed ticket, once (a second rating is 409).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/rating", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")), request_body = RatingRequest,
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn rate_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RatingRequest>,
) -> Result<Json<TicketView>, ApiError> {
    let comment = body
        .comment
        .as_deref()
        .filter(|text| !text.trim().is_empty());
    ticket_json(
        state
            .core
            .tickets
            .rate(caller.actor(), TicketId(id), body.stars, comment)
            .await,
    )
}

/// Staff: assigns the ticket to the caller.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/claim", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView)))]
async fn claim_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TicketView>, ApiError> {
    ticket_json(state.core.tickets.claim(caller.actor(), TicketId(id)).await)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AssignRequest {
    /// A support or admin account id; null to unassign.
    pub assignee: Option<i64>,
}

/// Staff: assigns the ticket to support or admin staff, or to nobody.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/assign", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")), request_body = AssignRequest,
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn assign_ticket(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<Json<TicketView>, ApiError> {
    ticket_json(
        state
            .core
            .tickets
            .assign(caller.actor(), TicketId(id), body.assignee.map(UserId))
            .await,
    )
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PriorityRequest {
    /// low, normal, high or urgent.
    pub priority: String,
}

/// Staff: changes the ticket's priority (and with it the SLA deadline).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/priority", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")), request_body = PriorityRequest,
    responses((status = 200, body = TicketView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn set_priority(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PriorityRequest>,
) -> Result<Json<TicketView>, ApiError> {
    let priority = Priority::parse(&body.priority)?;
    ticket_json(
        state
            .core
            .tickets
            .set_priority(caller.actor(), TicketId(id), priority)
            .await,
    )
}

/// Staff: the ticket's customer: servers and their states, balance and hours left, open and
/// recent tickets, the linked Discord member, any suspension.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/context", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = CustomerContextView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn ticket_context(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<CustomerContextView>, ApiError> {
    let context = state
        .core
        .tickets
        .context(caller.actor(), TicketId(id))
        .await?;
    Ok(Json(CustomerContextView::new(
        &context,
        &state.core.config.billing.currency,
    )))
}

/// An incident or maintenance window that touched the ticket's customer when it was opened.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketIncidentView {
    pub incident: super::status::IncidentView,
    /// Names of its components that touch the customer (their servers' locations, or what
    /// every customer relies on).
    pub affects: Vec<String>,
    /// It touches every customer, not only through their servers.
    pub everyone: bool,
}

/// The incidents and maintenance acting when the ticket was opened that touched its customer
/// (its server's, or any of their servers', or what every customer relies on), newest first.
/// For the customer and staff alike: incidents are public.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/incidents", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, body = Vec<TicketIncidentView>), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn ticket_incidents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<TicketIncidentView>>, ApiError> {
    let affecting = state
        .core
        .ticket_incidents(caller.actor(), TicketId(id))
        .await?;
    Ok(Json(
        affecting
            .iter()
            .map(|affecting| TicketIncidentView {
                incident: super::status::IncidentView::from(&affecting.incident),
                affects: affecting.components.clone(),
                everyone: affecting.everyone,
            })
            .collect(),
    ))
}

/// The conversation without staff notes, as a standalone HTML file to save.
#[utoipa::path(get, path = "/api/v1/tickets/{id}/transcript", tag = "tickets", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The ticket's id")),
    responses((status = 200, content_type = "text/html", body = String,
               headers(("Content-Disposition" = String, description = "attachment; filename=\"ticket-ID.html\""))),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn ticket_transcript(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let transcript = state
        .core
        .tickets
        .transcript(caller.actor(), TicketId(id))
        .await?;
    Ok(crate::download::download(
        "text/html; charset=utf-8",
        &format!("ticket-{id}.html"),
        transcript.html().into_bytes(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The first day (YYYY-MM-DD, UTC); 30 days before `to` by default.
    pub from: Option<String>,
    /// The last day, included (YYYY-MM-DD, UTC); today by default.
    pub to: Option<String>,
}

/// Staff: first-response and resolution times (median and 90th percentile) of the tickets
/// opened in the period, overall, per department and per staff member.
#[utoipa::path(get, path = "/api/v1/tickets/report", tag = "tickets", security(("bearer" = [])), params(ReportQuery),
    responses((status = 200, body = SlaReportView), (status = 401, body = ErrorView),
              (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn ticket_report(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<SlaReportView>, ApiError> {
    let (_, _, report) = crate::sla_report::of_days(
        &state.core,
        &caller,
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?;
    Ok(Json(SlaReportView::from(&report)))
}
