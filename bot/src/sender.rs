//! The outbox's Discord sender: DMs to linked users (over the bot's REST client and rate
//! limiter, so only with a bot token) and posts through channel webhooks (which carry their own
//! token, so they go out with no bot at all). A 429 is not waited out in place: its
//! `retry_after` goes back to the outbox, which tries again that much later.

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::notify::{DiscordMessage, DiscordSender, SendError};
use poise::serenity_prelude as serenity;
use serenity::ChannelId;
use serenity::http::{Http, LightMethod, Request, Route};

use crate::render::Answer;

/// Sends outbox messages through Discord's REST API.
pub struct RestSender {
    /// The bot's REST client; `None` without a token, when DMs cannot be sent.
    http: Option<Arc<Http>>,
    client: reqwest::Client,
    /// Where webhook posts go: Discord, or the base configured in its place.
    api_base: String,
}

impl RestSender {
    /// A sender of DMs through `http` (when the bot has a token) and webhook posts through
    /// `client` to `api_base`.
    pub fn new(http: Option<Arc<Http>>, client: reqwest::Client, api_base: &url::Url) -> Self {
        Self {
            http,
            client,
            api_base: api_base.as_str().trim_end_matches('/').to_owned(),
        }
    }

    /// The JSON body of a message: inert text, and no mentions allowed.
    fn body(message: &DiscordMessage) -> Result<Vec<u8>, SendError> {
        serde_json::to_vec(&serde_json::json!({
            "content": Answer::plain(&message.content),
            "allowed_mentions": { "parse": [] },
        }))
        .map_err(|error| SendError::permanent(format!("cannot write the message: {error}")))
    }

    /// Sends `request` (see [`send`]); any answer but 2xx becomes a [`SendError`].
    async fn perform(&self, http: &Http, request: Request<'_>) -> Result<Vec<u8>, SendError> {
        let response = send(http, &self.client, request).await?;
        answer(response).await
    }
}

/// Sends `request` through the bot's client: through serenity's rate limiter when it is on
/// (real Discord), straight to the configured base otherwise. Discord's answer, whatever its
/// status; an error only when there is none.
pub(crate) async fn send(
    http: &Http,
    client: &reqwest::Client,
    request: Request<'_>,
) -> Result<reqwest::Response, SendError> {
    match &http.ratelimiter {
        Some(ratelimiter) => ratelimiter.perform(request).await.map_err(|error| {
            SendError::retryable(format!("Discord could not be reached: {error}"))
        }),
        None => {
            let cannot = |error: &dyn std::fmt::Display| {
                SendError::permanent(format!("cannot build the request: {error}"))
            };
            let built = request
                .build(client, http.token(), http.proxy.as_deref())
                .map_err(|error| cannot(&error))?
                .build()
                .map_err(|error| cannot(&error))?;
            client.execute(built).await.map_err(|error| {
                SendError::retryable(format!("Discord could not be reached: {error}"))
            })
        }
    }
}

/// The body of a 2xx answer, or what Discord's answer means for the outbox.
async fn answer(response: reqwest::Response) -> Result<Vec<u8>, SendError> {
    let status = response.status();
    let header_wait = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<f64>().ok());
    let bytes = response
        .bytes()
        .await
        .map_err(|error| SendError::retryable(format!("Discord's answer was cut off: {error}")))?;
    if status.is_success() {
        return Ok(bytes.to_vec());
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let said = format!(
        "Discord answered {status}: {} (code {})",
        body["message"].as_str().unwrap_or("no message"),
        body["code"]
    );
    if status.as_u16() == 429 {
        let seconds = body["retry_after"].as_f64().or(header_wait).unwrap_or(5.0);
        let wait = Duration::from_secs_f64(seconds.clamp(0.0, 3600.0));
        return Err(SendError::rate_limited(said, wait));
    }
    if status.is_server_error() {
        return Err(SendError::retryable(said));
    }
    // 4xx: closed DMs (50007), an unknown user or webhook: trying again will not help.
    Err(SendError::permanent(said))
}

#[async_trait::async_trait]
impl DiscordSender for RestSender {
    async fn dm(&self, discord_user: u64, message: &DiscordMessage) -> Result<(), SendError> {
        let Some(http) = &self.http else {
            // The message waits: once the bot has a token, the next attempt sends it.
            return Err(SendError::retryable(
                "a DM needs the Discord bot, which is off (discord.token is not set)",
            ));
        };
        let opened = self
            .perform(
                http,
                Request::new(Route::UserMeDmChannels, LightMethod::Post).body(Some(
                    serde_json::to_vec(&serde_json::json!({
                        "recipient_id": discord_user.to_string()
                    }))
                    .unwrap_or_default(),
                )),
            )
            .await?;
        let channel: serde_json::Value = serde_json::from_slice(&opened).unwrap_or_default();
        let channel_id = channel["id"]
            .as_str()
            .and_then(|id| id.parse::<u64>().ok())
            .filter(|id| *id != 0)
            .ok_or_else(|| SendError::retryable("Discord opened no DM channel"))?;
        self.perform(
            http,
            Request::new(
                Route::ChannelMessages {
                    channel_id: ChannelId::new(channel_id),
                },
                LightMethod::Post,
            )
            .body(Some(Self::body(message)?)),
        )
        .await?;
        Ok(())
    }

    /// A webhook carries its own token: the post needs no bot token, and goes to the
    /// configured base (Discord itself unless a test points it elsewhere).
    async fn webhook(&self, url: &str, message: &DiscordMessage) -> Result<(), SendError> {
        let (id, token) = webhook_parts(url).ok_or_else(|| {
            SendError::permanent("the webhook address is not .../api/webhooks/ID/TOKEN")
        })?;
        let response = self
            .client
            .post(format!("{}/api/v10/webhooks/{id}/{token}", self.api_base))
            .header("content-type", "application/json")
            .header("user-agent", serenity::constants::USER_AGENT)
            .body(Self::body(message)?)
            .send()
            .await
            .map_err(|error| {
                SendError::retryable(format!("Discord could not be reached: {error}"))
            })?;
        answer(response).await?;
        Ok(())
    }

    /// Posts as the bot (staff-channel notices and the SLA escalation's one role ping).
    async fn channel_post(
        &self,
        channel: u64,
        message: &DiscordMessage,
        ping_role: Option<u64>,
    ) -> Result<(), SendError> {
        let Some(http) = &self.http else {
            return Err(SendError::retryable(
                "a channel post needs the Discord bot, which is off (discord.token is not set)",
            ));
        };
        if channel == 0 {
            return Err(SendError::permanent("0 is not a Discord channel id"));
        }
        self.perform(
            http,
            Request::new(
                Route::ChannelMessages {
                    channel_id: ChannelId::new(channel),
                },
                LightMethod::Post,
            )
            .body(Some(channel_post_body(message, ping_role)?)),
        )
        .await?;
        Ok(())
    }
}

/// The JSON body of a channel post: inert text, and no mentions allowed but `ping_role`'s,
/// whose mention leads the message.
fn channel_post_body(
    message: &DiscordMessage,
    ping_role: Option<u64>,
) -> Result<Vec<u8>, SendError> {
    // The role's mention leads, and the whole stays within Discord's 2,000 characters.
    let (prefix, roles) = match ping_role {
        Some(role) => (format!("<@&{role}> "), vec![role.to_string()]),
        None => (String::new(), Vec::new()),
    };
    let room = crate::render::CONTENT_MAX - prefix.chars().count();
    let content = prefix + &crate::render::truncate(&Answer::plain(&message.content), room);
    serde_json::to_vec(&serde_json::json!({
        "content": content,
        "allowed_mentions": { "parse": [], "roles": roles },
    }))
    .map_err(|error| SendError::permanent(format!("cannot write the message: {error}")))
}

/// The id and token of `.../api/webhooks/ID/TOKEN` (with or without `/v10`).
fn webhook_parts(url: &str) -> Option<(u64, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let segments: Vec<&str> = parsed.path_segments()?.collect();
    let at = segments.iter().position(|segment| *segment == "webhooks")?;
    let id = segments
        .get(at + 1)?
        .parse::<u64>()
        .ok()
        .filter(|id| *id != 0)?;
    let token = segments.get(at + 2).filter(|token| !token.is_empty())?;
    Some((id, (*token).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_addresses_are_read() {
        assert_eq!(
            webhook_parts("https://discord.com/api/webhooks/123/abc-DEF"),
            Some((123, "abc-DEF".to_owned()))
        );
        assert_eq!(
            webhook_parts("http://127.0.0.1:9/api/v10/webhooks/7/t"),
            Some((7, "t".to_owned()))
        );
        assert_eq!(webhook_parts("https://discord.com/api/webhooks/"), None);
        assert_eq!(webhook_parts("not a url"), None);
    }

    #[test]
    fn channel_posts_ping_only_the_role_they_name() {
        let message = DiscordMessage {
            content: "Ticket #4 @everyone <@&9>".into(),
        };
        let body: serde_json::Value =
            serde_json::from_slice(&channel_post_body(&message, Some(77)).expect("body"))
                .expect("json");
        assert_eq!(body["allowed_mentions"]["roles"], serde_json::json!(["77"]));
        assert_eq!(body["allowed_mentions"]["parse"], serde_json::json!([]));
        let content = body["content"].as_str().expect("content");
        assert!(content.starts_with("<@&77> "));
        assert!(!content.contains("<@&9>") && !content.contains("@everyone"));
        let quiet: serde_json::Value =
            serde_json::from_slice(&channel_post_body(&message, None).expect("body"))
                .expect("json");
        assert_eq!(quiet["allowed_mentions"]["roles"], serde_json::json!([]));
    }

    #[test]
    fn a_long_post_with_its_ping_stays_within_discords_limit() {
        let message = DiscordMessage {
            content: "é".repeat(2500),
        };
        for role in [Some(1_234_567_890_123_456_789), None] {
            let body: serde_json::Value =
                serde_json::from_slice(&channel_post_body(&message, role).expect("body"))
                    .expect("json");
            let content = body["content"].as_str().expect("content");
            assert_eq!(content.chars().count(), 2000);
            assert!(content.ends_with('…'));
        }
    }
}
