//! What every ticket action shares: finding the ticket and checking the actor against the
//! matrix (refusals audited), names as people see them, the message rate limit, and the one
//! write loop that decides a change on the ticket as read and decides again if it changed
//! meanwhile.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Tickets;
use super::policy::{Side, TicketAction, missing};
use crate::auth::throttle::Limit;
use crate::error::{Error, Result};
use crate::ids::{TicketId, UserId};
use crate::policy::{Actor, Permission, Role};
use crate::records::tickets::{NewTicketMessage, RequestKey, Ticket, TicketMessage};
use crate::records::users::User;
use crate::store::tickets::{Effects, TicketWrite, Written};

/// How often a change is decided again when the ticket changed under it.
const ATTEMPTS: usize = 6;

/// A change decided on a ticket as read.
pub(super) struct Plan {
    pub ticket: Ticket,
    pub message: Option<NewTicketMessage>,
    pub effects: Effects,
}

/// What a change is decided on.
pub(super) struct Current {
    pub ticket: Ticket,
    pub side: Side,
    pub customer: User,
    pub now: DateTime<Utc>,
    /// The customer-visible messages, when the change asked for them (a close, for the
    /// transcript); empty otherwise.
    pub messages: Vec<TicketMessage>,
}

/// How a change went.
pub(super) enum Changed {
    Done(Ticket, Option<TicketMessage>),
    /// The decision was to change nothing.
    Unchanged(Ticket),
    /// The Discord message was stored before.
    Duplicate(TicketMessage),
}

/// The name shown for an account: its display name, else the part of the email before the @
/// for customers and "Support" for staff (whose addresses customers need not learn).
pub(super) fn name_of(user: &User) -> String {
    match &user.display_name {
        Some(name) => name.clone(),
        None if user.role == Role::Customer => {
            user.email.split('@').next().unwrap_or_default().to_owned()
        }
        None => "Support".to_owned(),
    }
}

/// `ticket:12`, as audit entries name a ticket.
pub(super) fn target(id: TicketId) -> String {
    format!("ticket:{id}")
}

impl Tickets {
    pub(super) async fn user(&self, id: UserId) -> Result<User> {
        crate::users::existing(self.store.as_ref(), id).await
    }

    /// Audits a refusal a person should be able to trace and hands it back.
    pub(super) async fn refused(
        &self,
        actor: &Actor,
        action: TicketAction,
        id: Option<TicketId>,
        error: Error,
    ) -> Error {
        self.audit
            .denied_on(actor, action.audit_name(), id.map(target), error)
            .await
    }

    /// Whether the actor may do `action` to some ticket at all (refusal audited).
    pub(super) async fn may_at_all(&self, actor: &Actor, action: TicketAction) -> Result<()> {
        match action.check_at_all(actor) {
            Ok(()) => Ok(()),
            Err(error) => Err(self.refused(actor, action, None, error).await),
        }
    }

    /// [`Self::may_at_all`] for an action on the ticket `id`. When the actor may not do it to
    /// any ticket, an id that is not one of their own tickets is `not_found`, like every other
    /// ticket they may not know of: a customer sent to a staff-only action (claim, assign,
    /// priority, note, context) with somebody else's ticket, or a ticket that does not exist,
    /// learns nothing, and every door answers 404 for it. On their own ticket the refusal says
    /// what is missing.
    pub(super) async fn may_on(
        &self,
        actor: &Actor,
        action: TicketAction,
        id: TicketId,
    ) -> Result<()> {
        let Err(error) = action.check_at_all(actor) else {
            return Ok(());
        };
        let own = match (actor.user, self.store.tickets().ticket(id).await?) {
            (Some(user), Some(ticket)) => ticket.customer == user,
            _ => false,
        };
        // A key without the scope the action needs is refused as such whatever the ticket,
        // which tells nothing of it.
        let scope_missing = actor.scopes.is_some_and(|scopes| {
            [action.own(), action.any()]
                .into_iter()
                .flatten()
                .filter_map(|permission| permission.rule().scope)
                .all(|scope| !scopes.contains(scope))
        });
        // Nobody signed in is told so; a person is told only of their own tickets.
        let error =
            if actor.user.is_none() || own || scope_missing || actor.can(Permission::ReadAnyTicket)
            {
                error
            } else {
                missing(id)
            };
        Err(self.refused(actor, action, Some(id), error).await)
    }

    /// The ticket and the actor's side on it, or the refusal (audited). Somebody else's
    /// ticket is `not_found` unless the actor may read every ticket.
    pub(super) async fn authorize(
        &self,
        actor: &Actor,
        id: TicketId,
        action: TicketAction,
    ) -> Result<(Ticket, Side)> {
        self.may_on(actor, action, id).await?;
        let ticket = self
            .store
            .tickets()
            .ticket(id)
            .await?
            .ok_or_else(|| missing(id))?;
        match action.side(actor, &ticket) {
            Ok(side) => Ok((ticket, side)),
            Err(error) => Err(self.refused(actor, action, Some(id), error).await),
        }
    }

    /// Counts one message by `author` against `tickets.messages_per_minute`.
    pub(super) async fn take_message_slot(&self, author: UserId) -> Result<()> {
        let limit = Limit {
            name: "ticket_messages",
            max: self.config.tickets.messages_per_minute,
            window: Duration::from_secs(60),
        };
        self.throttle
            .take_all(&[(&limit, &author.to_string())], |wait| {
                format!(
                    "You are writing faster than {} messages a minute; wait {} and send it again.",
                    limit.max,
                    crate::auth::throttle::minutes(wait)
                )
            })
            .await?;
        Ok(())
    }

    /// Decides a change on the ticket as read and writes it with what it sends; if the ticket
    /// changed meanwhile, reads it and decides again. `decide` returning `None` changes nothing.
    pub(super) async fn change(
        &self,
        actor: &Actor,
        id: TicketId,
        action: TicketAction,
        with_messages: bool,
        decide: impl Fn(&Current) -> Result<Option<Plan>>,
    ) -> Result<Changed> {
        self.change_keyed(actor, (id, action), with_messages, None, decide)
            .await
    }

    /// [`Self::change`], with the client's idempotency key written with the change's message.
    pub(super) async fn change_keyed(
        &self,
        actor: &Actor,
        (id, action): (TicketId, TicketAction),
        with_messages: bool,
        request_key: Option<&RequestKey>,
        decide: impl Fn(&Current) -> Result<Option<Plan>>,
    ) -> Result<Changed> {
        let (mut ticket, side) = self.authorize(actor, id, action).await?;
        let customer = self.user(ticket.customer).await?;
        for _ in 0..ATTEMPTS {
            let messages = if with_messages {
                self.store.tickets().ticket_messages(id, false).await?
            } else {
                Vec::new()
            };
            let now = self.clock.now();
            let current = Current {
                ticket,
                side,
                customer: customer.clone(),
                now,
                messages,
            };
            let Some(plan) = decide(&current)? else {
                return Ok(Changed::Unchanged(current.ticket));
            };
            let write = TicketWrite {
                ticket: plan.ticket,
                message: plan.message,
                effects: plan.effects,
                at: now,
                open_limit: (action == TicketAction::Reopen && side == Side::Customer)
                    .then_some(self.config.tickets.max_open_per_customer),
                request_key: request_key.cloned(),
            };
            match self.store.tickets().write_ticket(&write).await? {
                Written::Done { ticket, message } => {
                    self.outbox.wake();
                    return Ok(Changed::Done(*ticket, message));
                }
                Written::Duplicate(message) => return Ok(Changed::Duplicate(message)),
                Written::Stale => {}
            }
            ticket = self
                .store
                .tickets()
                .ticket(id)
                .await?
                .ok_or_else(|| missing(id))?;
        }
        Err(Error::Unavailable(format!(
            "Ticket {id} is changing too fast right now; try again in a moment."
        )))
    }

    /// A message by the actor on `ticket`, as stored.
    pub(super) fn message_by(
        &self,
        actor: &Actor,
        author: Option<&User>,
        current: &Current,
        body: String,
    ) -> NewTicketMessage {
        NewTicketMessage {
            ticket: current.ticket.id,
            author: author.map(|user| user.id),
            author_name: author.map_or_else(|| self.config.company.name.clone(), name_of),
            author_staff: current.side == Side::Staff && author.is_some(),
            door: actor.via.into(),
            body,
            note: false,
            attachments: Vec::new(),
            discord_message_id: None,
            created_at: current.now,
        }
    }
}
