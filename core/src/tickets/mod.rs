//! The support desk: tickets opened at any door (portal, API, Discord), their conversation,
//! staff notes, assignment, the SLA clock, auto-close, transcripts, ratings and the customer
//! context staff see beside a ticket.
//!
//! What lives here: the [`Tickets`] service, whose every method takes the [`Actor`] first and
//! checks [`policy`] before it reads anything; [`sla`] (due times, warnings, escalation,
//! auto-close and the report); [`transcript`] (plain text and escaped HTML, never notes);
//! [`context`] (the customer as staff see them); [`sync`] (the seam the Discord bot
//! implements); [`config`] (`[tickets]`). What does not: rendering (the doors), Discord itself
//! (the bot, through [`sync::TicketSync`]), sending (the outbox worker of [`crate::notify`]).
//!
//! Every change and what it sends (the customer's email, the thread's sync row, the staff
//! channel's post) are one transaction, so a crash can never keep one without the other.

pub mod config;
pub mod context;
pub mod policy;
pub mod sla;
pub mod sync;
pub mod transcript;

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::audit::Audit;
use crate::auth::throttle::SharedThrottle;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::notify::Outbox;
use crate::policy::Actor;
pub use crate::records::tickets::{
    Assignee, Attachment, Door, InboundMessage, Priority, Ticket, TicketFilter, TicketId,
    TicketMessage, TicketMessageId, TicketPage, TicketStatus,
};
use crate::store::Store;
pub use context::CustomerContext;
pub use policy::{Side, TicketAction};
pub use sla::{DueOutcome, SlaReport};
pub use transcript::Transcript;

/// A ticket to open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpenTicket {
    pub subject: String,
    /// The first message.
    pub body: String,
    /// One of `tickets.departments`.
    pub department: String,
    /// `None`: normal. Customers may choose low, normal or high; urgent is for staff.
    pub priority: Option<Priority>,
    /// A server of the customer's own that the ticket is about.
    pub server: Option<ServerId>,
    /// Staff opening a ticket for a customer name them here; customers leave it `None` (or
    /// name themselves).
    pub customer: Option<UserId>,
    pub attachments: Vec<Attachment>,
}

/// A message read from Discord, and whether it was new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub message: TicketMessage,
    /// `false` when the same Discord message was stored before (catch-up read it again).
    pub new: bool,
}

/// A ticket with a Discord thread that is not closed: where catch-up reads after a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadCursor {
    pub ticket: TicketId,
    pub thread_id: u64,
    /// The newest thread message read so far.
    pub last_seen: Option<u64>,
}

/// The support desk.
#[derive(Clone)]
pub struct Tickets {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    outbox: Outbox,
    config: Arc<Config>,
    throttle: SharedThrottle,
}

fn unbuilt<T>(what: &str) -> Result<T> {
    Err(Error::internal(
        format!("tickets: {what}"),
        "not built yet".to_owned(),
    ))
}

impl Tickets {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        outbox: Outbox,
        config: Arc<Config>,
    ) -> Self {
        Self {
            throttle: SharedThrottle::new(store.clone(), clock.clone()),
            store,
            clock,
            audit,
            outbox,
            config,
        }
    }

    /// Opens a ticket with its first message. The customer's open tickets are counted in the
    /// insert's own transaction (`tickets.max_open_per_customer`).
    pub async fn open(&self, actor: &Actor, ticket: OpenTicket) -> Result<Ticket> {
        let _ = (actor, ticket, &self.store, &self.clock, &self.audit);
        let _ = (&self.outbox, &self.config, &self.throttle);
        unbuilt("open")
    }

    /// Tickets the actor may see, newest first: customers their own, staff everybody's.
    pub async fn list(&self, actor: &Actor, filter: &TicketFilter) -> Result<TicketPage> {
        let _ = (actor, filter);
        unbuilt("list")
    }

    pub async fn get(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        let _ = (actor, id);
        unbuilt("get")
    }

    /// The conversation, oldest first. Notes only for staff; a deleted message keeps its
    /// place with `deleted_at` set.
    pub async fn messages(&self, actor: &Actor, id: TicketId) -> Result<Vec<TicketMessage>> {
        let _ = (actor, id);
        unbuilt("messages")
    }

    /// A reply: the customer's own on their ticket, otherwise as staff.
    pub async fn reply(
        &self,
        actor: &Actor,
        id: TicketId,
        body: &str,
        attachments: Vec<Attachment>,
    ) -> Result<TicketMessage> {
        let _ = (actor, id, body, attachments);
        unbuilt("reply")
    }

    /// A staff-only note: the customer never sees it, anywhere.
    pub async fn note(&self, actor: &Actor, id: TicketId, body: &str) -> Result<TicketMessage> {
        let _ = (actor, id, body);
        unbuilt("note")
    }

    /// Assigns the ticket to the actor.
    pub async fn claim(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        let _ = (actor, id);
        unbuilt("claim")
    }

    /// Assigns the ticket to support or admin staff, or to nobody.
    pub async fn assign(
        &self,
        actor: &Actor,
        id: TicketId,
        assignee: Option<UserId>,
    ) -> Result<Ticket> {
        let _ = (actor, id, assignee);
        unbuilt("assign")
    }

    pub async fn set_priority(
        &self,
        actor: &Actor,
        id: TicketId,
        priority: Priority,
    ) -> Result<Ticket> {
        let _ = (actor, id, priority);
        unbuilt("set_priority")
    }

    /// Closes the ticket with a reason; the transcript is emailed to the customer.
    pub async fn close(&self, actor: &Actor, id: TicketId, reason: &str) -> Result<Ticket> {
        let _ = (actor, id, reason);
        unbuilt("close")
    }

    /// Reopens a closed ticket: customers within `tickets.reopen_within` of the close, staff
    /// at any time.
    pub async fn reopen(&self, actor: &Actor, id: TicketId) -> Result<Ticket> {
        let _ = (actor, id);
        unbuilt("reopen")
    }

    /// The customer's 1-5 stars on a closed ticket, once (a second is a conflict).
    pub async fn rate(
        &self,
        actor: &Actor,
        id: TicketId,
        stars: u8,
        comment: Option<&str>,
    ) -> Result<Ticket> {
        let _ = (actor, id, stars, comment);
        unbuilt("rate")
    }

    /// The conversation without notes or deleted messages.
    pub async fn transcript(&self, actor: &Actor, id: TicketId) -> Result<Transcript> {
        let _ = (actor, id);
        unbuilt("transcript")
    }

    /// The ticket's customer as staff see them.
    pub async fn context(&self, actor: &Actor, id: TicketId) -> Result<CustomerContext> {
        let _ = (actor, id);
        unbuilt("context")
    }

    /// A customer as staff see them.
    pub async fn customer_context(
        &self,
        actor: &Actor,
        customer: UserId,
    ) -> Result<CustomerContext> {
        let _ = (actor, customer);
        unbuilt("customer_context")
    }

    /// First-response and resolution times of the tickets opened in `[from, to)`.
    pub async fn report(
        &self,
        actor: &Actor,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SlaReport> {
        let _ = (actor, from, to);
        unbuilt("report")
    }

    /// SLA warnings and escalations, auto-close warnings and closes that are due; each once.
    pub async fn run_due(&self) -> Result<DueOutcome> {
        unbuilt("run_due")
    }

    /// How many tickets `customer` has open (staff, or the customer themselves).
    pub async fn open_count_of(&self, actor: &Actor, customer: UserId) -> Result<u64> {
        let _ = (actor, customer);
        unbuilt("open_count_of")
    }

    // --- The Discord seam (see [`sync`]): called by the bot, trusted as the platform. ---

    /// Takes the ticket's sync lease for `hold`; `None` when another replica holds it.
    pub async fn sync_lease(
        &self,
        ticket: TicketId,
        hold: std::time::Duration,
    ) -> Result<Option<Ticket>> {
        let _ = (ticket, hold);
        unbuilt("sync_lease")
    }

    /// Gives the lease back early.
    pub async fn sync_release(&self, ticket: TicketId) -> Result<()> {
        let _ = ticket;
        unbuilt("sync_release")
    }

    /// Messages still to post into the thread, oldest first: neither from Discord nor notes.
    pub async fn unsynced_messages(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        let _ = ticket;
        unbuilt("unsynced_messages")
    }

    /// Records the Discord message that carries `message`, right after it was posted.
    pub async fn mark_posted(
        &self,
        message: TicketMessageId,
        discord_message_id: u64,
    ) -> Result<()> {
        let _ = (message, discord_message_id);
        unbuilt("mark_posted")
    }

    /// Records the ticket's thread once it was created.
    pub async fn set_thread(&self, ticket: TicketId, thread_id: u64) -> Result<()> {
        let _ = (ticket, thread_id);
        unbuilt("set_thread")
    }

    /// The ticket whose thread is `thread_id`.
    pub async fn ticket_by_thread(&self, thread_id: u64) -> Result<Option<Ticket>> {
        let _ = thread_id;
        unbuilt("ticket_by_thread")
    }

    /// The customer-visible conversation (no notes, no deleted messages), for a thread made
    /// again with the history summarised.
    pub async fn thread_history(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        let _ = ticket;
        unbuilt("thread_history")
    }

    /// Stores a message posted in a ticket's thread by `actor` (the member as
    /// [`crate::discord_links::DiscordLinks::access`] made them); idempotent by Discord message
    /// id. Unlinked members are refused with what to do.
    pub async fn ingest_discord(
        &self,
        actor: &Actor,
        thread_id: u64,
        message: InboundMessage,
    ) -> Result<Ingested> {
        let _ = (actor, thread_id, message);
        unbuilt("ingest_discord")
    }

    /// A message edited in Discord: the new body is kept, the old one goes to the history.
    /// `None` when no ticket message carries that Discord message.
    pub async fn edit_from_discord(
        &self,
        discord_message_id: u64,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let _ = (discord_message_id, body, at);
        unbuilt("edit_from_discord")
    }

    /// A message deleted in Discord: kept, marked deleted.
    pub async fn delete_from_discord(
        &self,
        discord_message_id: u64,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let _ = (discord_message_id, at);
        unbuilt("delete_from_discord")
    }

    /// A ticket's thread was deleted: its id is forgotten and a sync is queued that makes it
    /// again with the history summarised.
    pub async fn thread_deleted(&self, thread_id: u64) -> Result<Option<TicketId>> {
        let _ = thread_id;
        unbuilt("thread_deleted")
    }

    /// The newest thread message read for `ticket`.
    pub async fn last_seen(&self, ticket: TicketId) -> Result<Option<u64>> {
        let _ = ticket;
        unbuilt("last_seen")
    }

    /// Moves the catch-up point forward (never back).
    pub async fn set_last_seen(&self, ticket: TicketId, discord_message_id: u64) -> Result<()> {
        let _ = (ticket, discord_message_id);
        unbuilt("set_last_seen")
    }

    /// Every ticket with a thread that is not closed, for catch-up after a restart.
    pub async fn open_threads(&self) -> Result<Vec<ThreadCursor>> {
        unbuilt("open_threads")
    }
}
