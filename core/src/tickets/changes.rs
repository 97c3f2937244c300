//! Changes of a ticket's state: claim, assign, priority, close, reopen, rating.

use super::Tickets;
use super::access::{Changed, Current, Plan, name_of, target};
use super::notices::Notices;
use super::policy::{Side, TicketAction};
use super::sla::due_for;
use super::transcript::Transcript;
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Role};
use crate::records::tickets::{
    MAX_CLOSE_REASON, MAX_RATING_COMMENT, Priority, Ticket, TicketId, TicketStatus,
};
use crate::records::users::UserStatus;
use crate::store::tickets::Effects;

fn changed_ticket(changed: Changed) -> Result<Ticket> {
    match changed {
        Changed::Done(ticket, _) | Changed::Unchanged(ticket) => Ok(ticket),
        Changed::Duplicate(_) => Err(Error::internal(
            "changing a ticket",
            "a change without a message met a duplicate message",
        )),
    }
}

fn open_only(ticket: &Ticket) -> Result<()> {
    if ticket.is_closed() {
        return Err(Error::Conflict(format!(
            "Ticket {} is closed; reopen it first.",
            ticket.id
        )));
    }
    Ok(())
}

impl Tickets {
    /// A change with the thread's sync and one audit entry.
    fn synced(
        &self,
        actor: &Actor,
        action: TicketAction,
        next: Ticket,
        detail: serde_json::Value,
    ) -> Plan {
        let audit = AuditEntry::new(actor, action.audit_name())
            .target(target(next.id))
            .detail(detail);
        Plan {
            effects: Effects {
                outbox: Notices::new(&self.config).sync(&next).rows(),
                audit: vec![audit],
            },
            ticket: next,
            message: None,
        }
    }

    /// Assigns the ticket to the actor.
    pub async fn claim(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Claim, id).await?;
        let Some(me) = actor.user else {
            return Err(Error::invalid(
                "assignee",
                "only a person can claim a ticket",
            ));
        };
        self.set_assignee(actor, id, Some(me), TicketAction::Claim)
            .await
    }

    /// Assigns the ticket to support or admin staff, or to nobody.
    pub async fn assign(
        &self,
        actor: &Actor,
        id: TicketId,
        assignee: Option<UserId>,
    ) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Assign, id).await?;
        if let Some(assignee) = assignee {
            let user = self.user(assignee).await?;
            let staff = matches!(user.role, Role::Support | Role::Admin);
            if !staff || user.status != UserStatus::Active {
                return Err(Error::invalid(
                    "assignee",
                    format!("{} is not active support staff", name_of(&user)),
                ));
            }
        }
        self.set_assignee(actor, id, assignee, TicketAction::Assign)
            .await
    }

    async fn set_assignee(
        &self,
        actor: &Actor,
        id: TicketId,
        assignee: Option<UserId>,
        action: TicketAction,
    ) -> Result<Ticket> {
        let changed = self
            .change(actor, id, action, false, |current| {
                open_only(&current.ticket)?;
                if current.ticket.assignee == assignee {
                    return Ok(None);
                }
                let mut next = current.ticket.clone();
                next.assignee = assignee;
                let detail =
                    serde_json::json!({ "assignee": assignee, "was": current.ticket.assignee });
                Ok(Some(self.synced(actor, action, next, detail)))
            })
            .await?;
        changed_ticket(changed)
    }

    pub async fn set_priority(
        &self,
        actor: &Actor,
        id: TicketId,
        priority: Priority,
    ) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Priority, id).await?;
        let changed = self
            .change(actor, id, TicketAction::Priority, false, |current| {
                open_only(&current.ticket)?;
                if current.ticket.priority == priority {
                    return Ok(None);
                }
                let mut next = current.ticket.clone();
                next.priority = priority;
                let due = due_for(&self.config.tickets, &next);
                if due != next.due_at {
                    // A new deadline is warned of and escalated on its own.
                    next.due_at = due;
                    next.sla_warned_at = None;
                    next.sla_breached_at = None;
                }
                let detail =
                    serde_json::json!({ "priority": priority, "was": current.ticket.priority });
                Ok(Some(self.synced(
                    actor,
                    TicketAction::Priority,
                    next,
                    detail,
                )))
            })
            .await?;
        changed_ticket(changed)
    }

    /// Closes the ticket with a reason; the transcript is emailed to the customer in the same
    /// transaction.
    pub async fn close(&self, actor: &Actor, id: TicketId, reason: &str) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Close, id).await?;
        let reason = match reason.trim() {
            "" => None,
            reason => Some(crate::text::note(
                "reason",
                "The reason",
                reason,
                MAX_CLOSE_REASON,
            )?),
        };
        let changed = self
            .change(actor, id, TicketAction::Close, true, |current| {
                if current.ticket.is_closed() {
                    return Err(Error::Conflict(format!("Ticket {id} is closed already.")));
                }
                let reason = reason.clone().or_else(|| {
                    (current.side == Side::Customer).then(|| "Closed by the customer".to_owned())
                });
                Ok(Some(self.close_plan(
                    actor,
                    current,
                    reason,
                    TicketAction::Close,
                )))
            })
            .await?;
        changed_ticket(changed)
    }

    /// The change a close makes (by a person, or by the auto-close).
    pub(super) fn close_plan(
        &self,
        actor: &Actor,
        current: &Current,
        reason: Option<String>,
        action: TicketAction,
    ) -> Plan {
        let mut next = current.ticket.clone();
        next.status = TicketStatus::Closed;
        next.closed_at = Some(current.now);
        next.closed_by = actor.user;
        next.close_reason = reason;
        next.due_at = None;
        next.autoclose_warned_at = None;
        next.last_activity_at = current.now;
        let transcript = Transcript::new(
            next.clone(),
            name_of(&current.customer),
            current.messages.clone(),
        );
        let audit = AuditEntry::new(actor, action.audit_name())
            .target(target(next.id))
            .detail(serde_json::json!({ "reason": next.close_reason }));
        Plan {
            effects: Effects {
                outbox: Notices::new(&self.config)
                    .sync(&next)
                    .transcript_email(&current.customer, &transcript)
                    .rows(),
                audit: vec![audit],
            },
            ticket: next,
            message: None,
        }
    }

    /// Reopens a closed ticket: customers within `tickets.reopen_within` of the close, staff
    /// at any time. The deadline starts again from now.
    pub async fn reopen(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Reopen, id).await?;
        // A customer's open tickets are counted in the reopen's own transaction (see
        // `TicketWrite::open_limit`), so reopens and opens at once cannot pass the limit.
        let window = chrono::Duration::from_std(self.config.tickets.reopen_within)
            .unwrap_or(chrono::Duration::MAX / 4);
        let changed = self
            .change(actor, id, TicketAction::Reopen, false, |current| {
                let ticket = &current.ticket;
                let Some(closed_at) = ticket.closed_at.filter(|_| ticket.is_closed()) else {
                    return Err(Error::Conflict(format!("Ticket {id} is not closed.")));
                };
                if current.side == Side::Customer && closed_at + window < current.now {
                    return Err(Error::Conflict(format!(
                        "Ticket {id} was closed too long ago to reopen; open a new ticket \
                         (you can mention #{id} in it)."
                    )));
                }
                let mut next = ticket.clone();
                next.status = TicketStatus::AwaitingStaff;
                next.closed_at = None;
                next.closed_by = None;
                next.close_reason = None;
                next.last_activity_at = current.now;
                next.sla_warned_at = None;
                next.sla_breached_at = None;
                next.autoclose_warned_at = None;
                next.sla_started_at = Some(current.now);
                next.due_at = due_for(&self.config.tickets, &next);
                let detail = serde_json::json!({ "closed_at": closed_at });
                Ok(Some(self.synced(actor, TicketAction::Reopen, next, detail)))
            })
            .await?;
        changed_ticket(changed)
    }

    /// The customer's 1-5 stars on a closed ticket, once (a second is a conflict).
    pub async fn rate(
        &self,
        actor: &Actor,
        id: TicketId,
        stars: u8,
        comment: Option<&str>,
    ) -> Result<Ticket> {
        self.may_on(actor, TicketAction::Rate, id).await?;
        if !(1..=5).contains(&stars) {
            return Err(Error::invalid("stars", "give 1 to 5 stars"));
        }
        let comment = match comment.map(str::trim).filter(|text| !text.is_empty()) {
            Some(text) => Some(crate::text::note(
                "comment",
                "The comment",
                text,
                MAX_RATING_COMMENT,
            )?),
            None => None,
        };
        let changed = self
            .change(actor, id, TicketAction::Rate, false, |current| {
                let ticket = &current.ticket;
                if !ticket.is_closed() {
                    return Err(Error::Conflict(format!(
                        "Ticket {id} is still open; rate it once it is closed."
                    )));
                }
                if ticket.rating.is_some() {
                    return Err(Error::Conflict(format!(
                        "Ticket {id} was rated already; thank you."
                    )));
                }
                let mut next = ticket.clone();
                next.rating = Some(stars);
                next.rating_comment.clone_from(&comment);
                let audit = AuditEntry::new(actor, TicketAction::Rate.audit_name())
                    .target(target(id))
                    .detail(serde_json::json!({ "stars": stars }));
                Ok(Some(Plan {
                    ticket: next,
                    message: None,
                    effects: Effects {
                        outbox: Vec::new(),
                        audit: vec![audit],
                    },
                }))
            })
            .await?;
        changed_ticket(changed)
    }
}
