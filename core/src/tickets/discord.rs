//! The Discord seam's core side (see [`super::sync`]): what the bot's reconcile reads and
//! records, and what it brings in from threads: messages (idempotent by Discord message id),
//! edits, deletions, a deleted thread, and where catch-up after a restart starts.

use chrono::{DateTime, Utc};

use super::access::{Changed, target};
use super::notices::Notices;
use super::policy::TicketAction;
use super::{Ingested, ThreadCursor, Tickets};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::records::tickets::{
    self, InboundMessage, Ticket, TicketId, TicketMessage, TicketMessageId,
};
use crate::store::tickets::{Effects, MessageEdit};

/// The body kept for a Discord message that is only attachments.
const ATTACHMENTS_ONLY: &str = "(attachments)";

impl Tickets {
    /// Takes the ticket's sync lease for `hold`; `None` when another replica holds it (or the
    /// ticket is gone).
    pub async fn sync_lease(
        &self,
        ticket: TicketId,
        hold: std::time::Duration,
    ) -> Result<Option<Ticket>> {
        let now = self.clock.now();
        let until = now + chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::minutes(5));
        if !self
            .store
            .tickets()
            .take_sync_lease(ticket, now, until)
            .await?
        {
            return Ok(None);
        }
        self.store.tickets().ticket(ticket).await
    }

    /// Gives the lease back early.
    pub async fn sync_release(&self, ticket: TicketId) -> Result<()> {
        self.store.tickets().release_sync_lease(ticket).await
    }

    /// Messages still to post into the thread, oldest first: neither from Discord nor notes.
    pub async fn unsynced_messages(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        self.store.tickets().unsynced_messages(ticket).await
    }

    /// Records the Discord message that carries `message`, right after it was posted.
    pub async fn mark_posted(
        &self,
        message: TicketMessageId,
        discord_message_id: u64,
    ) -> Result<()> {
        self.store
            .tickets()
            .mark_posted(message, discord_message_id)
            .await?;
        Ok(())
    }

    /// Records the ticket's thread once it was created.
    pub async fn set_thread(&self, ticket: TicketId, thread_id: u64) -> Result<()> {
        self.store.tickets().set_thread(ticket, thread_id).await
    }

    /// The ticket whose thread is `thread_id`.
    pub async fn ticket_by_thread(&self, thread_id: u64) -> Result<Option<Ticket>> {
        self.store.tickets().ticket_by_thread(thread_id).await
    }

    /// The customer-visible conversation (no notes, no deleted messages), for a thread made
    /// again with the history summarised.
    pub async fn thread_history(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        let mut messages = self.store.tickets().ticket_messages(ticket, false).await?;
        messages.retain(|message| message.deleted_at.is_none());
        Ok(messages)
    }

    /// Stores a message posted in a ticket's thread by `actor` (the member as
    /// [`crate::discord_links::DiscordLinks::access`] made them); idempotent by Discord message
    /// id. Unlinked members are refused with what to do. Not rate limited: the message exists
    /// in Discord already, and refusing it would lose it.
    pub async fn ingest_discord(
        &self,
        actor: &Actor,
        thread_id: u64,
        inbound: InboundMessage,
    ) -> Result<Ingested> {
        if let Some(message) = self
            .store
            .tickets()
            .message_by_discord_id(inbound.discord_message_id)
            .await?
        {
            return Ok(Ingested {
                message,
                new: false,
            });
        }
        let ticket = self
            .store
            .tickets()
            .ticket_by_thread(thread_id)
            .await?
            .ok_or_else(|| Error::NotFound("This thread belongs to no ticket.".into()))?;
        let Some(user) = actor.user else {
            let error = Error::Forbidden(
                "Your message was not added to the ticket: link your Discord account first \
                 (make a code on your account page in the portal, then use /link with it)."
                    .into(),
            );
            return Err(self
                .refused(actor, TicketAction::Reply, Some(ticket.id), error)
                .await);
        };
        let author = self.user(user).await?;
        let body = if inbound.body.trim().is_empty() && !inbound.attachments.is_empty() {
            ATTACHMENTS_ONLY.to_owned()
        } else {
            tickets::body(&inbound.body)?
        };
        let attachments = self.attachments(inbound.attachments)?;
        let changed = self
            .change(actor, ticket.id, TicketAction::Reply, false, |current| {
                let mut message = self.message_by(actor, Some(&author), current, body.clone());
                if author.display_name.is_none() {
                    message.author_name.clone_from(&inbound.author_name);
                }
                message.attachments.clone_from(&attachments);
                message.discord_message_id = Some(inbound.discord_message_id);
                message.created_at = inbound.at;
                self.reply_plan(actor, current, message).map(Some)
            })
            .await?;
        match changed {
            Changed::Done(_, Some(message)) => Ok(Ingested { message, new: true }),
            Changed::Duplicate(message) => Ok(Ingested {
                message,
                new: false,
            }),
            Changed::Done(_, None) | Changed::Unchanged(_) => Err(Error::internal(
                "storing a Discord message",
                "the change wrote no message",
            )),
        }
    }

    /// A message edited in Discord: the new body is kept, the old one goes to the history.
    /// `None` when no ticket message carries that Discord message.
    pub async fn edit_from_discord(
        &self,
        discord_message_id: u64,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let body = tickets::body(body)?;
        let edited = self
            .store
            .tickets()
            .edit_message(discord_message_id, &body, at)
            .await?;
        if let Some(message) = &edited {
            self.audit_discord("ticket.message_edit", message).await?;
        }
        Ok(edited)
    }

    /// A message deleted in Discord: kept, marked deleted.
    pub async fn delete_from_discord(
        &self,
        discord_message_id: u64,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let deleted = self
            .store
            .tickets()
            .delete_message(discord_message_id, at)
            .await?;
        if let Some(message) = &deleted {
            self.audit_discord("ticket.message_delete", message).await?;
        }
        Ok(deleted)
    }

    async fn audit_discord(&self, action: &str, message: &TicketMessage) -> Result<()> {
        let mut actor = Actor::system();
        actor.via = crate::policy::Via::Discord;
        self.audit
            .record(
                AuditEntry::new(&actor, action)
                    .target(target(message.ticket))
                    .detail(serde_json::json!({ "message": message.id.0 })),
            )
            .await
    }

    /// Earlier bodies of a message edited in Discord, oldest first (staff who may read the
    /// ticket's notes; the customer sees the message as it is now).
    pub async fn message_edits(
        &self,
        actor: &Actor,
        ticket: TicketId,
        message: TicketMessageId,
    ) -> Result<Vec<MessageEdit>> {
        self.may_at_all(actor, TicketAction::Context).await?;
        self.authorize(actor, ticket, TicketAction::Context).await?;
        let belongs = self
            .store
            .tickets()
            .ticket_messages(ticket, true)
            .await?
            .iter()
            .any(|known| known.id == message);
        if !belongs {
            return Err(Error::NotFound(format!(
                "Ticket {ticket} has no message {message}."
            )));
        }
        self.store.tickets().message_edits(message).await
    }

    /// A ticket's thread was deleted: its id is forgotten and a sync is queued that makes it
    /// again with the history summarised.
    pub async fn thread_deleted(&self, thread_id: u64) -> Result<Option<TicketId>> {
        let Some(ticket) = self.store.tickets().ticket_by_thread(thread_id).await? else {
            return Ok(None);
        };
        let mut actor = Actor::system();
        actor.via = crate::policy::Via::Discord;
        let effects = Effects {
            outbox: Notices::new(&self.config).sync(&ticket).rows(),
            audit: vec![
                AuditEntry::new(&actor, "ticket.thread_deleted")
                    .target(target(ticket.id))
                    .detail(serde_json::json!({ "thread": thread_id.to_string() })),
            ],
        };
        let cleared = self
            .store
            .tickets()
            .clear_thread(ticket.id, thread_id, &effects, self.clock.now())
            .await?;
        if cleared {
            self.outbox.wake();
        }
        Ok(cleared.then_some(ticket.id))
    }

    /// The newest thread message read for `ticket`.
    pub async fn last_seen(&self, ticket: TicketId) -> Result<Option<u64>> {
        self.store.tickets().last_seen(ticket).await
    }

    /// Moves the catch-up point forward (never back).
    pub async fn set_last_seen(&self, ticket: TicketId, discord_message_id: u64) -> Result<()> {
        self.store
            .tickets()
            .set_last_seen(ticket, discord_message_id)
            .await
    }

    /// Every ticket with a thread that is not closed, for catch-up after a restart.
    pub async fn open_threads(&self) -> Result<Vec<ThreadCursor>> {
        Ok(self
            .store
            .tickets()
            .open_threads()
            .await?
            .into_iter()
            .map(|(ticket, thread_id, last_seen)| ThreadCursor {
                ticket,
                thread_id,
                last_seen,
            })
            .collect())
    }
}
