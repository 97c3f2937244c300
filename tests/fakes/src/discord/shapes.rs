//! The JSON objects the fake Discord answers with, shaped as the published spec's response
//! schemas require (every required field present, nullable ones `null`), so the bot's client
//! deserializes them as it would Discord's.

use serde_json::{Value, json};

use super::interactions::Member;

/// Every permission bit Discord defines, as the member and app permissions of an interaction.
pub const ALL_PERMISSIONS: u64 = (1 << 51) - 1;

/// The current time as Discord writes timestamps.
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, false)
}

pub fn user(id: u64, username: &str, bot: bool) -> Value {
    let mut user = json!({
        "id": id.to_string(),
        "username": username,
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": null,
    });
    if bot {
        user["bot"] = json!(true);
    }
    user
}

/// `GET /users/@me`: the bot's own user, with the private fields only its owner sees.
pub fn current_user(bot: &Value) -> Value {
    let mut user = bot.clone();
    user["mfa_enabled"] = json!(false);
    user["locale"] = json!("en-US");
    user["verified"] = json!(true);
    user
}

pub fn member(member: &Member, guild_id: u64) -> Value {
    json!({
        "user": user(member.user_id, &member.username, false),
        "nick": member.nick,
        "avatar": null,
        "banner": null,
        "roles": member.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
        "joined_at": "2024-01-01T00:00:00.000000+00:00",
        "premium_since": null,
        "deaf": false,
        "mute": false,
        "pending": false,
        "flags": 0,
        "communication_disabled_until": null,
        "guild_id": guild_id.to_string(),
    })
}

pub fn application(id: u64, bot: &Value) -> Value {
    json!({
        "id": id.to_string(),
        "name": bot["username"],
        "icon": null,
        "description": "",
        "type": null,
        "bot": bot,
        "bot_public": true,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": null,
        "role_connections_verification_url": null,
        "owner": user(id + 1, "owner", false),
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "team": null,
        "eligible_oauth2_scopes": [],
    })
}

pub fn text_channel(id: u64, guild_id: u64, name: &str) -> Value {
    json!({
        "id": id.to_string(),
        "type": 0,
        "flags": 0,
        "guild_id": guild_id.to_string(),
        "name": name,
        "position": 0,
        "parent_id": null,
        "topic": null,
        "nsfw": false,
        "permission_overwrites": [],
        "rate_limit_per_user": 0,
        "last_message_id": null,
        "last_pin_timestamp": null,
    })
}

pub fn dm_channel(id: u64, recipient: Value) -> Value {
    json!({
        "id": id.to_string(),
        "type": 1,
        "flags": 0,
        "recipients": [recipient],
        "last_message_id": null,
        "last_pin_timestamp": null,
    })
}

pub struct NewThread<'a> {
    pub id: u64,
    pub kind: u64,
    pub guild_id: u64,
    pub parent_id: u64,
    pub owner_id: u64,
    pub name: &'a str,
    pub auto_archive_duration: u64,
    pub invitable: bool,
}

pub fn thread(spec: NewThread<'_>) -> Value {
    let created = now();
    json!({
        "id": spec.id.to_string(),
        "type": spec.kind,
        "flags": 0,
        "guild_id": spec.guild_id.to_string(),
        "parent_id": spec.parent_id.to_string(),
        "owner_id": spec.owner_id.to_string(),
        "name": spec.name,
        "last_message_id": null,
        "last_pin_timestamp": null,
        "rate_limit_per_user": 0,
        "thread_metadata": {
            "archived": false,
            "archive_timestamp": created,
            "auto_archive_duration": spec.auto_archive_duration,
            "locked": false,
            "create_timestamp": created,
            "invitable": spec.invitable,
        },
        "message_count": 0,
        "member_count": 1,
        "total_message_sent": 0,
    })
}

pub fn thread_member(thread_id: u64, user_id: u64) -> Value {
    json!({
        "id": thread_id.to_string(),
        "user_id": user_id.to_string(),
        "join_timestamp": now(),
        "flags": 0,
    })
}

/// A message with nothing in it yet; the caller applies the body it was made from.
pub fn message(id: u64, channel_id: u64, author: Value, timestamp: &str) -> Value {
    json!({
        "id": id.to_string(),
        "channel_id": channel_id.to_string(),
        "author": author,
        "type": 0,
        "content": "",
        "timestamp": timestamp,
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "components": [],
        "pinned": false,
        "flags": 0,
    })
}

/// An embed as Discord echoes it back: typed `rich`, with the components Discord numbers.
pub fn rendered_embed(embed: &Value) -> Value {
    let mut embed = embed.clone();
    if embed.get("type").is_none_or(Value::is_null) {
        embed["type"] = json!("rich");
    }
    if let Value::Object(fields) = &mut embed {
        fields.retain(|_, value| !value.is_null());
    }
    embed
}

/// An attachment as Discord lists it once uploaded (`new_id` given); attachments kept from an
/// earlier version of the message come back as they were.
pub fn rendered_attachment(attachment: &Value, new_id: Option<u64>, base_url: &str) -> Value {
    let Some(id) = new_id else {
        return attachment.clone();
    };
    let filename = attachment["filename"].as_str().unwrap_or("file");
    let url = format!("{base_url}/{id}/{filename}");
    let mut rendered = json!({
        "id": id.to_string(),
        "filename": filename,
        // The fake keeps no file bytes; the size of what was uploaded is not tracked.
        "size": 0,
        "url": url,
        "proxy_url": url,
    });
    if let Some(description) = attachment["description"].as_str() {
        rendered["description"] = json!(description);
    }
    rendered
}

/// Components as Discord echoes them back: every component numbered depth first, as Discord
/// does for components sent without an `id`, and select menus with their pick counts.
pub fn rendered_components(components: &Value) -> Value {
    fn number(component: &mut Value, next: &mut u64) {
        if let Value::Object(fields) = component {
            fields.retain(|_, value| !value.is_null());
            if !fields.contains_key("id") {
                fields.insert("id".into(), json!(*next));
            }
            // Select menus come back with Discord's defaults for how many may be picked.
            if matches!(fields.get("type").and_then(Value::as_u64), Some(3..=8)) {
                fields.entry("min_values").or_insert(json!(1));
                fields.entry("max_values").or_insert(json!(1));
            }
            *next += 1;
            if let Some(Value::Array(children)) = fields.get_mut("components") {
                for child in children {
                    number(child, next);
                }
            }
        }
    }
    let mut components = components.clone();
    let mut next = 1;
    if let Value::Array(rows) = &mut components {
        for row in rows {
            number(row, &mut next);
        }
    }
    components
}

/// Who a message pings, after its `allowed_mentions`.
#[derive(Debug, Default)]
pub struct Mentions {
    pub users: Vec<u64>,
    pub roles: Vec<u64>,
    pub everyone: bool,
}

/// Discord's rule: without `allowed_mentions` every mention in the text pings; with it, only
/// the kinds in `parse` and the ids listed in `users` / `roles` do. The message's `mentions`,
/// `mention_roles` and `mention_everyone` list only what pinged.
pub fn mentions(content: &str, allowed: Option<&Value>) -> Mentions {
    let allowed = allowed.filter(|allowed| !allowed.is_null());
    let parses = |kind: &str| match allowed {
        None => true,
        Some(allowed) => allowed["parse"]
            .as_array()
            .is_some_and(|parse| parse.iter().any(|item| item == kind)),
    };
    let listed = |list: &str, id: u64| {
        allowed.is_some_and(|allowed| {
            allowed[list].as_array().is_some_and(|ids| {
                ids.iter()
                    .any(|listed| listed.as_str() == Some(&id.to_string()))
            })
        })
    };
    let mut found = Mentions {
        everyone: (content.contains("@everyone") || content.contains("@here"))
            && parses("everyone"),
        ..Mentions::default()
    };
    let mut rest = content;
    while let Some(start) = rest.find("<@") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find('>') else { break };
        let inner = &rest[..end];
        let (is_role, digits) = match inner.strip_prefix('&') {
            Some(digits) => (true, digits),
            None => (false, inner.strip_prefix('!').unwrap_or(inner)),
        };
        let Ok(id) = digits.parse::<u64>() else {
            continue;
        };
        if is_role {
            if (parses("roles") || listed("roles", id)) && !found.roles.contains(&id) {
                found.roles.push(id);
            }
        } else if (parses("users") || listed("users", id)) && !found.users.contains(&id) {
            found.users.push(id);
        }
    }
    found
}

/// Discord's error body.
pub fn error(code: u64, message: &str) -> Value {
    json!({"code": code, "message": message})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_follow_allowed_mentions() {
        let text = "hi <@42> and <@!43>, <@&7> @everyone";
        let open = mentions(text, None);
        assert_eq!(open.users, vec![42, 43]);
        assert_eq!(open.roles, vec![7]);
        assert!(open.everyone);

        let inert = mentions(text, Some(&json!({"parse": []})));
        assert!(inert.users.is_empty() && inert.roles.is_empty() && !inert.everyone);

        let one_role = mentions(text, Some(&json!({"parse": [], "roles": ["7"]})));
        assert_eq!(one_role.roles, vec![7]);
        assert!(one_role.users.is_empty());
    }
}
