//! The channel routes (`/channels/{id}/...`): messages (send, read, page, edit, delete, pins),
//! threads (start, edit, archive, delete) and their members, with Discord's rules on each:
//! a bot post into an archived thread is refused until the bot unarchives it, a locked thread
//! takes no new members, `limit` is 1..=100, and ids are compared as numbers.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::interactions;
use super::rest::{Answer, Outcome, Rest, not_implemented, snowflake};
use super::shapes::{self, NewThread};
use super::world::{NONCE_WINDOW, World, snowflake_field};

fn is_thread(channel: &Value) -> bool {
    matches!(channel["type"].as_u64(), Some(10..=12))
}

pub(crate) fn route(
    world: &mut World,
    request: &Rest<'_>,
    method: &str,
    channel_id: u64,
    rest: &[&str],
) -> Outcome {
    let body = request.body();
    let channel = world
        .channels
        .get(&channel_id)
        .cloned()
        .ok_or_else(|| Answer::unknown("Channel", 10003))?;
    match (method, rest) {
        ("GET", []) => Ok(Answer::ok(channel)),
        ("PATCH", []) => Ok(Answer::ok(edit_channel(world, channel_id, channel, body))),
        ("DELETE", []) if is_thread(&channel) => {
            world.delete_thread(channel_id);
            Ok(Answer::ok(channel))
        }
        ("POST", ["messages"]) => send_message(world, channel_id, &channel, body),
        ("GET", ["messages"]) => read_messages(world, request, channel_id),
        ("GET", ["pins"]) => Ok(Answer::ok(Value::Array(pinned(world, channel_id)))),
        ("GET", ["messages", "pins"]) => {
            let items: Vec<Value> = pinned(world, channel_id)
                .into_iter()
                .map(|message| json!({"pinned_at": message["timestamp"], "message": message}))
                .collect();
            Ok(Answer::ok(json!({"items": items, "has_more": false})))
        }
        (method @ ("PUT" | "DELETE"), ["pins", message_id] | ["messages", "pins", message_id]) => {
            let message_id = channel_message(world, channel_id, message_id)?;
            if let Some(message) = world.messages.get_mut(&message_id) {
                message["pinned"] = json!(method == "PUT");
            }
            Ok(Answer::no_content())
        }
        (method, ["messages", message_id]) => {
            let message_id = channel_message(world, channel_id, message_id)?;
            let by_bot = snowflake_field(&world.messages[&message_id]["author"], "id")
                == Some(world.settings.application_id);
            match method {
                "GET" => Ok(Answer::ok(world.messages[&message_id].clone())),
                "PATCH" if !by_bot => Err(Answer::error(
                    StatusCode::FORBIDDEN,
                    50005,
                    "Cannot edit a message authored by another user",
                )),
                _ => edit_or_delete(world, method, message_id, body, "on messages"),
            }
        }
        ("POST", ["threads"]) => {
            let kind = body["type"].as_u64().unwrap_or(12);
            start_thread(world, &channel, None, kind, body)
        }
        ("POST", ["messages", message_id, "threads"]) => {
            let message_id = channel_message(world, channel_id, message_id)?;
            if world.channels.contains_key(&message_id) {
                return Err(Answer::error(
                    StatusCode::BAD_REQUEST,
                    160004,
                    "A thread has already been created for this message",
                ));
            }
            start_thread(world, &channel, Some(message_id), 11, body)
        }
        ("GET", ["thread-members"]) => {
            let members = world
                .thread_members
                .get(&channel_id)
                .cloned()
                .unwrap_or_default();
            let list = members
                .iter()
                .map(|user_id| shapes::thread_member(channel_id, *user_id))
                .collect();
            Ok(Answer::ok(Value::Array(list)))
        }
        (method, ["thread-members", user]) => {
            if !is_thread(&channel) {
                return Err(Answer::error(
                    StatusCode::BAD_REQUEST,
                    50024,
                    "Cannot execute action on this channel type",
                ));
            }
            let user_id = match *user {
                "@me" => world.settings.application_id,
                other => snowflake(other)?,
            };
            thread_member(world, method, channel_id, &channel, user_id)
        }
        (method, _) => Err(not_implemented(method, "on this channel route")),
    }
}

/// `GET /channels/{id}/messages`: Discord answers newest first whatever the query; `after`
/// gives the `limit` messages right after that id, `before` the `limit` right before it.
/// Ids are compared as numbers (a longer id is a later one).
fn read_messages(world: &World, request: &Rest<'_>, channel_id: u64) -> Outcome {
    let limit = match request.query("limit") {
        None => 50,
        Some(text) => match text.parse::<usize>() {
            Ok(limit @ 1..=100) => limit,
            Ok(0) => {
                return Err(Answer::invalid_form(
                    "limit",
                    "int value should be greater than or equal to 1.",
                ));
            }
            Ok(_) => {
                return Err(Answer::invalid_form(
                    "limit",
                    "int value should be less than or equal to 100.",
                ));
            }
            Err(_) => return Err(Answer::invalid_form("limit", "Value is not int.")),
        },
    };
    let bound = |key: &str| request.query(key).map(snowflake).transpose();
    let (after, before) = (bound("after")?, bound("before")?);
    if request.query("around").is_some() {
        return Err(not_implemented("GET", "messages?around="));
    }
    let mut messages: Vec<Value> = world
        .messages_in(channel_id)
        .into_iter()
        .filter(|message| {
            let id = snowflake_field(message, "id").unwrap_or_default();
            after.is_none_or(|after| id > after) && before.is_none_or(|before| id < before)
        })
        .collect();
    if after.is_some() && before.is_none() {
        messages.truncate(limit);
        messages.reverse();
    } else {
        messages.reverse();
        messages.truncate(limit);
    }
    Ok(Answer::ok(Value::Array(messages)))
}

/// PATCH or DELETE of a message the caller may change (the bot's own, or a webhook's).
pub(crate) fn edit_or_delete(
    world: &mut World,
    method: &str,
    message_id: u64,
    body: &Value,
    what: &str,
) -> Outcome {
    match method {
        "PATCH" => world
            .edit_message(message_id, body)
            .map(Answer::ok)
            .ok_or_else(|| Answer::unknown("Message", 10008)),
        "DELETE" => {
            world.delete_message(message_id);
            Ok(Answer::no_content())
        }
        _ => Err(not_implemented(method, what)),
    }
}

fn pinned(world: &World, channel_id: u64) -> Vec<Value> {
    world
        .messages_in(channel_id)
        .into_iter()
        .filter(|message| message["pinned"] == true)
        .collect()
}

fn channel_message(world: &World, channel_id: u64, message_id: &str) -> Result<u64, Answer> {
    let message_id = snowflake(message_id)?;
    world
        .messages
        .get(&message_id)
        .filter(|message| snowflake_field(message, "channel_id") == Some(channel_id))
        .map(|_| message_id)
        .ok_or_else(|| Answer::unknown("Message", 10008))
}

fn send_message(world: &mut World, channel_id: u64, channel: &Value, body: &Value) -> Outcome {
    if interactions::is_empty_message(body) {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            50006,
            "Cannot send an empty message",
        ));
    }
    if channel["type"] == 1 {
        let recipient = snowflake_field(&channel["recipients"][0], "id");
        if recipient.is_some_and(|user| world.closed_dms.contains(&user)) {
            return Err(Answer::error(
                StatusCode::FORBIDDEN,
                50007,
                "Cannot send messages to this user",
            ));
        }
    }
    // A member's message unarchives a thread; the bot must unarchive it (PATCH) first.
    if is_thread(channel) && channel["thread_metadata"]["archived"] == true {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            50083,
            "Thread is archived",
        ));
    }
    let bot = world.bot_user();
    // `enforce_nonce`: the same author's message with the same nonce in the past few minutes is
    // returned instead of a new one (how a client that lost an answer retries safely).
    let nonce = match &body["nonce"] {
        Value::String(nonce) => Some(nonce.clone()),
        Value::Number(nonce) => Some(nonce.to_string()),
        _ => None,
    };
    let key = nonce
        .filter(|_| body["enforce_nonce"] == true)
        .map(|nonce| (channel_id, world.settings.application_id, nonce));
    if let Some(key) = &key
        && let Some((id, at)) = world.nonces.get(key)
        && at.elapsed() < NONCE_WINDOW
        && let Some(message) = world.messages.get(id)
    {
        let mut message = message.clone();
        message["nonce"] = body["nonce"].clone();
        return Ok(Answer::ok(message));
    }
    let mut message = world.create_message(channel_id, bot, body, json!({}));
    if let Some(key) = key {
        let id = snowflake_field(&message, "id").unwrap_or_default();
        world.nonces.insert(key, (id, std::time::Instant::now()));
    }
    if !body["nonce"].is_null() {
        message["nonce"] = body["nonce"].clone();
    }
    Ok(Answer::ok(message))
}

fn edit_channel(world: &mut World, channel_id: u64, mut channel: Value, body: &Value) -> Value {
    let thread_fields = ["archived", "locked", "auto_archive_duration", "invitable"];
    for (field, value) in body.as_object().into_iter().flatten() {
        if value.is_null() {
            continue;
        }
        if is_thread(&channel) && thread_fields.contains(&field.as_str()) {
            if field == "archived" && channel["thread_metadata"]["archived"] != *value {
                channel["thread_metadata"]["archive_timestamp"] = json!(shapes::now());
            }
            channel["thread_metadata"][field] = value.clone();
        } else if channel.get(field).is_some()
            || ["topic", "nsfw", "applied_tags"].contains(&field.as_str())
        {
            channel[field] = value.clone();
        }
    }
    world.channels.insert(channel_id, channel.clone());
    if is_thread(&channel) {
        world.announce_thread("THREAD_UPDATE", channel.clone());
    }
    channel
}

fn start_thread(
    world: &mut World,
    parent: &Value,
    from_message: Option<u64>,
    kind: u64,
    body: &Value,
) -> Outcome {
    let (Some(guild_id), Some(parent_id)) = (
        snowflake_field(parent, "guild_id"),
        snowflake_field(parent, "id"),
    ) else {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        ));
    };
    if is_thread(parent) {
        return Err(Answer::error(
            StatusCode::BAD_REQUEST,
            50024,
            "Cannot execute action on this channel type",
        ));
    }
    // A thread started from a message takes the message's id, as on Discord.
    let id = match from_message {
        Some(message_id) => message_id,
        None => world.snowflake(),
    };
    let owner = world.settings.application_id;
    let thread = shapes::thread(NewThread {
        id,
        kind,
        guild_id,
        parent_id,
        owner_id: owner,
        name: body["name"].as_str().unwrap_or_default(),
        auto_archive_duration: body["auto_archive_duration"].as_u64().unwrap_or(4320),
        invitable: body["invitable"].as_bool().unwrap_or(true),
    });
    world.channels.insert(id, thread.clone());
    world.thread_members.insert(id, vec![owner]);
    let mut answer = thread;
    answer["member"] = shapes::thread_member(id, owner);
    let mut event = answer.clone();
    event["newly_created"] = json!(true);
    world.announce_thread("THREAD_CREATE", event);
    Ok(Answer::created(answer))
}

fn thread_member(
    world: &mut World,
    method: &str,
    thread_id: u64,
    thread: &Value,
    user_id: u64,
) -> Outcome {
    let is_member = world
        .thread_members
        .get(&thread_id)
        .is_some_and(|members| members.contains(&user_id));
    match method {
        "GET" => is_member
            .then(|| Answer::ok(shapes::thread_member(thread_id, user_id)))
            .ok_or_else(|| Answer::unknown("Member", 10007)),
        "PUT" | "DELETE" => {
            if method == "PUT" && thread["thread_metadata"]["archived"] == true {
                return Err(Answer::error(
                    StatusCode::BAD_REQUEST,
                    50083,
                    "Thread is archived",
                ));
            }
            if !world.users.contains_key(&user_id) {
                return Err(Answer::unknown("User", 10013));
            }
            let members = world.thread_members.entry(thread_id).or_default();
            members.retain(|member| *member != user_id);
            if method == "PUT" {
                members.push(user_id);
            }
            let count = members.len();
            if let Some(stored) = world.channels.get_mut(&thread_id) {
                stored["member_count"] = json!(count);
            }
            Ok(Answer::no_content())
        }
        _ => Err(not_implemented(method, "on thread members")),
    }
}
