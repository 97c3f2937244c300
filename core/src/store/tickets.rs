//! Tickets and their messages (`tickets`, `ticket_messages`, `ticket_message_edits`). A trait of
//! its own beside [`super::Store`] (reached through [`super::Store::tickets`]).
//!
//! Every change of a ticket is one write ([`TicketStore::write_ticket`]) that carries what goes
//! with it: the new message, the outbox rows (emails, the thread's sync, staff posts) and the
//! audit entries, all in one transaction. A change is made from the version it was decided on;
//! if the ticket changed meanwhile the write is [`Written::Stale`] and the service decides again.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{TicketId, TicketMessageId, UserId};
use crate::records::audit::AuditEntry;
use crate::records::outbox::NewOutboxMessage;
use crate::records::tickets::{
    KeyedRequest, NewTicket, NewTicketMessage, RequestKey, Ticket, TicketFilter, TicketMessage,
};

/// What goes with a change, in its transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub outbox: Vec<NewOutboxMessage>,
    pub audit: Vec<AuditEntry>,
}

/// What a new ticket brings along, once its id is known.
pub type OpenEffects<'a> = dyn Fn(&Ticket, &TicketMessage) -> Effects + Send + Sync + 'a;

/// A change of a ticket: its new state (with the version it was read at), maybe a message.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketWrite {
    pub ticket: Ticket,
    pub message: Option<NewTicketMessage>,
    pub effects: Effects,
    pub at: DateTime<Utc>,
    /// `Some(max)`: the customer's open tickets are counted in the write's transaction (their
    /// row locked) and the write is a `conflict` when they have `max` already (a customer's
    /// reopen, like an open).
    pub open_limit: Option<u32>,
    /// The client's idempotency key, stored with the message in the same transaction; a key
    /// stored already makes the write a `conflict` and writes nothing.
    pub request_key: Option<RequestKey>,
}

/// How a [`TicketWrite`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    Done {
        ticket: Box<Ticket>,
        message: Option<TicketMessage>,
    },
    /// The ticket changed since it was read; nothing was written.
    Stale,
    /// A message with the same Discord message id is stored already; nothing was written.
    Duplicate(TicketMessage),
}

/// A message's body before an edit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageEdit {
    pub body: String,
    pub edited_at: DateTime<Utc>,
}

/// What the SLA and auto-close run looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueQuery {
    pub now: DateTime<Utc>,
    /// Tickets waiting on staff whose deadline is before this (now + warn_before).
    pub sla_until: DateTime<Utc>,
    /// Tickets awaiting the customer with no activity since this get a warning...
    pub quiet_since: DateTime<Utc>,
    /// ...and those warned before this close.
    pub warned_before: DateTime<Utc>,
    pub limit: u32,
}

#[async_trait::async_trait]
pub trait TicketStore: Send + Sync {
    /// Opens a ticket with its first message, if the customer has fewer than `max_open` tickets
    /// not closed (counted in the same write transaction, the customer's row locked, so opens
    /// made at once cannot pass it; over it is a `conflict`). `effects` are written with it, and
    /// `key` (a key stored already is a `conflict` and nothing is written).
    async fn insert_ticket(
        &self,
        ticket: &NewTicket,
        first: &NewTicketMessage,
        max_open: u32,
        effects: &OpenEffects<'_>,
        key: Option<&RequestKey>,
    ) -> Result<(Ticket, TicketMessage)>;
    /// What the request sent with `key` in `scope` made, if one was.
    async fn request_key(&self, scope: &str, key: &str) -> Result<Option<KeyedRequest>>;
    /// Forgets the keys of requests made before `before`; returns how many.
    async fn purge_request_keys(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Writes a change (see the module comment).
    async fn write_ticket(&self, write: &TicketWrite) -> Result<Written>;
    async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>>;
    async fn ticket_by_thread(&self, thread_id: u64) -> Result<Option<Ticket>>;
    /// Newest first, at most `filter.limit + 1` (the extra one says there is a next page).
    async fn list_tickets(&self, filter: &TicketFilter, now: DateTime<Utc>) -> Result<Vec<Ticket>>;
    /// Tickets of `customer` not closed.
    async fn open_ticket_count(&self, customer: UserId) -> Result<u64>;
    /// Oldest first; notes only with `notes`.
    async fn ticket_messages(&self, ticket: TicketId, notes: bool) -> Result<Vec<TicketMessage>>;
    async fn message_by_discord_id(&self, discord_message_id: u64)
    -> Result<Option<TicketMessage>>;
    /// Messages not yet in the thread: not notes, not posted (a message read from the thread
    /// carries its Discord id; one typed in `/ticket open` does not, and is posted); oldest first.
    async fn unsynced_messages(&self, ticket: TicketId) -> Result<Vec<TicketMessage>>;
    /// Records the post of `message`: the message's ticket, or `None` if it was recorded
    /// before.
    async fn mark_posted(
        &self,
        message: TicketMessageId,
        discord_message_id: u64,
    ) -> Result<Option<TicketId>>;
    /// Replaces the body of the message written in Discord as `discord_message_id`, keeping
    /// the old one in the edit history; `None` when there is no such message (our own posts
    /// of portal and API messages are not edited from Discord).
    async fn edit_message(
        &self,
        discord_message_id: u64,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>>;
    /// Marks the message written in Discord as `discord_message_id` deleted (once); `None`
    /// when there is none (our own posts of portal and API messages are left as they are).
    async fn delete_message(
        &self,
        discord_message_id: u64,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>>;
    /// A message's earlier bodies, oldest first.
    async fn message_edits(&self, message: TicketMessageId) -> Result<Vec<MessageEdit>>;
    /// Records the ticket's thread; `false` when the ticket has one already (another replica
    /// made it first).
    async fn set_thread(&self, ticket: TicketId, thread_id: u64) -> Result<bool>;
    /// Forgets the thread `thread_id` of `ticket` and writes `effects`; `false` when the
    /// ticket has another thread (or none) by now.
    async fn clear_thread(
        &self,
        ticket: TicketId,
        thread_id: u64,
        effects: &Effects,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Takes the sync lease until `until` if it is free at `now`.
    async fn take_sync_lease(
        &self,
        ticket: TicketId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Moves the lease held until `held` on to `until`; `false` when it is not held until
    /// `held` any more (it ran out and another replica took it).
    async fn renew_sync_lease(
        &self,
        ticket: TicketId,
        held: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;
    /// Gives back the lease held until `held` (a lease another replica took since stays).
    async fn release_sync_lease(&self, ticket: TicketId, held: DateTime<Utc>) -> Result<()>;
    async fn last_seen(&self, ticket: TicketId) -> Result<Option<u64>>;
    /// Moves the catch-up point to `discord_message_id` if that is further on.
    async fn set_last_seen(&self, ticket: TicketId, discord_message_id: u64) -> Result<()>;
    /// Up to `limit` tickets Discord is behind on, oldest first: not closed and without a
    /// thread, or with a message (not a note) not posted yet.
    async fn tickets_to_sync(&self, limit: u32) -> Result<Vec<TicketId>>;
    /// `(ticket, thread, last seen)` of every ticket with a thread that is not closed.
    async fn open_threads(&self) -> Result<Vec<(TicketId, u64, Option<u64>)>>;
    /// Tickets the SLA run and the auto-close should look at (see [`DueQuery`]).
    async fn due_tickets(&self, query: &DueQuery) -> Result<Vec<Ticket>>;
    /// Tickets opened in `[from, to)`.
    async fn tickets_opened_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Ticket>>;
}
