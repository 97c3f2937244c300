//! What people do in channels and threads, as a test makes them act: post (with files), edit
//! and delete their own messages, a moderator deleting a thread. The bot hears each as Discord
//! would tell it, given its intents. Also the switches a test flips on Discord itself: the
//! developer portal's Message Content Intent, and an outage between the bot and Discord.
//!
//! Discord's rules held here: posting in a private thread needs membership or Manage Threads;
//! a locked thread takes posts only from people with Manage Threads; a member's post unarchives
//! an archived thread and joins them to it; only the author edits a message, and the author or
//! someone with Manage Messages deletes it.

use serde_json::{Value, json};

use super::gateway::Outgoing;
use super::world::{World, snowflake_field};
use super::{FakeDiscord, Member, shapes};

/// Manage Messages and Manage Threads, as Discord numbers the permission bits.
const MANAGE_MESSAGES: u64 = 1 << 13;
const MANAGE_THREADS: u64 = 1 << 34;

/// A file a member attaches to a message. The fake keeps no bytes, only what Discord lists.
#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: String,
    pub size: u64,
    pub content_type: String,
}

impl Upload {
    pub fn new(filename: &str, size: u64, content_type: &str) -> Self {
        Self {
            filename: filename.to_owned(),
            size,
            content_type: content_type.to_owned(),
        }
    }
}

impl FakeDiscord {
    /// `member` posts `content` in their channel or thread (or their DM with the bot). The bot
    /// gets MESSAGE_CREATE as Discord would send it given its intents (no content without
    /// MESSAGE_CONTENT). While the fake is down the message is kept and the bot hears nothing.
    pub async fn post_message(&self, member: &Member, content: &str) -> Value {
        self.post_with_files(member, content, &[]).await
    }

    /// `member` posts `content` with `files` attached, listed as Discord lists uploads (an id,
    /// the name, the size, a `cdn.discordapp.com` URL and the content type).
    pub async fn post_with_files(&self, member: &Member, content: &str, files: &[Upload]) -> Value {
        if !self.is_down() {
            self.wait_for_shard(member.guild_id()).await;
        }
        let message = self.shared.with(|world| {
            world.meet(member);
            let channel_id = world.channel_of(member);
            enter_thread(world, member, channel_id);
            let attachments: Vec<Value> = files
                .iter()
                .map(|file| uploaded(world.snowflake(), channel_id, file))
                .collect();
            let author = world.user(member.user_id).cloned().unwrap_or_default();
            world.create_message(
                channel_id,
                author,
                &json!({"content": content}),
                json!({"attachments": attachments}),
            )
        });
        self.shared.touch();
        message
    }

    /// `member` edits their own `message` to `content`; the bot gets MESSAGE_UPDATE.
    pub fn edit_message_as(&self, member: &Member, message: &Value, content: &str) -> Value {
        let message_id = snowflake_field(message, "id").expect("a message with an id");
        let edited = self.shared.with(|world| {
            let stored = world
                .messages
                .get(&message_id)
                .unwrap_or_else(|| panic!("the fake Discord has no message {message_id}"));
            assert_eq!(
                snowflake_field(&stored["author"], "id"),
                Some(member.user_id),
                "Discord lets only the author edit a message"
            );
            world
                .edit_message(message_id, &json!({"content": content}))
                .expect("the message exists")
        });
        self.shared.touch();
        edited
    }

    /// `member` deletes `message` (their own, or any with Manage Messages); the bot gets
    /// MESSAGE_DELETE.
    pub fn delete_message_as(&self, member: &Member, message: &Value) {
        let message_id = snowflake_field(message, "id").expect("a message with an id");
        self.shared.with(|world| {
            let author = world
                .messages
                .get(&message_id)
                .and_then(|stored| snowflake_field(&stored["author"], "id"))
                .unwrap_or_else(|| panic!("the fake Discord has no message {message_id}"));
            assert!(
                author == member.user_id || member.permissions & MANAGE_MESSAGES != 0,
                "{} may not delete another person's message without Manage Messages",
                member.username
            );
            world.delete_message(message_id);
        });
        self.shared.touch();
    }

    /// A moderator deletes the thread with everything in it; the bot gets THREAD_DELETE.
    pub fn delete_thread(&self, thread_id: u64) {
        let deleted = self.shared.with(|world| world.delete_thread(thread_id));
        assert!(
            deleted.is_some(),
            "the fake Discord has no thread {thread_id}"
        );
        self.shared.touch();
    }

    /// Messages the bot itself posted in a channel or thread (not its interaction answers or
    /// webhook posts), oldest first.
    pub fn bot_posts_in(&self, channel_id: u64) -> Vec<Value> {
        let bot = self.application_id();
        self.messages_in(channel_id)
            .into_iter()
            .filter(|message| {
                snowflake_field(&message["author"], "id") == Some(bot)
                    && message.get("webhook_id").is_none()
                    && message.get("interaction_metadata").is_none()
            })
            .collect()
    }

    // --- Discord itself ---

    /// Turns "Message Content Intent" on or off in the developer portal: off, the next
    /// IDENTIFY that asks for MESSAGE_CONTENT is closed with 4014 "Disallowed intent(s)".
    pub fn set_message_content_intent(&self, enabled: bool) {
        self.shared
            .with(|world| world.message_content_enabled = enabled);
    }

    /// The bot can no longer reach Discord: every gateway connection drops, new ones end before
    /// the handshake, REST answers 503, and the sessions are forgotten (coming back, the bot
    /// must IDENTIFY again and hears nothing of what happened meanwhile). People keep acting.
    pub fn go_down(&self) {
        self.shared.with(|world| {
            world.down = true;
            world.sessions.send_to_all(|| Outgoing::Drop);
            world.sessions.live.clear();
        });
        self.shared.touch();
    }

    /// Discord is reachable again.
    pub fn come_back(&self) {
        self.shared.with(|world| world.down = false);
        self.shared.touch();
    }

    pub fn is_down(&self) -> bool {
        self.shared.with(|world| world.down)
    }

    /// REST requests answered 503 while the fake was down.
    pub fn refused_while_down(&self) -> usize {
        self.shared.with(|world| world.refused_while_down)
    }
}

/// Discord's rules for a member posting in `channel_id` when it is a thread: see the header.
fn enter_thread(world: &mut World, member: &Member, channel_id: u64) {
    let Some(thread) = world.channels.get(&channel_id).cloned() else {
        return;
    };
    if !matches!(thread["type"].as_u64(), Some(10..=12)) {
        return;
    }
    let manages = member.permissions & MANAGE_THREADS != 0;
    let joined = world
        .thread_members
        .get(&channel_id)
        .is_some_and(|members| members.contains(&member.user_id));
    assert!(
        thread["type"] != 12 || joined || manages,
        "{} is not in private thread {channel_id}; Discord would not show it to them",
        member.username
    );
    let metadata = &thread["thread_metadata"];
    assert!(
        metadata["locked"] != true || manages,
        "thread {channel_id} is locked; only people with Manage Threads post there"
    );
    if metadata["archived"] == true {
        let mut unarchived = thread.clone();
        unarchived["thread_metadata"]["archived"] = json!(false);
        unarchived["thread_metadata"]["archive_timestamp"] = json!(shapes::now());
        world.channels.insert(channel_id, unarchived.clone());
        world.announce_thread("THREAD_UPDATE", unarchived);
    }
    if !joined {
        let members = world.thread_members.entry(channel_id).or_default();
        members.push(member.user_id);
        let count = members.len();
        if let Some(stored) = world.channels.get_mut(&channel_id) {
            stored["member_count"] = json!(count);
        }
    }
}

/// An uploaded file as Discord lists it on the message.
fn uploaded(id: u64, channel_id: u64, file: &Upload) -> Value {
    let path = format!("attachments/{channel_id}/{id}/{}", file.filename);
    json!({
        "id": id.to_string(),
        "filename": file.filename,
        "size": file.size,
        "url": format!("https://cdn.discordapp.com/{path}"),
        "proxy_url": format!("https://media.discordapp.net/{path}"),
        "content_type": file.content_type,
    })
}
