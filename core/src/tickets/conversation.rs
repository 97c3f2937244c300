//! Opening tickets, reading them, and writing in them: listings, the conversation, replies,
//! notes and the transcript.

use super::access::{Changed, Current, Plan, name_of, target};
use super::notices::{Notices, headline};
use super::policy::{Side, TicketAction};
use super::sla::{first_response_due, resolution_due};
use super::transcript::Transcript;
use super::{OpenTicket, Tickets};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission};
use crate::records::tickets::{
    self, Attachment, MAX_ATTACHMENTS, NewTicket, NewTicketMessage, Priority, RequestKey, Ticket,
    TicketFilter, TicketId, TicketMessage, TicketPage, TicketStatus,
};
use crate::records::users::{User, UserStatus};
use crate::store::tickets::Effects;

/// A new ticket's request, checked.
struct Checked {
    subject: String,
    body: String,
    department: String,
    priority: Priority,
    attachments: Vec<Attachment>,
}

/// How a reply moves the ticket: status, first response and the deadline.
pub(super) fn replied(
    ticket: &Ticket,
    side: Side,
    config: &super::config::TicketsConfig,
    now: chrono::DateTime<chrono::Utc>,
) -> Ticket {
    let mut next = ticket.clone();
    next.last_activity_at = now;
    next.autoclose_warned_at = None;
    match side {
        Side::Customer => next.status = TicketStatus::AwaitingStaff,
        Side::Staff => {
            next.status = TicketStatus::AwaitingCustomer;
            if next.first_response_at.is_none() {
                next.first_response_at = Some(now);
                next.due_at = Some(resolution_due(config, next.sla_start(), next.priority));
                next.sla_warned_at = None;
                next.sla_breached_at = None;
            }
        }
    }
    next
}

impl Tickets {
    /// Attachments checked: Discord's CDN (or the configured Discord base) only.
    pub(super) fn attachments(&self, attachments: Vec<Attachment>) -> Result<Vec<Attachment>> {
        if attachments.len() > MAX_ATTACHMENTS {
            return Err(Error::invalid(
                "attachments",
                format!("a message keeps at most {MAX_ATTACHMENTS} attachments"),
            ));
        }
        let host = self.attachment_host();
        attachments
            .into_iter()
            .map(|file| file.checked(host))
            .collect()
    }

    /// Besides Discord's CDN, the configured Discord base may serve files when it is not
    /// Discord itself (a test's fake): discord.com's own pages are no attachments.
    pub(super) fn attachment_host(&self) -> Option<&str> {
        self.config
            .discord
            .api_base
            .host_str()
            .filter(|host| *host != "discord.com")
    }

    /// The customer a ticket is opened for: the actor, or (for staff) the one named.
    async fn customer_for(&self, actor: &Actor, named: Option<UserId>) -> Result<User> {
        let id = match (named, actor.user) {
            (Some(named), Some(me)) if named == me => me,
            (Some(named), _) => {
                if let Err(error) = actor.require(Permission::ManageTickets) {
                    return Err(self.refused(actor, TicketAction::Open, None, error).await);
                }
                named
            }
            (None, Some(me)) => me,
            (None, None) => {
                return Err(Error::invalid(
                    "customer",
                    "name the customer the ticket is for",
                ));
            }
        };
        let user = self.user(id).await?;
        if user.status != UserStatus::Active {
            return Err(Error::Conflict(format!(
                "The account {id} is disabled; it cannot have new tickets."
            )));
        }
        Ok(user)
    }

    /// What a new ticket asks for, checked: text, department, priority, the customer's own
    /// server, attachments.
    async fn checked_request(
        &self,
        actor: &Actor,
        request: OpenTicket,
        customer: &User,
    ) -> Result<Checked> {
        let subject = tickets::subject(&request.subject)?;
        let body = tickets::body(&request.body)?;
        let department = request.department.trim().to_lowercase();
        if !self.config.tickets.has_department(&department) {
            return Err(Error::invalid(
                "department",
                format!(
                    "choose a department: {}",
                    self.config.tickets.departments.join(", ")
                ),
            ));
        }
        let priority = request.priority.unwrap_or_default();
        if !Self::may_open_with(actor).contains(&priority) {
            return Err(Error::invalid(
                "priority",
                "urgent is set by staff; choose high, and say why it is urgent",
            ));
        }
        if let Some(server) = request.server {
            let found = self.store.servers().server(server).await?;
            if !found.is_some_and(|found| found.user == customer.id && found.deleted_at.is_none()) {
                let error = Error::NotFound(format!("You have no server {server}."));
                return Err(self.refused(actor, TicketAction::Open, None, error).await);
            }
        }
        Ok(Checked {
            subject,
            body,
            department,
            priority,
            attachments: self.attachments(request.attachments)?,
        })
    }

    /// Opens a ticket with its first message. The customer's open tickets are counted in the
    /// insert's own transaction (`tickets.max_open_per_customer`).
    pub async fn open(&self, actor: &Actor, request: OpenTicket) -> Result<Ticket> {
        self.open_with(actor, request, None).await
    }

    /// [`Self::open`], with the client's idempotency key stored with the ticket.
    pub(super) async fn open_with(
        &self,
        actor: &Actor,
        request: OpenTicket,
        key: Option<RequestKey>,
    ) -> Result<Ticket> {
        self.may_at_all(actor, TicketAction::Open).await?;
        let customer = self.customer_for(actor, request.customer).await?;
        let server = request.server;
        let checked = self.checked_request(actor, request, &customer).await?;
        let author = match actor.user {
            Some(id) if id == customer.id => Some(customer.clone()),
            Some(id) => Some(self.user(id).await?),
            None => None,
        };
        if let Some(author) = &author {
            self.take_message_slot(author.id).await?;
        }
        let now = self.clock.now();
        let new = NewTicket {
            customer: customer.id,
            subject: checked.subject,
            department: checked.department,
            priority: checked.priority,
            server,
            created_at: now,
            due_at: Some(first_response_due(
                &self.config.tickets,
                now,
                checked.priority,
            )),
            opened_via: actor.via.into(),
        };
        let first = NewTicketMessage {
            ticket: TicketId(0),
            author: author.as_ref().map(|user| user.id),
            author_name: author
                .as_ref()
                .map_or_else(|| self.config.company.name.clone(), name_of),
            author_staff: author.as_ref().is_some_and(|user| user.id != customer.id),
            door: actor.via.into(),
            body: checked.body,
            note: false,
            attachments: checked.attachments,
            discord_message_id: None,
            created_at: now,
        };
        let config = &self.config;
        let customer_name = name_of(&customer);
        let effects = |ticket: &Ticket, _: &TicketMessage| Effects {
            outbox: Notices::new(config)
                .sync(ticket)
                .staff(
                    format!(
                        "New ticket {} from {customer_name} (via {}).",
                        headline(ticket),
                        ticket.opened_via
                    ),
                    false,
                )
                .rows(),
            audit: vec![
                AuditEntry::new(actor, TicketAction::Open.audit_name())
                    .target(target(ticket.id))
                    .detail(serde_json::json!({
                        "customer": ticket.customer,
                        "department": ticket.department,
                        "priority": ticket.priority,
                        "server": ticket.server,
                    })),
            ],
        };
        let max = self.config.tickets.max_open_per_customer;
        let (ticket, _) = self
            .store
            .tickets()
            .insert_ticket(&new, &first, max, &effects, key.as_ref())
            .await?;
        self.outbox.wake();
        Ok(ticket)
    }

    /// Tickets the actor may see, newest first: customers their own, staff everybody's.
    pub async fn list(&self, actor: &Actor, filter: &TicketFilter) -> Result<TicketPage> {
        let limit = filter.checked_limit()?;
        let mut filter = filter.clone();
        if !actor.can(Permission::ReadAnyTicket) {
            self.may_at_all(actor, TicketAction::Read).await?;
            filter.customer = actor.user;
        }
        let mut tickets = self
            .store
            .tickets()
            .list_tickets(&filter, self.clock.now())
            .await?;
        let more = tickets.len() > usize::try_from(limit).unwrap_or(usize::MAX);
        tickets.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next_before = if more {
            tickets.last().map(|ticket| ticket.id)
        } else {
            None
        };
        Ok(TicketPage {
            tickets,
            next_before,
        })
    }

    pub async fn get(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        Ok(self.authorize(actor, id, TicketAction::Read).await?.0)
    }

    /// The conversation, oldest first. Notes only for staff; a deleted message keeps its
    /// place with `deleted_at` set (and, for the customer, without its text).
    pub async fn messages(&self, actor: &Actor, id: TicketId) -> Result<Vec<TicketMessage>> {
        let (_, side) = self.authorize(actor, id, TicketAction::Read).await?;
        let staff = side == Side::Staff;
        let mut messages = self.store.tickets().ticket_messages(id, staff).await?;
        if !staff {
            for message in messages.iter_mut().filter(|m| m.deleted_at.is_some()) {
                message.body.clear();
                message.attachments.clear();
            }
        }
        Ok(messages)
    }

    /// A reply: the customer's own on their ticket, otherwise as staff. A staff reply is
    /// emailed to the customer.
    pub async fn reply(
        &self,
        actor: &Actor,
        id: TicketId,
        body: &str,
        attachments: Vec<Attachment>,
    ) -> Result<TicketMessage> {
        self.reply_with(actor, id, (body, attachments), None).await
    }

    /// [`Self::reply`], with the client's idempotency key stored with the message.
    pub(super) async fn reply_with(
        &self,
        actor: &Actor,
        id: TicketId,
        (body, attachments): (&str, Vec<Attachment>),
        key: Option<RequestKey>,
    ) -> Result<TicketMessage> {
        self.may_on(actor, TicketAction::Reply, id).await?;
        let body = tickets::body(body)?;
        let attachments = self.attachments(attachments)?;
        let author = match actor.user {
            Some(user) => Some(self.user(user).await?),
            None => None,
        };
        // Refused before the slot is taken: somebody else's ticket costs nothing.
        self.authorize(actor, id, TicketAction::Reply).await?;
        if let Some(author) = &author {
            self.take_message_slot(author.id).await?;
        }
        let decide = |current: &Current| {
            let mut message = self.message_by(actor, author.as_ref(), current, body.clone());
            message.attachments.clone_from(&attachments);
            self.reply_plan(actor, current, message).map(Some)
        };
        let changed = self
            .change_keyed(
                actor,
                (id, TicketAction::Reply),
                false,
                key.as_ref(),
                decide,
            )
            .await?;
        posted(changed)
    }

    /// The change a reply makes (from any door, Discord's included).
    pub(super) fn reply_plan(
        &self,
        actor: &Actor,
        current: &Current,
        message: NewTicketMessage,
    ) -> Result<Plan> {
        let ticket = &current.ticket;
        if ticket.is_closed() {
            return Err(Error::Conflict(format!(
                "Ticket {} is closed; reopen it to write in it.",
                ticket.id
            )));
        }
        let next = replied(ticket, current.side, &self.config.tickets, current.now);
        let mut notices = Notices::new(&self.config).sync(ticket);
        if current.side == Side::Staff {
            notices = notices.reply_email(
                &current.customer,
                ticket,
                &message.author_name,
                &message.body,
            );
        }
        let audit = AuditEntry::new(actor, TicketAction::Reply.audit_name())
            .target(target(ticket.id))
            .detail(serde_json::json!({
                "as": if current.side == Side::Staff { "staff" } else { "customer" },
                "door": message.door,
                "status": next.status,
            }));
        Ok(Plan {
            ticket: next,
            message: Some(message),
            effects: Effects {
                outbox: notices.rows(),
                audit: vec![audit],
            },
        })
    }

    /// A staff-only note: the customer never sees it, anywhere (not in the thread, the portal,
    /// the API, the transcript or an email).
    pub async fn note(&self, actor: &Actor, id: TicketId, body: &str) -> Result<TicketMessage> {
        self.may_on(actor, TicketAction::Note, id).await?;
        let body = tickets::body(body)?;
        self.authorize(actor, id, TicketAction::Note).await?;
        let author = match actor.user {
            Some(user) => {
                self.take_message_slot(user).await?;
                Some(self.user(user).await?)
            }
            None => None,
        };
        let changed = self
            .change(actor, id, TicketAction::Note, false, |current| {
                let mut message = self.message_by(actor, author.as_ref(), current, body.clone());
                message.note = true;
                message.author_staff = true;
                let audit = AuditEntry::new(actor, TicketAction::Note.audit_name())
                    .target(target(current.ticket.id));
                Ok(Some(Plan {
                    ticket: current.ticket.clone(),
                    message: Some(message),
                    effects: Effects {
                        outbox: Vec::new(),
                        audit: vec![audit],
                    },
                }))
            })
            .await?;
        posted(changed)
    }

    /// The conversation without notes or deleted messages.
    pub async fn transcript(&self, actor: &Actor, id: TicketId) -> Result<Transcript> {
        let (ticket, _) = self.authorize(actor, id, TicketAction::Transcript).await?;
        let customer = self.user(ticket.customer).await?;
        let messages = self.store.tickets().ticket_messages(id, false).await?;
        Ok(Transcript::new(ticket, name_of(&customer), messages))
    }
}

/// The message a change wrote.
fn posted(changed: Changed) -> Result<TicketMessage> {
    match changed {
        Changed::Done(_, Some(message)) | Changed::Duplicate(message) => Ok(message),
        Changed::Done(_, None) | Changed::Unchanged(_) => Err(Error::internal(
            "writing a ticket message",
            "the change wrote no message",
        )),
    }
}
