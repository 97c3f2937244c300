//! hostdeck-bot: the Discord front door (poise on serenity). Commands stay thin: parse the
//! interaction, call core with the member's access, render the reply.
//!
//! Layout:
//! - [`access`]: the member behind an interaction, and the check that runs before every
//!   command: maintenance, then the permission core's command table names (core checks again
//!   in every call).
//! - `commands/`: the slash commands, one file per area (`member.rs`: `/help`, `/link`,
//!   `/unlink`, `/balance`; `servers.rs`; `staff.rs`; `tickets.rs`), each with its buttons' `custom_id`
//!   prefixes and handlers.
//! - [`components`]: the one router of buttons and modals, by `custom_id` prefix, after the
//!   same maintenance check.
//! - [`render`]: every message is built there (limits, inert text, no mentions).
//! - [`errors`]: the error type and the one `on_error`.
//! - [`sender`]: the outbox's Discord sender (DMs, webhook posts, channel posts).
//! - [`status_channel`]: the status channel's sticky message, and the gateway state reported
//!   to core's status; `status_card` is the report as a card (for it and `/status`).
//! - [`ticket_sync`]: tickets' threads both ways: the outbox's reconcile of a ticket's thread,
//!   and thread messages, edits, deletions and catch-up into core.
//!
//! `discord.api_base` other than `https://discord.com` routes REST and the gateway to that
//! base (tests point it at a fake Discord); there serenity's rate limiter is off, because it
//! would call discord.com itself. Against real Discord it is always on.

pub mod access;
mod commands;
pub mod components;
pub mod errors;
pub mod render;
pub mod sender;
mod status_card;
pub mod status_channel;
pub mod ticket_sync;

use std::sync::Arc;

use hostdeck_core::Core;
use hostdeck_core::config::DiscordConfig;
use poise::serenity_prelude as serenity;
use secrecy::ExposeSecret;
use serenity::{ClientBuilder, GatewayIntents, Http, HttpBuilder};
use tokio::sync::watch;

pub use errors::BotError;

/// What every command and handler shares: the platform's core.
pub struct Data {
    pub core: Arc<Core>,
    /// True once the platform is stopping: the shards' disconnects then are not an outage.
    pub stopping: watch::Receiver<bool>,
}

pub type Context<'a> = poise::Context<'a, Data, BotError>;
pub type ApplicationContext<'a> = poise::ApplicationContext<'a, Data, BotError>;

const DISCORD: &str = "https://discord.com";

/// Why the bot is not running, or `None` when it can start.
pub fn off_reason(config: &DiscordConfig) -> Option<&'static str> {
    if config.token.is_none() {
        return Some("the Discord bot is off: discord.token is not set");
    }
    None
}

/// Whether `api_base` is Discord itself.
fn is_discord(config: &DiscordConfig) -> bool {
    config.api_base.as_str().trim_end_matches('/') == DISCORD
}

/// The REST client for the configured token and base, with its HTTP client; `None` without a
/// token. Every message it sends allows no mentions unless the message says otherwise.
pub fn http(config: &DiscordConfig) -> Option<(Arc<Http>, reqwest::Client)> {
    build_http(config).map(|(http, client)| (Arc::new(http), client))
}

fn build_http(config: &DiscordConfig) -> Option<(Http, reqwest::Client)> {
    let token = config.token.as_ref()?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .ok()?;
    let mut builder = HttpBuilder::new(token.expose_secret())
        .client(client.clone())
        .default_allowed_mentions(render::no_mentions());
    if !is_discord(config) {
        // serenity's rate limiter ignores the proxy and would call discord.com itself.
        builder = builder
            .proxy(config.api_base.as_str().trim_end_matches('/'))
            .ratelimiter_disabled(true);
    }
    Some((builder.build(), client))
}

/// The outbox's sender of webhook posts (they need no bot token) and DMs (only with a token;
/// without one they wait in the outbox).
pub fn discord_sender(
    config: &DiscordConfig,
) -> Result<Arc<dyn hostdeck_core::notify::DiscordSender>, reqwest::Error> {
    let (http, client) = match http(config) {
        Some((http, client)) => (Some(http), client),
        None => (None, webhook_client()?),
    };
    Ok(Arc::new(sender::RestSender::new(
        http,
        client,
        &config.api_base,
    )))
}

/// The outbox's keeper of tickets' Discord threads; `None` without a bot token (the threads
/// wait in the outbox until there is one).
pub fn ticket_sync(core: Arc<Core>) -> Option<Arc<dyn hostdeck_core::tickets::sync::TicketSync>> {
    let (http, _) = http(&core.config.discord)?;
    Some(Arc::new(ticket_sync::ThreadSync::new(core, http)))
}

fn webhook_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
}

/// Registers the commands in `discord.guild_id`, or globally when it is unset. Returns how
/// many were registered.
pub async fn register_commands(
    http: &Http,
    config: &DiscordConfig,
) -> Result<usize, serenity::Error> {
    if http.application_id().is_none() {
        let application = http.get_current_application_info().await?;
        http.set_application_id(application.id);
    }
    let commands = poise::builtins::create_application_commands(&commands::all());
    let count = commands.len();
    match config.guild_id {
        Some(guild) => {
            serenity::GuildId::new(guild)
                .set_commands(http, commands)
                .await?;
        }
        None => {
            serenity::Command::set_global_commands(http, commands).await?;
        }
    }
    Ok(count)
}

/// `hostdeck bot register-commands`.
pub async fn register_from_config(config: &DiscordConfig) -> Result<usize, String> {
    let Some((http, _)) = http(config) else {
        return Err("discord.token is not set, so there is no bot to register commands for".into());
    };
    register_commands(&http, config)
        .await
        .map_err(|error| format!("Discord refused the commands: {error}"))
}

fn options() -> poise::FrameworkOptions<Data, BotError> {
    poise::FrameworkOptions {
        commands: commands::all(),
        on_error: errors::on_error,
        command_check: Some(access::check),
        allowed_mentions: Some(render::no_mentions()),
        initialize_owners: false,
        event_handler: |framework, event| {
            Box::pin(async move {
                if let serenity::FullEvent::InteractionCreate { interaction } = event {
                    components::handle(
                        framework.serenity_context,
                        framework.user_data,
                        interaction,
                    )
                    .await;
                }
                ticket_sync::on_event(framework.serenity_context, framework.user_data, event).await;
                status_channel::on_event(framework.user_data, event).await;
                Ok(())
            })
        },
        ..Default::default()
    }
}

/// What the bot asks Discord for: guilds and threads (GUILDS), messages in guild channels and
/// threads (GUILD_MESSAGES), and their text, which ticket threads need (MESSAGE_CONTENT, a
/// privileged intent the developer portal must allow).
pub fn wanted_intents() -> GatewayIntents {
    GatewayIntents::non_privileged()
        | GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

/// The one line an operator needs when Discord refuses the Message Content intent.
const MESSAGE_CONTENT_REFUSED: &str = "Discord refused the Message Content intent (close code \
    4014 \"Disallowed intent(s)\"): turn on \"Message Content Intent\" in the Discord developer \
    portal (your application > Bot > Privileged Gateway Intents) and restart hostdeck. Until \
    then the bot runs without it: commands work, messages posted in ticket threads are not read.";

/// Runs the bot until `stop` turns true: connects every shard (`discord.shards`, or as many as
/// Discord recommends), reconnecting and resuming as serenity does, and registers the commands
/// first when `discord.register_on_start` is set. Returns at once without a token. When
/// Discord refuses MESSAGE_CONTENT (close code 4014), it says so once and starts again
/// without it, so everything else keeps working.
pub async fn run(core: Arc<Core>, stop: watch::Receiver<bool>) {
    let config = core.config.discord.clone();
    if config.register_on_start
        && let Some((http, _)) = build_http(&config)
    {
        match register_commands(&http, &config).await {
            Ok(count) => {
                tracing::info!(count, guild = ?config.guild_id, "Discord commands registered")
            }
            Err(error) => tracing::error!(%error, "the Discord commands could not be registered"),
        }
    }
    let sticky = tokio::spawn(status_channel::run(core.clone(), stop.clone()));
    let mut intents = wanted_intents();
    while !*stop.borrow() {
        let outcome = run_client(core.clone(), &config, intents, stop.clone()).await;
        match outcome {
            Err(serenity::Error::Gateway(serenity::GatewayError::DisallowedGatewayIntents))
                if intents.contains(GatewayIntents::MESSAGE_CONTENT) =>
            {
                tracing::error!("{MESSAGE_CONTENT_REFUSED}");
                intents.remove(GatewayIntents::MESSAGE_CONTENT);
            }
            Err(error) => {
                tracing::error!(%error, "the Discord bot stopped");
                break;
            }
            Ok(()) => break,
        }
    }
    // Stopped on purpose, the bot says nothing: another replica's report, or none (unknown
    // once it is stale), is the truth. Stopped by an error, the gateway is down.
    if !*stop.borrow()
        && let Err(error) = core.status.report_gateway(false).await
    {
        tracing::warn!(%error, "the gateway state was not stored");
    }
    let _ = sticky.await;
    tracing::info!("the Discord bot has stopped");
}

/// One client with `intents`, until it stops or `stop` turns true.
async fn run_client(
    core: Arc<Core>,
    config: &DiscordConfig,
    intents: GatewayIntents,
    mut stop: watch::Receiver<bool>,
) -> Result<(), serenity::Error> {
    let Some((http, _)) = build_http(config) else {
        return Ok(());
    };
    let data = Data {
        core: core.clone(),
        stopping: stop.clone(),
    };
    let framework = poise::Framework::builder()
        .options(options())
        // Registration happens outside `setup`: a failure there would stall every event.
        .setup(move |_ctx, _ready, _framework| Box::pin(async move { Ok(data) }))
        .build();
    let mut client = ClientBuilder::new_with_http(http, intents)
        .framework(framework)
        .await?;
    let shards = client.shard_manager.clone();
    let reporter = tokio::spawn(status_channel::report_shards(
        core,
        shards.clone(),
        stop.clone(),
    ));
    let stopper = tokio::spawn(async move {
        let _ = stop.wait_for(|stop| *stop).await;
        shards.shutdown_all().await;
    });
    let outcome = match config.shards {
        Some(count) => client.start_shards(count).await,
        None => client.start_autosharded().await,
    };
    stopper.abort();
    reporter.abort();
    // A refused shard ends the run; the others must not outlive it.
    client.shard_manager.shutdown_all().await;
    outcome
}
