//! Tickets on Discord, through the fake Discord: a ticket opened with `/ticket open` gets a
//! private thread; what staff and the customer write there becomes the ticket's conversation
//! under their own accounts, and what they write in the portal shows in the thread under their
//! names; notes never reach the thread; close and reopen archive and unarchive it; edits and
//! deletions are kept; mentions and HTML stay inert. Discord going down and the bot restarting
//! in the middle lose nothing and repeat nothing. And without the Message Content intent the
//! bot says so and keeps answering commands.

use std::time::Duration;

use hostdeck_core::config::Config;
use hostdeck_core::tickets::{Door, OpenTicket, TicketId, TicketMessage};
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::bot::{self, GUILD, Linked, OTHER_GUILD, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::discord::{FakeDiscord, Member};
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, assert_no_problems, first_answer, text_of};

/// The channel whose private threads hold the tickets.
const SUPPORT_CHANNEL: u64 = 4100;

/// Gateway intents, as Discord numbers them.
const GUILDS: u64 = 1;
const GUILD_MESSAGES: u64 = 1 << 9;
const MESSAGE_CONTENT: u64 = 1 << 15;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_message_content_intent_the_bot_says_so_and_commands_still_answer() {
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .guild(OTHER_GUILD)
        .message_content_intent(false)
        .start()
        .await;
    let db = TestDb::sqlite().await;
    let app = bot::start(&db, bot::config(&discord.api_base(), &discord.token())).await;
    discord.wait_ready(WAIT).await;

    assert_eq!(discord.close_codes(), vec![4014], "refused once");
    let identifies = discord.identifies();
    let intents = identifies
        .last()
        .and_then(|identify| identify["intents"].as_u64())
        .expect("intents");
    assert_eq!(intents & MESSAGE_CONTENT, 0, "asked again without it");
    assert_eq!(intents & (GUILDS | GUILD_MESSAGES), GUILDS | GUILD_MESSAGES);

    let member = Member::new(3000, "alice").in_guild(GUILD);
    let help = first_answer(&discord, &member, "help", json!([])).await;
    assert!(text_of(&help).contains("/link"), "{}", text_of(&help));
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_asks_for_guild_messages_and_their_content() {
    let discord = crate::bot_basics::fake_discord().await;
    let db = TestDb::sqlite().await;
    let app = bot::start(&db, bot::config(&discord.api_base(), &discord.token())).await;
    discord.wait_ready(WAIT).await;
    let intents = discord.identifies()[0]["intents"]
        .as_u64()
        .expect("intents");
    let wanted = GUILDS | GUILD_MESSAGES | MESSAGE_CONTENT;
    assert_eq!(intents & wanted, wanted);
    assert!(discord.close_codes().is_empty());
    app.running.shutdown().await.expect("a clean shutdown");
}

on_both_engines!(
    a_ticket_opened_on_discord_lives_in_its_thread_both_ways,
    discord_down_and_a_restart_lose_nothing_and_repeat_nothing
);

/// The fake Discord, the platform with its bot, a linked customer (Carl) and support (Sam).
struct Desk {
    discord: FakeDiscord,
    app: TestApp,
    config: Config,
    carl: Linked,
    sam: Linked,
}

impl Desk {
    async fn open(db: &TestDb) -> Self {
        let discord = FakeDiscord::builder()
            .guild(GUILD)
            .guild(OTHER_GUILD)
            .text_channel(GUILD, SUPPORT_CHANNEL, "support")
            .start()
            .await;
        let mut config = bot::config(&discord.api_base(), &discord.token());
        config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
        let app = bot::start(db, config.clone()).await;
        discord.wait_ready(WAIT).await;
        let carl =
            bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
        let sam = bot::linked_account(&app, "sam@example.com", Role::Support, 3400, "sam").await;
        let desk = Self {
            discord,
            app,
            config,
            carl,
            sam,
        };
        desk.discord.add_member(&desk.carl_member());
        desk.discord.add_member(&desk.sam_member());
        desk
    }

    fn core(&self) -> &Core {
        self.app.core()
    }

    fn carl_member(&self) -> Member {
        Member::new(3200, "carl").in_guild(GUILD)
    }

    fn sam_member(&self) -> Member {
        Member::new(3400, "sam")
            .roles([SUPPORT_ROLE])
            .in_guild(GUILD)
    }

    fn customer(&self) -> Actor {
        Actor::user(self.carl.user.id, Role::Customer, Via::Portal)
    }

    fn staff(&self) -> Actor {
        Actor::user(self.sam.user.id, Role::Support, Via::Portal).with_two_factor()
    }

    /// The one ticket thread, once the bot made it.
    async fn thread(&self) -> u64 {
        only_thread(&self.discord, SUPPORT_CHANNEL).await
    }

    /// Waits for the bot's post in `thread` that contains `text`.
    async fn posted(&self, thread: u64, text: &str) -> Value {
        bot_post(&self.discord, thread, text).await
    }

    /// The conversation as staff see it, once `check` holds of it.
    async fn conversation(
        &self,
        ticket: TicketId,
        what: &str,
        check: impl Fn(&[TicketMessage]) -> bool,
    ) -> Vec<TicketMessage> {
        staff_conversation(self.core(), &self.staff(), ticket, what, check).await
    }
}

pub(crate) fn id_of(value: &Value) -> u64 {
    value["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a snowflake id")
}

/// Nothing the bot posted in `thread`, text or card, pings anyone or shows a live mention.
pub(crate) fn assert_thread_inert(discord: &FakeDiscord, thread: u64) {
    for post in discord.bot_posts_in(thread) {
        assert_eq!(post["mention_everyone"], false, "{post}");
        assert_eq!(post["mentions"], json!([]), "{post}");
        assert_eq!(post["mention_roles"], json!([]), "{post}");
        let shown = format!("{}{}", post["content"], post["embeds"]);
        for raw in ["@everyone", "@here", "<@&", "<@123>"] {
            assert!(!shown.contains(raw), "{raw} live in {shown}");
        }
    }
}

/// The one thread in `channel`, once the bot made it.
pub(crate) async fn only_thread(discord: &FakeDiscord, channel: u64) -> u64 {
    discord
        .wait_until(WAIT, "the ticket's thread", |discord| {
            !discord.threads_in(channel).is_empty()
        })
        .await;
    let threads = discord.threads_in(channel);
    assert_eq!(threads.len(), 1, "{threads:#?}");
    id_of(&threads[0])
}

/// Waits for the bot's post in `thread` that contains `text`.
pub(crate) async fn bot_post(discord: &FakeDiscord, thread: u64, text: &str) -> Value {
    let find = |discord: &FakeDiscord| {
        discord
            .bot_posts_in(thread)
            .into_iter()
            .find(|post| post["content"].as_str().is_some_and(|c| c.contains(text)))
    };
    discord
        .wait_until(WAIT, text, |discord| find(discord).is_some())
        .await;
    find(discord).unwrap_or_default()
}

/// The conversation as `staff` see it, once `check` holds of it (waiting up to [`WAIT`]).
pub(crate) async fn staff_conversation(
    core: &Core,
    staff: &Actor,
    ticket: TicketId,
    what: &str,
    check: impl Fn(&[TicketMessage]) -> bool,
) -> Vec<TicketMessage> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let messages = core
            .tickets
            .messages(staff, ticket)
            .await
            .expect("staff read the conversation");
        if check(&messages) {
            return messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {WAIT:?} for {what}: {messages:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_ticket_opened_on_discord_lives_in_its_thread_both_ways(db: TestDb) {
    let desk = Desk::open(&db).await;
    let discord = &desk.discord;

    // Carl opens a ticket: a modal asks for the subject and the description.
    let asked = first_answer(
        discord,
        &desk.carl_member(),
        "ticket",
        json!([{"name": "open", "type": 1, "options": [
            {"name": "department", "type": 3, "value": "technical"}
        ]}]),
    )
    .await;
    let form = asked.modal_custom_id().expect("a modal").to_owned();
    let opened = discord
        .submit_modal(
            &desk.carl_member(),
            &form,
            [
                ("subject", "Disk full <b>now</b> @everyone"),
                ("body", "It stopped <script>x</script> <@&2102> @here"),
            ],
        )
        .await;
    let answers = opened.wait_for(2, WAIT).await;
    assert!(
        answers[0].ephemeral(),
        "deferred, only Carl sees it: {answers:#?}"
    );
    assert!(text_of(&answers[1]).contains("Opened"), "{answers:#?}");

    // A private thread, Carl in it, the card first, then his description under his name.
    let thread = desk.thread().await;
    let channel = discord.channel(thread).expect("the thread");
    assert_eq!(channel["type"], 12);
    assert_eq!(channel["thread_metadata"]["invitable"], false);
    discord
        .wait_until(WAIT, "Carl in the thread", |discord| {
            discord.thread_members(thread).contains(&3200)
        })
        .await;
    let ticket = desk
        .core()
        .tickets
        .ticket_by_thread(thread)
        .await
        .expect("read")
        .expect("the thread's ticket");
    let first = desk.posted(thread, "It stopped").await;
    assert!(
        first["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("**carl") && c.contains("(customer, via discord)")),
        "{first}"
    );

    // Sam answers in the thread: a staff message under his account.
    let sam = desk.sam_member().in_channel(thread);
    discord.post_message(&sam, "Rebooting now").await;
    let messages = desk
        .conversation(ticket.id, "Sam's answer", |messages| {
            messages.iter().any(|m| m.body == "Rebooting now")
        })
        .await;
    let answer = messages
        .iter()
        .find(|m| m.body == "Rebooting now")
        .expect("stored");
    assert_eq!(answer.author, Some(desk.sam.user.id));
    assert!(answer.author_staff);
    assert_eq!(answer.door, Door::Discord);

    // Carl replies in the portal: it shows in the thread under his name, inert.
    desk.core()
        .tickets
        .reply(
            &desk.customer(),
            ticket.id,
            "Thanks! <b>bold</b> @everyone <@3400>",
            Vec::new(),
        )
        .await
        .expect("Carl replies");
    let relayed = desk.posted(thread, "Thanks!").await;
    assert!(
        relayed["content"]
            .as_str()
            .is_some_and(|c| c.contains("(customer, via portal)")),
        "{relayed}"
    );

    // A note stays with staff.
    desk.core()
        .tickets
        .note(&desk.staff(), ticket.id, "VIP customer, be quick")
        .await
        .expect("Sam notes");

    // Carl edits and deletes a message in the thread: both are kept.
    let carl = desk.carl_member().in_channel(thread);
    let typo = discord.post_message(&carl, "my disk is ful").await;
    let typo_id = id_of(&typo);
    desk.conversation(ticket.id, "the typo", |messages| {
        messages
            .iter()
            .any(|m| m.discord_message_id == Some(typo_id))
    })
    .await;
    discord.edit_message_as(&carl, &typo, "my disk is full");
    desk.conversation(ticket.id, "the edit", |messages| {
        messages.iter().any(|m| {
            m.discord_message_id == Some(typo_id)
                && m.body == "my disk is full"
                && m.edited_at.is_some()
        })
    })
    .await;
    discord.delete_message_as(&carl, &typo);
    desk.conversation(ticket.id, "the deletion", |messages| {
        messages
            .iter()
            .any(|m| m.discord_message_id == Some(typo_id) && m.deleted_at.is_some())
    })
    .await;

    // Sam closes it in the thread: archived, and named so.
    let closed = first_answer(
        discord,
        &sam,
        "ticket",
        json!([{"name": "close", "type": 1, "options": [
            {"name": "reason", "type": 3, "value": "Disk grown to 40 GB"}
        ]}]),
    )
    .await;
    assert!(text_of(&closed).contains("Closed"), "{}", text_of(&closed));
    discord
        .wait_until(WAIT, "the thread archived", |discord| {
            discord.channel(thread).is_some_and(|channel| {
                channel["thread_metadata"]["archived"] == true
                    && channel["name"]
                        .as_str()
                        .is_some_and(|name| name.contains("[closed]"))
            })
        })
        .await;
    desk.core()
        .tickets
        .reopen(&desk.staff(), ticket.id)
        .await
        .expect("Sam reopens");
    discord
        .wait_until(WAIT, "the thread unarchived", |discord| {
            discord
                .channel(thread)
                .is_some_and(|channel| channel["thread_metadata"]["archived"] == false)
        })
        .await;

    let everything: String = discord
        .messages_in(thread)
        .iter()
        .filter_map(|message| message["content"].as_str().map(str::to_owned))
        .collect();
    assert!(!everything.contains("VIP"), "a note reached the thread");
    assert_thread_inert(discord, thread);
    assert_no_problems(discord);
    desk.app.running.shutdown().await.expect("a clean shutdown");
}

/// How many of the bot's posts in `thread` contain `text`.
fn posts_with(discord: &FakeDiscord, thread: u64, text: &str) -> usize {
    discord
        .bot_posts_in(thread)
        .iter()
        .filter(|post| post["content"].as_str().is_some_and(|c| c.contains(text)))
        .count()
}

async fn discord_down_and_a_restart_lose_nothing_and_repeat_nothing(db: TestDb) {
    let mut desk = Desk::open(&db).await;
    let ticket = desk
        .core()
        .tickets
        .open(
            &desk.customer(),
            OpenTicket {
                subject: "Invoice question".to_owned(),
                body: "Why two charges?".to_owned(),
                department: "billing".to_owned(),
                ..OpenTicket::default()
            },
        )
        .await
        .expect("Carl opens a ticket in the portal");
    let thread = desk.thread().await;
    desk.posted(thread, "Why two charges?").await;
    let carl = desk.carl_member().in_channel(thread);

    // Discord goes away: a portal reply waits, a thread message is missed.
    desk.discord.go_down();
    desk.core()
        .tickets
        .reply(&desk.staff(), ticket.id, "While down: checking", Vec::new())
        .await
        .expect("Sam replies");
    let missed = desk.discord.post_message(&carl, "Missed while down").await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    desk.discord.come_back();
    desk.discord.wait_ready(Duration::from_secs(20)).await;
    desk.posted(thread, "While down: checking").await;
    desk.conversation(ticket.id, "the message missed while down", |messages| {
        messages
            .iter()
            .any(|m| m.discord_message_id == Some(id_of(&missed)))
    })
    .await;

    // The bot restarts: what happens meanwhile on either side arrives after it.
    let staff = desk.staff();
    desk.app.running.shutdown().await.expect("a clean shutdown");
    let away = desk
        .discord
        .post_message(&carl, "Missed while restarting")
        .await;
    let mut config = desk.config.clone();
    config.database.url = secrecy::SecretString::from(db.url.clone());
    let restarted = Core::open(config).await.expect("a core");
    restarted
        .tickets
        .reply(&staff, ticket.id, "While restarting: refunded", Vec::new())
        .await
        .expect("Sam replies while the bot is off");
    desk.app = TestApp::start(restarted).await;
    desk.discord
        .wait_until(WAIT, "the restarted bot's session", |discord| {
            discord.identifies().len() >= 3 && discord.is_ready()
        })
        .await;
    desk.posted(thread, "While restarting: refunded").await;
    let messages = desk
        .conversation(
            ticket.id,
            "the message missed while restarting",
            |messages| {
                messages
                    .iter()
                    .any(|m| m.discord_message_id == Some(id_of(&away)))
            },
        )
        .await;

    // Each Discord message once in the ticket, each reply once in the thread.
    for message in [&missed, &away] {
        let id = id_of(message);
        let copies = messages
            .iter()
            .filter(|m| m.discord_message_id == Some(id))
            .count();
        assert_eq!(copies, 1, "Discord message {id}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    for reply in [
        "Why two charges?",
        "While down: checking",
        "While restarting: refunded",
    ] {
        assert_eq!(posts_with(&desk.discord, thread, reply), 1, "{reply}");
    }
    assert_no_problems(&desk.discord);
    desk.app.running.shutdown().await.expect("a clean shutdown");
}
