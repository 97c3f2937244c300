//! Tickets on Discord, through the fake Discord: the bot's intents, and (as tickets come) the
//! thread of every ticket kept in step with the conversation both ways.

use hostdeck_e2e::bot::{self, GUILD, OTHER_GUILD};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{FakeDiscord, Member};
use serde_json::json;

use crate::bot_basics::{WAIT, assert_no_problems, first_answer, text_of};

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
