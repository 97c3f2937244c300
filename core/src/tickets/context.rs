//! The customer as staff see them beside a ticket: servers and their states, balance and
//! hours left, open and recent tickets, the linked Discord member and any suspension.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::ServerId;
use crate::money::Money;
use crate::records::servers::ServerStatus;
use crate::records::tickets::Ticket;
use crate::records::users::User;

/// One of the customer's servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerSummary {
    pub id: ServerId,
    pub name: String,
    pub plan: String,
    pub provider: String,
    pub state: ServerStatus,
    pub suspended_at: Option<DateTime<Utc>>,
}

/// Everything staff want to know about a customer while answering them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomerContext {
    pub customer: User,
    /// Servers not deleted, oldest first.
    pub servers: Vec<ServerSummary>,
    pub balance: Money,
    /// What the servers cost an hour, rounded up to a micro-unit.
    pub burn_per_hour: Money,
    /// Whole hours the balance lasts; `None` when nothing is billed.
    pub hours_left: Option<i64>,
    /// When the balance went below zero, if it is.
    pub negative_since: Option<DateTime<Utc>>,
    /// When billing suspended the servers for the unpaid balance, if it did.
    pub suspended_at: Option<DateTime<Utc>>,
    /// Tickets not closed, newest first.
    pub open_tickets: Vec<Ticket>,
    /// The latest closed tickets, newest first.
    pub recent_tickets: Vec<Ticket>,
    /// The customer's linked Discord member id.
    pub discord_user_id: Option<u64>,
}
