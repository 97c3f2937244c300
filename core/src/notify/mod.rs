//! The outbox: every message the platform sends (email, Discord posts, ticket threads) is first
//! written to the `outbox` table in the same breath as the event that caused it, then sent by a
//! worker with retries. A mail server that is down delays a message; it never loses it.
//!
//! Senders lease messages (`locked_until`), so several replicas can run the worker at once and
//! a crashed sender's messages are picked up again when the lease runs out.

pub mod mail;

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, watch};

use crate::clock::Clock;
use crate::error::Result;
use crate::ids::TicketId;
use crate::store::{NewOutboxMessage, OutboxMessage, Store};

pub use mail::{Mailer, SendError};

pub const EMAIL: &str = "email";
/// A direct message to a Discord user; the recipient is the user's Discord id.
pub const DISCORD_DM: &str = "discord_dm";
/// A post to a Discord channel webhook; the recipient is the webhook URL, or
/// [`BILLING_STAFF`].
pub const DISCORD_WEBHOOK: &str = "discord_webhook";
/// The recipient of a post to billing staff: `discord.billing_webhook`, read when the post is
/// sent (so the webhook's secret URL is never stored in the outbox).
pub const BILLING_STAFF: &str = "billing";
/// A ticket's Discord thread to bring up to date; the recipient is the ticket id, the payload
/// empty. Delivered by the [`TicketSync`] attached to the worker.
pub const DISCORD_TICKET: &str = "discord_ticket";
/// A post by the bot to a Discord channel; the recipient is the channel id, the payload a
/// [`ChannelPost`].
pub const DISCORD_CHANNEL: &str = "discord_channel";
/// Attempts before a message is given up on (about a day of backoff).
pub const MAX_ATTEMPTS: i64 = 12;
const LEASE: Duration = Duration::from_secs(120);
const BATCH: u32 = 50;

/// A plain-text email. Kept plain on purpose: nothing a person typed can become markup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailMessage {
    pub subject: String,
    pub text: String,
}

/// A plain-text Discord message. The sender posts it with no mentions allowed, so nothing a
/// person or a model typed can ping anyone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscordMessage {
    pub content: String,
}

/// A post to a Discord channel (`discord_channel`). It mentions nobody, except the one role
/// `ping_role` when set: the SLA escalation, the only deliberate mention on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPost {
    pub content: String,
    #[serde(default)]
    pub ping_role: Option<u64>,
}

/// Sends Discord messages for the outbox worker: the bot crate implements it over Discord's
/// REST API. Webhook posts need no bot token; DMs do. Every message goes out with no mentions
/// allowed.
#[async_trait::async_trait]
pub trait DiscordSender: Send + Sync + 'static {
    /// A direct message to the Discord user `discord_user`.
    async fn dm(
        &self,
        discord_user: u64,
        message: &DiscordMessage,
    ) -> std::result::Result<(), SendError>;
    /// A post through the channel webhook at `url`.
    async fn webhook(
        &self,
        url: &str,
        message: &DiscordMessage,
    ) -> std::result::Result<(), SendError>;
    /// A post by the bot to the channel `channel`. Mentions are allowed for `ping_role` alone
    /// (`allowed_mentions.roles = [ping_role]`), for nobody when it is `None`.
    async fn channel_post(
        &self,
        channel: u64,
        message: &DiscordMessage,
        ping_role: Option<u64>,
    ) -> std::result::Result<(), SendError>;
}

/// Brings a ticket's Discord thread up to date: what delivers the outbox's
/// [`DISCORD_TICKET`] rows. Implemented by the bot; the whole reconcile is described in
/// [`crate::tickets::sync`] (where this trait is also named).
#[async_trait::async_trait]
pub trait TicketSync: Send + Sync + 'static {
    /// Reconciles the thread of `ticket` with the database. A retryable error makes the outbox
    /// try again later.
    async fn sync_ticket(&self, ticket: TicketId) -> std::result::Result<(), SendError>;
}

/// Writes messages to the outbox.
#[derive(Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            wake: Arc::new(Notify::new()),
        }
    }

    pub async fn email(&self, to: &str, message: EmailMessage) -> Result<()> {
        self.enqueue(EMAIL, to, &message).await
    }

    /// A direct message to the Discord user `discord_user` (their snowflake id).
    pub async fn discord_dm(&self, discord_user: u64, message: DiscordMessage) -> Result<()> {
        self.enqueue(DISCORD_DM, &discord_user.to_string(), &message)
            .await
    }

    /// A post to billing staff, through `discord.billing_webhook` as configured when it is sent.
    pub async fn to_billing_staff(&self, message: DiscordMessage) -> Result<()> {
        self.enqueue(DISCORD_WEBHOOK, BILLING_STAFF, &message).await
    }

    /// A post through the channel webhook at `url` (`https://discord.com/api/webhooks/ID/TOKEN`).
    pub async fn discord_webhook(&self, url: &str, message: DiscordMessage) -> Result<()> {
        self.enqueue(DISCORD_WEBHOOK, url, &message).await
    }

    /// Asks the ticket sync to bring `ticket`'s thread up to date (a [`DISCORD_TICKET`] row).
    pub async fn ticket_sync(&self, ticket: i64) -> Result<()> {
        self.enqueue(DISCORD_TICKET, &ticket.to_string(), &serde_json::json!({}))
            .await
    }

    /// Wakes the worker: something was written to the outbox inside another transaction.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn enqueue(
        &self,
        channel: &str,
        recipient: &str,
        message: &impl Serialize,
    ) -> Result<()> {
        let payload = serde_json::to_value(message).map_err(|error| {
            crate::Error::internal(format!("writing a {channel} message to the outbox"), error)
        })?;
        self.store
            .outbox()
            .enqueue(
                &NewOutboxMessage {
                    channel: channel.into(),
                    recipient: recipient.to_owned(),
                    payload,
                },
                self.clock.now(),
            )
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// A worker that sends what this outbox holds through `mailer`.
    pub fn worker(&self, mailer: Arc<dyn Mailer>) -> OutboxWorker {
        OutboxWorker {
            store: self.store.clone(),
            clock: self.clock.clone(),
            wake: self.wake.clone(),
            mailer,
            discord: None,
            billing_webhook: None,
            tickets: None,
        }
    }
}

/// Sends due messages, retrying failures with exponential backoff.
pub struct OutboxWorker {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    mailer: Arc<dyn Mailer>,
    /// `None` when no Discord sender was attached: Discord messages fail.
    discord: Option<Arc<dyn DiscordSender>>,
    /// Where posts to [`BILLING_STAFF`] go.
    billing_webhook: Option<SecretString>,
    /// What brings tickets' Discord threads up to date (`discord_ticket`); `None`: those
    /// messages wait (retried) until a worker with the bot sends them.
    tickets: Option<Arc<dyn TicketSync>>,
}

/// How long to wait before attempt `attempts + 1`: 30 s doubling, at most an hour.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_secs(30 * 2u64.pow(exponent)).min(Duration::from_secs(3600))
}

impl OutboxWorker {
    /// Sends Discord DMs and webhook posts through `sender` as well.
    pub fn with_discord(mut self, sender: Arc<dyn DiscordSender>) -> Self {
        self.discord = Some(sender);
        self
    }

    /// Brings tickets' Discord threads up to date through `sync` (the bot).
    pub fn with_ticket_sync(mut self, sync: Arc<dyn TicketSync>) -> Self {
        self.tickets = Some(sync);
        self
    }

    /// Sends posts to [`BILLING_STAFF`] through `webhook` (`discord.billing_webhook`).
    pub fn with_billing_webhook(mut self, webhook: Option<SecretString>) -> Self {
        self.billing_webhook = webhook;
        self
    }

    async fn send_discord(&self, message: &OutboxMessage) -> std::result::Result<(), SendError> {
        let Some(sender) = &self.discord else {
            return Err(SendError::permanent(
                "no Discord sender is attached to the outbox worker",
            ));
        };
        let discord =
            serde_json::from_value::<DiscordMessage>(message.payload.clone()).map_err(|error| {
                SendError::permanent(format!("unreadable Discord message: {error}"))
            })?;
        if message.channel == DISCORD_DM {
            let user = message.recipient.parse::<u64>().map_err(|_| {
                SendError::permanent(format!("{:?} is not a Discord user id", message.recipient))
            })?;
            sender.dm(user, &discord).await
        } else if message.recipient == BILLING_STAFF {
            let webhook = self.billing_webhook.as_ref().ok_or_else(|| {
                SendError::permanent("discord.billing_webhook is not set: nowhere to post")
            })?;
            sender.webhook(webhook.expose_secret(), &discord).await
        } else {
            sender.webhook(&message.recipient, &discord).await
        }
    }

    /// A channel post (`discord_channel`) through the Discord sender.
    async fn send_channel_post(
        &self,
        message: &OutboxMessage,
    ) -> std::result::Result<(), SendError> {
        let Some(sender) = &self.discord else {
            return Err(SendError::permanent(
                "no Discord sender is attached to the outbox worker",
            ));
        };
        let post = serde_json::from_value::<ChannelPost>(message.payload.clone())
            .map_err(|error| SendError::permanent(format!("unreadable channel post: {error}")))?;
        let channel = message.recipient.parse::<u64>().map_err(|_| {
            SendError::permanent(format!(
                "{:?} is not a Discord channel id",
                message.recipient
            ))
        })?;
        let content = DiscordMessage {
            content: post.content,
        };
        sender.channel_post(channel, &content, post.ping_role).await
    }

    /// A ticket's thread brought up to date (`discord_ticket`) by the attached sync.
    async fn sync_ticket(&self, message: &OutboxMessage) -> std::result::Result<(), SendError> {
        let Some(sync) = &self.tickets else {
            return Err(SendError::retryable(
                "tickets' Discord threads wait for the bot (no ticket sync is attached)",
            ));
        };
        let ticket = message.recipient.parse::<TicketId>().map_err(|_| {
            SendError::permanent(format!("{:?} is not a ticket id", message.recipient))
        })?;
        sync.sync_ticket(ticket).await
    }

    /// Sends one batch of due messages; returns how many were sent.
    pub async fn run_once(&self) -> Result<usize> {
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(LEASE).unwrap_or_default();
        let batch = self
            .store
            .outbox()
            .claim_outbox(now, now + lease, BATCH)
            .await?;
        // Each recipient's messages in order (a ticket's syncs, one person's emails), the
        // recipients' lanes at once: one slow delivery does not hold up the others.
        let mut lanes: Vec<Vec<OutboxMessage>> = Vec::new();
        for message in batch {
            let lane = lanes.iter_mut().find(|lane| {
                lane.first().is_some_and(|first| {
                    first.channel == message.channel && first.recipient == message.recipient
                })
            });
            match lane {
                Some(lane) => lane.push(message),
                None => lanes.push(vec![message]),
            }
        }
        let done = futures_util::future::join_all(lanes.iter().map(|lane| async move {
            let mut sent = 0;
            for message in lane {
                if self.deliver(message).await? {
                    sent += 1;
                }
            }
            Ok::<usize, crate::error::Error>(sent)
        }))
        .await;
        let mut sent = 0;
        for lane in done {
            sent += lane?;
        }
        Ok(sent)
    }

    async fn deliver(&self, message: &OutboxMessage) -> Result<bool> {
        let outcome = match message.channel.as_str() {
            EMAIL => match serde_json::from_value::<EmailMessage>(message.payload.clone()) {
                Ok(email) => self.mailer.send(&message.recipient, &email).await,
                Err(error) => Err(SendError::permanent(format!("unreadable email: {error}"))),
            },
            DISCORD_DM | DISCORD_WEBHOOK => self.send_discord(message).await,
            DISCORD_CHANNEL => self.send_channel_post(message).await,
            DISCORD_TICKET => self.sync_ticket(message).await,
            other => Err(SendError::permanent(format!(
                "no sender for the {other} channel"
            ))),
        };
        let now = self.clock.now();
        match outcome {
            Ok(()) => {
                self.store.outbox().outbox_sent(message.id, now).await?;
                metrics::counter!("outbox_sent_total", "channel" => message.channel.clone())
                    .increment(1);
                Ok(true)
            }
            Err(error) if error.retryable && message.attempts < MAX_ATTEMPTS => {
                let wait = chrono::Duration::from_std(
                    error
                        .retry_after
                        .unwrap_or_else(|| backoff(message.attempts)),
                )
                .unwrap_or_default();
                tracing::warn!(id = message.id, attempts = message.attempts, error = %error.message, "sending failed; will retry");
                self.store
                    .outbox()
                    .outbox_retry(message.id, now + wait, &error.message)
                    .await?;
                Ok(false)
            }
            Err(error) => {
                tracing::error!(id = message.id, attempts = message.attempts, error = %error.message, "sending failed for good");
                self.store
                    .outbox()
                    .outbox_failed(message.id, now, &error.message)
                    .await?;
                metrics::counter!("outbox_failed_total", "channel" => message.channel.clone())
                    .increment(1);
                Ok(false)
            }
        }
    }

    /// Runs until `stop` turns true: sends whenever something is enqueued, and at least every
    /// few seconds (for retries and for messages other replicas enqueued).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            match self.run_once().await {
                Ok(sent) if u32::try_from(sent).is_ok_and(|sent| sent == BATCH) => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(%error, "the outbox worker could not read the outbox")
                }
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(4), Duration::from_secs(240));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}
