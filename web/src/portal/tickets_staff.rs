//! Staff ticket pages: the queue (unassigned, mine, breaching soon, every open ticket, closed;
//! by department, status and priority, a page at a time), a ticket's conversation with the
//! staff-only notes and the customer's context beside it, the forms that reply, note, claim,
//! assign, change the priority, close and reopen, and the SLA report over a period.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::Duration;
use hostdeck_core::tickets::context::CustomerContext;
use hostdeck_core::tickets::sla::SlaFigures;
use hostdeck_core::tickets::{Assignee, Priority, TicketFilter, TicketId, TicketStatus};
use hostdeck_core::{Error, Permission};
use serde::Deserialize;

use super::context::{
    NoticeQuery, PageContext, PortalError, PortalForm, render, see_other, signed_in, staff, when,
};
use super::conversation::{MessageRow, TicketRow, act, span, status_label, ticket_id, with_emails};
use super::incident_views::{IncidentNote, ticket_incident_notes};
use crate::AppState;
use crate::auth::Caller;

/// The queue's tabs: value and label.
const VIEWS: [(&str, &str); 5] = [
    ("unassigned", "Unassigned"),
    ("mine", "Mine"),
    ("breaching", "Breaching soon"),
    ("open", "All open"),
    ("closed", "Closed"),
];

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    view: Option<String>,
    department: Option<String>,
    status: Option<String>,
    priority: Option<String>,
    before: Option<String>,
    notice: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "admin/tickets.html")]
struct QueuePage {
    page: PageContext,
    view: String,
    views: Vec<(&'static str, &'static str)>,
    department: String,
    departments: Vec<String>,
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    priority: String,
    priorities: Vec<&'static str>,
    tickets: Vec<TicketRow>,
    /// The query of the next (older) page, when there is one.
    older: Option<String>,
    /// The query of this view and filters without paging.
    current: String,
}

impl QueueQuery {
    fn filter(&self, state: &AppState, caller: &Caller, view: &str) -> Result<TicketFilter, Error> {
        let mut filter = TicketFilter {
            department: self.department.clone().filter(|d| !d.is_empty()),
            status: match self.status.as_deref() {
                None | Some("") => None,
                Some(word) => Some(TicketStatus::parse(word)?),
            },
            priority: match self.priority.as_deref() {
                None | Some("") => None,
                Some(word) => Some(Priority::parse(word)?),
            },
            before: self
                .before
                .as_deref()
                .and_then(|id| id.parse().ok())
                .map(TicketId),
            open_only: view != "closed",
            ..TicketFilter::default()
        };
        match view {
            "unassigned" => filter.assignee = Some(Assignee::Unassigned),
            "mine" => filter.assignee = Some(Assignee::To(caller.0.user.id)),
            "breaching" => {
                let soon = Duration::from_std(state.core.config.tickets.warn_before)
                    .unwrap_or_else(|_| Duration::minutes(30));
                filter.breaching_within = Some(soon);
            }
            "closed" => filter.status = Some(TicketStatus::Closed),
            _ => {}
        }
        Ok(filter)
    }
}

pub async fn queue(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<QueueQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ReadAnyTicket).await?;
    let view = query
        .view
        .as_deref()
        .filter(|view| VIEWS.iter().any(|(known, _)| known == view))
        .unwrap_or("unassigned")
        .to_owned();
    let filter = query.filter(&state, &caller, &view)?;
    let listed = state.core.tickets.list(caller.actor(), &filter).await?;
    let department = query.department.clone().unwrap_or_default();
    let status = query.status.clone().unwrap_or_default();
    let priority = query.priority.clone().unwrap_or_default();
    let current = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("view", &view)
        .append_pair("department", &department)
        .append_pair("status", &status)
        .append_pair("priority", &priority)
        .finish();
    let mut statuses = vec![("", "any status")];
    statuses.extend(
        TicketStatus::ALL
            .iter()
            .map(|s| (s.as_str(), status_label(*s))),
    );
    let mut priorities = vec![""];
    priorities.extend(Priority::ALL.iter().map(|p| p.as_str()));
    Ok(render(&QueuePage {
        page: page.notice(query.notice.as_deref()),
        views: VIEWS.to_vec(),
        departments: state.core.config.tickets.departments.clone(),
        tickets: with_emails(&state, &caller, &listed.tickets).await?,
        older: listed
            .next_before
            .map(|before| format!("{current}&before={before}")),
        current,
        view,
        department,
        status,
        statuses,
        priority,
        priorities,
    }))
}

/// The customer as the staff page shows them.
struct ContextCard {
    id: i64,
    email: String,
    balance: String,
    burn_per_hour: String,
    hours_left: String,
    negative_since: String,
    suspended_at: String,
    discord: String,
    /// (id, name, plan, location, state, suspended).
    servers: Vec<(i64, String, String, String, &'static str, bool)>,
    open_tickets: Vec<TicketRow>,
    recent_tickets: Vec<TicketRow>,
}

impl ContextCard {
    fn new(context: &CustomerContext, state: &AppState) -> Self {
        let currency = &state.core.config.billing.currency;
        let rows = |tickets: &[hostdeck_core::tickets::Ticket]| {
            tickets.iter().map(|t| TicketRow::new(t, state)).collect()
        };
        Self {
            id: context.customer.id.0,
            email: context.customer.email.clone(),
            balance: context.balance.display(currency),
            burn_per_hour: context.burn_per_hour.display_exact(currency),
            hours_left: context
                .hours_left
                .map(|hours| format!("{hours} hours"))
                .unwrap_or_else(|| "nothing is billed".into()),
            negative_since: context.negative_since.map(when).unwrap_or_default(),
            suspended_at: context.suspended_at.map(when).unwrap_or_default(),
            discord: context
                .discord_user_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
            servers: context
                .servers
                .iter()
                .map(|server| {
                    (
                        server.id.0,
                        server.name.clone(),
                        server.plan.clone(),
                        server.provider.clone(),
                        server.state.as_str(),
                        server.suspended_at.is_some(),
                    )
                })
                .collect(),
            open_tickets: rows(&context.open_tickets),
            recent_tickets: rows(&context.recent_tickets),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/ticket.html")]
struct StaffTicketPage {
    page: PageContext,
    ticket: TicketRow,
    messages: Vec<MessageRow>,
    context: ContextCard,
    /// Incidents acting when it was opened that touch the customer's servers.
    incidents: Vec<IncidentNote>,
    priorities: Vec<&'static str>,
    /// The ticket is the caller's.
    mine: bool,
    /// The caller may claim, assign, change the priority, close and reopen.
    may_manage: bool,
}

async fn ticket_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: TicketId,
) -> Result<Response, PortalError> {
    let actor = caller.actor();
    let ticket = state.core.tickets.get(actor, id).await?;
    let messages = state.core.tickets.messages(actor, id).await?;
    let context = state.core.tickets.context(actor, id).await?;
    let incidents = ticket_incident_notes(state, actor, id).await?;
    let rows = with_emails(state, caller, std::slice::from_ref(&ticket)).await?;
    let Some(row) = rows.into_iter().next() else {
        return Err(Error::NotFound("There is no such ticket.".into()).into());
    };
    Ok(render(&StaffTicketPage {
        page,
        mine: ticket.assignee == Some(caller.0.user.id),
        may_manage: actor.can(Permission::ManageTickets),
        ticket: row,
        messages: messages.iter().map(MessageRow::new).collect(),
        context: ContextCard::new(&context, state),
        incidents,
        priorities: Priority::ALL.iter().map(|p| p.as_str()).collect(),
    }))
}

pub async fn show(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = ticket_id(&id)?;
    if !caller.actor().can(Permission::ReadAnyTicket) {
        // Core answers "not found" for a ticket that is not theirs; their own has its page.
        state.core.tickets.get(caller.actor(), id).await?;
        return Ok(see_other(&format!("/tickets/{id}")));
    }
    let page = page.notice(query.notice.as_deref());
    ticket_view(&state, page, &caller, id).await
}

/// `POST /admin/tickets/{id}/{action}`: one of the staff forms; back to the page with a
/// notice, or the page again with the refusal.
pub async fn action(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path((id, action)): Path<(String, String)>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    // Core decides: somebody else's ticket is "not found", a customer's own may be refused.
    let caller = signed_in(caller)?;
    let id = ticket_id(&id)?;
    let again = |error| ticket_view(&state, page.error(error), &caller, id);
    let back = format!("/admin/tickets/{id}");
    act(&state, &caller, (id, &action), &form, &back, again).await
}

#[derive(Debug, Default, Deserialize)]
pub struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
}

/// One line of the report's table.
struct FiguresRow {
    label: String,
    tickets: u64,
    first_median: String,
    first_p90: String,
    resolution_median: String,
    resolution_p90: String,
    breached: u64,
}

impl FiguresRow {
    fn new(label: String, figures: &SlaFigures) -> Self {
        Self {
            label,
            tickets: figures.tickets,
            first_median: span(figures.first_response.median_secs),
            first_p90: span(figures.first_response.p90_secs),
            resolution_median: span(figures.resolution.median_secs),
            resolution_p90: span(figures.resolution.p90_secs),
            breached: figures.breached,
        }
    }
}

#[derive(askama::Template)]
#[template(path = "admin/tickets_report.html")]
struct ReportPage {
    page: PageContext,
    from: String,
    to: String,
    /// (label, from, to) of the period presets.
    presets: Vec<(&'static str, String, String)>,
    overall: FiguresRow,
    departments: Vec<FiguresRow>,
    staff: Vec<FiguresRow>,
}

pub async fn report(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<ReportQuery>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ReadAnyTicket).await?;
    let (from, to, report) = crate::sla_report::of_days(
        &state.core,
        &caller,
        query.from.as_deref(),
        query.to.as_deref(),
    )
    .await?;
    let today = state.core.clock.now().date_naive();
    let presets = [
        ("Last 7 days", 7),
        ("Last 30 days", 30),
        ("Last 90 days", 90),
    ]
    .into_iter()
    .map(|(label, days)| {
        let first = today - Duration::days(days - 1);
        (label, first.to_string(), today.to_string())
    })
    .collect();
    Ok(render(&ReportPage {
        page,
        from: from.to_string(),
        to: to.to_string(),
        presets,
        overall: FiguresRow::new("All tickets".into(), &report.overall),
        departments: report
            .by_department
            .iter()
            .map(|row| FiguresRow::new(row.department.clone(), &row.figures))
            .collect(),
        staff: report
            .by_staff
            .iter()
            .map(|row| FiguresRow::new(row.name.clone(), &row.figures))
            .collect(),
    }))
}
