//! The bot's side of the status: the sticky message in `discord.status_channel_id`, and the
//! gateway state it reports to core.
//!
//! **The sticky message.** [`Sticky::step`] takes one turn: core decides what the message needs
//! ([`hostdeck_core::status::sticky`]: nothing, a post, an edit, or a new message in place of
//! one too old) under a lease row, so one replica acts at a time; this executes it over REST
//! and tells core what happened: a 404 on the edit (the message is gone) posts a new one at
//! once, a refused edit (403, 400) posts a new one and deletes the old, a 429 waits its
//! `retry_after`. Posts carry the turn's nonce with `enforce_nonce`, so a post retried after a
//! restart returns the message made the first time. [`run`] takes a turn every few seconds
//! until `stop`.
//!
//! **The gateway.** On READY and RESUMED the bot tells core it is connected, on a shard's
//! disconnect (not one of a stop asked for) that it is not ([`on_event`]), and while every shard is connected it says so
//! again every few seconds ([`report_shards`]), so the `discord` check stays fresh and a bot
//! that died silently turns unknown.

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::Core;
use hostdeck_core::status::{StickyOutcome, StickyStep, StickyTurn};
use poise::serenity_prelude as serenity;
use serenity::http::{Http, LightMethod, Request, Route};
use serenity::{ChannelId, MessageId};
use tokio::sync::watch;

use crate::Data;
use crate::sender::send;
use crate::status_card::{Use, status_card};

/// How often a replica asks for the sticky message's turn.
const TURN_EVERY: Duration = Duration::from_secs(5);
/// How often a connected bot says so again.
const GATEWAY_EVERY: Duration = Duration::from_secs(30);

/// Executes the sticky message's turns over the bot's REST client.
pub struct Sticky {
    core: Arc<Core>,
    http: Arc<Http>,
    client: reqwest::Client,
    /// This process's name in the lease row.
    holder: String,
}

/// What Discord answered a write.
enum Wrote {
    Done(Option<u64>),
    Gone,
    Refused,
    RateLimited(Duration),
    Failed,
}

impl Sticky {
    /// `None` without a bot token.
    pub fn new(core: Arc<Core>) -> Option<Self> {
        let (http, client) = crate::http(&core.config.discord)?;
        Some(Self {
            core,
            http,
            client,
            holder: format!("bot-{:016x}", rand_id()),
        })
    }

    /// One turn: what core decided, done. `None` when there was no turn for this replica (no
    /// status channel, or another replica holds it).
    pub async fn step(&self) -> hostdeck_core::Result<Option<StickyOutcome>> {
        let status = &self.core.status;
        let Some(turn) = status.sticky_turn(&self.holder).await? else {
            return Ok(None);
        };
        let outcome = match turn.step {
            StickyStep::Wait => return Ok(None),
            StickyStep::Post => self.post(&turn).await,
            StickyStep::Edit(message) => match self.write(&turn, Some(message)).await {
                Wrote::Done(_) => StickyOutcome::Edited,
                Wrote::Gone => match self.post(&turn).await {
                    StickyOutcome::Failed => StickyOutcome::Gone,
                    posted => posted,
                },
                Wrote::Refused => self.replace(&turn, message).await,
                Wrote::RateLimited(wait) => StickyOutcome::RateLimited(wait),
                Wrote::Failed => StickyOutcome::Failed,
            },
            StickyStep::Replace(old) => self.replace(&turn, old).await,
        };
        status.sticky_done(turn, outcome).await?;
        Ok(Some(outcome))
    }

    async fn post(&self, turn: &StickyTurn) -> StickyOutcome {
        match self.write(turn, None).await {
            Wrote::Done(Some(message)) => StickyOutcome::Posted(message),
            Wrote::RateLimited(wait) => StickyOutcome::RateLimited(wait),
            Wrote::Done(None) | Wrote::Gone | Wrote::Refused | Wrote::Failed => {
                StickyOutcome::Failed
            }
        }
    }

    /// A new message, then the old one deleted (if that fails, the old one stays: it is no
    /// longer the one kept up to date, and says so in its footer only by being older).
    async fn replace(&self, turn: &StickyTurn, old: u64) -> StickyOutcome {
        let posted = self.post(turn).await;
        if let StickyOutcome::Posted(_) = posted {
            let route = Route::ChannelMessage {
                channel_id: ChannelId::new(turn.channel_id),
                message_id: MessageId::new(old),
            };
            if let Err(error) = send(
                &self.http,
                &self.client,
                Request::new(route, LightMethod::Delete),
            )
            .await
            {
                tracing::warn!(error = %error.message, "the old status message was not deleted");
            }
        }
        posted
    }

    /// Posts (`message` `None`) or edits the card of the turn's report.
    async fn write(&self, turn: &StickyTurn, message: Option<u64>) -> Wrote {
        let public_url = self.core.config.web.public_url.as_ref();
        let card = status_card(&turn.report, public_url.map(url::Url::as_str), Use::Sticky);
        let mut body = serde_json::json!({
            "embeds": [card.embed()],
            "allowed_mentions": { "parse": [] },
        });
        if message.is_none() {
            // A post sent again after its answer was lost returns the first message.
            body["nonce"] = turn.nonce.clone().into();
            body["enforce_nonce"] = true.into();
        }
        let Ok(body) = serde_json::to_vec(&body) else {
            return Wrote::Failed;
        };
        let channel_id = ChannelId::new(turn.channel_id);
        let request = match message {
            None => Request::new(Route::ChannelMessages { channel_id }, LightMethod::Post),
            Some(message) => Request::new(
                Route::ChannelMessage {
                    channel_id,
                    message_id: MessageId::new(message),
                },
                LightMethod::Patch,
            ),
        }
        .body(Some(body));
        let response = match send(&self.http, &self.client, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(error = %error.message, "the status message was not written");
                return Wrote::Failed;
            }
        };
        let status = response.status();
        let header_wait = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<f64>().ok());
        let answer: serde_json::Value = match response.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        match status.as_u16() {
            200..=299 => Wrote::Done(
                answer["id"]
                    .as_str()
                    .and_then(|id| id.parse::<u64>().ok())
                    .filter(|id| *id != 0),
            ),
            404 => Wrote::Gone,
            429 => {
                let seconds = answer["retry_after"]
                    .as_f64()
                    .or(header_wait)
                    .unwrap_or(5.0);
                Wrote::RateLimited(Duration::from_secs_f64(seconds.clamp(0.0, 3600.0)))
            }
            400 | 403 if message.is_some() => Wrote::Refused,
            _ => {
                tracing::warn!(%status, code = %answer["code"], "Discord refused the status message");
                Wrote::Failed
            }
        }
    }
}

fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// Takes the sticky message's turn every few seconds until `stop` (what the bot runs when
/// `discord.status_channel_id` is set).
pub async fn run(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    if core.config.discord.status_channel_id.is_none() {
        return;
    }
    let Some(sticky) = Sticky::new(core) else {
        return;
    };
    let mut every = tokio::time::interval(TURN_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        if let Err(error) = sticky.step().await {
            tracing::warn!(%error, "the status message's turn failed; it runs again shortly");
        }
    }
}

/// Gateway and status-channel events: READY and RESUMED report the gateway connected, a
/// shard's disconnect reports it down, and the sticky message deleted by someone is noted.
pub async fn on_event(data: &Data, event: &serenity::FullEvent) {
    use serenity::FullEvent;
    let status = &data.core.status;
    let outcome = match event {
        FullEvent::Ready { .. } | FullEvent::Resume { .. } => status.report_gateway(true).await,
        FullEvent::ShardStageUpdate { event }
            if event.new == serenity::ConnectionStage::Disconnected && !*data.stopping.borrow() =>
        {
            status.report_gateway(false).await
        }
        FullEvent::MessageDelete {
            channel_id,
            deleted_message_id,
            ..
        } => {
            status
                .sticky_gone(channel_id.get(), deleted_message_id.get())
                .await
        }
        _ => Ok(()),
    };
    if let Err(error) = outcome {
        tracing::warn!(%error, "the status did not take the gateway's news");
    }
}

/// While the client runs: every few seconds, whether every shard is connected, to core
/// (nothing once `stop` turns true: the shards going down then are no outage).
pub async fn report_shards(
    core: Arc<Core>,
    shards: Arc<serenity::ShardManager>,
    stop: watch::Receiver<bool>,
) {
    // READY says so first; from then on, every GATEWAY_EVERY.
    let first = tokio::time::Instant::now() + GATEWAY_EVERY;
    let mut every = tokio::time::interval_at(first, GATEWAY_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if *stop.borrow() {
            return;
        }
        let runners = shards.runners.lock().await;
        let connected = !runners.is_empty()
            && runners
                .values()
                .all(|runner| runner.stage == serenity::ConnectionStage::Connected);
        drop(runners);
        if *stop.borrow() {
            return;
        }
        if let Err(error) = core.status.report_gateway(connected).await {
            tracing::warn!(%error, "the gateway state was not stored");
        }
    }
}
