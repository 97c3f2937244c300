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
/// The body kept for a Discord message with nothing we keep (a sticker, an embed, a poll).
const NOTHING_KEPT: &str = "(a message without text, such as a sticker or an embed)";
/// The name kept for a Discord author whose name is all hidden characters.
const NAMELESS: &str = "Discord member";

/// When a lease taken at `now` for `hold` ends, to the millisecond (both engines keep that
/// much, so the end compares equal when it is renewed or given back).
fn lease_end(now: DateTime<Utc>, hold: chrono::Duration) -> DateTime<Utc> {
    use chrono::SubsecRound as _;
    now.checked_add_signed(hold).unwrap_or(now).trunc_subsecs(3)
}

/// A body from Discord: it exists there already, so it is cleaned, never refused (refusing
/// would lose it): hidden characters dropped, cut to [`tickets::MAX_BODY`].
fn discord_body(body: &str, attachments: bool) -> String {
    match crate::text::cleaned(body, tickets::MAX_BODY) {
        body if !body.is_empty() => body,
        _ if attachments => ATTACHMENTS_ONLY.to_owned(),
        _ => NOTHING_KEPT.to_owned(),
    }
}

impl Tickets {
    /// Takes the ticket's sync lease for `hold`; `None` when another replica holds it (or the
    /// ticket is gone). A caller that gets `None` must try again later (its outbox row is
    /// retried), or a change made after the holder read the ticket could wait for the next
    /// one. Every [`Tickets::mark_posted`] renews the lease; a lease that ran out and was
    /// taken by another replica stops this one there.
    pub async fn sync_lease(
        &self,
        ticket: TicketId,
        hold: std::time::Duration,
    ) -> Result<Option<Ticket>> {
        let now = self.clock.now();
        let hold = chrono::Duration::from_std(hold).unwrap_or(chrono::Duration::minutes(5));
        let until = lease_end(now, hold);
        if !self
            .store
            .tickets()
            .take_sync_lease(ticket, now, until)
            .await?
        {
            return Ok(None);
        }
        self.held_leases().insert(ticket, (until, hold));
        self.store.tickets().ticket(ticket).await
    }

    /// Gives the lease back early (only the lease this process holds).
    pub async fn sync_release(&self, ticket: TicketId) -> Result<()> {
        let held = self.held_leases().remove(&ticket);
        match held {
            Some((until, _)) => self.store.tickets().release_sync_lease(ticket, until).await,
            None => Ok(()),
        }
    }

    fn held_leases(&self) -> std::sync::MutexGuard<'_, super::Leases> {
        self.leases
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Messages still to post into the thread, oldest first: neither from Discord nor notes.
    pub async fn unsynced_messages(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        self.store.tickets().unsynced_messages(ticket).await
    }

    /// Records the Discord message that carries `message`, right after it was posted, and
    /// renews the ticket's sync lease. A `conflict` when the lease ran out and another replica
    /// took it: the post is recorded, and the caller stops there.
    pub async fn mark_posted(
        &self,
        message: TicketMessageId,
        discord_message_id: u64,
    ) -> Result<()> {
        let Some(ticket) = self
            .store
            .tickets()
            .mark_posted(message, discord_message_id)
            .await?
        else {
            return Ok(());
        };
        let held = self.held_leases().get(&ticket).copied();
        let Some((until, hold)) = held else {
            return Ok(());
        };
        let renewed = lease_end(self.clock.now(), hold);
        if self
            .store
            .tickets()
            .renew_sync_lease(ticket, until, renewed)
            .await?
        {
            self.held_leases().insert(ticket, (renewed, hold));
            Ok(())
        } else {
            self.held_leases().remove(&ticket);
            Err(Error::Conflict(format!(
                "The sync lease of ticket {ticket} ran out and another replica carries on."
            )))
        }
    }

    /// Records the ticket's thread once it was created. A `conflict` when the ticket has a
    /// thread already (another replica made one first): the caller's thread is not the
    /// ticket's.
    pub async fn set_thread(&self, ticket: TicketId, thread_id: u64) -> Result<()> {
        if self.store.tickets().set_thread(ticket, thread_id).await? {
            Ok(())
        } else {
            Err(Error::Conflict(format!(
                "Ticket {ticket} has a Discord thread already."
            )))
        }
    }

    /// The Discord member linked to the ticket's assignee, whom the thread should hold; `None`
    /// when nobody is assigned or the assignee linked no Discord account.
    pub async fn assignee_member(&self, ticket: &Ticket) -> Result<Option<u64>> {
        let Some(assignee) = ticket.assignee else {
            return Ok(None);
        };
        let link = self.store.discord().link_of_account(assignee).await?;
        Ok(link.map(|link| link.discord_user_id))
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
        let body = discord_body(&inbound.body, !inbound.attachments.is_empty());
        // Links Discord gave that are not its CDN's are left out, never a reason to lose the
        // message.
        let host = self.attachment_host();
        let attachments: Vec<_> = inbound
            .attachments
            .into_iter()
            .filter_map(|file| file.checked(host).ok())
            .take(tickets::MAX_ATTACHMENTS)
            .collect();
        let changed = self
            .change(actor, ticket.id, TicketAction::Reply, false, |current| {
                let mut message = self.message_by(actor, Some(&author), current, body.clone());
                if author.display_name.is_none() {
                    message.author_name = match crate::text::cleaned(&inbound.author_name, 80) {
                        name if name.is_empty() => NAMELESS.to_owned(),
                        name => name,
                    };
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
        let body = discord_body(body, false);
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

    /// Queues a sync for every ticket Discord is behind on (no thread yet, or messages not
    /// posted), at most `limit`: the bot calls it when it connects, so a ticket whose sync
    /// rows ran out of attempts in a long outage catches up. Returns how many were queued.
    pub async fn requeue_unsynced(&self, limit: u32) -> Result<usize> {
        if self.config.discord.support_channel_id.is_none() {
            return Ok(0);
        }
        let behind = self.store.tickets().tickets_to_sync(limit).await?;
        for ticket in &behind {
            self.outbox.ticket_sync(ticket.0).await?;
        }
        Ok(behind.len())
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
