//! Tickets' Discord threads, both ways.
//!
//! Outbound, [`ThreadSync`] implements core's `TicketSync` for the outbox: under the ticket's
//! lease it makes the private thread in `discord.support_channel_id` (the customer's linked
//! member added, the ticket's card with its buttons first, a summary of an earlier thread's
//! history when one was deleted), posts every message not yet posted under a line naming its
//! real author, records each post's id right after it went out, and makes the thread's name
//! and archived state follow the status, and adds the assignee's linked member to the thread
//! once they claim it or are assigned. Nothing is ever mentioned: `allowed_mentions` is empty
//! and every `@` in people's text is made inert.
//!
//! Inbound, [`on_event`] turns MESSAGE_CREATE / UPDATE / DELETE in a ticket's thread into
//! core's `ingest_discord` / `edit_from_discord` / `delete_from_discord` (the bot's own and
//! webhook messages skipped), THREAD_DELETE into `thread_deleted`, and READY / RESUMED into a
//! catch-up of every open ticket's thread after the last message read, a page of 100 at a
//! time. Core stores each Discord message once, so reading one twice is harmless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hostdeck_core::Core;
use hostdeck_core::discord_links::DiscordMember;
use hostdeck_core::notify::SendError;
use hostdeck_core::tickets::sync::TicketSync;
use hostdeck_core::tickets::{Attachment, InboundMessage, Ticket, TicketId, TicketStatus};
use poise::serenity_prelude as serenity;
use serenity::{
    ChannelId, ChannelType, CreateMessage, CreateThread, EditThread, GetMessages, GuildId, Http,
    Message, MessageId, UserId,
};

use crate::Data;
use crate::commands::{thread_card, ticket_line};
use crate::render::{CONTENT_MAX, no_mentions};

/// How long one reconcile may hold a ticket before another replica may take it.
const LEASE: Duration = Duration::from_secs(60);
/// Discord's page of messages.
const PAGE: u8 = 100;
/// Discord's longest thread name.
const THREAD_NAME_MAX: usize = 100;
/// How soon a thread update is tried again while Discord is unreachable or busy.
const OUTAGE_RETRY: Duration = Duration::from_secs(3);
/// Discord's error code for a channel (or thread) that does not exist.
const UNKNOWN_CHANNEL: isize = 10003;

/// The bot's side of core's `TicketSync`.
pub struct ThreadSync {
    core: Arc<Core>,
    http: Arc<Http>,
    /// The assignee's member this process added to each ticket's thread. After a restart the
    /// map is empty and the assignee is added once more, which Discord takes as a no-op.
    added: Mutex<HashMap<TicketId, u64>>,
}

impl ThreadSync {
    pub fn new(core: Arc<Core>, http: Arc<Http>) -> Self {
        Self {
            core,
            http,
            added: Mutex::new(HashMap::new()),
        }
    }

    fn added(&self) -> std::sync::MutexGuard<'_, HashMap<TicketId, u64>> {
        self.added
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl TicketSync for ThreadSync {
    async fn sync_ticket(&self, ticket: TicketId) -> Result<(), SendError> {
        let tickets = &self.core.tickets;
        let Some(ticket) = tickets
            .sync_lease(ticket, LEASE)
            .await
            .map_err(|error| core_failed(&error))?
        else {
            // Another replica is posting this ticket; look again shortly.
            return Err(SendError::rate_limited(
                "another replica is syncing this ticket",
                Duration::from_secs(2),
            ));
        };
        let outcome = self.reconcile(&ticket).await;
        if let Err(error) = tickets.sync_release(ticket.id).await {
            tracing::warn!(%error, ticket = %ticket.id, "could not release a ticket's sync lease");
        }
        outcome
    }
}

impl ThreadSync {
    async fn reconcile(&self, ticket: &Ticket) -> Result<(), SendError> {
        let Some(parent) = self.core.config.discord.support_channel_id else {
            // Tickets live without Discord until a support channel is configured.
            return Ok(());
        };
        let thread = match ticket.discord_thread_id {
            Some(thread) => ChannelId::new(thread),
            None => self.create_thread(ticket, ChannelId::new(parent)).await?,
        };
        match self.post_unsynced(ticket, thread).await {
            Err(Failure::ThreadGone) => {
                // Deleted while nobody listened: core forgets it and queues a sync that makes
                // it again with the history summarised.
                self.core
                    .tickets
                    .thread_deleted(thread.get())
                    .await
                    .map_err(|error| core_failed(&error))?;
                Err(SendError::retryable(
                    "the ticket's thread was deleted; it is made again",
                ))
            }
            Err(Failure::Send(error)) => Err(error),
            Ok(()) => {
                self.follow_status(ticket, thread).await?;
                self.add_assignee(ticket, thread).await
            }
        }
    }

    /// The assignee (claimed or assigned) joins the open ticket's private thread, once their
    /// account is linked to a Discord member. Discord adds members to unarchived threads only,
    /// so this comes after the status is followed.
    async fn add_assignee(&self, ticket: &Ticket, thread: ChannelId) -> Result<(), SendError> {
        if ticket.status == TicketStatus::Closed {
            return Ok(());
        }
        let member = self
            .core
            .tickets
            .assignee_member(ticket)
            .await
            .map_err(|error| core_failed(&error))?;
        let Some(member) = member else {
            return Ok(());
        };
        if self.added().get(&ticket.id) == Some(&member) {
            return Ok(());
        }
        thread
            .add_thread_member(&self.http, UserId::new(member))
            .await
            .map_err(|error| discord_failed(&error))?;
        self.added().insert(ticket.id, member);
        Ok(())
    }

    /// A private thread for the ticket, recorded at once, with the customer in it, the card
    /// first and a summary of what an earlier thread held.
    async fn create_thread(
        &self,
        ticket: &Ticket,
        parent: ChannelId,
    ) -> Result<ChannelId, SendError> {
        let created = parent
            .create_thread(
                &self.http,
                CreateThread::new(thread_name(ticket))
                    .kind(ChannelType::PrivateThread)
                    .invitable(false)
                    .auto_archive_duration(serenity::AutoArchiveDuration::OneWeek),
            )
            .await
            .map_err(|error| discord_failed(&error))?;
        let tickets = &self.core.tickets;
        tickets
            .set_thread(ticket.id, created.id.get())
            .await
            .map_err(|error| core_failed(&error))?;
        let customer = tickets
            .context(&hostdeck_core::Actor::system(), ticket.id)
            .await
            .map_err(|error| core_failed(&error))?
            .discord_user_id;
        if let Some(member) = customer {
            created
                .id
                .add_thread_member(&self.http, UserId::new(member))
                .await
                .map_err(|error| discord_failed(&error))?;
        }
        // The incidents that touched the customer when they opened it, for both sides to see;
        // the thread is recorded already, so the card goes out without them if they fail.
        let incidents = self
            .core
            .ticket_incidents(&hostdeck_core::Actor::system(), ticket.id)
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(ticket = %ticket.id, %error, "the ticket's incidents were not read");
                Vec::new()
            });
        let (content, card, buttons) = thread_card(ticket, &incidents);
        let mut first = CreateMessage::new()
            .content(content)
            .embed(card)
            .allowed_mentions(no_mentions());
        first = first.components(buttons);
        created
            .id
            .send_message(&self.http, first)
            .await
            .map_err(|error| discord_failed(&error))?;
        let earlier: Vec<String> = tickets
            .thread_history(ticket.id)
            .await
            .map_err(|error| core_failed(&error))?
            .iter()
            .filter(|message| message.discord_message_id.is_some())
            .map(|message| {
                ticket_line(
                    &message.author_name,
                    message.author_staff,
                    message.door,
                    &message.body,
                )
            })
            .collect();
        if !earlier.is_empty() {
            let summary = format!(
                "The earlier thread of this ticket was deleted. What it held:\n\n{}",
                earlier.join("\n\n")
            );
            for part in split(&summary, CONTENT_MAX) {
                self.post(created.id, part)
                    .await
                    .map_err(Failure::into_send)?;
            }
        }
        Ok(created.id)
    }

    /// Posts what the thread does not show yet, oldest first, each recorded once posted.
    async fn post_unsynced(&self, ticket: &Ticket, thread: ChannelId) -> Result<(), Failure> {
        let tickets = &self.core.tickets;
        let unsynced = tickets
            .unsynced_messages(ticket.id)
            .await
            .map_err(|error| Failure::Send(core_failed(&error)))?;
        if unsynced.is_empty() {
            return Ok(());
        }
        self.unarchive(thread).await?;
        for message in unsynced.iter().filter(|message| !message.note) {
            let mut text = ticket_line(
                &message.author_name,
                message.author_staff,
                message.door,
                &message.body,
            );
            for file in &message.attachments {
                text.push_str(&format!("\n{}", attachment_line(file)));
            }
            let mut first = None;
            for part in split(&text, CONTENT_MAX) {
                let posted = self.post(thread, part).await?;
                first.get_or_insert(posted);
            }
            if let Some(posted) = first {
                tickets
                    .mark_posted(message.id, posted.get())
                    .await
                    .map_err(|error| Failure::Send(core_failed(&error)))?;
            }
        }
        Ok(())
    }

    /// Discord refuses a bot's post into an archived thread: open it first.
    async fn unarchive(&self, thread: ChannelId) -> Result<(), Failure> {
        let channel = thread.to_channel(&self.http).await.map_err(Failure::from)?;
        let archived = channel
            .guild()
            .and_then(|thread| thread.thread_metadata)
            .is_some_and(|metadata| metadata.archived);
        if archived {
            thread
                .edit_thread(&self.http, EditThread::new().archived(false))
                .await
                .map_err(Failure::from)?;
        }
        Ok(())
    }

    async fn post(&self, thread: ChannelId, content: String) -> Result<MessageId, Failure> {
        let message = CreateMessage::new()
            .content(content)
            .allowed_mentions(no_mentions());
        let posted = thread
            .send_message(&self.http, message)
            .await
            .map_err(Failure::from)?;
        Ok(posted.id)
    }

    /// The name says whether the ticket is closed, and a closed ticket's thread is archived.
    /// Discord allows few renames, so the name changes only on close and reopen.
    async fn follow_status(&self, ticket: &Ticket, thread: ChannelId) -> Result<(), SendError> {
        let closed = ticket.status == TicketStatus::Closed;
        let channel = thread
            .to_channel(&self.http)
            .await
            .map_err(|error| discord_failed(&error))?;
        let Some(current) = channel.guild() else {
            return Ok(());
        };
        let archived = current.thread_metadata.is_some_and(|meta| meta.archived);
        let name = thread_name(ticket);
        if current.name == name && archived == closed {
            return Ok(());
        }
        let mut edit = EditThread::new().archived(closed);
        if current.name != name {
            edit = edit.name(name);
        }
        thread
            .edit_thread(&self.http, edit)
            .await
            .map_err(|error| discord_failed(&error))?;
        Ok(())
    }
}

/// Why a post did not go out.
enum Failure {
    /// The thread no longer exists.
    ThreadGone,
    Send(SendError),
}

impl Failure {
    fn into_send(self) -> SendError {
        match self {
            Self::ThreadGone => SendError::retryable("the ticket's thread was deleted"),
            Self::Send(error) => error,
        }
    }
}

impl From<serenity::Error> for Failure {
    fn from(error: serenity::Error) -> Self {
        if refusal_code(&error) == Some(UNKNOWN_CHANNEL) {
            Self::ThreadGone
        } else {
            Self::Send(discord_failed(&error))
        }
    }
}

fn refusal_code(error: &serenity::Error) -> Option<isize> {
    match error {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)) => {
            Some(response.error.code)
        }
        _ => None,
    }
}

/// What a Discord failure means for the outbox: 429, 5xx and an unreachable Discord are tried
/// again after [`OUTAGE_RETRY`] (a conversation should resume within seconds of Discord coming
/// back, not after the outbox's doubling backoff), other refusals are final for this row (the
/// next change of the ticket queues another).
fn discord_failed(error: &serenity::Error) -> SendError {
    let said = format!("Discord refused a thread update: {error}");
    match error {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response))
            if response.status_code.is_client_error() && response.status_code.as_u16() != 429 =>
        {
            SendError::permanent(said)
        }
        _ => SendError::rate_limited(said, OUTAGE_RETRY),
    }
}

fn core_failed(error: &hostdeck_core::Error) -> SendError {
    SendError::retryable(format!("the ticket could not be read or updated: {error}"))
}

/// `#12 Subject`, or `#12 [closed] Subject`, within Discord's 100 characters.
fn thread_name(ticket: &Ticket) -> String {
    let state = if ticket.status == TicketStatus::Closed {
        "[closed] "
    } else {
        ""
    };
    crate::render::truncate(
        &format!("#{} {state}{}", ticket.id, ticket.subject),
        THREAD_NAME_MAX,
    )
}

/// An attachment as a line: its name, size and link.
fn attachment_line(file: &Attachment) -> String {
    format!(
        "attachment: {} ({} bytes) <{}>",
        crate::render::inert(&file.name),
        file.size,
        file.url
    )
}

/// `text` in parts of at most `max` characters, cut after a line break where one is near.
pub fn split(text: &str, max: usize) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest: Vec<char> = text.chars().collect();
    while rest.len() > max {
        let window = &rest[..max];
        let cut = window
            .iter()
            .rposition(|c| *c == '\n')
            .filter(|at| *at > max / 2)
            .map_or(max, |at| at + 1);
        parts.push(rest[..cut].iter().collect());
        rest.drain(..cut);
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.into_iter().collect());
    }
    parts
}

// --- Inbound ---

/// Thread events for tickets; everything else is left to the other handlers.
pub async fn on_event(ctx: &serenity::Context, data: &Data, event: &serenity::FullEvent) {
    use serenity::FullEvent;
    match event {
        FullEvent::Message { new_message } => {
            heard(&ctx.http, data, new_message, true).await;
        }
        FullEvent::MessageUpdate { event, .. } => {
            let by_person = event.author.as_ref().is_some_and(|author| !author.bot)
                && !matches!(event.webhook_id, Some(Some(_)));
            if let (true, Some(body)) = (by_person, &event.content) {
                let at = event
                    .edited_timestamp
                    .map_or_else(|| data.core.clock.now(), when);
                let edited = data
                    .core
                    .tickets
                    .edit_from_discord(event.id.get(), body, at)
                    .await;
                if let Err(error) = edited {
                    tracing::warn!(%error, message = %event.id, "a thread edit was not stored");
                }
            }
        }
        FullEvent::MessageDelete {
            deleted_message_id, ..
        } => {
            let at = data.core.clock.now();
            let deleted = data
                .core
                .tickets
                .delete_from_discord(deleted_message_id.get(), at)
                .await;
            if let Err(error) = deleted {
                tracing::warn!(%error, message = %deleted_message_id, "a thread deletion was not stored");
            }
        }
        FullEvent::ThreadDelete { thread, .. } => {
            if let Err(error) = data.core.tickets.thread_deleted(thread.id.get()).await {
                tracing::warn!(%error, thread = %thread.id, "a deleted ticket thread was not noted");
            }
        }
        FullEvent::Ready { .. } | FullEvent::Resume { .. } => {
            catch_up(&ctx.http, data).await;
        }
        _ => {}
    }
}

fn when(timestamp: serenity::Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(timestamp.unix_timestamp(), 0).unwrap_or_default()
}

/// A message in a thread: stored as a ticket message when the thread is a ticket's. A refusal
/// (an unlinked member, a closed ticket) is answered in the thread when it happened live.
/// Returns whether the message was dealt with (stored, skipped or refused): `false` leaves it
/// for the next catch-up.
async fn heard(http: &Http, data: &Data, message: &Message, live: bool) -> bool {
    let tickets = &data.core.tickets;
    let ticket = match tickets.ticket_by_thread(message.channel_id.get()).await {
        Ok(Some(ticket)) => ticket,
        Ok(None) => return true,
        Err(error) => {
            tracing::warn!(%error, "could not look a thread's ticket up");
            return false;
        }
    };
    if message.author.bot || message.webhook_id.is_some() {
        return true;
    }
    if message.content.trim().is_empty() && message.attachments.is_empty() {
        // Without the Message Content intent Discord sends no text: nothing to store.
        return true;
    }
    let member = member_of(http, data, message).await;
    let access = match data.core.discord_links.access(&member).await {
        Ok(access) => access,
        Err(error) => {
            tracing::warn!(%error, "could not resolve a thread member");
            return false;
        }
    };
    let body = if message.content.trim().is_empty() {
        "(attachments only)".to_owned()
    } else {
        message.content.clone()
    };
    let inbound = InboundMessage {
        discord_message_id: message.id.get(),
        author_discord_id: message.author.id.get(),
        author_name: message
            .author
            .global_name
            .clone()
            .unwrap_or_else(|| message.author.name.clone()),
        body,
        attachments: message
            .attachments
            .iter()
            .map(|file| Attachment {
                name: file.filename.clone(),
                size: u64::from(file.size),
                url: file.url.clone(),
            })
            .collect(),
        at: when(message.timestamp),
    };
    match tickets
        .ingest_discord(&access.actor, message.channel_id.get(), inbound)
        .await
    {
        Ok(_) => true,
        Err(error) if error.code() == hostdeck_core::ErrorCode::Internal => {
            tracing::warn!(%error, ticket = %ticket.id, "a thread message was not stored");
            false
        }
        Err(error) => {
            if live {
                let answer = format!(
                    "{} That message was not added to ticket #{}: {}",
                    crate::render::inert(&format!("<@{}>", message.author.id)),
                    ticket.id,
                    error.public_message("-")
                );
                let reply = CreateMessage::new()
                    .content(crate::render::truncate(&answer, CONTENT_MAX))
                    .allowed_mentions(no_mentions());
                if let Err(error) = message.channel_id.send_message(http, reply).await {
                    tracing::warn!(%error, "could not explain a refused thread message");
                }
            }
            true
        }
    }
}

/// The member behind a thread message: its roles come with a gateway message, and are asked
/// of Discord for a message read back later.
async fn member_of(http: &Http, data: &Data, message: &Message) -> DiscordMember {
    let guild_id = message
        .guild_id
        .or_else(|| data.core.config.discord.guild_id.map(GuildId::new));
    let mut role_ids: Vec<u64> = message
        .member
        .as_ref()
        .map(|member| member.roles.iter().map(|role| role.get()).collect())
        .unwrap_or_default();
    if message.member.is_none()
        && let Some(guild) = guild_id
        && let Ok(member) = guild.member(http, message.author.id).await
    {
        role_ids = member.roles.iter().map(|role| role.get()).collect();
    }
    DiscordMember {
        user_id: message.author.id.get(),
        name: message.author.name.clone(),
        guild_id: guild_id.map(GuildId::get),
        role_ids,
    }
}

/// How many tickets one reconnect asks to sync again at most.
const REQUEUE: u32 = 1000;

/// Reads every open ticket's thread after its last message read, a page at a time, and stores
/// what was missed while the bot was away.
pub async fn catch_up(http: &Http, data: &Data) {
    // Outbound first: a ticket whose sync rows ran out of retries while Discord was away is
    // asked for again (the outbox posts it once the gateway is back).
    if let Err(error) = data.core.tickets.requeue_unsynced(REQUEUE).await {
        tracing::warn!(%error, "could not queue the tickets Discord is behind on");
    }
    let cursors = match data.core.tickets.open_threads().await {
        Ok(cursors) => cursors,
        Err(error) => {
            tracing::warn!(%error, "could not list the ticket threads to catch up on");
            return;
        }
    };
    for cursor in cursors {
        let thread = ChannelId::new(cursor.thread_id);
        let mut after = cursor.last_seen.unwrap_or(1).max(1);
        loop {
            let page = thread
                .messages(
                    http,
                    GetMessages::new().after(MessageId::new(after)).limit(PAGE),
                )
                .await;
            let mut page = match page {
                Ok(page) => page,
                Err(error) => {
                    if refusal_code(&error) == Some(UNKNOWN_CHANNEL)
                        && let Err(error) = data.core.tickets.thread_deleted(cursor.thread_id).await
                    {
                        tracing::warn!(%error, "a deleted ticket thread was not noted");
                    }
                    break;
                }
            };
            // Discord answers newest first; ids are numbers, so sort by them.
            page.sort_by_key(|message| message.id);
            let full = page.len() == usize::from(PAGE);
            for message in &page {
                if !heard(http, data, message, false).await {
                    return;
                }
                after = message.id.get();
                if let Err(error) = data.core.tickets.set_last_seen(cursor.ticket, after).await {
                    tracing::warn!(%error, "could not move a thread's catch-up point");
                }
            }
            if !full {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_posts_are_split_within_discord_limits() {
        let text = format!("{}\n{}", "a".repeat(1500), "b".repeat(1500));
        let parts = split(&text, CONTENT_MAX);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|part| part.chars().count() <= CONTENT_MAX));
        assert_eq!(parts.concat(), text);
        let long = "é".repeat(4500);
        let parts = split(&long, CONTENT_MAX);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts.concat(), long);
        assert_eq!(split("", CONTENT_MAX), vec![String::new()]);
    }
}
