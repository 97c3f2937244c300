//! The REST API under `/api/v10` (and the unversioned `/api/webhooks/...` Discord hands out as
//! webhook URLs). Every request is recorded and checked, in Discord's order: a known route, the
//! bot token, rate limits, the body against the published OpenAPI spec (400 code 50035 when it
//! does not match), then the route's own rules. Answers are checked against the spec's response
//! schemas too, so the fake cannot drift from what Discord sends.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::Shared;
use super::shapes;
use super::world::{World, snowflake_field};
use super::{channels, interactions};
use crate::server::Call;

/// What the fake answers to one request.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Option<Value>,
    pub headers: Vec<(&'static str, String)>,
}

impl Answer {
    pub fn ok(body: Value) -> Self {
        Self::with_status(StatusCode::OK, Some(body))
    }

    pub fn created(body: Value) -> Self {
        Self::with_status(StatusCode::CREATED, Some(body))
    }

    pub fn no_content() -> Self {
        Self::with_status(StatusCode::NO_CONTENT, None)
    }

    fn with_status(status: StatusCode, body: Option<Value>) -> Self {
        Self {
            status,
            body,
            headers: Vec::new(),
        }
    }

    pub fn error(status: StatusCode, code: u64, message: &str) -> Self {
        Self::with_status(status, Some(shapes::error(code, message)))
    }

    /// Discord's "Invalid Form Body" with the offending field.
    pub fn invalid_form(field: &str, message: &str) -> Self {
        let mut body = shapes::error(50035, "Invalid Form Body");
        body["errors"] = json!({field: {"_errors": [{"code": "INVALID", "message": message}]}});
        Self::with_status(StatusCode::BAD_REQUEST, Some(body))
    }

    pub fn unknown(what: &str, code: u64) -> Self {
        Self::error(StatusCode::NOT_FOUND, code, &format!("Unknown {what}"))
    }

    pub fn error_code(&self) -> Option<u64> {
        self.body.as_ref().and_then(|body| body["code"].as_u64())
    }
}

/// Handlers return `Err` for a refusal so they can use `?` on lookups.
pub(crate) type Outcome = Result<Answer, Answer>;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// One request, as the handlers see it.
pub(crate) struct Rest<'a> {
    pub method: &'a Method,
    /// Path segments after `/api/v10/`.
    pub segments: Vec<&'a str>,
    pub query: Vec<(&'a str, &'a str)>,
    pub body: Option<&'a Value>,
}

impl Rest<'_> {
    pub fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    }

    pub fn body(&self) -> &Value {
        self.body.unwrap_or(&Value::Null)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    bytes: Bytes,
) -> axum::response::Response {
    if shared.with(|world| world.down) {
        shared.with(|world| world.refused_while_down += 1);
        let body = shapes::error(0, "503: Service Unavailable");
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let mut problems = Vec::new();
    let body = parse_body(&headers, &bytes, &mut problems);
    if headers.get(USER_AGENT).is_none() {
        problems.push("no User-Agent header; Discord requires one".to_owned());
    }
    let path = uri.path();
    // Discord hands out webhook URLs without a version; they mean the current one.
    let versioned = match path.strip_prefix("/api/webhooks/") {
        Some(rest) => format!("/api/v10/webhooks/{rest}"),
        None => path.to_owned(),
    };
    let answer = match versioned.strip_prefix("/api/v10/") {
        None => {
            problems.push("the fake speaks Discord API v10 under /api/v10".to_owned());
            Answer::error(StatusCode::NOT_FOUND, 0, "404: Not Found")
        }
        Some(rest) => {
            let request = Rest {
                method: &method,
                segments: rest.trim_end_matches('/').split('/').collect(),
                query: uri
                    .query()
                    .unwrap_or_default()
                    .split('&')
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
                    .collect(),
                body: body.as_ref(),
            };
            let paths = [path, versioned.as_str()];
            shared.with(|world| checked(world, &shared, &headers, paths, &request, &mut problems))
        }
    };
    if answer.status.is_success()
        && let Some(answered) = &answer.body
    {
        let status = answer.status.as_u16();
        let honesty = shared
            .spec
            .check_response(&method, &versioned, status, answered);
        problems.extend(
            honesty
                .into_iter()
                .map(|problem| format!("the fake's own answer is off-spec: {problem}")),
        );
    }
    shared.recorder.record(Call {
        method,
        uri: uri.to_string(),
        headers,
        body: body.unwrap_or(Value::Null),
        problems,
    });
    shared.touch();
    into_response(answer)
}

/// The JSON body, from `application/json` or from the `payload_json` part of a multipart upload.
fn parse_body(headers: &HeaderMap, bytes: &Bytes, problems: &mut Vec<String>) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|rest| rest.split("boundary=").nth(1))
    {
        let text = String::from_utf8_lossy(bytes);
        let boundary = format!("--{}", boundary.trim_matches('"'));
        let payload = text.split(boundary.as_str()).find_map(|part| {
            let (part_headers, content) = part.split_once("\r\n\r\n")?;
            part_headers
                .contains("name=\"payload_json\"")
                .then(|| content.trim_end_matches("\r\n").to_owned())
        });
        return match payload.map(|json| serde_json::from_str(&json)) {
            Some(Ok(value)) => Some(value),
            _ => {
                problems.push("a multipart body without a JSON payload_json part".to_owned());
                None
            }
        };
    }
    if !content_type.starts_with("application/json") {
        problems.push(format!(
            "a body sent as {content_type:?}; Discord takes application/json"
        ));
    }
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            problems.push(format!("the body is not JSON: {error}"));
            Some(Value::String(String::from_utf8_lossy(bytes).into_owned()))
        }
    }
}

fn into_response(answer: Answer) -> axum::response::Response {
    let mut response = match &answer.body {
        Some(body) => (answer.status, axum::Json(body.clone())).into_response(),
        None => answer.status.into_response(),
    };
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    response
}

/// Discord's checks before a route runs, then the route.
/// `paths` is the path as sent and as read under `/api/v10`; they differ for the unversioned
/// webhook URLs, and a rate limit set on either spelling applies.
fn checked(
    world: &mut World,
    shared: &Shared,
    headers: &HeaderMap,
    [sent_path, path]: [&str; 2],
    request: &Rest<'_>,
    problems: &mut Vec<String>,
) -> Answer {
    if shared.spec.operation(request.method, path).is_none() {
        problems.push(format!(
            "Discord has no {} {path} (not in openapi.json)",
            request.method
        ));
        return Answer::error(StatusCode::NOT_FOUND, 0, "404: Not Found");
    }
    let needs_bot = !matches!(
        request.segments.first(),
        Some(&("webhooks" | "interactions"))
    );
    let expected = format!("Bot {}", world.settings.token);
    let authorization = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok());
    if needs_bot && authorization != Some(expected.as_str()) {
        return Answer::error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
    }
    let limited = world
        .take_rate_limit(sent_path)
        .or_else(|| world.take_rate_limit(path));
    if let Some(retry_after) = limited {
        let answer = rate_limited(retry_after);
        interactions::note_refusal(
            world,
            request.method,
            &request.segments,
            request.body(),
            &answer,
        );
        return answer;
    }
    let lenient = request.body.map(|body| {
        let mut body = body.clone();
        snowflakes_as_strings(&mut body, false);
        body
    });
    let body_problems = shared
        .spec
        .check_request(request.method, path, lenient.as_ref());
    if !body_problems.is_empty() {
        let mut answer = Answer::error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
        if let Some(body) = &mut answer.body {
            body["errors"] = json!({"_errors": body_problems
                .iter()
                .map(|problem| json!({"code": "SPEC", "message": problem}))
                .collect::<Vec<_>>()});
        }
        problems.extend(body_problems);
        interactions::note_refusal(
            world,
            request.method,
            &request.segments,
            request.body(),
            &answer,
        );
        return answer;
    }
    let mut answer = route(world, request).unwrap_or_else(|refusal| refusal);
    if answer.status == StatusCode::NOT_IMPLEMENTED {
        problems.push(format!(
            "the fake Discord does not implement {} {path}; extend tests/fakes/src/discord",
            request.method
        ));
    }
    if answer.status.is_success() {
        answer
            .headers
            .extend(bucket_headers(5, 4, Duration::from_secs(1)));
    }
    answer
}

/// Discord reads a snowflake sent as a JSON number as it reads one sent as a string (serenity
/// sends attachment ids as numbers), while the spec lists strings only; id fields are turned
/// into strings before the body is checked, and the pattern still has to match.
fn snowflakes_as_strings(value: &mut Value, ids: bool) {
    match value {
        Value::Number(number) if ids => {
            if let Some(id) = number.as_u64() {
                *value = Value::String(id.to_string());
            }
        }
        Value::Array(items) => {
            for item in items {
                snowflakes_as_strings(item, ids);
            }
        }
        Value::Object(fields) => {
            for (key, field) in fields {
                // Permission bit sets travel as strings (serenity and Discord's own docs), where
                // the OpenAPI file types them as integers.
                if key == "default_member_permissions"
                    && let Some(bits) = field.as_str().and_then(|text| text.parse::<u64>().ok())
                {
                    *field = Value::from(bits);
                    continue;
                }
                let is_id = key == "id"
                    || (key.ends_with("_id") && key != "custom_id")
                    || key.ends_with("_ids")
                    || ((key == "users" || key == "roles") && field.is_array());
                snowflakes_as_strings(field, is_id);
            }
        }
        _ => {}
    }
}

fn bucket_headers(
    limit: u32,
    remaining: u32,
    reset_after: Duration,
) -> Vec<(&'static str, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    vec![
        ("x-ratelimit-limit", limit.to_string()),
        ("x-ratelimit-remaining", remaining.to_string()),
        (
            "x-ratelimit-reset",
            format!("{:.3}", (now + reset_after).as_secs_f64()),
        ),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", reset_after.as_secs_f64()),
        ),
        ("x-ratelimit-bucket", "fakebucket".to_owned()),
    ]
}

/// Discord's 429: the JSON body plus `Retry-After` and the bucket headers.
fn rate_limited(retry_after: Duration) -> Answer {
    let mut answer = Answer::with_status(
        StatusCode::TOO_MANY_REQUESTS,
        Some(json!({
            "message": "You are being rate limited.",
            "retry_after": retry_after.as_secs_f64(),
            "global": false,
        })),
    );
    answer.headers = bucket_headers(5, 0, retry_after);
    answer.headers.push((
        "retry-after",
        retry_after.as_secs_f64().ceil().max(1.0).to_string(),
    ));
    answer
        .headers
        .push(("x-ratelimit-scope", "user".to_owned()));
    answer
}

pub(crate) fn snowflake(text: &str) -> Result<u64, Answer> {
    text.parse()
        .map_err(|_| Answer::invalid_form("id", &format!("Value \"{text}\" is not snowflake.")))
}

fn route(world: &mut World, request: &Rest<'_>) -> Outcome {
    let body = request.body();
    match (request.method.as_str(), request.segments.as_slice()) {
        ("GET", ["gateway"]) => Ok(Answer::ok(json!({"url": world.gateway_url}))),
        ("GET", ["gateway", "bot"]) => Ok(Answer::ok(json!({
            "url": world.gateway_url,
            "shards": world.settings.shards,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 86_400_000, "max_concurrency": 1},
        }))),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => Ok(Answer::ok(
            shapes::application(world.settings.application_id, &world.bot_user()),
        )),
        ("GET", ["users", "@me"]) => Ok(Answer::ok(shapes::current_user(&world.bot_user()))),
        ("GET", ["users", user_id]) => {
            let user_id = snowflake(user_id)?;
            let user = world
                .user(user_id)
                .ok_or_else(|| Answer::unknown("User", 10013))?;
            Ok(Answer::ok(user.clone()))
        }
        ("POST", ["users", "@me", "channels"]) => open_dm(world, body),
        ("GET", ["guilds", guild_id, "members", user_id]) => {
            let guild = world
                .guilds
                .get(&snowflake(guild_id)?)
                .ok_or_else(|| Answer::unknown("Guild", 10004))?;
            let member = guild
                .members
                .get(&snowflake(user_id)?)
                .ok_or_else(|| Answer::unknown("Member", 10007))?;
            Ok(Answer::ok(member.clone()))
        }
        (method, ["applications", app, "commands", rest @ ..]) => {
            check_application(world, app)?;
            commands(world, method, None, rest, body)
        }
        (
            method,
            [
                "applications",
                app,
                "guilds",
                guild_id,
                "commands",
                rest @ ..,
            ],
        ) => {
            check_application(world, app)?;
            let guild_id = snowflake(guild_id)?;
            if !world.guilds.contains_key(&guild_id) {
                return Err(Answer::error(
                    StatusCode::FORBIDDEN,
                    50001,
                    "Missing Access",
                ));
            }
            commands(world, method, Some(guild_id), rest, body)
        }
        ("POST", ["interactions", interaction_id, token, "callback"]) => Ok(
            interactions::callback(world, snowflake(interaction_id)?, token, body),
        ),
        (method, ["webhooks", webhook_id, token, rest @ ..]) => {
            webhooks(world, request, method, snowflake(webhook_id)?, token, rest)
        }
        (method, ["channels", channel_id, rest @ ..]) => {
            channels::route(world, request, method, snowflake(channel_id)?, rest)
        }
        (method, segments) => Err(not_implemented(method, &format!("/{}", segments.join("/")))),
    }
}

pub(crate) fn not_implemented(method: &str, what: &str) -> Answer {
    Answer::error(
        StatusCode::NOT_IMPLEMENTED,
        0,
        &format!("the fake Discord does not implement {method} {what} yet"),
    )
}

fn check_application(world: &World, app: &str) -> Result<(), Answer> {
    if snowflake(app)? == world.settings.application_id {
        Ok(())
    } else {
        Err(Answer::unknown("Application", 10002))
    }
}

fn open_dm(world: &mut World, body: &Value) -> Outcome {
    let recipient = snowflake_field(body, "recipient_id")
        .ok_or_else(|| Answer::invalid_form("recipient_id", "This field is required"))?;
    let channel_id = world
        .dm_channel(recipient)
        .ok_or_else(|| Answer::error(StatusCode::BAD_REQUEST, 50033, "Invalid Recipient(s)"))?;
    let channel = world.channels.get(&channel_id).cloned().unwrap_or_default();
    Ok(Answer::ok(channel))
}

/// Registered application commands, global (`guild_id` None) or a guild's.
fn commands(
    world: &mut World,
    method: &str,
    guild_id: Option<u64>,
    rest: &[&str],
    body: &Value,
) -> Outcome {
    let existing = world.commands.get(&guild_id).cloned().unwrap_or_default();
    match (method, rest) {
        ("GET", []) => Ok(Answer::ok(Value::Array(existing))),
        ("PUT", []) => {
            let requested = body.as_array().cloned().unwrap_or_default();
            let mut seen = Vec::new();
            for command in &requested {
                let key = (command["name"].clone(), command_type(command));
                if seen.contains(&key) {
                    return Err(Answer::invalid_form(
                        "name",
                        &format!("Application command names must be unique: {}", key.0),
                    ));
                }
                seen.push(key);
            }
            let stored: Vec<Value> = requested
                .iter()
                .map(|command| registered_command(world, guild_id, command, &existing))
                .collect();
            world.commands.insert(guild_id, stored.clone());
            Ok(Answer::ok(Value::Array(stored)))
        }
        ("POST", []) => {
            let command = registered_command(world, guild_id, body, &existing);
            let list = world.commands.entry(guild_id).or_default();
            let position = list.iter().position(|old| old["id"] == command["id"]);
            let status = match position {
                Some(index) => {
                    list[index] = command.clone();
                    Answer::ok(command)
                }
                None => {
                    list.push(command.clone());
                    Answer::created(command)
                }
            };
            Ok(status)
        }
        (method, [command_id]) => {
            let list = world.commands.entry(guild_id).or_default();
            let index = list
                .iter()
                .position(|command| command["id"] == *command_id)
                .ok_or_else(|| Answer::unknown("application command", 10063))?;
            match method {
                "GET" => Ok(Answer::ok(list[index].clone())),
                "DELETE" => {
                    list.remove(index);
                    Ok(Answer::no_content())
                }
                "PATCH" => {
                    let mut merged = list[index].clone();
                    for (field, value) in body.as_object().into_iter().flatten() {
                        merged[field] = value.clone();
                    }
                    let command = registered_command(world, guild_id, &merged, &existing);
                    world.commands.entry(guild_id).or_default()[index] = command.clone();
                    Ok(Answer::ok(command))
                }
                _ => Err(not_implemented(method, "on one command")),
            }
        }
        (method, _) => Err(not_implemented(method, "on commands")),
    }
}

fn command_type(command: &Value) -> u64 {
    command["type"].as_u64().unwrap_or(1)
}

/// A command as Discord stores it: its id survives re-registration under the same name and type.
fn registered_command(
    world: &mut World,
    guild_id: Option<u64>,
    command: &Value,
    existing: &[Value],
) -> Value {
    let kind = command_type(command);
    let id = existing
        .iter()
        .find(|old| old["name"] == command["name"] && command_type(old) == kind)
        .map(|old| old["id"].clone())
        .unwrap_or_else(|| json!(world.snowflake().to_string()));
    let permissions = match &command["default_member_permissions"] {
        Value::Number(bits) => json!(bits.to_string()),
        Value::String(bits) => json!(bits),
        _ => Value::Null,
    };
    let mut stored = json!({
        "id": id,
        "application_id": world.settings.application_id.to_string(),
        "version": world.snowflake().to_string(),
        "default_member_permissions": permissions,
        "type": kind,
        "name": command["name"],
        "name_localizations": command.get("name_localizations").cloned().unwrap_or(Value::Null),
        "description": command["description"].as_str().unwrap_or_default(),
        "description_localizations": command.get("description_localizations").cloned().unwrap_or(Value::Null),
        "contexts": command.get("contexts").cloned().unwrap_or(Value::Null),
        "integration_types": command.get("integration_types").filter(|v| !v.is_null()).cloned().unwrap_or(json!([0])),
        "nsfw": command["nsfw"].as_bool().unwrap_or(false),
    });
    match guild_id {
        Some(guild_id) => stored["guild_id"] = json!(guild_id.to_string()),
        None => stored["dm_permission"] = json!(command["dm_permission"].as_bool().unwrap_or(true)),
    }
    if let Some(options) = command["options"]
        .as_array()
        .filter(|options| !options.is_empty())
    {
        stored["options"] = Value::Array(options.iter().map(registered_option).collect());
    }
    stored
}

/// An option as Discord echoes it: without the `null`s a client may send.
fn registered_option(option: &Value) -> Value {
    let mut option = option.clone();
    if let Value::Object(fields) = &mut option {
        fields.retain(|_, value| !value.is_null());
        if let Some(Value::Array(children)) = fields.get_mut("options") {
            *children = children.iter().map(registered_option).collect();
        }
    }
    option
}

/// `/webhooks/{id}/{token}...`: an interaction's followups and edits when the token is an
/// interaction token, otherwise an incoming webhook a test created.
fn webhooks(
    world: &mut World,
    request: &Rest<'_>,
    method: &str,
    webhook_id: u64,
    token: &str,
    rest: &[&str],
) -> Outcome {
    let body = request.body();
    if world.interaction_by_token(token).is_some() {
        if webhook_id != world.settings.application_id {
            return Err(Answer::unknown("Webhook", 10015));
        }
        return match (method, rest) {
            ("POST", []) => Ok(interactions::followup(world, token, body)),
            ("GET", ["messages", target]) => Ok(interactions::get(world, token, target)),
            ("PATCH", ["messages", target]) => Ok(interactions::edit(world, token, target, body)),
            ("DELETE", ["messages", target]) => Ok(interactions::delete(world, token, target)),
            (method, _) => Err(not_implemented(method, "on interaction webhooks")),
        };
    }
    let webhook = world
        .webhooks
        .get(&webhook_id)
        .cloned()
        .ok_or_else(|| Answer::unknown("Webhook", 10015))?;
    if webhook.token != token {
        return Err(Answer::error(
            StatusCode::UNAUTHORIZED,
            50027,
            "Invalid Webhook Token",
        ));
    }
    match (method, rest) {
        ("POST", []) => {
            if interactions::is_empty_message(body) {
                return Err(Answer::error(
                    StatusCode::BAD_REQUEST,
                    50006,
                    "Cannot send an empty message",
                ));
            }
            let channel_id = match request.query("thread_id") {
                Some(thread) => snowflake(thread)?,
                None => webhook.channel_id,
            };
            let name = body["username"].as_str().unwrap_or(&webhook.name);
            let author = shapes::user(webhook.id, name, true);
            let extra = json!({"webhook_id": webhook.id.to_string()});
            let message = world.create_message(channel_id, author, body, extra);
            world
                .webhook_posts
                .entry(webhook.id)
                .or_default()
                .push(body.clone());
            if request.query("wait") == Some("true") {
                Ok(Answer::ok(message))
            } else {
                Ok(Answer::no_content())
            }
        }
        (method, ["messages", message_id]) => {
            let message_id = snowflake(message_id)?;
            let owned = world
                .messages
                .get(&message_id)
                .is_some_and(|message| snowflake_field(message, "webhook_id") == Some(webhook.id));
            if !owned {
                return Err(Answer::unknown("Message", 10008));
            }
            match method {
                "GET" => Ok(Answer::ok(world.messages[&message_id].clone())),
                _ => {
                    channels::edit_or_delete(world, method, message_id, body, "on webhook messages")
                }
            }
        }
        (method, _) => Err(not_implemented(method, "on webhooks")),
    }
}
