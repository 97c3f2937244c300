//! `/server`: a member's servers on Discord. `list`, `info` and `power` for customers (the
//! `server` option autocompletes the member's own servers from the stored states: name and
//! state shown, id submitted); `resize` shows the new price and resizes on its confirm button; `suspend` and `unsuspend` for billing staff; `lookup` for
//! support. Every answer that shows a customer's data is ephemeral.
//!
//! `power` with shutdown, poweroff or restart asks first: the confirm button's `custom_id`
//! carries the server and the action, and pressing it runs the action and then edits the
//! question into the result. Core re-checks ownership on every call: an id typed instead of
//! picked is as much user input as any.

use hostdeck_core::ids::ServerId;
use hostdeck_core::providers::PowerAction;
use hostdeck_core::servers::{Owners, Server, parse_power_action};
use hostdeck_core::ssh_keys::SshKeyId;
use hostdeck_core::status::plain_markdown;
use poise::serenity_prelude as serenity;
use serenity::ButtonStyle;

use crate::access::{Invoker, access, member_of};
use crate::errors::{BotError, stale};
use crate::render::{Answer, Button, Card};
use crate::{Context, Data};

/// The confirm button of `/server power`: `server:power:{server}:{action}`.
pub const SERVER_POWER: &str = "server:power:";
/// The confirm button of `/server create`: `server:create:{request}`.
pub const SERVER_CREATE: &str = "server:create:";
/// The confirm button of `/server resize`: `server:resize:{server}:{plan}`.
pub const SERVER_RESIZE: &str = "server:resize:";
/// The cancel button of `/server power`, `/server create` and `/server resize`.
pub const SERVER_CANCEL: &str = "server:cancel";

/// Your servers: list, details, power, create, resize; staff: suspend, unsuspend, lookup.
#[poise::command(
    slash_command,
    subcommands(
        "server_list",
        "server_info",
        "server_create",
        "server_power",
        "server_resize",
        "server_suspend",
        "server_unsuspend",
        "server_lookup"
    ),
    subcommand_required
)]
pub async fn server(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

/// The member's own servers, for autocomplete: answered from the stored states, never from a
/// provider, so it is quick whatever the providers' latency.
pub(super) async fn own_servers(
    ctx: Context<'_>,
    partial: &str,
) -> serenity::CreateAutocompleteResponse {
    let core = &ctx.data().core;
    let choices = match core.discord_links.access(&member_of(ctx)).await {
        Ok(access) => core
            .servers
            .list(&access.actor, Owners::Own)
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let partial = partial.to_lowercase();
    let choices = choices
        .iter()
        .filter(|server| partial.is_empty() || server.name.to_lowercase().contains(&partial))
        .take(25)
        .map(|server| {
            serenity::AutocompleteChoice::new(
                crate::render::truncate(
                    &format!("{} ({})", server.name, server.shown_state()),
                    100,
                ),
                server.id.0,
            )
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

fn server_line(server: &Server) -> String {
    format!(
        "{} · {} · {} · {} vCPU / {} MiB / {} GiB",
        server.shown_state(),
        server.hostname,
        server.provider,
        server.resources.vcpus,
        server.resources.memory_mib,
        server.resources.disk_gib
    )
}

/// Lists your servers.
#[poise::command(slash_command, rename = "list")]
pub async fn server_list(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let servers = ctx
        .data()
        .core
        .servers
        .list(&access.actor, Owners::Own)
        .await?;
    ctx.send(
        Answer::card(servers_card("Your servers", &servers))
            .ephemeral()
            .reply(),
    )
    .await?;
    Ok(())
}

fn servers_card(title: &str, servers: &[Server]) -> Card {
    let mut card = Card::new(title);
    if servers.is_empty() {
        return card.description("No servers.");
    }
    for server in servers.iter().take(25) {
        card = card.field(
            format!("{} (#{})", server.name, server.id),
            server_line(server),
        );
    }
    if servers.len() > 25 {
        card = card.footer(format!("{} more not shown", servers.len() - 25));
    }
    card
}

/// A server's details, with its state asked of its provider now.
#[poise::command(slash_command, rename = "info")]
pub async fn server_info(
    ctx: Context<'_>,
    #[description = "One of your servers"]
    #[autocomplete = "own_servers"]
    server: i64,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let view = core.servers.get(&access.actor, ServerId(server)).await?;
    let currency = &core.config.billing.currency;
    let mut card = Card::new(format!("{} (#{})", view.server.name, view.server.id))
        .field("State", view.server.shown_state())
        .field("Host name", view.server.hostname.clone())
        .field("Location", view.server.provider.clone())
        .field(
            "Size",
            format!("{} ({})", view.server.resources, view.server.plan),
        )
        .field("Charged so far", view.charged.display(currency))
        .field("An hour now", view.server.hourly().display_exact(currency));
    let actions: Vec<&str> = view
        .server
        .power_actions()
        .iter()
        .map(|action| action.as_str())
        .collect();
    if !actions.is_empty() {
        card = card.field("/server power", actions.join(", "));
    }
    if let Some(live) = &view.live {
        let addresses: Vec<String> = live.ipv4.iter().map(ToString::to_string).collect();
        if !addresses.is_empty() {
            card = card.field("Addresses", addresses.join(", "));
        }
    }
    if let Some(reason) = &view.server.suspend_reason {
        card = card.field("Suspended", reason.clone()).warning();
    }
    let incidents = core
        .status
        .affecting_now(&[view.server.provider.as_str()])
        .await?;
    for incident in incidents.iter().take(3) {
        let latest: String = incident
            .latest()
            .unwrap_or_default()
            .chars()
            .take(300)
            .collect();
        let link = core
            .config
            .web
            .portal_url(&format!("/status#incident-{}", incident.incident.id));
        card = card
            .field(
                "Known problem",
                format!(
                    "{}\n{}\n{link}",
                    plain_markdown(&incident.line()),
                    plain_markdown(&latest)
                ),
            )
            .warning();
    }
    if let Some(why) = &view.live_error {
        card = card.footer(format!("The provider did not answer: {why}"));
    }
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// The power actions, as Discord offers them.
#[derive(Debug, Clone, Copy, poise::ChoiceParameter)]
pub enum PowerChoice {
    #[name = "boot"]
    Boot,
    #[name = "shutdown"]
    Shutdown,
    #[name = "restart"]
    Restart,
    #[name = "poweroff"]
    Poweroff,
}

impl From<PowerChoice> for PowerAction {
    fn from(choice: PowerChoice) -> Self {
        match choice {
            PowerChoice::Boot => Self::Boot,
            PowerChoice::Shutdown => Self::Shutdown,
            PowerChoice::Restart => Self::Restart,
            PowerChoice::Poweroff => Self::Poweroff,
        }
    }
}

/// Boots, shuts down, restarts or powers off one of your servers.
#[poise::command(slash_command, rename = "power")]
pub async fn server_power(
    ctx: Context<'_>,
    #[description = "One of your servers"]
    #[autocomplete = "own_servers"]
    server: i64,
    #[description = "What to do"] action: PowerChoice,
) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let action = PowerAction::from(action);
    if !action.needs_confirmation() {
        ctx.defer_ephemeral().await?;
        let done = core
            .servers
            .power(&access.actor, ServerId(server), action)
            .await?;
        ctx.send(Answer::card(power_done(&done, action)).ephemeral().reply())
            .await?;
        return Ok(());
    }
    // Reading it first checks that it is the member's, before any button is shown.
    let found = core
        .servers
        .get(&access.actor, ServerId(server))
        .await?
        .server;
    // Only what its state offers gets a button (a stopped server is not shut down).
    found.may_power(action)?;
    let word = action.label();
    let card = Card::new(format!("{word} {}?", found.name)).description(action.describe());
    let answer = Answer::card(card)
        .ephemeral()
        .button(Button::new(
            format!("{SERVER_POWER}{}:{}", found.id, action.as_str()),
            word,
            ButtonStyle::Danger,
        ))
        .button(Button::new(SERVER_CANCEL, "Cancel", ButtonStyle::Secondary));
    ctx.send(answer.reply()).await?;
    Ok(())
}

fn power_done(server: &Server, action: PowerAction) -> Card {
    Card::new(format!("{}: {} done", server.name, action.as_str()))
        .field("State", server.shown_state())
}

/// The confirm button of `/server power`: `server:power:{id}:{action}`.
pub async fn server_power_confirmed(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
) -> Result<Answer, BotError> {
    let (id, action) = rest.split_once(':').ok_or_else(stale)?;
    let id: i64 = id.parse().map_err(|_| stale())?;
    let action = parse_power_action(action)?;
    let access = data.core.discord_links.access(&invoker.member).await?;
    let server = data
        .core
        .servers
        .power(&access.actor, ServerId(id), action)
        .await?;
    Ok(Answer::card(power_done(&server, action)).ephemeral())
}

/// Resizes one of your servers to another plan: shows the new price, resizes when you confirm.
#[poise::command(slash_command, rename = "resize")]
pub async fn server_resize(
    ctx: Context<'_>,
    #[description = "One of your servers"]
    #[autocomplete = "own_servers"]
    server: i64,
    #[description = "The new plan"]
    #[autocomplete = "plans"]
    plan: String,
) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let plan = plan.trim().to_owned();
    let quote = core
        .servers
        .quote_resize(
            &access.actor,
            ServerId(server),
            &hostdeck_core::pricing::Size::Plan(plan.clone()),
        )
        .await?;
    let currency = &core.config.billing.currency;
    let card = Card::new(format!(
        "Resize {} to {}?",
        quote.server.name, quote.to.plan
    ))
    .description(quote.billing_note())
    .field(
        "Now",
        format!(
            "{}, {} a month",
            quote.from.resources,
            core.pricing.monthly_price(&quote.from).display(currency)
        ),
    )
    .field("New size", quote.to.resources.to_string())
    .field(
        "Per hour",
        format!("{} {}", quote.to.per_hour_text(), currency.code()),
    )
    .field("Per month", quote.per_month.display(currency))
    .footer(quote.caveat());
    let answer = Answer::card(card)
        .ephemeral()
        .button(Button::new(
            format!("{SERVER_RESIZE}{}:{}", quote.server.id, quote.to.plan),
            "Resize",
            ButtonStyle::Primary,
        ))
        .button(Button::new(SERVER_CANCEL, "Cancel", ButtonStyle::Secondary));
    ctx.send(answer.reply()).await?;
    Ok(())
}

/// The confirm button of `/server resize`: `server:resize:{id}:{plan}`.
pub async fn server_resize_confirmed(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
) -> Result<Answer, BotError> {
    let (id, plan) = rest.split_once(':').ok_or_else(stale)?;
    let id: i64 = id.parse().map_err(|_| stale())?;
    let access = data.core.discord_links.access(&invoker.member).await?;
    let resized = data
        .core
        .servers
        .resize(
            &access.actor,
            ServerId(id),
            &hostdeck_core::pricing::Size::Plan(plan.to_owned()),
        )
        .await?;
    let card = Card::new(format!("{} is resized", resized.server.name))
        .field("Size", resized.server.resources.to_string())
        .field("Plan", resized.server.plan.clone())
        .field(
            "Per month",
            resized
                .quote
                .per_month
                .display(&data.core.config.billing.currency),
        );
    Ok(Answer::card(card).ephemeral())
}

/// The price list's plans, each with its monthly price.
async fn plans(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let core = &ctx.data().core;
    let currency = &core.config.billing.currency;
    let partial = partial.to_lowercase();
    let choices = core
        .pricing
        .plans()
        .iter()
        .filter(|plan| plan.name.to_lowercase().contains(&partial))
        .filter_map(|plan| {
            let quote = core
                .pricing
                .quote(&hostdeck_core::pricing::Size::Plan(plan.name.clone()))
                .ok()?;
            Some(serenity::AutocompleteChoice::new(
                crate::render::truncate(
                    &format!(
                        "{}: {}, {} a month",
                        plan.name,
                        plan.resources,
                        core.pricing.monthly_price(&quote).display(currency)
                    ),
                    100,
                ),
                plan.name.clone(),
            ))
        })
        .take(25)
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// The configured providers.
async fn locations(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let choices = ctx
        .data()
        .core
        .servers
        .locations()
        .into_iter()
        .filter(|location| location.name.contains(partial))
        .take(25)
        .map(|location| {
            serenity::AutocompleteChoice::new(
                format!("{} ({})", location.name, location.platform),
                location.name,
            )
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// The value typed so far for another option of the same command (autocomplete of one
/// option may depend on another: the templates on the location).
fn typed_option(ctx: Context<'_>, name: &str) -> Option<String> {
    fn find(options: &[serenity::CommandDataOption], name: &str) -> Option<String> {
        for option in options {
            match &option.value {
                serenity::CommandDataOptionValue::SubCommand(inner)
                | serenity::CommandDataOptionValue::SubCommandGroup(inner) => {
                    if let Some(value) = find(inner, name) {
                        return Some(value);
                    }
                }
                serenity::CommandDataOptionValue::String(value)
                | serenity::CommandDataOptionValue::Autocomplete { value, .. }
                    if option.name == name =>
                {
                    return Some(value.clone());
                }
                _ => {}
            }
        }
        None
    }
    let poise::Context::Application(app) = ctx else {
        return None;
    };
    find(&app.interaction.data.options, name).filter(|value| !value.trim().is_empty())
}

/// The operating systems of the location chosen so far (every location's when none is).
async fn templates(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let core = &ctx.data().core;
    let location = typed_option(ctx, "location");
    let offered = match core.discord_links.access(&member_of(ctx)).await {
        Ok(access) => core
            .servers
            .templates(&access.actor, location.as_deref())
            .await
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let partial = partial.to_lowercase();
    let choices = offered
        .iter()
        .filter(|os| os.kind == "template")
        .filter(|os| {
            os.name.to_lowercase().contains(&partial) || os.id.to_lowercase().contains(&partial)
        })
        // A value Discord cannot carry (over 100 characters) could not be chosen anyway.
        .filter(|os| os.id.chars().count() <= 100)
        .take(25)
        .map(|os| {
            serenity::AutocompleteChoice::new(
                crate::render::truncate(&format!("{} ({})", os.name, os.location), 100),
                os.id.clone(),
            )
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// The member's saved SSH keys.
async fn saved_ssh_keys(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let core = &ctx.data().core;
    let keys = match core.discord_links.access(&member_of(ctx)).await {
        Ok(access) => core.ssh_keys.list(&access.actor).await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let partial = partial.to_lowercase();
    let choices = keys
        .iter()
        .filter(|key| key.name.to_lowercase().contains(&partial))
        .take(25)
        .map(|key| {
            serenity::AutocompleteChoice::new(
                crate::render::truncate(&format!("{} ({})", key.name, key.key.kind()), 100),
                key.id.0,
            )
        })
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Creates a server: shows the price, and creates it when you confirm.
#[poise::command(slash_command, rename = "create")]
pub async fn server_create(
    ctx: Context<'_>,
    #[description = "A name for it"] name: String,
    #[description = "Its host name, such as web1.example.com"] hostname: String,
    #[description = "The plan"]
    #[autocomplete = "plans"]
    plan: String,
    #[description = "The operating system (choose the location first)"]
    #[autocomplete = "templates"]
    template: String,
    #[description = "Where it runs"]
    #[autocomplete = "locations"]
    location: Option<String>,
    #[description = "One of your saved SSH keys (otherwise you get a root password)"]
    #[autocomplete = "saved_ssh_keys"]
    ssh_key: Option<i64>,
) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let (id, quote) = core
        .servers
        .hold_create(
            &access.actor,
            hostdeck_core::servers::CreateChoice::of_plan(
                &name,
                &hostname,
                &plan,
                &template,
                location.as_deref(),
            ),
        )
        .await?;
    let currency = &core.config.billing.currency;
    let card = Card::new(format!("Create {name}?"))
        .field("Plan", quote.plan.clone())
        .field("Size", quote.resources.to_string())
        .field(
            "Per hour",
            format!("{} {}", quote.per_hour_text(), currency.code()),
        )
        .field(
            "Per month",
            core.pricing.monthly_price(&quote).display(currency),
        )
        .field(
            "Charged now (the first hour)",
            quote.first_hour().display_exact(currency),
        );
    let card = match ssh_key {
        Some(_) => card.field("Log in with", "your SSH key"),
        None => card.field(
            "Log in with",
            "a root password, shown once after the create",
        ),
    };
    // The key rides on the button; core checks it is the member's when it is pressed.
    let button = match ssh_key {
        Some(key) => format!("{SERVER_CREATE}{id}:{key}"),
        None => format!("{SERVER_CREATE}{id}"),
    };
    let answer = Answer::card(card)
        .ephemeral()
        .button(Button::new(
            button,
            "Create and pay the first hour",
            ButtonStyle::Success,
        ))
        .button(Button::new(SERVER_CANCEL, "Cancel", ButtonStyle::Secondary));
    ctx.send(answer.reply()).await?;
    Ok(())
}

/// The confirm button of `/server create`: `server:create:{request}[:{ssh key}]`.
pub async fn server_create_confirmed(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
) -> Result<Answer, BotError> {
    let (id, key) = match rest.split_once(':') {
        Some((id, key)) => (id, Some(key)),
        None => (rest, None),
    };
    let id: i64 = id.parse().map_err(|_| stale())?;
    let keys = match key {
        Some(key) => vec![SshKeyId(key.parse().map_err(|_| stale())?)],
        None => Vec::new(),
    };
    let access = data.core.discord_links.access(&invoker.member).await?;
    let created = data
        .core
        .servers
        .create_held(&access.actor, id, &keys)
        .await?;
    let mut card = Card::new(format!("{} is created", created.server.name))
        .field("Server", format!("#{}", created.server.id))
        .field("State", created.server.shown_state())
        .field(
            "Charged now",
            created
                .quote
                .first_hour()
                .display_exact(&data.core.config.billing.currency),
        );
    if let Some(password) = &created.root_password {
        // Only in this ephemeral answer: the password is kept nowhere to show it again.
        card = card
            .field("Root password", format!("`{}`", password.expose()))
            .footer("Copy the root password now: it is shown only this once.");
    }
    Ok(Answer::card(card).ephemeral())
}

/// Suspends a server (billing staff).
#[poise::command(slash_command, rename = "suspend")]
pub async fn server_suspend(
    ctx: Context<'_>,
    #[description = "The server's id"] server: i64,
    #[description = "Why"] reason: String,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let done = ctx
        .data()
        .core
        .servers
        .suspend(&access.actor, ServerId(server), &reason)
        .await?;
    let card = Card::new(format!("{} is suspended", done.name)).field("Reason", reason);
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Lifts a suspension (billing staff).
#[poise::command(slash_command, rename = "unsuspend")]
pub async fn server_unsuspend(
    ctx: Context<'_>,
    #[description = "The server's id"] server: i64,
    #[description = "Why"] reason: String,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let done = ctx
        .data()
        .core
        .servers
        .unsuspend(&access.actor, ServerId(server), &reason)
        .await?;
    let card = Card::new(format!("{} is running again", done.name))
        .field("State", done.shown_state())
        .field("Reason", reason);
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// A member's servers (support).
#[poise::command(slash_command, rename = "lookup")]
pub async fn server_lookup(
    ctx: Context<'_>,
    #[description = "The member to look up"] member: serenity::UserId,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let customer = core
        .discord_links
        .linked_customer(&access, member.get())
        .await?;
    let servers = core
        .servers
        .list(&access.actor, Owners::Of(customer.id))
        .await?;
    let card = servers_card(&format!("Servers of {}", customer.email), &servers);
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}
