//! The fake against the real client: a small poise 0.7 / serenity 0.12 bot, built the way
//! hostdeck's bot is (custom API base, rate limiter off, commands registered outside `setup`),
//! connects, registers, and answers what the fake injects; and the fake refuses what Discord
//! refuses.

use std::time::Duration;

use poise::serenity_prelude as serenity;
use serde_json::{Value, json};
use serenity::{
    ApplicationId, ButtonStyle, ChannelId, ChannelType, ComponentInteractionCollector,
    CreateActionRow, CreateAllowedMentions, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseMessage, CreateMessage, CreateThread, EditMessage, EditThread,
    GatewayIntents, GuildId, Http, HttpBuilder, InteractionId,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{FakeDiscord, Member, ResponseKind, shard_for};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Context<'a> = poise::Context<'a, (), Error>;

const GUILD: u64 = 2000;
const SUPPORT: u64 = 4100;
const WAIT: Duration = Duration::from_secs(5);

// --- The bot under test ---

/// Shows your balance.
#[poise::command(slash_command)]
async fn balance(ctx: Context<'_>) -> Result<(), Error> {
    let reply = poise::CreateReply::default()
        .content("Your balance is 10.00 USD")
        .ephemeral(true);
    ctx.send(reply).await?;
    Ok(())
}

/// Builds a usage report.
#[poise::command(slash_command)]
async fn report(ctx: Context<'_>) -> Result<(), Error> {
    ctx.defer().await?;
    let handle = ctx.say("Building the report...").await?;
    handle
        .edit(
            ctx,
            poise::CreateReply::default().content("Report ready: 3 servers"),
        )
        .await?;
    Ok(())
}

async fn servers(_ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let choices = ["vps-41", "vps-42", "db-1"]
        .into_iter()
        .filter(move |name| name.starts_with(partial))
        .map(serenity::AutocompleteChoice::from)
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Powers a server off after confirmation.
#[poise::command(slash_command)]
async fn power(
    ctx: Context<'_>,
    #[description = "Which server"]
    #[autocomplete = "servers"]
    server: String,
) -> Result<(), Error> {
    let confirm = format!("{}-off", ctx.id());
    let button = CreateButton::new(confirm.clone())
        .label("Power off")
        .style(ButtonStyle::Danger);
    let reply = poise::CreateReply::default()
        .content(format!("Power off {server}?"))
        .components(vec![CreateActionRow::Buttons(vec![button])]);
    ctx.send(reply).await?;
    let press = ComponentInteractionCollector::new(ctx)
        .filter(move |press| press.data.custom_id == confirm)
        .timeout(WAIT)
        .await;
    if let Some(press) = press {
        let update = CreateInteractionResponseMessage::new()
            .content(format!("{server} is powering off"))
            .components(Vec::new());
        press
            .create_response(ctx, CreateInteractionResponse::UpdateMessage(update))
            .await?;
    }
    Ok(())
}

#[derive(Debug, poise::Modal)]
#[name = "Open a ticket"]
struct TicketForm {
    #[name = "Subject"]
    subject: String,
    #[name = "Details"]
    #[paragraph]
    details: Option<String>,
}

/// Opens a support ticket.
#[poise::command(slash_command)]
async fn ticket(ctx: poise::ApplicationContext<'_, (), Error>) -> Result<(), Error> {
    use poise::Modal as _;
    let Some(form) = TicketForm::execute(ctx).await? else {
        return Ok(());
    };
    let details = form.details.unwrap_or_default();
    ChannelId::new(SUPPORT)
        .say(
            &ctx.serenity_context().http,
            format!("New ticket: {} ({details})", form.subject),
        )
        .await?;
    Ok(())
}

/// Takes feedback in a modal, thanks for it, then edits the thanks.
#[poise::command(slash_command)]
async fn feedback(ctx: poise::ApplicationContext<'_, (), Error>) -> Result<(), Error> {
    let serenity = ctx.serenity_context();
    let custom_id = ctx.interaction.id.to_string();
    let input = serenity::CreateInputText::new(serenity::InputTextStyle::Short, "Feedback", "text");
    let modal = serenity::CreateModal::new(custom_id.clone(), "Feedback")
        .components(vec![CreateActionRow::InputText(input)]);
    ctx.interaction
        .create_response(serenity, CreateInteractionResponse::Modal(modal))
        .await?;
    let submit = serenity::ModalInteractionCollector::new(serenity)
        .filter(move |submit| submit.data.custom_id == custom_id)
        .timeout(WAIT)
        .await;
    if let Some(submit) = submit {
        let thanks = CreateInteractionResponseMessage::new().content("Thanks");
        submit
            .create_response(serenity, CreateInteractionResponse::Message(thanks))
            .await?;
        let edit = serenity::EditInteractionResponse::new().content("Thanks for the feedback");
        submit.edit_response(serenity, edit).await?;
    }
    Ok(())
}

/// Escalates to staff: a private thread, a note, a DM.
#[poise::command(slash_command)]
async fn escalate(ctx: Context<'_>) -> Result<(), Error> {
    ctx.defer_ephemeral().await?;
    let http = &ctx.serenity_context().http;
    let author = ctx.author().id;
    let thread = ChannelId::new(SUPPORT)
        .create_thread(
            http,
            CreateThread::new("ticket-1").kind(ChannelType::PrivateThread),
        )
        .await?;
    thread.id.add_thread_member(http, author).await?;
    let note = thread
        .id
        .send_message(
            http,
            CreateMessage::new()
                .content(format!("<@{author}> needs help"))
                .allowed_mentions(CreateAllowedMentions::new()),
        )
        .await?;
    thread
        .id
        .edit_message(http, note.id, EditMessage::new().content("Ticket opened"))
        .await?;
    thread
        .id
        .edit_thread(http, EditThread::new().archived(true).locked(true))
        .await?;
    let dm = author.create_dm_channel(http).await?;
    dm.id.say(http, "We opened ticket-1 for you").await?;
    ctx.say("Escalated").await?;
    Ok(())
}

/// Opens a private thread only moderators may invite to, with the member in it.
#[poise::command(slash_command)]
async fn thread(ctx: Context<'_>) -> Result<(), Error> {
    let http = &ctx.serenity_context().http;
    let thread = ChannelId::new(SUPPORT)
        .create_thread(
            http,
            CreateThread::new("watched-ticket")
                .kind(ChannelType::PrivateThread)
                .invitable(false)
                .auto_archive_duration(serenity::AutoArchiveDuration::OneWeek),
        )
        .await?;
    thread.id.add_thread_member(http, ctx.author().id).await?;
    ctx.say(format!("thread {}", thread.id)).await?;
    Ok(())
}

/// Takes too long to answer.
#[poise::command(slash_command)]
async fn slow(ctx: Context<'_>) -> Result<(), Error> {
    tokio::time::sleep(Duration::from_millis(3300)).await;
    ctx.say("finally").await?;
    Ok(())
}

/// Says which shard answered.
#[poise::command(slash_command)]
async fn shard(ctx: Context<'_>) -> Result<(), Error> {
    let shard = ctx.serenity_context().shard_id;
    ctx.say(format!("shard {shard}")).await?;
    Ok(())
}

/// Account commands.
#[poise::command(slash_command, subcommands("account_balance"))]
async fn account(_ctx: Context<'_>) -> Result<(), Error> {
    Ok(())
}

/// Shows an account's balance.
#[poise::command(slash_command, rename = "balance")]
async fn account_balance(
    ctx: Context<'_>,
    #[description = "Customer id"] customer: u64,
) -> Result<(), Error> {
    ctx.say(format!("customer {customer}: 10.00 USD")).await?;
    Ok(())
}

fn commands() -> Vec<poise::Command<(), Error>> {
    vec![
        balance(),
        report(),
        power(),
        ticket(),
        escalate(),
        slow(),
        shard(),
        account(),
        feedback(),
        thread(),
    ]
}

/// Answers "ping" with "pong", and must not answer its own messages, which Discord echoes.
/// In a `watched-` thread it also says what it heard: files on a message, an edit, a delete,
/// and (in the support channel) the thread's updates and deletion.
fn on_event<'a>(
    framework: poise::FrameworkContext<'a, (), Error>,
    event: &'a serenity::FullEvent,
) -> poise::BoxFuture<'a, Result<(), Error>> {
    Box::pin(async move {
        let http = &framework.serenity_context.http;
        let support = ChannelId::new(SUPPORT);
        match event {
            serenity::FullEvent::Message { new_message } if !new_message.author.bot => {
                if new_message.content == "ping" {
                    new_message.channel_id.say(http, "pong").await?;
                }
                if let Some(file) = new_message.attachments.first() {
                    let heard = format!(
                        "heard {:?} with {} ({} bytes, {})",
                        new_message.content,
                        file.filename,
                        file.size,
                        file.url.split('/').nth(2).unwrap_or_default()
                    );
                    new_message.channel_id.say(http, heard).await?;
                }
            }
            serenity::FullEvent::MessageUpdate { event, .. }
                if event.author.as_ref().is_some_and(|author| !author.bot) =>
            {
                let edited = format!("edited {}: {:?}", event.id, event.content);
                event.channel_id.say(http, edited).await?;
            }
            serenity::FullEvent::MessageDelete {
                channel_id,
                deleted_message_id,
                ..
            } => {
                let deleted = format!("deleted {deleted_message_id} in {channel_id}");
                support.say(http, deleted).await?;
            }
            serenity::FullEvent::ThreadUpdate { new, .. } if new.name.starts_with("watched-") => {
                let archived = new.thread_metadata.is_some_and(|meta| meta.archived);
                support
                    .say(http, format!("thread {} archived={archived}", new.id))
                    .await?;
            }
            serenity::FullEvent::ThreadDelete { thread, .. } => {
                support
                    .say(http, format!("thread {} deleted", thread.id))
                    .await?;
            }
            _ => {}
        }
        Ok(())
    })
}

struct Bot {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn http_for(discord: &FakeDiscord, token: &str) -> Http {
    HttpBuilder::new(token)
        .proxy(discord.api_base())
        .ratelimiter_disabled(true)
        .application_id(ApplicationId::new(discord.application_id()))
        .build()
}

/// Starts the bot against `discord`, registering its commands in `guilds` first.
async fn start_bot(discord: &FakeDiscord, guilds: &[u64], autosharded: bool) -> Bot {
    let intents = GatewayIntents::non_privileged() | GatewayIntents::MESSAGE_CONTENT;
    launch_bot(discord, guilds, autosharded, intents).await
}

/// [`start_bot`] asking for `intents`.
async fn launch_bot(
    discord: &FakeDiscord,
    guilds: &[u64],
    autosharded: bool,
    intents: GatewayIntents,
) -> Bot {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let framework = poise::Framework::builder()
        .options(poise::FrameworkOptions {
            commands: commands(),
            initialize_owners: false,
            event_handler: on_event,
            ..Default::default()
        })
        .setup(|_ctx, _ready, _framework| Box::pin(async { Ok(()) }))
        .build();
    let mut client =
        serenity::ClientBuilder::new_with_http(http_for(discord, &discord.token()), intents)
            .framework(framework)
            .await
            .expect("the client builds against the fake");
    for guild in guilds {
        poise::builtins::register_in_guild(&client.http, &commands(), GuildId::new(*guild))
            .await
            .expect("the fake accepts the commands");
    }
    let task = tokio::spawn(async move {
        let started = if autosharded {
            client.start_autosharded().await
        } else {
            client.start().await
        };
        if let Err(error) = started {
            tracing::warn!("the bot stopped: {error}");
        }
    });
    Bot { task }
}

async fn discord() -> FakeDiscord {
    FakeDiscord::builder()
        .guild(GUILD)
        .text_channel(GUILD, SUPPORT, "support")
        .start()
        .await
}

fn alice() -> Member {
    Member::new(3000, "alice").roles([2001]).in_guild(GUILD)
}

/// Runs a test body with an overall limit, so a stuck bot fails the test instead of hanging it.
async fn within(body: impl Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(20), body)
        .await
        .expect("the test finished within 20 s");
}

fn assert_no_problems(discord: &FakeDiscord) {
    let problems = discord.recorder().problems();
    assert!(problems.is_empty(), "problems: {problems:#?}");
}

/// The HTTP status and Discord error code of a failed serenity call.
fn refusal(error: &serenity::Error) -> (u16, isize) {
    match error {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(response)) => {
            (response.status_code.as_u16(), response.error.code)
        }
        other => panic!("expected Discord to refuse, got {other:?}"),
    }
}

// --- The bot's happy paths ---

#[tokio::test]
async fn bot_registers_commands_and_answers_a_slash_command() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let registered = discord.registered_commands(Some(GUILD));
        let names: Vec<&str> = registered
            .iter()
            .filter_map(|command| command["name"].as_str())
            .collect();
        assert!(
            names.contains(&"balance") && names.contains(&"power"),
            "{names:?}"
        );
        let power = registered
            .iter()
            .find(|command| command["name"] == "power")
            .expect("/power registered");
        assert_eq!(
            power["description"],
            "Powers a server off after confirmation."
        );
        assert_eq!(power["options"][0]["name"], "server");
        assert_eq!(power["options"][0]["description"], "Which server");
        assert!(discord.registered_commands(None).is_empty());

        let reply = discord.slash(&alice(), "balance", json!([])).await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(responses.len(), 1, "{responses:#?}");
        assert_eq!(responses[0].kind, ResponseKind::Callback(4));
        assert_eq!(responses[0].content(), Some("Your balance is 10.00 USD"));
        assert!(responses[0].ephemeral());
        assert!(reply.callback_latency().expect("a callback") < Duration::from_secs(3));
        assert_eq!(discord.callback_latencies().len(), 1);

        let reply = discord
            .slash(
                &alice(),
                "account",
                json!([{"name": "balance", "type": 1, "options": [
                    {"name": "customer", "type": 4, "value": 42}
                ]}]),
            )
            .await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(responses[0].content(), Some("customer 42: 10.00 USD"));

        let identify = &discord.identifies()[0];
        assert_eq!(identify["shard"], json!([0, 1]));
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn deferred_reply_then_followup_then_edit() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let reply = discord.slash(&alice(), "report", json!([])).await;
        let responses = reply.wait_for(3, WAIT).await;
        let kinds: Vec<ResponseKind> = responses.iter().map(|response| response.kind).collect();
        let original = reply.original_message().expect("an original message");
        let original_id: u64 = original["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("id");
        assert_eq!(
            kinds,
            vec![
                ResponseKind::Callback(5),
                ResponseKind::Followup,
                ResponseKind::EditMessage(original_id)
            ]
        );
        assert!(responses.iter().all(|response| response.accepted()));
        // The first followup after a deferral replaces the "thinking" placeholder.
        assert_eq!(original["content"], "Report ready: 3 servers");
        assert_eq!(original["flags"], 0);
        assert_eq!(discord.messages_in(GUILD).len(), 1);
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn button_click_updates_the_message() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let ask = discord
            .slash(
                &alice(),
                "power",
                json!([{"name": "server", "type": 3, "value": "vps-42"}]),
            )
            .await;
        let responses = ask.wait(WAIT).await;
        assert_eq!(responses[0].content(), Some("Power off vps-42?"));
        let button = responses[0].custom_ids()[0].clone();
        let message = responses[0].message.clone().expect("the reply message");

        let press = discord.click(&alice(), &message, &button).await;
        let responses = press.wait(WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(7));
        let updated = discord
            .message(
                message["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .expect("id"),
            )
            .expect("the message still exists");
        assert_eq!(updated["content"], "vps-42 is powering off");
        assert_eq!(updated["components"], json!([]));
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn autocomplete_offers_choices() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let typing = json!([{"name": "server", "type": 3, "value": "vps", "focused": true}]);
        let reply = discord.autocomplete(&alice(), "power", typing).await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(8));
        let choices: Vec<&str> = responses[0].body["data"]["choices"]
            .as_array()
            .expect("choices")
            .iter()
            .filter_map(|choice| choice["value"].as_str())
            .collect();
        assert_eq!(choices, vec!["vps-41", "vps-42"]);
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn modal_is_opened_and_submitted() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let open = discord.slash(&alice(), "ticket", json!([])).await;
        let responses = open.wait(WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(9));
        let modal = responses[0].modal_custom_id().expect("a modal").to_owned();
        assert_eq!(modal, open.interaction_id().to_string());

        let submit = discord
            .submit_modal(
                &alice(),
                &modal,
                [("subject", "Server down"), ("details", "since 9:00")],
            )
            .await;
        let responses = submit.wait(WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(6));
        discord
            .wait_until(WAIT, "the ticket note", |discord| {
                !discord.messages_in(SUPPORT).is_empty()
            })
            .await;
        assert_eq!(
            discord.messages_in(SUPPORT)[0]["content"],
            "New ticket: Server down (since 9:00)"
        );
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn a_modal_submit_gets_a_reply_and_an_edit() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let open = discord.slash(&alice(), "feedback", json!([])).await;
        let modal = open.wait(WAIT).await[0]
            .modal_custom_id()
            .expect("a modal")
            .to_owned();
        let submit = discord
            .submit_modal(&alice(), &modal, [("text", "great service")])
            .await;
        let responses = submit.wait_for(2, WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(4));
        assert_eq!(responses[1].kind, ResponseKind::EditOriginal);
        let thanks = responses[1].message.clone().expect("the edited reply");
        assert_eq!(thanks["content"], "Thanks for the feedback");
        let trigger = &thanks["interaction_metadata"]["triggering_interaction_metadata"];
        assert_eq!(trigger["id"], open.interaction_id().to_string());
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn threads_dms_channel_messages_and_edits() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let reply = discord.slash(&alice(), "escalate", json!([])).await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(
            responses.last().and_then(|r| r.content()),
            Some("Escalated")
        );

        let threads = discord.threads_in(SUPPORT);
        assert_eq!(threads.len(), 1);
        let thread = &threads[0];
        assert_eq!(thread["name"], "ticket-1");
        assert_eq!(thread["type"], 12);
        assert_eq!(thread["thread_metadata"]["archived"], true);
        assert_eq!(thread["thread_metadata"]["locked"], true);
        let thread_id: u64 = thread["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .expect("id");
        assert_eq!(
            discord.thread_members(thread_id),
            vec![discord.application_id(), 3000]
        );

        let notes = discord.messages_in(thread_id);
        assert_eq!(notes[0]["content"], "Ticket opened");
        assert!(notes[0]["edited_timestamp"].is_string());
        assert_eq!(
            notes[0]["mentions"],
            json!([]),
            "allowed_mentions kept it inert"
        );

        let dms = discord.dms_to(3000);
        assert_eq!(dms[0]["content"], "We opened ticket-1 for you");
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn people_post_messages_and_the_bot_sees_its_own_echo() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let alice = alice().in_channel(SUPPORT);
        discord.post_message(&alice, "ping").await;
        discord
            .wait_until(WAIT, "the bot's pong", |discord| {
                discord.messages_in(SUPPORT).len() >= 2
            })
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let contents: Vec<Value> = discord
            .messages_in(SUPPORT)
            .iter()
            .map(|message| message["content"].clone())
            .collect();
        assert_eq!(contents, vec![json!("ping"), json!("pong")]);
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn a_rate_limited_callback_shows_on_the_reply() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        discord.rate_limit("/callback", 1, Duration::from_secs(1));
        let reply = discord.slash(&alice(), "balance", json!([])).await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(
            (responses[0].kind, responses[0].status),
            (ResponseKind::Callback(4), 429)
        );
    })
    .await;
}

#[tokio::test]
async fn sharded_bot_gets_each_guild_on_its_shard() {
    within(async {
        // Discord's formula puts guild (1 << 22) on shard 1 of 2 and guild (2 << 22) on shard 0.
        let (on_zero, on_one) = (2u64 << 22, 1u64 << 22);
        assert_eq!(
            (shard_for(Some(on_zero), 2), shard_for(Some(on_one), 2)),
            (0, 1)
        );
        let discord = FakeDiscord::builder()
            .shards(2)
            .guild(on_zero)
            .guild(on_one)
            .start()
            .await;
        let _bot = start_bot(&discord, &[on_zero, on_one], true).await;
        // serenity waits 5 s between shard IDENTIFYs.
        discord.wait_ready(Duration::from_secs(12)).await;
        let mut shards = discord.connected_shards();
        shards.sort_unstable();
        assert_eq!(shards, vec![[0, 2], [1, 2]]);

        for (guild, shard) in [(on_zero, 0), (on_one, 1)] {
            let member = Member::new(3000, "alice").in_guild(guild);
            let reply = discord.slash(&member, "shard", json!([])).await;
            let responses = reply.wait(WAIT).await;
            assert_eq!(
                responses[0].content(),
                Some(format!("shard {shard}").as_str())
            );
        }
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn bot_resumes_after_reconnect_and_after_a_dropped_socket() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        discord.reconnect_all().await;
        discord.wait_resumed(1, WAIT).await;
        let reply = discord.slash(&alice(), "balance", json!([])).await;
        assert!(reply.wait(WAIT).await[0].accepted());

        // Sent while the socket is down: the fake keeps it and replays it on RESUME.
        discord.drop_connections().await;
        let reply = discord.slash(&alice(), "balance", json!([])).await;
        discord.wait_resumed(2, WAIT).await;
        assert!(reply.wait(WAIT).await[0].accepted());

        assert_eq!(
            discord.identifies().len(),
            1,
            "the bot resumed instead of identifying"
        );
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn heartbeats_are_acknowledged() {
    within(async {
        let discord = FakeDiscord::builder()
            .guild(GUILD)
            .heartbeat_interval(Duration::from_millis(200))
            .start()
            .await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;
        discord
            .wait_until(WAIT, "three heartbeats", |discord| {
                discord.heartbeats() >= 3
            })
            .await;
        assert_eq!(discord.identifies().len(), 1);
        assert_eq!(
            discord.resumes(),
            0,
            "an unacknowledged heartbeat would reconnect"
        );
        assert_no_problems(&discord);
    })
    .await;
}

// --- What the fake refuses ---

#[tokio::test]
async fn a_wrong_token_is_refused() {
    within(async {
        let discord = discord().await;
        let stranger = http_for(&discord, "not-the-token");
        let error = stranger
            .get_current_user()
            .await
            .expect_err("a wrong token is refused");
        assert_eq!(refusal(&error).0, 401);
        let me = http_for(&discord, &discord.token())
            .get_current_user()
            .await
            .expect("the right token is accepted");
        assert_eq!(me.id.get(), discord.application_id());

        // The gateway closes with 4004 on an IDENTIFY with a wrong token.
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("{}/?v=10", discord.gateway_url()))
                .await
                .expect("the gateway accepts a websocket");
        use futures_util::{SinkExt, StreamExt};
        use tokio_tungstenite::tungstenite::Message;
        let hello = socket.next().await.expect("a frame").expect("HELLO");
        let hello: Value = serde_json::from_str(hello.to_text().expect("text")).expect("JSON");
        assert_eq!(hello["op"], 10);
        let identify = json!({"op": 2, "d": {"token": "nope", "intents": 0,
            "properties": {"os": "linux", "browser": "test", "device": "test"}}});
        socket
            .send(Message::Text(identify.to_string()))
            .await
            .expect("IDENTIFY sent");
        let closed = socket
            .next()
            .await
            .expect("a frame")
            .expect("a close frame");
        let Message::Close(Some(frame)) = closed else {
            panic!("expected a close frame, got {closed:?}");
        };
        assert_eq!(u16::from(frame.code), 4004);
        assert_eq!(discord.close_codes(), vec![4004]);
    })
    .await;
}

#[tokio::test]
async fn a_body_off_the_spec_is_refused_and_recorded() {
    within(async {
        let discord = discord().await;
        let http = http_for(&discord, &discord.token());
        let error = http
            .send_message(ChannelId::new(SUPPORT), Vec::new(), &json!({"content": 42}))
            .await
            .expect_err("a number is no content");
        assert_eq!(refusal(&error), (400, 50035));
        let problems = discord.recorder().problems();
        assert!(
            problems.iter().any(|problem| problem.contains("/content")),
            "{problems:#?}"
        );
        assert!(discord.messages_in(SUPPORT).is_empty());

        let error = http
            .send_message(ChannelId::new(999), Vec::new(), &json!({"content": "hi"}))
            .await
            .expect_err("no such channel");
        assert_eq!(refusal(&error), (404, 10003));
    })
    .await;
}

#[tokio::test]
async fn a_callback_after_three_seconds_is_unknown() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let reply = discord.slash(&alice(), "slow", json!([])).await;
        let responses = reply.wait(WAIT).await;
        assert_eq!(responses[0].kind, ResponseKind::Callback(4));
        assert_eq!(
            (responses[0].status, responses[0].error_code),
            (404, Some(10062))
        );
        assert!(responses[0].after > Duration::from_secs(3));
        assert!(discord.callback_latencies().is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_second_callback_is_refused() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;

        let reply = discord.slash(&alice(), "balance", json!([])).await;
        reply.wait(WAIT).await;
        let again = CreateInteractionResponse::Message(
            CreateInteractionResponseMessage::new().content("again"),
        );
        let http = http_for(&discord, &discord.token());
        let error = http
            .create_interaction_response(
                InteractionId::new(reply.interaction_id()),
                reply.token(),
                &again,
                Vec::new(),
            )
            .await
            .expect_err("one callback per interaction");
        assert_eq!(refusal(&error), (400, 40060));
        let responses = reply.responses();
        assert_eq!(responses.len(), 2);
        assert!(responses[0].accepted() && !responses[1].accepted());
    })
    .await;
}

#[tokio::test]
async fn files_are_uploaded_as_multipart() {
    within(async {
        let discord = discord().await;
        let http = http_for(&discord, &discord.token());
        let transcript = serenity::CreateAttachment::bytes(b"alice: hi".to_vec(), "transcript.txt");
        let sent = ChannelId::new(SUPPORT)
            .send_files(
                &http,
                [transcript],
                CreateMessage::new().content("Transcript"),
            )
            .await
            .expect("the upload is accepted");
        assert_eq!(sent.attachments[0].filename, "transcript.txt");
        let stored = &discord.messages_in(SUPPORT)[0];
        assert_eq!(stored["content"], "Transcript");
        assert_eq!(stored["attachments"][0]["filename"], "transcript.txt");
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn dms_to_a_user_who_closed_them_are_refused() {
    within(async {
        let discord = discord().await;
        let bob = Member::new(3001, "bob").in_guild(GUILD);
        discord.add_member(&bob);
        discord.close_dms(3001);
        let http = http_for(&discord, &discord.token());
        let dm = serenity::UserId::new(3001)
            .create_dm_channel(&http)
            .await
            .expect("the DM channel opens");
        let error = dm
            .id
            .say(&http, "your server is down")
            .await
            .expect_err("DMs closed");
        assert_eq!(refusal(&error), (403, 50007));
        assert!(discord.dms_to(3001).is_empty());
        assert_no_problems(&discord);
    })
    .await;
}

/// Posts JSON to the fake over plain HTTP/1.1, as hostdeck's notifier would post to a webhook
/// URL: the status, the headers (lowercase names) and the JSON body.
async fn post(api_base: &str, path: &str, body: &Value) -> (u16, Vec<(String, String)>, Value) {
    let addr = api_base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("the fake listens");
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: hostdeck-tests\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response read");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    (
        status,
        headers,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn webhooks_take_posts_and_can_be_rate_limited() {
    within(async {
        let discord = discord().await;
        let status = discord.create_webhook(SUPPORT, "status");
        let path = status
            .url
            .trim_start_matches(&discord.api_base())
            .to_owned();

        let (code, _, message) = post(
            &discord.api_base(),
            &format!("{path}?wait=true"),
            &json!({"content": "All systems go"}),
        )
        .await;
        assert_eq!(code, 200);
        assert_eq!(message["webhook_id"], status.id.to_string());
        assert_eq!(
            discord.webhook_posts(status.id),
            vec![json!({"content": "All systems go"})]
        );

        discord.rate_limit(&path, 1, Duration::from_millis(1500));
        let (code, headers, body) = post(
            &discord.api_base(),
            &format!("{path}?wait=true"),
            &json!({"content": "again"}),
        )
        .await;
        assert_eq!(code, 429);
        assert_eq!(body["retry_after"], 1.5);
        assert_eq!(body["global"], false);
        assert!(body["message"].is_string());
        let header = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| header == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(header("retry-after").as_deref(), Some("2"));
        assert_eq!(header("x-ratelimit-remaining").as_deref(), Some("0"));
        assert!(
            header("x-ratelimit-reset-after").is_some() && header("x-ratelimit-bucket").is_some()
        );
        assert_eq!(discord.webhook_posts(status.id).len(), 1);

        // serenity's own webhook call goes through /api/v10 and is accepted again.
        let http = http_for(&discord, &discord.token());
        let sent = http
            .execute_webhook(
                serenity::WebhookId::new(status.id),
                None,
                &status.token,
                true,
                Vec::new(),
                &json!({"content": "Maintenance at 02:00"}),
            )
            .await
            .expect("the webhook takes it")
            .expect("wait=true returns the message");
        assert_eq!(sent.content, "Maintenance at 02:00");
        assert_eq!(discord.messages_in(SUPPORT).len(), 2);

        let (code, _, body) = post(
            &discord.api_base(),
            &format!("{path}x"),
            &json!({"content": "forged"}),
        )
        .await;
        assert_eq!((code, body["code"].as_u64()), (401, Some(50027)));
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "has no option")]
async fn a_test_cannot_send_options_the_bot_never_registered() {
    let discord = discord().await;
    let _bot = start_bot(&discord, &[GUILD], false).await;
    discord.wait_ready(WAIT).await;
    discord
        .slash(
            &alice(),
            "power",
            json!([{"name": "force", "type": 5, "value": true}]),
        )
        .await;
}

// --- Ticket threads: people in them, paging, archiving, outages ---

/// The id of the thread `/thread` opened, read from its answer.
async fn open_watched_thread(discord: &FakeDiscord) -> u64 {
    let reply = discord.slash(&alice(), "thread", json!([])).await;
    let responses = reply.wait(WAIT).await;
    let said = responses
        .iter()
        .find_map(|response| response.content())
        .expect("/thread answered");
    said.trim_start_matches("thread ")
        .parse()
        .expect("a thread id")
}

/// Waits for a message whose content starts with `prefix` in `channel_id`.
async fn heard(discord: &FakeDiscord, channel_id: u64, prefix: &str) -> String {
    let found = |discord: &FakeDiscord| {
        discord
            .messages_in(channel_id)
            .iter()
            .filter_map(|message| message["content"].as_str())
            .find(|content| content.starts_with(prefix))
            .map(str::to_owned)
    };
    discord
        .wait_until(WAIT, prefix, |discord| found(discord).is_some())
        .await;
    found(discord).unwrap_or_default()
}

#[tokio::test]
async fn members_post_edit_and_delete_in_a_private_thread_and_the_bot_hears_it() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;
        let thread_id = open_watched_thread(&discord).await;
        let thread = discord.channel(thread_id).expect("the thread");
        assert_eq!(thread["type"], 12);
        assert_eq!(thread["thread_metadata"]["invitable"], false);
        assert_eq!(thread["thread_metadata"]["auto_archive_duration"], 10080);
        assert_eq!(
            discord.thread_members(thread_id),
            vec![discord.application_id(), 3000]
        );

        let alice = alice().in_channel(thread_id);
        let log = super::Upload::new("boot.log", 1234, "text/plain");
        let posted = discord
            .post_with_files(&alice, "it will not boot", &[log])
            .await;
        assert_eq!(posted["attachments"][0]["size"], 1234);
        let said = heard(&discord, thread_id, "heard").await;
        assert_eq!(
            said,
            "heard \"it will not boot\" with boot.log (1234 bytes, cdn.discordapp.com)"
        );

        discord.edit_message_as(&alice, &posted, "it boots now");
        let said = heard(&discord, thread_id, "edited").await;
        assert!(said.ends_with("Some(\"it boots now\")"), "{said}");

        discord.delete_message_as(&alice, &posted);
        let said = heard(&discord, SUPPORT, "deleted").await;
        assert_eq!(
            said,
            format!(
                "deleted {} in {thread_id}",
                posted["id"].as_str().unwrap_or_default()
            )
        );
        assert!(
            discord
                .message(
                    posted["id"]
                        .as_str()
                        .unwrap_or_default()
                        .parse()
                        .unwrap_or(0)
                )
                .is_none()
        );

        discord.delete_thread(thread_id);
        let said = heard(&discord, SUPPORT, "thread").await;
        assert_eq!(said, format!("thread {thread_id} deleted"));
        assert!(discord.channel(thread_id).is_none());
        let http = http_for(&discord, &discord.token());
        let error = ChannelId::new(thread_id)
            .say(&http, "anyone there?")
            .await
            .expect_err("the thread is gone");
        assert_eq!(refusal(&error), (404, 10003));
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn messages_are_read_after_an_id_a_page_at_a_time() {
    within(async {
        let discord = discord().await;
        let http = http_for(&discord, &discord.token());
        let channel = ChannelId::new(SUPPORT);
        let mut ids = Vec::new();
        for index in 1..=7 {
            ids.push(
                channel
                    .say(&http, format!("message {index}"))
                    .await
                    .expect("sent")
                    .id,
            );
        }
        let page = |after: serenity::MessageId| {
            let http = &http;
            async move {
                let page = channel
                    .messages(http, serenity::GetMessages::new().after(after).limit(3))
                    .await
                    .expect("a page");
                page.iter().map(|message| message.id).collect::<Vec<_>>()
            }
        };
        // Discord answers newest first, also with `after`: the three right after the id.
        assert_eq!(page(ids[0]).await, vec![ids[3], ids[2], ids[1]]);
        assert_eq!(page(ids[3]).await, vec![ids[6], ids[5], ids[4]]);
        assert!(page(ids[6]).await.is_empty());
        // Ids are numbers: "5" sorts after every real id as text, but is older than all of them.
        let all = page(serenity::MessageId::new(5)).await;
        assert_eq!(all, vec![ids[2], ids[1], ids[0]]);

        let newest = channel
            .messages(&http, serenity::GetMessages::new().before(ids[6]).limit(2))
            .await
            .expect("a page");
        assert_eq!(
            newest.iter().map(|message| message.id).collect::<Vec<_>>(),
            vec![ids[5], ids[4]]
        );
        let client = reqwest::Client::new();
        for limit in ["0", "101", "ten"] {
            let refused = client
                .get(format!(
                    "{}/api/v10/channels/{SUPPORT}/messages?limit={limit}",
                    discord.api_base()
                ))
                .header("authorization", format!("Bot {}", discord.token()))
                .header("user-agent", "hostdeck-tests")
                .send()
                .await
                .expect("an answer");
            assert_eq!(refused.status().as_u16(), 400, "limit={limit}");
            let body: Value = refused.json().await.expect("JSON");
            assert_eq!(body["code"], 50035);
            assert!(body["errors"]["limit"].is_object(), "{body}");
        }
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn an_archived_thread_takes_a_bot_post_only_once_unarchived() {
    within(async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;
        let thread_id = open_watched_thread(&discord).await;
        let http = http_for(&discord, &discord.token());
        let thread = ChannelId::new(thread_id);

        thread
            .edit_thread(&http, EditThread::new().archived(true))
            .await
            .expect("archived");
        heard(
            &discord,
            SUPPORT,
            &format!("thread {thread_id} archived=true"),
        )
        .await;
        let error = thread.say(&http, "closed").await.expect_err("archived");
        assert_eq!(refusal(&error), (400, 50083));
        thread
            .edit_thread(&http, EditThread::new().archived(false))
            .await
            .expect("unarchived");
        thread.say(&http, "reopened").await.expect("posted");

        // A member's post unarchives it by itself, and the bot hears the thread change.
        thread
            .edit_thread(&http, EditThread::new().archived(true))
            .await
            .expect("archived again");
        discord
            .post_message(&alice().in_channel(thread_id), "one more thing")
            .await;
        let unarchived = format!("thread {thread_id} archived=false");
        discord
            .wait_until(WAIT, "the second unarchive", |discord| {
                let said = discord.messages_in(SUPPORT);
                said.iter()
                    .filter(|message| message["content"] == *unarchived)
                    .count()
                    == 2
            })
            .await;
        let stored = discord.channel(thread_id).expect("the thread");
        assert_eq!(stored["thread_metadata"]["archived"], false);
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn the_message_content_intent_is_refused_while_the_portal_has_it_off() {
    within(async {
        let discord = FakeDiscord::builder()
            .guild(GUILD)
            .message_content_intent(false)
            .start()
            .await;
        let privileged = GatewayIntents::non_privileged() | GatewayIntents::MESSAGE_CONTENT;
        let mut client = serenity::ClientBuilder::new_with_http(
            http_for(&discord, &discord.token()),
            privileged,
        )
        .await
        .expect("the client builds");
        let error = client
            .start()
            .await
            .expect_err("Discord refuses the intent");
        assert!(
            matches!(
                error,
                serenity::Error::Gateway(serenity::GatewayError::DisallowedGatewayIntents)
            ),
            "{error:?}"
        );
        assert_eq!(discord.close_codes(), vec![4014]);

        // Without it the bot connects; once the portal turns it on, it may ask again.
        let bot = launch_bot(&discord, &[GUILD], false, GatewayIntents::non_privileged()).await;
        discord.wait_ready(WAIT).await;
        drop(bot);
        discord.set_message_content_intent(true);
        let _bot = launch_bot(&discord, &[GUILD], false, privileged).await;
        discord
            .wait_until(WAIT, "a second IDENTIFY", |discord| {
                discord.identifies().len() == 2
            })
            .await;
        assert_eq!(discord.close_codes(), vec![4014]);
        assert_no_problems(&discord);
    })
    .await;
}

#[tokio::test]
async fn discord_goes_down_and_comes_back_and_the_bot_identifies_again() {
    tokio::time::timeout(Duration::from_secs(40), async {
        let discord = discord().await;
        let _bot = start_bot(&discord, &[GUILD], false).await;
        discord.wait_ready(WAIT).await;
        let http = http_for(&discord, &discord.token());

        discord.go_down();
        let error = ChannelId::new(SUPPORT)
            .say(&http, "anyone?")
            .await
            .expect_err("down");
        assert_eq!(refusal(&error).0, 503);
        assert_eq!(discord.refused_while_down(), 1);
        discord
            .wait_until(WAIT, "the gateway to drop", |discord| {
                discord.connected_shards().is_empty()
            })
            .await;
        // People keep talking; the bot hears none of it.
        let missed = discord
            .post_message(&alice().in_channel(SUPPORT), "are you there?")
            .await;

        discord.come_back();
        discord.wait_ready(Duration::from_secs(20)).await;
        assert_eq!(
            discord.identifies().len(),
            2,
            "a new session after the outage"
        );
        let page = ChannelId::new(SUPPORT)
            .messages(&http, serenity::GetMessages::new().limit(10))
            .await
            .expect("REST is back");
        assert_eq!(
            page[0].id.to_string(),
            missed["id"].as_str().unwrap_or_default()
        );
        assert_no_problems(&discord);
    })
    .await
    .expect("the test finished within 40 s");
}
