//! The customer's tickets in the portal: the list (status, department and server filters, a
//! page at a time), opening one (department, one of their own servers, priority, subject,
//! text), the conversation with reply, close (with a reason), reopen (within the configured
//! time) and the rating after the close (the forms' actions are [`super::conversation`]'s), and the transcript as a page and as a file. Somebody
//! else's ticket is "not found"; staff opening a customer's ticket are sent to its staff page.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::ids::ServerId;
use hostdeck_core::servers::Owners;
use hostdeck_core::store::Page;
use hostdeck_core::tickets::{
    OpenTicket, Priority, TicketFilter, TicketId, TicketStatus, Tickets, Transcript,
};
use serde::Deserialize;

use super::context::{
    NoticeQuery, PageContext, PortalError, PortalForm, render, see_other, shown, signed_in, when,
};
use super::conversation::{MessageRow, TicketRow, act, ticket_id};
use super::incident_views::{IncidentNote, ticket_incident_notes};
use crate::AppState;
use crate::auth::Caller;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    department: Option<String>,
    server: Option<String>,
    before: Option<String>,
    notice: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "tickets.html")]
struct TicketsPage {
    page: PageContext,
    tickets: Vec<TicketRow>,
    /// The status filter: empty (any), `active` (not closed) or a status word.
    status: String,
    statuses: Vec<(&'static str, &'static str)>,
    department: String,
    departments: Vec<String>,
    server: String,
    /// The query of the next (older) page, when there is one.
    older: Option<String>,
    /// Whether this is a later page (so "newest" makes sense).
    paged: bool,
}

/// The status choices of a filter: value and label.
fn status_choices() -> Vec<(&'static str, &'static str)> {
    let mut choices = vec![("", "any status"), ("active", "not closed")];
    choices.extend(
        TicketStatus::ALL
            .iter()
            .map(|status| (status.as_str(), super::conversation::status_label(*status))),
    );
    choices
}

pub async fn list(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let status = query.status.clone().unwrap_or_default();
    let department = query.department.clone().unwrap_or_default();
    let server = query.server.clone().unwrap_or_default();
    let filter = TicketFilter {
        status: match status.as_str() {
            "" | "active" => None,
            word => Some(TicketStatus::parse(word)?),
        },
        open_only: status == "active",
        department: Some(department.clone()).filter(|d| !d.is_empty()),
        customer: Some(caller.0.user.id),
        server: server.trim().parse().ok().map(ServerId),
        before: query
            .before
            .as_deref()
            .and_then(|id| id.parse().ok())
            .map(TicketId),
        ..TicketFilter::default()
    };
    let listed = state.core.tickets.list(caller.actor(), &filter).await?;
    let older = listed.next_before.map(|before| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("status", &status)
            .append_pair("department", &department)
            .append_pair("server", &server)
            .append_pair("before", &before.to_string())
            .finish()
    });
    Ok(render(&TicketsPage {
        page: page.notice(query.notice.as_deref()),
        tickets: listed
            .tickets
            .iter()
            .map(|ticket| TicketRow::new(ticket, &state))
            .collect(),
        status,
        statuses: status_choices(),
        department,
        departments: state.core.config.tickets.departments.clone(),
        server,
        older,
        paged: filter.before.is_some(),
    }))
}

#[derive(askama::Template)]
#[template(path = "ticket_new.html")]
struct NewTicketPage {
    page: PageContext,
    departments: Vec<String>,
    /// The customer's servers: (id, name).
    servers: Vec<(i64, String)>,
    priorities: Vec<&'static str>,
    /// What was typed (or preselected), to show again.
    department: String,
    server: String,
    priority: String,
    subject: String,
    body: String,
    /// Help articles that may answer the subject, before a ticket is opened: (slug, title).
    suggestions: Vec<(String, String)>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    server: Option<String>,
    /// What it is about: help articles that may answer it are suggested first.
    subject: Option<String>,
}

/// The form as first shown, or again with what was typed and why it was refused.
async fn new_ticket_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    typed: NewTicketTyped,
) -> Result<Response, PortalError> {
    let servers = state
        .core
        .servers
        .list_page(caller.actor(), Owners::Own, Page::new(1, 200)?)
        .await?
        .items
        .iter()
        .map(|server| (server.id.0, server.name.clone()))
        .collect();
    let priorities: Vec<&'static str> = Tickets::may_open_with(caller.actor())
        .into_iter()
        .map(Priority::as_str)
        .collect();
    Ok(render(&NewTicketPage {
        page,
        departments: state.core.config.tickets.departments.clone(),
        servers,
        priorities,
        department: typed.department,
        server: typed.server,
        priority: if typed.priority.is_empty() {
            Priority::default().as_str().to_owned()
        } else {
            typed.priority
        },
        subject: typed.subject,
        body: typed.body,
        suggestions: typed.suggestions,
    }))
}

/// The fields of the open form, as typed.
#[derive(Default)]
struct NewTicketTyped {
    department: String,
    server: String,
    priority: String,
    subject: String,
    body: String,
    suggestions: Vec<(String, String)>,
}

pub async fn new_ticket(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<NewQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let subject = query.subject.unwrap_or_default();
    let suggestions = match subject.trim() {
        "" => Vec::new(),
        about => state
            .core
            .knowledge
            .search(caller.actor(), about, 3)
            .await?
            .hits
            .into_iter()
            .map(|hit| (hit.slug.to_string(), hit.title))
            .collect(),
    };
    let typed = NewTicketTyped {
        server: query.server.unwrap_or_default(),
        subject,
        suggestions,
        ..NewTicketTyped::default()
    };
    new_ticket_view(&state, page, &caller, typed).await
}

pub async fn create(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let typed = NewTicketTyped {
        department: form.get("department").to_owned(),
        server: form.get("server").to_owned(),
        priority: form.get("priority").to_owned(),
        subject: form.get("subject").to_owned(),
        body: form.get("body").to_owned(),
        suggestions: Vec::new(),
    };
    let opened = async {
        let priority = match typed.priority.as_str() {
            "" => None,
            word => Some(Priority::parse(word)?),
        };
        let server = match typed.server.trim() {
            "" => None,
            id => Some(id.parse().map(ServerId).map_err(|_| {
                hostdeck_core::Error::invalid("server", "Choose one of your servers, or none.")
            })?),
        };
        let ticket = OpenTicket {
            subject: typed.subject.clone(),
            body: typed.body.clone(),
            department: typed.department.clone(),
            priority,
            server,
            ..OpenTicket::default()
        };
        state.core.tickets.open(caller.actor(), ticket).await
    };
    match opened.await {
        Ok(ticket) => Ok(see_other(&format!(
            "/tickets/{}?notice=ticket-opened",
            ticket.id
        ))),
        Err(error) => new_ticket_view(&state, page.error(shown(&error)), &caller, typed).await,
    }
}

#[derive(askama::Template)]
#[template(path = "ticket.html")]
struct TicketPage {
    page: PageContext,
    ticket: TicketRow,
    /// Incidents acting when it was opened that touch the customer's servers.
    incidents: Vec<IncidentNote>,
    messages: Vec<MessageRow>,
    /// Until when the customer may reopen it, when they still may.
    reopen_until: Option<String>,
    /// The customer may still rate it.
    may_rate: bool,
}

async fn ticket_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: TicketId,
) -> Result<Response, PortalError> {
    let ticket = state.core.tickets.get(caller.actor(), id).await?;
    if ticket.customer != caller.0.user.id {
        return Ok(see_other(&format!("/admin/tickets/{id}")));
    }
    let messages = state.core.tickets.messages(caller.actor(), id).await?;
    let incidents = ticket_incident_notes(state, caller.actor(), id).await?;
    let reopen_until = ticket
        .closed_at
        .and_then(|closed| {
            chrono::Duration::from_std(state.core.config.tickets.reopen_within)
                .ok()
                .map(|window| closed + window)
        })
        .filter(|until| *until > state.core.clock.now());
    Ok(render(&TicketPage {
        page,
        may_rate: ticket.is_closed() && ticket.rating.is_none(),
        reopen_until: reopen_until.map(when),
        ticket: TicketRow::new(&ticket, state),
        incidents,
        messages: messages
            .iter()
            .filter(|message| !message.note)
            .map(MessageRow::new)
            .collect(),
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
    let page = page.notice(query.notice.as_deref());
    ticket_view(&state, page, &caller, ticket_id(&id)?).await
}

/// `POST /tickets/{id}/{action}`: a form of the conversation page (reply, close, reopen,
/// rating); back to the page with a notice, "not found" for a ticket that is not there, or the
/// page again with any other refusal.
pub async fn action(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path((id, action)): Path<(String, String)>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = ticket_id(&id)?;
    let again = |error| ticket_view(&state, page.error(error), &caller, id);
    let back = format!("/tickets/{id}");
    act(&state, &caller, (id, &action), &form, &back, again).await
}

#[derive(askama::Template)]
#[template(path = "ticket_transcript.html")]
struct TranscriptPage {
    page: PageContext,
    ticket: TicketRow,
    customer_name: String,
    messages: Vec<MessageRow>,
}

async fn transcript_of(
    state: &AppState,
    caller: Option<Caller>,
    id: &str,
) -> Result<Transcript, PortalError> {
    let caller = signed_in(caller)?;
    Ok(state
        .core
        .tickets
        .transcript(caller.actor(), ticket_id(id)?)
        .await?)
}

/// The conversation without staff notes, as a page.
pub async fn transcript(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let transcript = transcript_of(&state, caller, &id).await?;
    Ok(render(&TranscriptPage {
        page,
        ticket: TicketRow::new(&transcript.ticket, &state),
        customer_name: transcript.customer_name.clone(),
        messages: transcript
            .messages
            .iter()
            .filter(|message| !message.note)
            .map(MessageRow::new)
            .collect(),
    }))
}

/// The same as a standalone HTML file to save.
pub async fn transcript_file(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let transcript = transcript_of(&state, caller, &id).await?;
    Ok(crate::download::download(
        "text/html; charset=utf-8",
        &format!("ticket-{}.html", transcript.ticket.id),
        transcript.html().into_bytes(),
    ))
}
