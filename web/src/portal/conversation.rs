//! What the customer's and the staff's ticket pages share: a ticket and a message as the pages
//! show them, the ticket id from the address, durations as people read them, and what their
//! forms ask core to do (`POST .../{id}/{action}`, the same words on both). Message bodies
//! are shown as text (escaped by the templates, line breaks kept by the stylesheet), never as
//! markup.

use std::collections::HashMap;
use std::future::Future;

use axum::response::Response;
use hostdeck_core::ids::UserId;
use hostdeck_core::tickets::{Priority, Ticket, TicketId, TicketMessage, TicketStatus};
use hostdeck_core::{Error, ErrorCode};

use super::context::{PortalError, PortalForm, see_other, shown, when};
use crate::AppState;
use crate::auth::Caller;

/// The ticket named in the address; anything that is not an id names no ticket.
pub fn ticket_id(text: &str) -> Result<TicketId, PortalError> {
    text.parse()
        .map_err(|_| PortalError(Error::NotFound("There is no such ticket.".into())))
}

/// A status as people read it.
pub fn status_label(status: TicketStatus) -> &'static str {
    match status {
        TicketStatus::Open => "open",
        TicketStatus::AwaitingStaff => "awaiting staff",
        TicketStatus::AwaitingCustomer => "awaiting customer",
        TicketStatus::Closed => "closed",
    }
}

/// A ticket as the lists and pages show it.
pub struct TicketRow {
    pub id: i64,
    pub subject: String,
    pub department: String,
    pub priority: &'static str,
    /// The status word, for the badge's class.
    pub status: &'static str,
    pub status_label: &'static str,
    pub server: Option<i64>,
    pub customer: i64,
    /// The customer's email (staff pages), else empty.
    pub customer_email: String,
    pub assignee: Option<i64>,
    /// The assignee's email (staff pages), else empty.
    pub assignee_email: String,
    pub opened: String,
    pub last_activity: String,
    pub due: String,
    /// The SLA deadline has passed.
    pub overdue: bool,
    pub closed: bool,
    pub closed_at: String,
    pub close_reason: String,
    pub rating: Option<u8>,
    pub rating_comment: String,
}

impl TicketRow {
    pub fn new(ticket: &Ticket, state: &AppState) -> Self {
        let now = state.core.clock.now();
        Self {
            id: ticket.id.0,
            subject: ticket.subject.clone(),
            department: ticket.department.clone(),
            priority: ticket.priority.as_str(),
            status: ticket.status.as_str(),
            status_label: status_label(ticket.status),
            server: ticket.server.map(|server| server.0),
            customer: ticket.customer.0,
            customer_email: String::new(),
            assignee: ticket.assignee.map(|user| user.0),
            assignee_email: String::new(),
            opened: when(ticket.created_at),
            last_activity: when(ticket.last_activity_at),
            due: ticket.due_at.map(when).unwrap_or_default(),
            overdue: ticket.due_at.is_some_and(|due| due <= now),
            closed: ticket.is_closed(),
            closed_at: ticket.closed_at.map(when).unwrap_or_default(),
            close_reason: ticket.close_reason.clone().unwrap_or_default(),
            rating: ticket.rating,
            rating_comment: ticket.rating_comment.clone().unwrap_or_default(),
        }
    }
}

/// Staff pages: the rows with the customer's and the assignee's email, each account read once.
pub async fn with_emails(
    state: &AppState,
    caller: &Caller,
    tickets: &[Ticket],
) -> Result<Vec<TicketRow>, PortalError> {
    let mut emails: HashMap<UserId, String> = HashMap::new();
    let mut rows = Vec::with_capacity(tickets.len());
    for ticket in tickets {
        let mut row = TicketRow::new(ticket, state);
        for (user, email) in [
            (Some(ticket.customer), &mut row.customer_email),
            (ticket.assignee, &mut row.assignee_email),
        ] {
            let Some(user) = user else { continue };
            if let Some(known) = emails.get(&user) {
                email.clone_from(known);
            } else {
                let found = state.core.users.get(caller.actor(), user).await?;
                email.clone_from(&found.email);
                emails.insert(user, found.email);
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A message as the conversation shows it.
pub struct MessageRow {
    pub author: String,
    pub staff: bool,
    pub note: bool,
    pub door: &'static str,
    pub when: String,
    pub body: String,
    pub edited: bool,
    pub deleted: bool,
    /// (name, size in bytes, link).
    pub attachments: Vec<(String, u64, String)>,
}

impl MessageRow {
    pub fn new(message: &TicketMessage) -> Self {
        Self {
            author: message.author_name.clone(),
            staff: message.author_staff,
            note: message.note,
            door: message.door.as_str(),
            when: when(message.created_at),
            body: message.body.clone(),
            edited: message.edited_at.is_some(),
            deleted: message.deleted_at.is_some(),
            attachments: message
                .attachments
                .iter()
                .map(|file| (file.name.clone(), file.size, file.url.clone()))
                .collect(),
        }
    }
}

/// A number of seconds as people read a duration: `45m`, `3h 05m`, `2d 4h`.
pub fn span(secs: Option<i64>) -> String {
    let Some(secs) = secs else {
        return "—".into();
    };
    let minutes = secs.max(0) / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes:02}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// What a form on a ticket page asks for. Customers and staff post the same words; core
/// decides who may do which.
pub enum TicketAction {
    Reply,
    Note,
    Claim,
    Assign,
    Priority,
    Close,
    Reopen,
    Rating,
}

impl TicketAction {
    /// The action a form's address names; any other word names nothing.
    pub fn of(word: &str) -> Result<Self, PortalError> {
        Ok(match word {
            "reply" => Self::Reply,
            "note" => Self::Note,
            "claim" => Self::Claim,
            "assign" => Self::Assign,
            "priority" => Self::Priority,
            "close" => Self::Close,
            "reopen" => Self::Reopen,
            "rating" => Self::Rating,
            _ => {
                return Err(PortalError(Error::NotFound(
                    "There is nothing at this address.".into(),
                )));
            }
        })
    }

    /// Asks core to do it with the form's fields; the notice to show when it is done.
    pub async fn run(
        self,
        state: &AppState,
        caller: &Caller,
        id: TicketId,
        form: &PortalForm,
    ) -> hostdeck_core::Result<&'static str> {
        let (actor, tickets) = (caller.actor(), &state.core.tickets);
        Ok(match self {
            Self::Reply => {
                tickets
                    .reply(actor, id, form.get("body"), Vec::new())
                    .await?;
                "ticket-replied"
            }
            Self::Note => {
                tickets.note(actor, id, form.get("body")).await?;
                "ticket-noted"
            }
            Self::Claim => {
                tickets.claim(actor, id).await?;
                "ticket-claimed"
            }
            Self::Assign => {
                let assignee = match form.get("assignee").trim() {
                    "" => None,
                    text => Some(text.parse().map(UserId).map_err(|_| {
                        Error::invalid("assignee", "Give a staff account id, or leave it empty.")
                    })?),
                };
                tickets.assign(actor, id, assignee).await?;
                "ticket-assigned"
            }
            Self::Priority => {
                let priority = Priority::parse(form.get("priority"))?;
                tickets.set_priority(actor, id, priority).await?;
                "ticket-priority"
            }
            Self::Close => {
                tickets.close(actor, id, form.get("reason")).await?;
                "ticket-closed"
            }
            Self::Reopen => {
                tickets.reopen(actor, id).await?;
                "ticket-reopened"
            }
            Self::Rating => {
                let stars = form
                    .get("stars")
                    .trim()
                    .parse()
                    .map_err(|_| Error::invalid("stars", "Choose 1 to 5 stars."))?;
                let comment = Some(form.get("comment")).filter(|text| !text.trim().is_empty());
                tickets.rate(actor, id, stars, comment).await?;
                "ticket-rated"
            }
        })
    }
}

/// Runs a form's action: on success back to `back` with its notice; a ticket that is not
/// there is "not found"; any other refusal is shown by `again` (the page, with the error).
pub async fn act<Again, Shown>(
    state: &AppState,
    caller: &Caller,
    (id, action): (TicketId, &str),
    form: &PortalForm,
    back: &str,
    again: Again,
) -> Result<Response, PortalError>
where
    Again: FnOnce(String) -> Shown,
    Shown: Future<Output = Result<Response, PortalError>>,
{
    match TicketAction::of(action)?.run(state, caller, id, form).await {
        Ok(notice) => Ok(see_other(&format!("{back}?notice={notice}"))),
        Err(error) if error.code() == ErrorCode::NotFound => Err(error.into()),
        Err(error) => again(shown(&error)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(span(None), "—");
        assert_eq!(span(Some(59)), "0m");
        assert_eq!(span(Some(45 * 60)), "45m");
        assert_eq!(span(Some(3 * 3600 + 5 * 60)), "3h 05m");
        assert_eq!(span(Some(2 * 86_400 + 4 * 3600 + 59)), "2d 4h");
    }
}
