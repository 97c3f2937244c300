//! Interactions: who triggers them ([`Member`]), the `INTERACTION_CREATE` payloads the fake
//! sends, the bot's answers (callback, followups, edits) with Discord's rules on them, and what a
//! test reads back ([`Reply`], [`Response`]).
//!
//! Discord's rules enforced here: one callback per interaction, within 3 seconds of the
//! interaction (404 code 10062 after that, 400 code 40060 for a second one); only the callback
//! types the interaction's kind allows; followups and edits only after the callback and within
//! the token's 15 minutes; the first followup after a deferred reply replaces the "thinking"
//! placeholder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::Shared;
use super::rest::Answer;
use super::shapes;
use super::world::{FLAG_EPHEMERAL, FLAG_LOADING, OpenModal, World, snowflake_field};

/// Interaction types, as Discord numbers them.
pub(crate) const APPLICATION_COMMAND: u64 = 2;
pub(crate) const MESSAGE_COMPONENT: u64 = 3;
pub(crate) const AUTOCOMPLETE: u64 = 4;
pub(crate) const MODAL_SUBMIT: u64 = 5;

/// How long [`Reply::wait`] keeps listening once the interaction is answered, for the edits and
/// followups a bot sends right after its first answer.
const SETTLE: Duration = Duration::from_millis(150);

/// A Discord user who triggers interactions: a guild member with roles, or someone in a DM.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: u64,
    pub username: String,
    pub nick: Option<String>,
    /// Role ids; hostdeck maps role ids (never names) to its own roles.
    pub roles: Vec<u64>,
    /// Permission bits Discord computed for the member in the channel.
    pub permissions: u64,
    pub place: Place,
}

/// Where a member types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In a guild channel; without a channel, the guild's first channel (id = guild id).
    Guild {
        guild_id: u64,
        channel_id: Option<u64>,
    },
    /// In the DM between the member and the bot.
    Dm,
}

impl Member {
    /// Someone in a DM with the bot until [`Self::in_guild`] says otherwise.
    pub fn new(user_id: u64, username: &str) -> Self {
        Self {
            user_id,
            username: username.to_owned(),
            nick: None,
            roles: Vec::new(),
            permissions: shapes::ALL_PERMISSIONS,
            place: Place::Dm,
        }
    }

    pub fn roles(mut self, roles: impl IntoIterator<Item = u64>) -> Self {
        self.roles = roles.into_iter().collect();
        self
    }

    pub fn nick(mut self, nick: &str) -> Self {
        self.nick = Some(nick.to_owned());
        self
    }

    pub fn permissions(mut self, permissions: u64) -> Self {
        self.permissions = permissions;
        self
    }

    pub fn in_guild(mut self, guild_id: u64) -> Self {
        self.place = Place::Guild {
            guild_id,
            channel_id: None,
        };
        self
    }

    /// Types in `channel_id` (a text channel or thread) of the guild given by [`Self::in_guild`].
    pub fn in_channel(mut self, channel_id: u64) -> Self {
        match &mut self.place {
            Place::Guild {
                channel_id: channel,
                ..
            } => *channel = Some(channel_id),
            Place::Dm => panic!(
                "{} is in a DM: call in_guild before in_channel",
                self.username
            ),
        }
        self
    }

    pub fn dm(mut self) -> Self {
        self.place = Place::Dm;
        self
    }

    pub fn guild_id(&self) -> Option<u64> {
        match self.place {
            Place::Guild { guild_id, .. } => Some(guild_id),
            Place::Dm => None,
        }
    }
}

/// What the bot did in answer to one interaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// `POST /interactions/{id}/{token}/callback` with this callback type (4 message, 5 deferred
    /// message, 6 deferred update, 7 update, 8 autocomplete, 9 modal).
    Callback(u64),
    /// `POST /webhooks/{app}/{token}`.
    Followup,
    /// `PATCH /webhooks/{app}/{token}/messages/@original`.
    EditOriginal,
    /// `PATCH /webhooks/{app}/{token}/messages/{id}`.
    EditMessage(u64),
    /// `DELETE /webhooks/{app}/{token}/messages/@original` or `/{id}`.
    Delete,
}

/// One answer of the bot to an interaction, and how the fake took it.
#[derive(Debug, Clone)]
pub struct Response {
    pub kind: ResponseKind,
    /// The JSON body the bot sent.
    pub body: Value,
    /// The HTTP status the fake answered; 2xx means Discord would have accepted it.
    pub status: u16,
    /// Discord's error code when refused (10062 too late, 40060 acknowledged twice, ...).
    pub error_code: Option<u64>,
    /// Time from `INTERACTION_CREATE` to this answer.
    pub after: Duration,
    /// The message as it stands after this answer, when the answer made or changed one.
    pub message: Option<Value>,
}

impl Response {
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The callback type, for a callback.
    pub fn callback_type(&self) -> Option<u64> {
        match self.kind {
            ResponseKind::Callback(kind) => Some(kind),
            _ => None,
        }
    }

    /// The message content the bot sent (in a callback's `data` or a followup/edit body).
    pub fn content(&self) -> Option<&str> {
        self.payload()["content"].as_str()
    }

    pub fn embeds(&self) -> Vec<Value> {
        self.payload()["embeds"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn ephemeral(&self) -> bool {
        self.payload()["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL != 0
    }

    /// Every `custom_id` among the components the bot sent (buttons, selects, modal inputs).
    pub fn custom_ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        collect_custom_ids(&self.payload()["components"], &mut ids);
        ids
    }

    /// The choices of an autocomplete answer (a type-8 callback); none for any other answer.
    pub fn choices(&self) -> Vec<Value> {
        if self.callback_type() != Some(8) {
            return Vec::new();
        }
        self.payload()["choices"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The `custom_id` of the modal a type-9 callback opened.
    pub fn modal_custom_id(&self) -> Option<&str> {
        (self.callback_type() == Some(9))
            .then(|| self.payload()["custom_id"].as_str())
            .flatten()
    }

    /// The part of the body that describes the message: `data` for callbacks, the body itself
    /// for followups and edits.
    pub fn payload(&self) -> &Value {
        match self.kind {
            ResponseKind::Callback(_) => &self.body["data"],
            _ => &self.body,
        }
    }
}

fn collect_custom_ids(components: &Value, ids: &mut Vec<String>) {
    for component in components.as_array().into_iter().flatten() {
        if let Some(id) = component["custom_id"].as_str() {
            ids.push(id.to_owned());
        }
        collect_custom_ids(&component["components"], ids);
    }
}

/// An interaction the fake sent, and everything the bot answered to it.
#[derive(Debug, Clone)]
pub(crate) struct InteractionRecord {
    pub id: u64,
    pub token: String,
    pub kind: u64,
    pub guild_id: Option<u64>,
    pub channel_id: u64,
    pub user: Value,
    pub command_name: Option<String>,
    pub sent_at: Instant,
    /// The type of the accepted callback.
    pub callback: Option<u64>,
    /// The message `@original` names: the reply, or the message a component sits on.
    pub original: Option<u64>,
    pub followups: Vec<u64>,
    /// The message whose component was used, or from which a modal was opened.
    pub component_message: Option<u64>,
    /// For a modal submit, the interaction that opened the modal.
    pub origin: Option<u64>,
    pub responses: Vec<Response>,
}

/// What a member does, before the fake makes an interaction of it.
pub(crate) struct Action {
    pub kind: u64,
    pub data: Value,
    /// The message a component sits on (or the modal was opened from).
    pub message: Option<Value>,
    pub command_name: Option<String>,
    /// Where it happens, when not where the member is.
    pub channel_id: Option<u64>,
    pub origin: Option<u64>,
}

impl Action {
    pub fn new(kind: u64, data: Value) -> Self {
        Self {
            kind,
            data,
            message: None,
            command_name: None,
            channel_id: None,
            origin: None,
        }
    }
}

/// Who authorized the app for an interaction: the guild, or "0" in a DM with the bot.
fn integration_owners(guild_id: Option<u64>) -> Value {
    json!({"0": guild_id.map_or_else(|| "0".to_owned(), |guild_id| guild_id.to_string())})
}

/// The `interaction_metadata` Discord puts on messages that answer `record`.
fn metadata(world: &World, record: &InteractionRecord) -> Value {
    let mut metadata = json!({
        "id": record.id.to_string(),
        "type": record.kind,
        "user": record.user,
        "authorizing_integration_owners": integration_owners(record.guild_id),
    });
    if record.kind == MESSAGE_COMPONENT
        && let Some(message_id) = record.component_message
    {
        metadata["interacted_message_id"] = json!(message_id.to_string());
    }
    if record.kind == MODAL_SUBMIT
        && let Some(origin) = record.origin.and_then(|id| world.interactions.get(&id))
    {
        metadata["triggering_interaction_metadata"] = self::metadata(world, origin);
    }
    metadata
}

impl InteractionRecord {
    fn respond(
        &mut self,
        kind: ResponseKind,
        body: &Value,
        answer: &Answer,
        message: Option<Value>,
    ) {
        self.responses.push(Response {
            kind,
            body: body.clone(),
            status: answer.status.as_u16(),
            error_code: answer.error_code(),
            after: Instant::now().saturating_duration_since(self.sent_at),
            message,
        });
    }
}

/// Whether the interaction has a visible answer: a refusal ends it too, since the bot's user
/// would see "the application did not respond".
fn answered(responses: &[Response]) -> bool {
    let mut deferred = false;
    for response in responses {
        if !response.accepted() {
            return true;
        }
        match response.kind {
            ResponseKind::Callback(5) => deferred = true,
            ResponseKind::Callback(_) => return true,
            _ if deferred => return true,
            _ => {}
        }
    }
    false
}

/// A handle on one interaction the fake sent: the bot's answers to it, in order.
#[derive(Clone)]
pub struct Reply {
    pub(crate) shared: Arc<Shared>,
    pub(crate) interaction_id: u64,
    pub(crate) token: String,
}

impl Reply {
    pub fn interaction_id(&self) -> u64 {
        self.interaction_id
    }

    /// The interaction token, for calling Discord's interaction endpoints directly.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every answer so far, oldest first.
    pub fn responses(&self) -> Vec<Response> {
        self.shared.with(|world| {
            world
                .interactions
                .get(&self.interaction_id)
                .map(|record| record.responses.clone())
                .unwrap_or_default()
        })
    }

    /// Waits until the interaction is answered (a message, an update, a modal, autocomplete
    /// choices, or a deferral followed by a followup or edit, or a refusal), then a moment more
    /// for answers sent right after; returns them all. Panics when nothing answers in time.
    pub async fn wait(&self, timeout: Duration) -> Vec<Response> {
        let id = self.interaction_id;
        let done = self
            .shared
            .wait_until(timeout, |world| {
                world
                    .interactions
                    .get(&id)
                    .is_some_and(|record| answered(&record.responses))
                    .then_some(())
            })
            .await;
        if done.is_none() {
            panic!(
                "the bot did not answer interaction {id} within {timeout:?}; it sent: {:#?}",
                self.responses()
            );
        }
        self.settle().await;
        self.responses()
    }

    /// Waits for `count` answers; panics with what came when fewer come in time.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Response> {
        let id = self.interaction_id;
        let done = self
            .shared
            .wait_until(timeout, |world| {
                let record = world.interactions.get(&id)?;
                (record.responses.len() >= count).then_some(())
            })
            .await;
        if done.is_none() {
            panic!(
                "expected {count} answers to interaction {id} within {timeout:?}, got: {:#?}",
                self.responses()
            );
        }
        self.responses()
    }

    /// Time from `INTERACTION_CREATE` to the accepted callback.
    pub fn callback_latency(&self) -> Option<Duration> {
        self.responses()
            .iter()
            .find(|response| response.callback_type().is_some() && response.accepted())
            .map(|response| response.after)
    }

    /// The message `@original` names now (the reply, or the message a clicked component is on).
    pub fn original_message(&self) -> Option<Value> {
        self.shared.with(|world| {
            let record = world.interactions.get(&self.interaction_id)?;
            world.messages.get(&record.original?).cloned()
        })
    }

    async fn settle(&self) {
        loop {
            let seen = self.responses().len();
            let id = self.interaction_id;
            let more = self
                .shared
                .wait_until(SETTLE, |world| {
                    let record = world.interactions.get(&id)?;
                    (record.responses.len() > seen).then_some(())
                })
                .await;
            if more.is_none() {
                return;
            }
        }
    }
}

/// The `INTERACTION_CREATE` payload for `record`, triggered by `member`.
pub(crate) fn payload(
    world: &World,
    record: &InteractionRecord,
    member: &Member,
    data: Value,
    message: Option<Value>,
) -> Value {
    let channel = world
        .channels
        .get(&record.channel_id)
        .cloned()
        .unwrap_or(Value::Null);
    let mut partial_channel = json!({"id": record.channel_id.to_string(), "type": channel["type"]});
    for field in ["name", "parent_id", "thread_metadata", "guild_id"] {
        if let Some(value) = channel.get(field).filter(|value| !value.is_null()) {
            partial_channel[field] = value.clone();
        }
    }
    let mut payload = json!({
        "id": record.id.to_string(),
        "application_id": world.settings.application_id.to_string(),
        "type": record.kind,
        "token": record.token,
        "version": 1,
        "channel_id": record.channel_id.to_string(),
        "channel": partial_channel,
        "app_permissions": shapes::ALL_PERMISSIONS.to_string(),
        "locale": "en-US",
        "entitlements": [],
        "attachment_size_limit": 26_214_400,
        "data": data,
    });
    match member.guild_id() {
        Some(guild_id) => {
            let mut guild_member = shapes::member(member, guild_id);
            guild_member["permissions"] = json!(member.permissions.to_string());
            payload["guild_id"] = json!(guild_id.to_string());
            payload["guild_locale"] = json!("en-US");
            payload["member"] = guild_member;
            payload["authorizing_integration_owners"] = integration_owners(Some(guild_id));
            payload["context"] = json!(0);
        }
        None => {
            payload["user"] = record.user.clone();
            payload["authorizing_integration_owners"] = integration_owners(None);
            payload["context"] = json!(1);
        }
    }
    if let Some(message) = message {
        payload["message"] = message;
    }
    payload
}

/// Checks `options` as a member would type them against what the bot registered, so a test
/// cannot send an option Discord's client would never let through. While a member is still
/// typing (`partial`, for autocomplete) required options may be missing.
pub(crate) fn check_options(command: &str, registered: &Value, options: &Value, partial: bool) {
    let empty = Vec::new();
    let known = registered["options"].as_array().unwrap_or(&empty);
    let given = options.as_array().unwrap_or(&empty);
    for option in given {
        let name = option["name"].as_str().unwrap_or_default();
        let Some(definition) = known.iter().find(|known| known["name"] == name) else {
            panic!(
                "/{command} has no option {name:?}; it registered {:?}",
                known.iter().map(|k| &k["name"]).collect::<Vec<_>>()
            );
        };
        if definition["type"] != option["type"] {
            panic!(
                "/{command} option {name:?} has type {}, the test sent type {}",
                definition["type"], option["type"]
            );
        }
        if matches!(option["type"].as_u64(), Some(1 | 2)) {
            check_options(
                &format!("{command} {name}"),
                definition,
                &option["options"],
                partial,
            );
        }
    }
    let is_group = given
        .iter()
        .any(|option| matches!(option["type"].as_u64(), Some(1 | 2)));
    if !is_group && !partial {
        for definition in known {
            let required = definition["required"].as_bool() == Some(true);
            if required
                && !given
                    .iter()
                    .any(|option| option["name"] == definition["name"])
            {
                panic!(
                    "/{command} requires option {}; the test did not send it",
                    definition["name"]
                );
            }
        }
    }
}

/// Finds the component with `custom_id` in a message's components.
pub(crate) fn find_component<'a>(components: &'a Value, custom_id: &str) -> Option<&'a Value> {
    components.as_array()?.iter().find_map(|component| {
        if component["custom_id"] == custom_id {
            Some(component)
        } else {
            find_component(&component["components"], custom_id)
        }
    })
}

fn allowed_callbacks(kind: u64, from_message: bool) -> &'static [u64] {
    match (kind, from_message) {
        (APPLICATION_COMMAND, _) => &[4, 5, 9],
        (MESSAGE_COMPONENT, _) => &[4, 5, 6, 7, 9],
        (AUTOCOMPLETE, _) => &[8],
        (MODAL_SUBMIT, true) => &[4, 5, 6, 7],
        (MODAL_SUBMIT, false) => &[4, 5, 6],
        _ => &[],
    }
}

/// `POST /interactions/{id}/{token}/callback`.
pub(crate) fn callback(
    world: &mut World,
    interaction_id: u64,
    token: &str,
    body: &Value,
) -> Answer {
    let deadline = world.settings.callback_deadline;
    let Some(record) = world
        .interactions
        .get(&interaction_id)
        .filter(|record| record.token == token)
        .cloned()
    else {
        return Answer::error(StatusCode::NOT_FOUND, 10062, "Unknown interaction");
    };
    let kind = body["type"].as_u64().unwrap_or(0);
    let elapsed = Instant::now().saturating_duration_since(record.sent_at);
    let refusal = if elapsed > deadline {
        Some(Answer::error(
            StatusCode::NOT_FOUND,
            10062,
            "Unknown interaction",
        ))
    } else if record.callback.is_some() {
        Some(Answer::error(
            StatusCode::BAD_REQUEST,
            40060,
            "Interaction has already been acknowledged.",
        ))
    } else if !allowed_callbacks(record.kind, record.component_message.is_some()).contains(&kind) {
        Some(Answer::invalid_form(
            "type",
            &format!(
                "callback type {kind} is not allowed for an interaction of type {}",
                record.kind
            ),
        ))
    } else {
        None
    };
    if let Some(answer) = refusal {
        if let Some(record) = world.interactions.get_mut(&interaction_id) {
            record.respond(ResponseKind::Callback(kind), body, &answer, None);
        }
        return answer;
    }

    let data = &body["data"];
    let bot = world.bot_user();
    let mut original = record.original;
    let message = match kind {
        4 | 5 => {
            let mut extra = interaction_message_fields(world, &record);
            if kind == 5 {
                let ephemeral = data["flags"].as_u64().unwrap_or(0) & FLAG_EPHEMERAL;
                extra["flags"] = json!(FLAG_LOADING | ephemeral);
            }
            let message = world.create_message(record.channel_id, bot, data, extra);
            original = snowflake_field(&message, "id");
            Some(message)
        }
        6 => {
            original = record.component_message;
            None
        }
        7 => {
            original = record.component_message;
            record
                .component_message
                .and_then(|id| world.edit_message(id, data))
        }
        9 => {
            world.modals.push(OpenModal {
                interaction_id,
                data: data.clone(),
                submitted: false,
            });
            None
        }
        _ => None,
    };
    let answer = Answer::no_content();
    world.callback_latencies.push(elapsed);
    if let Some(stored) = world.interactions.get_mut(&interaction_id) {
        stored.callback = Some(kind);
        stored.original = original;
        stored.respond(ResponseKind::Callback(kind), body, &answer, message);
    }
    answer
}

/// Fields Discord adds to a message made by answering an interaction.
fn interaction_message_fields(world: &World, record: &InteractionRecord) -> Value {
    let application_id = world.settings.application_id.to_string();
    let metadata = metadata(world, record);
    let mut fields = json!({
        "type": if record.kind == APPLICATION_COMMAND { 20 } else { 0 },
        "application_id": application_id,
        "webhook_id": application_id,
        "interaction_metadata": metadata,
    });
    if let Some(name) = &record.command_name {
        fields["interaction"] = json!({
            "id": record.id.to_string(),
            "type": record.kind,
            "name": name,
            "user": record.user,
        });
    }
    fields
}

/// The interaction a followup or edit names by its token, if the token still serves.
fn usable_interaction(world: &World, token: &str) -> Result<InteractionRecord, Answer> {
    let record = world
        .interaction_by_token(token)
        .cloned()
        .ok_or_else(|| Answer::error(StatusCode::NOT_FOUND, 10015, "Unknown Webhook"))?;
    if Instant::now().saturating_duration_since(record.sent_at) > world.settings.token_lifetime {
        return Err(Answer::error(
            StatusCode::UNAUTHORIZED,
            50027,
            "Invalid Webhook Token",
        ));
    }
    if record.callback.is_none() {
        // Until the interaction is acknowledged its webhook does not exist.
        return Err(Answer::error(
            StatusCode::NOT_FOUND,
            10015,
            "Unknown Webhook",
        ));
    }
    Ok(record)
}

fn refuse(
    world: &mut World,
    token: &str,
    kind: ResponseKind,
    body: &Value,
    answer: Answer,
) -> Answer {
    if let Some(record) = world.interaction_by_token_mut(token) {
        record.respond(kind, body, &answer, None);
    }
    answer
}

/// `POST /webhooks/{application}/{token}`: a followup message.
pub(crate) fn followup(world: &mut World, token: &str, body: &Value) -> Answer {
    let kind = ResponseKind::Followup;
    let record = match usable_interaction(world, token) {
        Ok(record) => record,
        Err(answer) => return refuse(world, token, kind, body, answer),
    };
    if is_empty_message(body) {
        let answer = Answer::error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        );
        return refuse(world, token, kind, body, answer);
    }
    let placeholder = record.original.filter(|id| {
        record.callback == Some(5)
            && world
                .messages
                .get(id)
                .and_then(|message| message["flags"].as_u64())
                .is_some_and(|flags| flags & FLAG_LOADING != 0)
    });
    let message = match placeholder {
        Some(id) => world.edit_message(id, body),
        None => {
            let bot = world.bot_user();
            let extra = interaction_message_fields(world, &record);
            Some(world.create_message(record.channel_id, bot, body, extra))
        }
    };
    let Some(message) = message else {
        let answer = Answer::error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
        return refuse(world, token, kind, body, answer);
    };
    let answer = Answer::ok(message.clone());
    if let Some(stored) = world.interaction_by_token_mut(token) {
        if let Some(id) = snowflake_field(&message, "id").filter(|_| placeholder.is_none()) {
            stored.followups.push(id);
        }
        stored.respond(kind, body, &answer, Some(message));
    }
    answer
}

/// Which message of an interaction `@original` or an id names, if it is one of its messages.
fn interaction_message(record: &InteractionRecord, target: &str) -> Option<u64> {
    if target == "@original" {
        return record.original;
    }
    let id: u64 = target.parse().ok()?;
    (record.original == Some(id) || record.followups.contains(&id)).then_some(id)
}

fn edit_kind(target: &str) -> ResponseKind {
    match target {
        "@original" => ResponseKind::EditOriginal,
        id => ResponseKind::EditMessage(id.parse().unwrap_or(0)),
    }
}

/// Records on its interaction a request refused before its route ran (a rate limit, a body off
/// the spec), so the test's [`Reply`] sees the refusal.
pub(crate) fn note_refusal(
    world: &mut World,
    method: &Method,
    segments: &[&str],
    body: &Value,
    answer: &Answer,
) {
    let (token, kind) = match (method.as_str(), segments) {
        ("POST", ["interactions", _, token, "callback"]) => (
            *token,
            ResponseKind::Callback(body["type"].as_u64().unwrap_or(0)),
        ),
        ("POST", ["webhooks", _, token]) => (*token, ResponseKind::Followup),
        ("PATCH", ["webhooks", _, token, "messages", target]) => (*token, edit_kind(target)),
        ("DELETE", ["webhooks", _, token, "messages", _]) => (*token, ResponseKind::Delete),
        _ => return,
    };
    if let Some(record) = world.interaction_by_token_mut(token) {
        record.respond(kind, body, answer, None);
    }
}

/// `PATCH /webhooks/{application}/{token}/messages/{@original | id}`.
pub(crate) fn edit(world: &mut World, token: &str, target: &str, body: &Value) -> Answer {
    let kind = edit_kind(target);
    let record = match usable_interaction(world, token) {
        Ok(record) => record,
        Err(answer) => return refuse(world, token, kind, body, answer),
    };
    let edited = interaction_message(&record, target).and_then(|id| world.edit_message(id, body));
    let Some(message) = edited else {
        let answer = Answer::error(StatusCode::NOT_FOUND, 10008, "Unknown Message");
        return refuse(world, token, kind, body, answer);
    };
    let answer = Answer::ok(message.clone());
    if let Some(stored) = world.interaction_by_token_mut(token) {
        stored.respond(kind, body, &answer, Some(message));
    }
    answer
}

/// `GET /webhooks/{application}/{token}/messages/{@original | id}`.
pub(crate) fn get(world: &World, token: &str, target: &str) -> Answer {
    let record = match usable_interaction(world, token) {
        Ok(record) => record,
        Err(answer) => return answer,
    };
    match interaction_message(&record, target).and_then(|id| world.messages.get(&id)) {
        Some(message) => Answer::ok(message.clone()),
        None => Answer::error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    }
}

/// `DELETE /webhooks/{application}/{token}/messages/{@original | id}`.
pub(crate) fn delete(world: &mut World, token: &str, target: &str) -> Answer {
    let kind = ResponseKind::Delete;
    let record = match usable_interaction(world, token) {
        Ok(record) => record,
        Err(answer) => return refuse(world, token, kind, &Value::Null, answer),
    };
    let removed = interaction_message(&record, target).and_then(|id| world.delete_message(id));
    let answer = match removed {
        Some(_) => Answer::no_content(),
        None => Answer::error(StatusCode::NOT_FOUND, 10008, "Unknown Message"),
    };
    if let Some(stored) = world.interaction_by_token_mut(token) {
        stored.respond(kind, &json!({"message": target}), &answer, None);
    }
    answer
}

/// Discord refuses a message with nothing to show.
pub(crate) fn is_empty_message(body: &Value) -> bool {
    let has = |field: &str| match &body[field] {
        Value::String(text) => !text.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Null => false,
        _ => true,
    };
    ![
        "content",
        "embeds",
        "components",
        "attachments",
        "sticker_ids",
        "poll",
        "files",
    ]
    .iter()
    .any(|field| has(field))
}
