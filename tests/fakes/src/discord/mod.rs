//! A fake Discord on 127.0.0.1: the REST API under `/api/v10` and a gateway websocket, enough
//! for a serenity 0.12 / poise 0.7 bot to connect, register its commands and answer the slash
//! commands, buttons and modals a test injects as any member with any roles.
//!
//! Give the bot [`FakeDiscord::api_base`] as its API base (`HttpBuilder::proxy`) and
//! [`FakeDiscord::token`] as its token; `GET /api/v10/gateway` sends it to the fake's gateway.
//! What the fake holds to, and refuses like Discord does:
//! - every REST body against `../shared/wire/discord/openapi.json` (400 code 50035, and a
//!   problem in [`FakeDiscord::recorder`]); every answer of its own against the same spec;
//! - the bot token on every bot route (401), and IDENTIFY / RESUME tokens (close 4004);
//! - one callback per interaction within 3 s (404 code 10062 after, 400 code 40060 for a second);
//! - the callback types each interaction allows, followups only after the callback;
//! - unknown channels, messages, webhooks, users (Discord's 10003, 10008, 10015, 10013);
//! - empty messages (50006), DMs to users who closed them (50007), a bot post into an archived
//!   thread (50083: unarchive it first), `limit` outside 1..=100 (50035);
//! - the privileged MESSAGE_CONTENT intent when the developer portal has it off (close 4014),
//!   and message content hidden from a bot that did not ask for it;
//! - thread events (THREAD_CREATE/UPDATE/DELETE) only with GUILDS, message events only with
//!   GUILD_MESSAGES (or DIRECT_MESSAGES).
//!
//! A test reads like a story:
//!
//! ```no_run
//! # use std::time::Duration;
//! # use hostdeck_fakes::discord::{FakeDiscord, Member};
//! # async fn story() {
//! const GUILD: u64 = 2000;
//! let discord = FakeDiscord::builder().guild(GUILD).start().await;
//! // ... start the bot with discord.api_base() and discord.token() ...
//! discord.wait_ready(Duration::from_secs(5)).await;
//! let alice = Member::new(3000, "alice").roles([2001]).in_guild(GUILD);
//! let reply = discord.slash(&alice, "balance", serde_json::json!([])).await;
//! let responses = reply.wait(Duration::from_secs(5)).await;
//! assert_eq!(responses[0].content(), Some("Your balance is 10.00 USD"));
//! assert!(discord.recorder().problems().is_empty());
//! # }
//! ```
//!
//! Layout: `world` is the state, `rest` and `gateway` the two servers, `channels` the channel,
//! message and thread routes, `interactions` the interaction rules and what a test reads back,
//! `acting` what people do in channels and threads (and the outage switch), `shapes` the JSON
//! Discord answers with.

mod acting;
mod channels;
mod gateway;
mod interactions;
mod rest;
mod shapes;
mod world;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::server::{self, Recorder, Running};
use crate::spec::Spec;

pub use acting::Upload;
pub use gateway::{GATEWAY, gateway_method, shard_for};
pub use interactions::{Member, Place, Reply, Response, ResponseKind};
pub use shapes::ALL_PERMISSIONS;
pub use world::Webhook;

use gateway::Outgoing;
use interactions::{Action, InteractionRecord, find_component};
use world::{Settings, World, snowflake_field};

/// How long an injection waits for the bot's shard to be connected before it gives up.
const SHARD_WAIT: Duration = Duration::from_secs(10);

/// State shared by the REST server, the gateway and the test's handle.
pub(crate) struct Shared {
    world: Mutex<World>,
    /// Bumped on every change, so waiters re-check their condition.
    changed: watch::Sender<u64>,
    spec: Spec,
    recorder: Recorder,
}

impl Shared {
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        let mut world = self
            .world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut world)
    }

    pub(crate) fn touch(&self) {
        self.changed.send_modify(|version| *version += 1);
    }

    /// Re-checks `check` on every change until it yields, or `timeout` passes.
    pub(crate) async fn wait_until<R>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&mut World) -> Option<R>,
    ) -> Option<R> {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = self.with(&mut check) {
                return Some(found);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return self.with(&mut check),
            }
        }
    }
}

/// Choices made before the fake starts.
#[derive(Debug, Clone)]
pub struct FakeDiscordBuilder {
    settings: Settings,
    guilds: Vec<u64>,
    channels: Vec<(u64, u64, String)>,
    message_content: bool,
}

impl FakeDiscordBuilder {
    /// The shard count `GET /gateway/bot` recommends (1 unless set).
    pub fn shards(mut self, shards: u32) -> Self {
        self.settings.shards = shards.max(1);
        self
    }

    /// A guild the bot is in; its first text channel has the guild's id.
    pub fn guild(mut self, guild_id: u64) -> Self {
        self.guilds.push(guild_id);
        self
    }

    pub fn text_channel(mut self, guild_id: u64, channel_id: u64, name: &str) -> Self {
        self.channels.push((guild_id, channel_id, name.to_owned()));
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        token.clone_into(&mut self.settings.token);
        self
    }

    pub fn application_id(mut self, application_id: u64) -> Self {
        self.settings.application_id = application_id;
        self
    }

    /// Discord says 41.25 s; a short one makes a test see the bot's heartbeats.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.settings.heartbeat_interval = interval;
        self
    }

    /// Discord's is 3 s; only a test of the deadline itself should change it.
    pub fn callback_deadline(mut self, deadline: Duration) -> Self {
        self.settings.callback_deadline = deadline;
        self
    }

    /// Whether "Message Content Intent" is on in the developer portal (it is unless set):
    /// off, an IDENTIFY asking for MESSAGE_CONTENT is closed with 4014 "Disallowed intent(s)".
    pub fn message_content_intent(mut self, enabled: bool) -> Self {
        self.message_content = enabled;
        self
    }

    /// Starts the REST server and the gateway on free loopback ports.
    pub async fn start(self) -> FakeDiscord {
        let gateway_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the gateway");
        let gateway_addr = gateway_listener
            .local_addr()
            .expect("the gateway's local address");
        let recorder = Recorder::default();
        let (changed, _) = watch::channel(0);
        // The REST address is known only once it listens; webhook URLs read it from the world.
        let shared = Arc::new(Shared {
            world: Mutex::new(World::new(
                self.settings,
                String::new(),
                format!("ws://{gateway_addr}"),
            )),
            changed,
            spec: Spec::load("discord/openapi.json", "/api/v10"),
            recorder: recorder.clone(),
        });
        let rest = server::spawn(rest::router(shared.clone()), &recorder).await;
        let api_base = rest.base_url();
        shared.with(|world| {
            world.api_base = api_base;
            world.message_content_enabled = self.message_content;
            for guild_id in &self.guilds {
                world.add_guild(*guild_id);
            }
            for (guild_id, channel_id, name) in &self.channels {
                world.add_text_channel(*guild_id, *channel_id, name);
            }
        });
        let gateway = tokio::spawn(gateway::serve(shared.clone(), gateway_listener));
        FakeDiscord {
            shared,
            rest,
            gateway,
        }
    }
}

/// A running fake Discord. Dropping it stops both servers.
pub struct FakeDiscord {
    shared: Arc<Shared>,
    rest: Running,
    gateway: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.gateway.abort();
        self.shared
            .with(|world| world.sessions.send_to_all(|| Outgoing::Drop));
    }
}

impl FakeDiscord {
    /// A fake with one shard, no guilds, the default token and application id 1000.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    pub fn builder() -> FakeDiscordBuilder {
        FakeDiscordBuilder {
            settings: Settings {
                token: "fake-bot-token".to_owned(),
                application_id: 1000,
                bot_name: "hostdeck".to_owned(),
                shards: 1,
                heartbeat_interval: Duration::from_millis(41_250),
                callback_deadline: Duration::from_secs(3),
                token_lifetime: Duration::from_secs(15 * 60),
            },
            guilds: Vec::new(),
            channels: Vec::new(),
            message_content: true,
        }
    }

    // --- Connecting the bot ---

    /// `http://127.0.0.1:PORT`: the API base for the bot (`discord.api_base` in hostdeck).
    pub fn api_base(&self) -> String {
        self.rest.base_url()
    }

    /// `ws://127.0.0.1:PORT`, what `GET /gateway` answers.
    pub fn gateway_url(&self) -> String {
        self.shared.with(|world| world.gateway_url.clone())
    }

    /// The only bot token the fake accepts (sent as `Authorization: Bot <token>`).
    pub fn token(&self) -> String {
        self.shared.with(|world| world.settings.token.clone())
    }

    /// The application id, which is also the bot's user id.
    pub fn application_id(&self) -> u64 {
        self.shared.with(|world| world.settings.application_id)
    }

    /// Every REST call and gateway frame received, with the problems found in each. Faults
    /// injected here (`fail_next`, `fail_always`) answer before the fake looks at the request,
    /// so those requests are not recorded; [`Self::rate_limit`] is Discord's own 429.
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Waits until every shard the bot announced has identified and got READY (or resumed).
    pub async fn wait_ready(&self, timeout: Duration) {
        let ready = self
            .shared
            .wait_until(timeout, |world| {
                world.sessions.all_shards_ready().then_some(())
            })
            .await;
        if ready.is_none() {
            let (identifies, closes) = self.shared.with(|world| {
                (
                    world.sessions.identifies.len(),
                    world.sessions.closes.clone(),
                )
            });
            panic!(
                "no bot got READY from the fake Discord within {timeout:?} \
                 ({identifies} IDENTIFY seen, close codes sent: {closes:?}, problems: {:#?})",
                self.recorder().problems()
            );
        }
    }

    pub fn is_ready(&self) -> bool {
        self.shared.with(|world| world.sessions.all_shards_ready())
    }

    /// Every IDENTIFY payload received, oldest first.
    pub fn identifies(&self) -> Vec<Value> {
        self.shared.with(|world| world.sessions.identifies.clone())
    }

    /// Connected shards as `[shard_id, shard_count]`.
    pub fn connected_shards(&self) -> Vec<[u64; 2]> {
        self.shared.with(|world| {
            world
                .sessions
                .live
                .iter()
                .filter(|session| session.connected())
                .map(|session| session.shard)
                .collect()
        })
    }

    /// How many RESUMEs the fake accepted.
    pub fn resumes(&self) -> usize {
        self.shared.with(|world| world.sessions.resumes)
    }

    pub fn heartbeats(&self) -> usize {
        self.shared.with(|world| world.sessions.heartbeats)
    }

    /// Close codes the fake sent (4004 for a bad token, ...), oldest first.
    pub fn close_codes(&self) -> Vec<u16> {
        self.shared.with(|world| world.sessions.closes.clone())
    }

    /// Waits until the fake has accepted `count` RESUMEs in all.
    pub async fn wait_resumed(&self, count: usize, timeout: Duration) {
        let resumed = self
            .shared
            .wait_until(timeout, |world| {
                (world.sessions.resumes >= count && world.sessions.all_shards_ready()).then_some(())
            })
            .await;
        if resumed.is_none() {
            panic!(
                "expected {count} RESUMEs within {timeout:?}, saw {}; problems: {:#?}",
                self.resumes(),
                self.recorder().problems()
            );
        }
    }

    /// Sends op 7 RECONNECT to every shard; the bot should come back with RESUME.
    pub async fn reconnect_all(&self) {
        self.shared.with(|world| {
            world.sessions.send_to_all(|| {
                Outgoing::Text(json!({"op": 7, "s": null, "t": null, "d": null}).to_string())
            });
        });
    }

    /// Cuts every gateway connection without a close frame, as a network failure would.
    pub async fn drop_connections(&self) {
        self.shared
            .with(|world| world.sessions.send_to_all(|| Outgoing::Drop));
    }

    /// Sends op 9 INVALID_SESSION to every shard, resumable or not.
    pub async fn invalidate_sessions(&self, resumable: bool) {
        self.shared.with(|world| {
            world.sessions.send_to_all(|| {
                Outgoing::Text(json!({"op": 9, "s": null, "t": null, "d": resumable}).to_string())
            });
            if !resumable {
                world.sessions.live.clear();
            }
        });
    }

    // --- The world the bot lives in ---

    /// Adds a guild (with its first channel, id = guild id). Guilds added after READY are not
    /// announced to the bot.
    pub fn add_guild(&self, guild_id: u64) {
        self.shared.with(|world| world.add_guild(guild_id));
    }

    pub fn add_text_channel(&self, guild_id: u64, channel_id: u64, name: &str) {
        self.shared
            .with(|world| world.add_text_channel(guild_id, channel_id, name));
    }

    /// Makes `member` known (as a user, and a guild member when in a guild) before it acts, so
    /// the bot can DM it or add it to threads.
    pub fn add_member(&self, member: &Member) {
        self.shared.with(|world| world.meet(member));
    }

    /// The user stops accepting DMs from the bot; sending one gets 403 code 50007.
    pub fn close_dms(&self, user_id: u64) {
        self.shared.with(|world| world.closed_dms.insert(user_id));
    }

    /// An incoming webhook on `channel_id`, as a server admin would create it.
    pub fn create_webhook(&self, channel_id: u64, name: &str) -> Webhook {
        self.shared.with(|world| {
            let id = world.snowflake();
            let token = format!("webhook-token-{id}");
            let webhook = Webhook {
                id,
                url: format!("{}/api/webhooks/{id}/{token}", world.api_base),
                token,
                channel_id,
                name: name.to_owned(),
            };
            world.webhooks.insert(id, webhook.clone());
            webhook
        })
    }

    /// The next `times` requests whose path contains `path_contains` get Discord's 429 with
    /// `retry_after`, `Retry-After` and `X-RateLimit-*` headers.
    pub fn rate_limit(&self, path_contains: &str, times: usize, retry_after: Duration) {
        self.shared.with(|world| {
            world.rate_limits.push(world::RateLimit {
                path_contains: path_contains.to_owned(),
                remaining: times,
                retry_after,
            });
        });
    }

    // --- What the bot did ---

    /// The commands the bot registered: global ones (`None`) or a guild's.
    pub fn registered_commands(&self, guild_id: Option<u64>) -> Vec<Value> {
        self.shared
            .with(|world| world.commands.get(&guild_id).cloned().unwrap_or_default())
    }

    /// Messages in a channel or thread as they stand now (after edits), oldest first.
    pub fn messages_in(&self, channel_id: u64) -> Vec<Value> {
        self.shared.with(|world| world.messages_in(channel_id))
    }

    /// Someone deletes a message (the bot hears MESSAGE_DELETE, as from Discord).
    pub fn delete_message(&self, message_id: u64) -> Option<Value> {
        self.shared.with(|world| world.delete_message(message_id))
    }

    pub fn message(&self, message_id: u64) -> Option<Value> {
        self.shared
            .with(|world| world.messages.get(&message_id).cloned())
    }

    /// Messages in the DM between the bot and `user_id`, oldest first.
    pub fn dms_to(&self, user_id: u64) -> Vec<Value> {
        self.shared.with(|world| {
            world
                .dm_channels
                .get(&user_id)
                .map(|channel_id| world.messages_in(*channel_id))
                .unwrap_or_default()
        })
    }

    pub fn channel(&self, channel_id: u64) -> Option<Value> {
        self.shared
            .with(|world| world.channels.get(&channel_id).cloned())
    }

    /// Threads whose parent is `channel_id`, oldest first.
    pub fn threads_in(&self, channel_id: u64) -> Vec<Value> {
        self.shared.with(|world| {
            world
                .channels
                .values()
                .filter(|channel| snowflake_field(channel, "parent_id") == Some(channel_id))
                .cloned()
                .collect()
        })
    }

    /// User ids in a thread, the bot included once it created or joined it.
    pub fn thread_members(&self, thread_id: u64) -> Vec<u64> {
        self.shared.with(|world| {
            world
                .thread_members
                .get(&thread_id)
                .cloned()
                .unwrap_or_default()
        })
    }

    /// Bodies accepted by an incoming webhook, oldest first.
    pub fn webhook_posts(&self, webhook_id: u64) -> Vec<Value> {
        self.shared.with(|world| {
            world
                .webhook_posts
                .get(&webhook_id)
                .cloned()
                .unwrap_or_default()
        })
    }

    /// Time from each `INTERACTION_CREATE` to its accepted callback, in callback order; for
    /// benchmarks' p50/p99.
    pub fn callback_latencies(&self) -> Vec<Duration> {
        self.shared.with(|world| world.callback_latencies.clone())
    }

    /// Waits until `check` holds of the fake (a DM arrived, a thread was archived, ...).
    pub async fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        check: impl Fn(&FakeDiscord) -> bool,
    ) {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        while !check(self) {
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                assert!(check(self), "waited {timeout:?} for {what}");
                return;
            }
        }
    }

    // --- People acting ---

    /// `member` runs `/name` with `options` as Discord sends them
    /// (`[{"name":"server","type":3,"value":"42"}]`, subcommands nested). The command must be
    /// registered where the member is (its guild, or globally) and the options must fit it.
    pub async fn slash(&self, member: &Member, name: &str, options: Value) -> Reply {
        self.command_interaction(member, name, options, interactions::APPLICATION_COMMAND)
            .await
    }

    /// `member` types into an autocomplete option: `options` carry `"focused": true` on it.
    pub async fn autocomplete(&self, member: &Member, name: &str, options: Value) -> Reply {
        self.command_interaction(member, name, options, interactions::AUTOCOMPLETE)
            .await
    }

    async fn command_interaction(
        &self,
        member: &Member,
        name: &str,
        options: Value,
        kind: u64,
    ) -> Reply {
        let options = if options.is_null() {
            json!([])
        } else {
            options
        };
        let command = self.shared.with(|world| {
            world.meet(member);
            world.command_named(member.guild_id(), name, 1)
        });
        let Some(command) = command else {
            panic!(
                "the bot never registered /{name} where {} can use it ({:?})",
                member.username, member.place
            );
        };
        interactions::check_options(name, &command, &options, kind == interactions::AUTOCOMPLETE);
        let mut data = json!({
            "id": command["id"],
            "name": name,
            "type": 1,
            "options": options,
        });
        if let Some(guild_id) = command.get("guild_id") {
            data["guild_id"] = guild_id.clone();
        }
        // Discord resolves every user option into `data.resolved.users`, as clients need it.
        let mut user_ids = Vec::new();
        collect_user_options(&data["options"], &mut user_ids);
        if !user_ids.is_empty() {
            let users: serde_json::Map<String, Value> = self.shared.with(|world| {
                user_ids
                    .iter()
                    .map(|id| {
                        let user = world.user(*id).cloned().unwrap_or_else(|| {
                            panic!("the fake Discord knows no user {id}: add_member it first")
                        });
                        (id.to_string(), user)
                    })
                    .collect()
            });
            data["resolved"] = json!({ "users": users });
        }
        let action = Action {
            command_name: Some(name.to_owned()),
            ..Action::new(kind, data)
        };
        self.interact(member, action).await
    }

    /// `member` clicks the button `custom_id` on `message` (as the fake holds it now).
    pub async fn click(&self, member: &Member, message: &Value, custom_id: &str) -> Reply {
        self.use_component(member, message, custom_id, json!({}))
            .await
    }

    /// `member` picks `values` in the select menu `custom_id` on `message`.
    pub async fn select(
        &self,
        member: &Member,
        message: &Value,
        custom_id: &str,
        values: &[&str],
    ) -> Reply {
        self.use_component(member, message, custom_id, json!({"values": values}))
            .await
    }

    async fn use_component(
        &self,
        member: &Member,
        message: &Value,
        custom_id: &str,
        extra: Value,
    ) -> Reply {
        let message_id = snowflake_field(message, "id").expect("a message with an id");
        let (current, channel_id) = self.shared.with(|world| {
            world.meet(member);
            let current = world.messages.get(&message_id).cloned().unwrap_or_else(|| {
                panic!("the fake Discord has no message {message_id} to click on")
            });
            let channel_id = snowflake_field(&current, "channel_id").unwrap_or_default();
            (current, channel_id)
        });
        let Some(component) = find_component(&current["components"], custom_id) else {
            panic!(
                "message {message_id} has no component {custom_id:?}; it has {}",
                current["components"]
            );
        };
        assert!(
            component["disabled"] != true,
            "component {custom_id:?} is disabled; Discord would not let {} use it",
            member.username
        );
        let mut data = json!({
            "custom_id": custom_id,
            "component_type": component["type"],
        });
        if let (Value::Object(data), Value::Object(extra)) = (&mut data, extra) {
            data.extend(extra);
        }
        let action = Action {
            message: Some(current),
            channel_id: Some(channel_id),
            ..Action::new(interactions::MESSAGE_COMPONENT, data)
        };
        self.interact(member, action).await
    }

    /// `member` submits the open modal `custom_id` with `fields` as (text input custom_id,
    /// value); inputs not given are sent empty. The bot must have opened that modal.
    pub async fn submit_modal<'a>(
        &self,
        member: &Member,
        custom_id: &str,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Reply {
        let fields: Vec<(&str, &str)> = fields.into_iter().collect();
        let opened = self.shared.with(|world| {
            let modal = world
                .modals
                .iter_mut()
                .rev()
                .find(|modal| modal.data["custom_id"] == custom_id && !modal.submitted)?;
            modal.submitted = true;
            let modal = modal.clone();
            let origin = world.interactions.get(&modal.interaction_id).cloned();
            Some((modal, origin))
        });
        let Some((modal, origin)) = opened else {
            panic!("the bot opened no modal {custom_id:?} that is still open");
        };
        let mut inputs = Vec::new();
        collect_inputs(&modal.data["components"], &mut inputs);
        for (field, _) in &fields {
            assert!(
                inputs.iter().any(|input| input["custom_id"] == *field),
                "modal {custom_id:?} has no input {field:?}"
            );
        }
        let rows: Vec<Value> = inputs
            .iter()
            .map(|input| {
                let value = fields
                    .iter()
                    .find(|(field, _)| input["custom_id"] == *field)
                    .map_or("", |(_, value)| *value);
                assert!(
                    !(value.is_empty() && input["required"] != false),
                    "modal {custom_id:?} requires {}",
                    input["custom_id"]
                );
                json!({"type": 1, "components": [{
                    "type": 4,
                    "custom_id": input["custom_id"],
                    "value": value,
                }]})
            })
            .collect();
        let data = json!({"custom_id": custom_id, "components": rows});
        let origin_message = origin.as_ref().and_then(|origin| origin.component_message);
        let action = Action {
            message: origin_message.and_then(|id| self.message(id)),
            channel_id: origin.as_ref().map(|origin| origin.channel_id),
            origin: origin.map(|origin| origin.id),
            ..Action::new(interactions::MODAL_SUBMIT, data)
        };
        self.interact(member, action).await
    }

    /// Sends one interaction to the shard that owns its guild.
    async fn interact(&self, member: &Member, action: Action) -> Reply {
        self.wait_for_shard(member.guild_id()).await;
        let reply = self.shared.with(|world| {
            world.meet(member);
            let channel_id = action
                .channel_id
                .unwrap_or_else(|| world.channel_of(member));
            let id = world.snowflake();
            let record = InteractionRecord {
                id,
                token: format!("interaction-token-{id}"),
                kind: action.kind,
                guild_id: member.guild_id(),
                channel_id,
                user: world.user(member.user_id).cloned().unwrap_or_default(),
                command_name: action.command_name,
                sent_at: std::time::Instant::now(),
                callback: None,
                original: None,
                followups: Vec::new(),
                component_message: action
                    .message
                    .as_ref()
                    .and_then(|message| snowflake_field(message, "id")),
                origin: action.origin,
                responses: Vec::new(),
            };
            let payload =
                interactions::payload(world, &record, member, action.data, action.message);
            let reply = Reply {
                shared: self.shared.clone(),
                interaction_id: id,
                token: record.token.clone(),
            };
            world.interactions.insert(id, record);
            let delivered =
                world
                    .sessions
                    .dispatch(member.guild_id(), "INTERACTION_CREATE", payload);
            if let Some(record) = world.interactions.get_mut(&id) {
                record.sent_at = std::time::Instant::now();
            }
            delivered.then_some(reply)
        });
        self.shared.touch();
        reply.expect("a bot shard had a session to receive the interaction")
    }

    async fn wait_for_shard(&self, guild_id: Option<u64>) {
        let found = self
            .shared
            .wait_until(SHARD_WAIT, |world| {
                world.sessions.session_for(guild_id).map(|_| ())
            })
            .await;
        assert!(
            found.is_some(),
            "no bot shard identified for guild {guild_id:?} within {SHARD_WAIT:?}"
        );
    }
}

/// The ids given to user options (type 6), subcommands included.
fn collect_user_options(options: &Value, ids: &mut Vec<u64>) {
    for option in options.as_array().into_iter().flatten() {
        if option["type"] == 6
            && let Some(id) = snowflake_field(option, "value")
        {
            ids.push(id);
        }
        collect_user_options(&option["options"], ids);
    }
}

/// The text inputs of a modal, in order.
fn collect_inputs(components: &Value, inputs: &mut Vec<Value>) {
    for component in components.as_array().into_iter().flatten() {
        if component["type"] == 4 {
            inputs.push(component.clone());
        }
        collect_inputs(&component["components"], inputs);
    }
}
