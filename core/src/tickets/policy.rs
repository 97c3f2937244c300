//! Who may do what to a ticket: one matrix, [`TicketAction`] x (the ticket's customer, anybody
//! else) -> the permission needed. The permissions themselves (and that staff ones need
//! two-factor) are [`crate::policy::POLICY`]; this file only says which one each action takes.
//!
//! A ticket that is not the actor's own, when the actor may not read every ticket, does not
//! exist as far as the actor can tell: `not_found`, never `forbidden`, at every door.

use crate::error::{Error, Result};
use crate::policy::{Actor, Permission};
use crate::records::tickets::Ticket;

/// Everything a person can do with tickets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketAction {
    Open,
    Read,
    Reply,
    Note,
    Claim,
    Assign,
    Priority,
    Close,
    Reopen,
    Rate,
    Transcript,
    Context,
    Report,
}

/// In which capacity an actor acts on a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The ticket's customer, on their own ticket.
    Customer,
    /// Staff (or the platform) on anybody's ticket.
    Staff,
}

impl TicketAction {
    pub const ALL: [TicketAction; 13] = [
        Self::Open,
        Self::Read,
        Self::Reply,
        Self::Note,
        Self::Claim,
        Self::Assign,
        Self::Priority,
        Self::Close,
        Self::Reopen,
        Self::Rate,
        Self::Transcript,
        Self::Context,
        Self::Report,
    ];

    /// What the ticket's own customer needs; `None`: customers may not, even on their own.
    pub const fn own(self) -> Option<Permission> {
        match self {
            Self::Open | Self::Reply | Self::Close | Self::Reopen | Self::Rate => {
                Some(Permission::WriteOwnTickets)
            }
            Self::Read | Self::Transcript => Some(Permission::ReadOwnTickets),
            Self::Note
            | Self::Claim
            | Self::Assign
            | Self::Priority
            | Self::Context
            | Self::Report => None,
        }
    }

    /// What anybody else needs (staff); `None`: only the customer may.
    pub const fn any(self) -> Option<Permission> {
        match self {
            Self::Read | Self::Transcript | Self::Context | Self::Report => {
                Some(Permission::ReadAnyTicket)
            }
            Self::Reply | Self::Note => Some(Permission::ReplyAsStaff),
            Self::Open
            | Self::Claim
            | Self::Assign
            | Self::Priority
            | Self::Close
            | Self::Reopen => Some(Permission::ManageTickets),
            Self::Rate => None,
        }
    }

    /// The name audit entries use (`ticket.reply`).
    pub const fn audit_name(self) -> &'static str {
        match self {
            Self::Open => "ticket.open",
            Self::Read => "ticket.read",
            Self::Reply => "ticket.reply",
            Self::Note => "ticket.note",
            Self::Claim => "ticket.claim",
            Self::Assign => "ticket.assign",
            Self::Priority => "ticket.priority",
            Self::Close => "ticket.close",
            Self::Reopen => "ticket.reopen",
            Self::Rate => "ticket.rate",
            Self::Transcript => "ticket.transcript",
            Self::Context => "ticket.context",
            Self::Report => "ticket.report",
        }
    }

    /// Whether the actor may do this to some ticket at all: checked before any id is looked
    /// at, so the refusal names what is missing.
    pub fn check_at_all(self, actor: &Actor) -> Result<()> {
        let own = self.own().map(|permission| actor.require(permission));
        let any = self.any().map(|permission| actor.require(permission));
        match (own, any) {
            (Some(Ok(())), _) | (_, Some(Ok(()))) => Ok(()),
            (Some(Err(error)), _) | (None, Some(Err(error))) => Err(error),
            (None, None) => Err(Error::Forbidden("Nobody may do this.".into())),
        }
    }

    /// In which capacity `actor` may do this to `ticket`, or why not. Somebody else's ticket
    /// is `not_found` unless the actor may read every ticket.
    pub fn side(self, actor: &Actor, ticket: &Ticket) -> Result<Side> {
        self.check_at_all(actor)?;
        let owner = actor.user.is_some() && actor.user == Some(ticket.customer);
        if owner
            && let Some(own) = self.own()
            && actor.can(own)
        {
            return Ok(Side::Customer);
        }
        if let Some(any) = self.any()
            && actor.can(any)
        {
            return Ok(Side::Staff);
        }
        if !owner && !actor.can(Permission::ReadAnyTicket) {
            return Err(not_found(ticket));
        }
        let needed = self.any().or(self.own());
        Err(needed
            .and_then(|permission| actor.require(permission).err())
            .unwrap_or_else(|| {
                Error::Forbidden(match self {
                    Self::Rate => "Only the ticket's customer may rate it.".into(),
                    _ => "Customers may not do this to their own tickets.".into(),
                })
            }))
    }
}

/// The refusal for a ticket the actor may not know of.
pub fn not_found(ticket: &Ticket) -> Error {
    missing(ticket.id)
}

/// The refusal for a ticket id that names nothing the actor may see.
pub fn missing(id: crate::ids::TicketId) -> Error {
    Error::NotFound(format!("You have no ticket {id}."))
}

#[cfg(test)]
mod tests;
