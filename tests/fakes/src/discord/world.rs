//! Everything the fake Discord knows: guilds, channels, messages, users, registered commands,
//! webhooks and interactions in flight. REST handlers and the gateway both work on one `World`
//! behind a mutex; nothing here awaits, so the lock is never held across a suspension point.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::gateway::Sessions;
use super::interactions::{InteractionRecord, Member, Place};
use super::shapes;

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds; snowflakes count from it.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Gateway intents that decide which events a bot receives.
const INTENT_GUILDS: u64 = 1;
const INTENT_GUILD_MESSAGES: u64 = 1 << 9;
const INTENT_DIRECT_MESSAGES: u64 = 1 << 12;
/// Privileged: refused at IDENTIFY (close 4014) unless the developer portal turned it on.
pub(crate) const INTENT_MESSAGE_CONTENT: u64 = 1 << 15;

/// Message flag Discord sets on the "thinking..." placeholder of a deferred reply.
pub(crate) const FLAG_LOADING: u64 = 1 << 7;
pub(crate) const FLAG_EPHEMERAL: u64 = 1 << 6;

/// The fixed facts of one fake, chosen before it starts.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub token: String,
    pub application_id: u64,
    pub bot_name: String,
    /// What `GET /gateway/bot` recommends.
    pub shards: u32,
    pub heartbeat_interval: Duration,
    /// Discord refuses an interaction callback later than this after the interaction was sent.
    pub callback_deadline: Duration,
    /// How long an interaction token serves followups and edits.
    pub token_lifetime: Duration,
}

/// One webhook created by a test, for the bot's notifier to post to.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub id: u64,
    pub token: String,
    pub channel_id: u64,
    pub name: String,
    /// `{api_base}/api/webhooks/{id}/{token}`, the URL Discord hands out for it.
    pub url: String,
}

/// A rate limit the next matching requests run into.
#[derive(Debug, Clone)]
pub(crate) struct RateLimit {
    pub path_contains: String,
    pub remaining: usize,
    pub retry_after: Duration,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Guild {
    pub members: BTreeMap<u64, Value>,
}

/// An open modal: what the bot showed, so a submit can only fill fields that exist.
#[derive(Debug, Clone)]
pub(crate) struct OpenModal {
    pub interaction_id: u64,
    pub data: Value,
    pub submitted: bool,
}

pub(crate) struct World {
    pub settings: Settings,
    /// Base of the REST server, for webhook URLs.
    pub api_base: String,
    pub gateway_url: String,
    last_snowflake: u64,
    pub guilds: BTreeMap<u64, Guild>,
    pub channels: BTreeMap<u64, Value>,
    /// Every message by id; ids grow with time, so iteration is creation order.
    pub messages: BTreeMap<u64, Value>,
    pub users: BTreeMap<u64, Value>,
    pub dm_channels: BTreeMap<u64, u64>,
    /// Users who do not accept DMs from the bot (Discord answers 50007).
    pub closed_dms: BTreeSet<u64>,
    pub thread_members: BTreeMap<u64, Vec<u64>>,
    /// Registered commands: `None` for global ones, `Some(guild)` for a guild's.
    pub commands: BTreeMap<Option<u64>, Vec<Value>>,
    pub webhooks: BTreeMap<u64, Webhook>,
    pub webhook_posts: BTreeMap<u64, Vec<Value>>,
    pub interactions: HashMap<u64, InteractionRecord>,
    pub modals: Vec<OpenModal>,
    pub callback_latencies: Vec<Duration>,
    pub rate_limits: Vec<RateLimit>,
    pub sessions: Sessions,
    /// Whether "Message Content Intent" is on in the developer portal; off, an IDENTIFY that
    /// asks for it is closed with 4014.
    pub message_content_enabled: bool,
    /// The bot cannot reach Discord: REST answers 503 and the gateway takes no connection.
    pub down: bool,
    /// REST requests answered 503 because the fake was down.
    pub refused_while_down: usize,
    /// Nonces of messages created with `enforce_nonce`, by channel, author and nonce: the
    /// message and when it was made, so the same nonce within [`NONCE_WINDOW`] returns it.
    pub nonces: HashMap<(u64, u64, String), (u64, std::time::Instant)>,
}

/// How long Discord remembers an enforced nonce ("the past few minutes").
pub const NONCE_WINDOW: Duration = Duration::from_secs(5 * 60);

impl World {
    pub fn new(settings: Settings, api_base: String, gateway_url: String) -> Self {
        let mut world = Self {
            settings,
            api_base,
            gateway_url,
            last_snowflake: 0,
            guilds: BTreeMap::new(),
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            users: BTreeMap::new(),
            dm_channels: BTreeMap::new(),
            closed_dms: BTreeSet::new(),
            thread_members: BTreeMap::new(),
            commands: BTreeMap::new(),
            webhooks: BTreeMap::new(),
            webhook_posts: BTreeMap::new(),
            interactions: HashMap::new(),
            modals: Vec::new(),
            callback_latencies: Vec::new(),
            rate_limits: Vec::new(),
            sessions: Sessions::default(),
            message_content_enabled: true,
            down: false,
            refused_while_down: 0,
            nonces: HashMap::new(),
        };
        let bot = world.bot_user();
        world.users.insert(world.settings.application_id, bot);
        world
    }

    /// A new id that sorts after every earlier one and carries the current time, as Discord's do.
    pub fn snowflake(&mut self) -> u64 {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis() as u64)
            .unwrap_or(DISCORD_EPOCH_MS);
        let fresh = now_ms.saturating_sub(DISCORD_EPOCH_MS) << 22;
        self.last_snowflake = fresh.max(self.last_snowflake + 1);
        self.last_snowflake
    }

    pub fn bot_user(&self) -> Value {
        shapes::user(self.settings.application_id, &self.settings.bot_name, true)
    }

    pub fn add_guild(&mut self, guild_id: u64) {
        if self.guilds.contains_key(&guild_id) {
            return;
        }
        self.guilds.insert(guild_id, Guild::default());
        // Discord gave the first text channel of older guilds the guild's own id; the fake does
        // the same so a member typing a command somewhere always has a channel.
        self.add_text_channel(guild_id, guild_id, "general");
    }

    pub fn add_text_channel(&mut self, guild_id: u64, channel_id: u64, name: &str) {
        self.add_guild(guild_id);
        self.channels
            .entry(channel_id)
            .or_insert_with(|| shapes::text_channel(channel_id, guild_id, name));
    }

    /// Makes `member` a user the fake knows and, in a guild, a member of it.
    pub fn meet(&mut self, member: &Member) {
        let user = shapes::user(member.user_id, &member.username, false);
        self.users.insert(member.user_id, user);
        if let Place::Guild { guild_id, .. } = member.place {
            let guild = self.guilds.get_mut(&guild_id).unwrap_or_else(|| {
                panic!(
                    "the fake Discord has no guild {guild_id}: add it with \
                     FakeDiscord::builder().guild({guild_id}) or add_guild"
                )
            });
            guild
                .members
                .insert(member.user_id, shapes::member(member, guild_id));
        }
    }

    /// Where `member` types: its channel, its guild's first channel, or its DM with the bot.
    pub fn channel_of(&mut self, member: &Member) -> u64 {
        let channel_id = match member.place {
            Place::Guild {
                guild_id,
                channel_id,
            } => channel_id.unwrap_or(guild_id),
            Place::Dm => self
                .dm_channel(member.user_id)
                .expect("a member the fake met has a DM channel"),
        };
        assert!(
            self.channels.contains_key(&channel_id),
            "the fake Discord has no channel {channel_id}; add it with add_text_channel"
        );
        channel_id
    }

    pub fn user(&self, user_id: u64) -> Option<&Value> {
        self.users.get(&user_id)
    }

    /// The DM channel between the bot and `user_id`, created on first use as Discord does.
    pub fn dm_channel(&mut self, user_id: u64) -> Option<u64> {
        if let Some(channel_id) = self.dm_channels.get(&user_id) {
            return Some(*channel_id);
        }
        let user = self.users.get(&user_id)?.clone();
        let channel_id = self.snowflake();
        self.channels
            .insert(channel_id, shapes::dm_channel(channel_id, user));
        self.dm_channels.insert(user_id, channel_id);
        Some(channel_id)
    }

    pub fn messages_in(&self, channel_id: u64) -> Vec<Value> {
        self.messages
            .values()
            .filter(|message| snowflake_field(message, "channel_id") == Some(channel_id))
            .cloned()
            .collect()
    }

    /// Builds and stores a message from what a client sent (a create-message, webhook or
    /// interaction body), the way Discord would render it.
    pub fn create_message(
        &mut self,
        channel_id: u64,
        author: Value,
        body: &Value,
        extra: Value,
    ) -> Value {
        let id = self.snowflake();
        let mut message = shapes::message(id, channel_id, author, &shapes::now());
        self.apply_message_body(&mut message, body);
        if let (Value::Object(message), Value::Object(extra)) = (&mut message, extra) {
            message.extend(extra);
        }
        if let Some(channel) = self.channels.get_mut(&channel_id) {
            channel["last_message_id"] = json!(id.to_string());
            if channel.get("message_count").is_some() {
                channel["message_count"] =
                    json!(channel["message_count"].as_u64().unwrap_or(0) + 1);
                channel["total_message_sent"] =
                    json!(channel["total_message_sent"].as_u64().unwrap_or(0) + 1);
            }
        }
        self.messages.insert(id, message.clone());
        self.announce("MESSAGE_CREATE", &message);
        message
    }

    /// Sends a message event to the bot's shard for the channel, as Discord does for every
    /// message the bot may see, its own included: a bot that relays messages must not echo
    /// itself. Without MESSAGE_CONTENT a guild message arrives without its content unless the
    /// bot wrote it or is mentioned; ephemeral messages are never sent.
    pub fn announce(&mut self, event: &str, message: &Value) {
        if message["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL != 0 {
            return;
        }
        let Some(channel_id) = snowflake_field(message, "channel_id") else {
            return;
        };
        let guild_id = self
            .channels
            .get(&channel_id)
            .and_then(|channel| snowflake_field(channel, "guild_id"));
        let Some(intents) = self.message_intents(guild_id) else {
            return;
        };
        let bot = self.settings.application_id;
        let author = snowflake_field(&message["author"], "id");
        let mentions_bot = message["mentions"].as_array().is_some_and(|users| {
            users
                .iter()
                .any(|user| snowflake_field(user, "id") == Some(bot))
        });
        let mut payload = message.clone();
        if guild_id.is_some()
            && intents & INTENT_MESSAGE_CONTENT == 0
            && author != Some(bot)
            && !mentions_bot
        {
            payload["content"] = json!("");
            payload["embeds"] = json!([]);
            payload["attachments"] = json!([]);
            payload["components"] = json!([]);
        }
        if let Some(guild_id) = guild_id {
            payload["guild_id"] = json!(guild_id.to_string());
            let member =
                author.and_then(|author| self.guilds.get(&guild_id)?.members.get(&author).cloned());
            if message.get("webhook_id").is_none() {
                let mut member = member.unwrap_or_else(|| {
                    json!({"roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0})
                });
                if let Value::Object(fields) = &mut member {
                    fields.remove("user");
                }
                payload["member"] = member;
            }
        }
        self.sessions.dispatch(guild_id, event, payload);
    }

    /// The intents of the bot's shard for `guild_id` (or DMs), if they let it see messages there.
    fn message_intents(&mut self, guild_id: Option<u64>) -> Option<u64> {
        let intents = self.sessions.session_for(guild_id)?.intents;
        let wanted = match guild_id {
            Some(_) => INTENT_GUILD_MESSAGES,
            None => INTENT_DIRECT_MESSAGES,
        };
        (intents & wanted != 0).then_some(intents)
    }

    /// Removes a message and tells the bot, as Discord does.
    pub fn delete_message(&mut self, message_id: u64) -> Option<Value> {
        let message = self.messages.remove(&message_id)?;
        let channel_id = snowflake_field(&message, "channel_id");
        let guild_id = channel_id
            .and_then(|channel_id| snowflake_field(self.channels.get(&channel_id)?, "guild_id"));
        let mut event = json!({"id": message["id"], "channel_id": message["channel_id"]});
        if let Some(guild_id) = guild_id {
            event["guild_id"] = json!(guild_id.to_string());
        }
        if self.message_intents(guild_id).is_some() {
            self.sessions.dispatch(guild_id, "MESSAGE_DELETE", event);
        }
        Some(message)
    }

    /// Sends a thread event (THREAD_CREATE, THREAD_UPDATE, THREAD_DELETE) to the bot's shard for
    /// the thread's guild, when its intents include GUILDS.
    pub fn announce_thread(&mut self, event: &str, data: Value) {
        let guild_id = snowflake_field(&data, "guild_id");
        let sees_threads = self
            .sessions
            .session_for(guild_id)
            .is_some_and(|session| session.intents & INTENT_GUILDS != 0);
        if sees_threads {
            self.sessions.dispatch(guild_id, event, data);
        }
    }

    /// Deletes a thread with its messages and members, and tells the bot (THREAD_DELETE).
    pub fn delete_thread(&mut self, thread_id: u64) -> Option<Value> {
        let thread = self.channels.remove(&thread_id)?;
        self.messages
            .retain(|_, message| snowflake_field(message, "channel_id") != Some(thread_id));
        self.thread_members.remove(&thread_id);
        let event = json!({
            "id": thread["id"],
            "guild_id": thread["guild_id"],
            "parent_id": thread["parent_id"],
            "type": thread["type"],
        });
        self.announce_thread("THREAD_DELETE", event);
        Some(thread)
    }

    /// Applies the fields of a create or edit body to a stored message.
    pub fn apply_message_body(&mut self, message: &mut Value, body: &Value) {
        for field in ["content", "tts", "poll"] {
            if let Some(value) = body.get(field).filter(|value| !value.is_null()) {
                message[field] = value.clone();
            }
        }
        if let Some(attachments) = body.get("attachments").and_then(Value::as_array) {
            let base = format!(
                "{}/attachments/{}",
                self.api_base,
                message["id"].as_str().unwrap_or("0")
            );
            let rendered = attachments
                .iter()
                .map(|attachment| {
                    // An upload names its file by index; Discord gives it a snowflake.
                    let id = match attachment.get("url") {
                        Some(_) => None,
                        None => Some(self.snowflake()),
                    };
                    shapes::rendered_attachment(attachment, id, &base)
                })
                .collect();
            message["attachments"] = Value::Array(rendered);
        }
        if let Some(components) = body.get("components").filter(|value| !value.is_null()) {
            message["components"] = shapes::rendered_components(components);
        }
        if let Some(embeds) = body.get("embeds").and_then(Value::as_array) {
            message["embeds"] = Value::Array(embeds.iter().map(shapes::rendered_embed).collect());
        }
        if let Some(flags) = body.get("flags").and_then(Value::as_u64) {
            let kept = message["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL;
            message["flags"] = json!(kept | (flags & !FLAG_LOADING));
        }
        let content = message["content"].as_str().unwrap_or_default().to_owned();
        let mentions = shapes::mentions(&content, body.get("allowed_mentions"));
        message["mentions"] = Value::Array(
            mentions
                .users
                .iter()
                .map(|id| {
                    self.users
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| shapes::user(*id, &format!("user{id}"), false))
                })
                .collect(),
        );
        message["mention_roles"] = json!(
            mentions
                .roles
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
        );
        message["mention_everyone"] = json!(mentions.everyone);
    }

    /// Edits a stored message with the fields of `body`, marking it edited.
    pub fn edit_message(&mut self, message_id: u64, body: &Value) -> Option<Value> {
        let mut message = self.messages.get(&message_id)?.clone();
        let was_loading = message["flags"].as_u64().unwrap_or(0) & FLAG_LOADING != 0;
        self.apply_message_body(&mut message, body);
        if was_loading {
            // The deferred placeholder becomes the real reply; Discord does not mark it edited.
            let flags = message["flags"].as_u64().unwrap_or(0) & !FLAG_LOADING;
            message["flags"] = json!(flags);
        } else {
            message["edited_timestamp"] = json!(shapes::now());
        }
        self.messages.insert(message_id, message.clone());
        self.announce("MESSAGE_UPDATE", &message);
        Some(message)
    }

    pub fn interaction_by_token(&self, token: &str) -> Option<&InteractionRecord> {
        self.interactions
            .values()
            .find(|interaction| interaction.token == token)
    }

    pub fn interaction_by_token_mut(&mut self, token: &str) -> Option<&mut InteractionRecord> {
        self.interactions
            .values_mut()
            .find(|interaction| interaction.token == token)
    }

    /// The registered command a member could invoke by `name` in `guild_id` (or a DM).
    pub fn command_named(&self, guild_id: Option<u64>, name: &str, kind: u64) -> Option<Value> {
        let scopes = match guild_id {
            Some(guild_id) => vec![Some(guild_id), None],
            None => vec![None],
        };
        scopes.into_iter().find_map(|scope| {
            self.commands.get(&scope)?.iter().find_map(|command| {
                (command["name"] == name && command["type"].as_u64() == Some(kind))
                    .then(|| command.clone())
            })
        })
    }

    /// Takes one use of the first rate limit that applies to `path`.
    pub fn take_rate_limit(&mut self, path: &str) -> Option<Duration> {
        let index = self
            .rate_limits
            .iter()
            .position(|limit| path.contains(&limit.path_contains))?;
        let limit = &mut self.rate_limits[index];
        let retry_after = limit.retry_after;
        limit.remaining -= 1;
        if limit.remaining == 0 {
            self.rate_limits.remove(index);
        }
        Some(retry_after)
    }
}

/// A snowflake field (sent as a string) read as a number.
pub(crate) fn snowflake_field(value: &Value, field: &str) -> Option<u64> {
    match &value[field] {
        Value::String(text) => text.parse().ok(),
        Value::Number(number) => number.as_u64(),
        _ => None,
    }
}
