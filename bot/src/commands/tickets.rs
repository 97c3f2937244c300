//! `/ticket`: open a ticket (a modal for the subject and description; the department and the
//! related server picked by autocomplete from the configured departments and the member's own
//! servers), and in a ticket's thread (or naming the ticket) claim, assign, priority, note,
//! close, reopen and transcript. The thread's first message (its card, built here) carries
//! buttons for the same: Claim, Note, Close (a confirm, then a modal for the reason), Reopen,
//! Customer context (staff only; core refuses anyone else), Rate (after close), and a priority
//! select. Every button and modal is routed by the `custom_id` prefixes below, with the ticket
//! id in the rest of the id; core checks every action again.

use hostdeck_core::ids::ServerId;
use hostdeck_core::tickets::{Door, OpenTicket, Priority, Ticket, TicketId};
use poise::serenity_prelude as serenity;
use serenity::{
    ActionRowComponent, ButtonStyle, ComponentInteraction, ComponentInteractionDataKind,
    CreateActionRow, CreateAttachment, CreateButton, CreateEmbed, CreateInputText,
    CreateInteractionResponse, CreateModal, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption, InputTextStyle, ModalInteraction,
};

use crate::access::{Invoker, access};
use crate::errors::{BotError, stale};
use crate::render::{Answer, Button, Card, inert};
use crate::{ApplicationContext, Context, Data};

/// Every ticket button, select and modal starts with this (the router sends them here).
pub const TICKET: &str = "ticket:";
/// The open modal: `ticket:open:{department}:{server or 0}`. Acknowledged at once (deferred),
/// then edited into the answer once the ticket is stored.
pub const OPEN: &str = "ticket:open:";
const CLAIM: &str = "ticket:claim:";
const PRIORITY: &str = "ticket:priority:";
const NOTE: &str = "ticket:note:";
const NOTE_TEXT: &str = "ticket:note-text:";
const CLOSE: &str = "ticket:close:";
const CLOSE_CONFIRM: &str = "ticket:close-confirm:";
const CLOSE_REASON: &str = "ticket:close-reason:";
const REOPEN: &str = "ticket:reopen:";
const CONTEXT: &str = "ticket:context:";
const RATE: &str = "ticket:rate:";
const RATE_FORM: &str = "ticket:rate-form:";
/// Under a drafted reply: opens the reply form prefilled with the draft.
const SUGGEST_EDIT: &str = "ticket:suggest-edit:";
/// The reply form of a draft: sends the reply as edited.
const SUGGEST_SEND: &str = "ticket:suggest-send:";

/// The support desk: open a ticket; in its thread, work on it.
#[poise::command(
    slash_command,
    subcommands(
        "ticket_open",
        "ticket_claim",
        "ticket_assign",
        "ticket_priority",
        "ticket_note",
        "ticket_close",
        "ticket_reopen",
        "ticket_transcript",
        "ticket_suggest"
    ),
    subcommand_required
)]
pub async fn ticket(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

/// The configured departments, for autocomplete.
async fn departments(ctx: Context<'_>, partial: &str) -> serenity::CreateAutocompleteResponse {
    let partial = partial.to_lowercase();
    let choices = ctx
        .data()
        .core
        .config
        .tickets
        .departments
        .iter()
        .filter(|name| name.contains(&partial))
        .take(25)
        .map(|name| serenity::AutocompleteChoice::new(name.clone(), name.clone()))
        .collect();
    serenity::CreateAutocompleteResponse::new().set_choices(choices)
}

/// Opens a support ticket: a form asks for the subject and what happened.
#[poise::command(slash_command, rename = "open")]
pub async fn ticket_open(
    ctx: ApplicationContext<'_>,
    #[description = "Which team it is for"]
    #[autocomplete = "departments"]
    department: String,
    #[description = "The server it is about, if any"]
    #[autocomplete = "super::servers::own_servers"]
    server: Option<i64>,
) -> Result<(), BotError> {
    let known = &ctx.data().core.config.tickets.departments;
    if !known.contains(&department) {
        return Err(hostdeck_core::Error::invalid(
            "department",
            format!("Pick a department from the list: {}.", known.join(", ")),
        )
        .into());
    }
    let subject = CreateInputText::new(InputTextStyle::Short, "Subject", "subject")
        .max_length(120)
        .required(true);
    let body = CreateInputText::new(InputTextStyle::Paragraph, "What happened?", "body")
        .max_length(4000)
        .required(true);
    let modal = CreateModal::new(
        format!("{OPEN}{department}:{}", server.unwrap_or(0)),
        "Open a ticket",
    )
    .components(vec![
        CreateActionRow::InputText(subject),
        CreateActionRow::InputText(body),
    ]);
    super::show_modal(ctx, modal).await
}

/// The ticket a command means: the one named, or the thread's it runs in.
async fn ticket_here(ctx: Context<'_>, named: Option<i64>) -> Result<TicketId, BotError> {
    if let Some(id) = named {
        return Ok(TicketId(id));
    }
    let found = ctx
        .data()
        .core
        .tickets
        .ticket_by_thread(ctx.channel_id().get())
        .await?;
    found.map(|ticket| ticket.id).ok_or_else(|| {
        hostdeck_core::Error::invalid(
            "ticket",
            "Run this in a ticket's thread, or name the ticket.",
        )
        .into()
    })
}

/// Sends `card` only to the member.
async fn say(ctx: Context<'_>, card: Card) -> Result<(), BotError> {
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Takes the ticket: it is assigned to you.
#[poise::command(slash_command, rename = "claim")]
pub async fn ticket_claim(
    ctx: Context<'_>,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    let ticket = ctx.data().core.tickets.claim(&actor, id).await?;
    say(ctx, done("Claimed", &ticket)).await
}

/// Assigns the ticket to a staff member (or to nobody).
#[poise::command(slash_command, rename = "assign")]
pub async fn ticket_assign(
    ctx: Context<'_>,
    #[description = "The staff member; leave out to unassign"] member: Option<serenity::UserId>,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    let assignee = match member {
        Some(member) => Some(
            core.discord_links
                .linked_customer(&access, member.get())
                .await?
                .id,
        ),
        None => None,
    };
    let ticket = core.tickets.assign(&access.actor, id, assignee).await?;
    say(ctx, done("Assigned", &ticket)).await
}

/// Changes how urgent the ticket is.
#[poise::command(slash_command, rename = "priority")]
pub async fn ticket_priority(
    ctx: Context<'_>,
    #[description = "low, normal, high or urgent"] level: String,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let priority = Priority::parse(&level)?;
    let actor = access(ctx).await?.actor;
    let ticket = ctx
        .data()
        .core
        .tickets
        .set_priority(&actor, id, priority)
        .await?;
    say(ctx, done("Priority changed", &ticket)).await
}

/// Adds a note only staff ever see.
#[poise::command(slash_command, rename = "note")]
pub async fn ticket_note(
    ctx: Context<'_>,
    #[description = "The note (staff only; never shown to the customer)"] text: String,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    ctx.data().core.tickets.note(&actor, id, &text).await?;
    say(
        ctx,
        Card::new("Note added").description("Only staff see it."),
    )
    .await
}

/// Closes the ticket with a reason.
#[poise::command(slash_command, rename = "close")]
pub async fn ticket_close(
    ctx: Context<'_>,
    #[description = "Why it is closed"] reason: String,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    let ticket = ctx.data().core.tickets.close(&actor, id, &reason).await?;
    say(ctx, done("Closed", &ticket)).await
}

/// Reopens a closed ticket.
#[poise::command(slash_command, rename = "reopen")]
pub async fn ticket_reopen(
    ctx: Context<'_>,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    let ticket = ctx.data().core.tickets.reopen(&actor, id).await?;
    say(ctx, done("Reopened", &ticket)).await
}

/// The whole conversation as a file (never the staff notes).
#[poise::command(slash_command, rename = "transcript")]
pub async fn ticket_transcript(
    ctx: Context<'_>,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    let transcript = ctx.data().core.tickets.transcript(&actor, id).await?;
    let file = CreateAttachment::bytes(transcript.html().into_bytes(), format!("ticket-{id}.html"));
    let reply = Answer::card(Card::new(format!("Transcript of ticket #{id}")))
        .ephemeral()
        .reply()
        .attachment(file);
    ctx.send(reply).await?;
    Ok(())
}

/// Drafts a reply from the help articles, shown only to you to edit and send.
#[poise::command(slash_command, rename = "suggest")]
pub async fn ticket_suggest(
    ctx: Context<'_>,
    #[description = "The ticket number (in its thread: that ticket)"] ticket: Option<i64>,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let id = ticket_here(ctx, ticket).await?;
    let actor = access(ctx).await?.actor;
    let core = &ctx.data().core;
    let draft = core
        .assistant
        .draft_reply(&core.tickets, &actor, id)
        .await?;
    let mut card = Card::new(format!("Suggested reply for ticket #{id}"))
        .description(draft.text)
        .footer("Only you see this. Edit and send it, or ignore it: nothing is sent by itself.");
    if !draft.sources.is_empty() {
        let lines: Vec<String> = draft
            .sources
            .iter()
            .map(|source| format!("{} ({})", source.title, source.url))
            .collect();
        card = card.field("Sources", lines.join("\n"));
    }
    let answer = Answer::card(card).ephemeral().button(Button::new(
        format!("{SUGGEST_EDIT}{id}"),
        "Edit and send",
        ButtonStyle::Primary,
    ));
    ctx.send(answer.reply()).await?;
    Ok(())
}

/// The answer after a change: what was done and where the ticket stands.
fn done(what: &str, ticket: &Ticket) -> Card {
    Card::new(format!("{what}: ticket #{}", ticket.id))
        .field("Status", ticket.status.as_str())
        .field("Priority", ticket.priority.as_str())
}

/// The line a ticket message is posted under in its thread, then its body, inert.
pub fn ticket_line(name: &str, staff: bool, door: Door, body: &str) -> String {
    let who = if staff { "staff" } else { "customer" };
    format!(
        "**{}** ({who}, via {door}):\n{}",
        escape_markdown(&inert(name)),
        inert(body)
    )
}

/// A name that cannot bold, strike or hide what follows it.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\*_~`|>#[]()".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The thread's first message: what the ticket is, and its buttons.
pub fn thread_card(
    ticket: &Ticket,
    incidents: &[hostdeck_core::status::Affecting],
) -> (String, CreateEmbed, Vec<CreateActionRow>) {
    let id = ticket.id;
    let mut card = Card::new(format!("Ticket #{id}: {}", ticket.subject))
        .field("Department", ticket.department.clone())
        .field("Priority", ticket.priority.as_str())
        .field("Opened via", ticket.opened_via.as_str());
    if let Some(server) = ticket.server {
        card = card.field("Server", server.0.to_string());
    }
    if !incidents.is_empty() {
        let lines: Vec<String> = incidents
            .iter()
            .map(|affecting| {
                let line = hostdeck_core::status::plain_markdown(&affecting.line());
                format!("#{}: {line}", affecting.incident.id)
            })
            .collect();
        card = card.field("Opened during", lines.join("\n"));
    }
    let card = card.footer("Staff: claim, note, close and see the customer with the buttons.");
    let button = |prefix: &str, label: &str, style: ButtonStyle| {
        CreateButton::new(format!("{prefix}{id}"))
            .label(label)
            .style(style)
    };
    let buttons = CreateActionRow::Buttons(vec![
        button(CLAIM, "Claim", ButtonStyle::Primary),
        button(NOTE, "Note", ButtonStyle::Secondary),
        button(CLOSE, "Close", ButtonStyle::Danger),
        button(REOPEN, "Reopen", ButtonStyle::Secondary),
        button(CONTEXT, "Customer context", ButtonStyle::Secondary),
    ]);
    let rate = CreateActionRow::Buttons(vec![button(RATE, "Rate", ButtonStyle::Success)]);
    let options = Priority::ALL
        .iter()
        .map(|priority| CreateSelectMenuOption::new(priority.as_str(), priority.as_str()))
        .collect();
    let priority = CreateActionRow::SelectMenu(
        CreateSelectMenu::new(
            format!("{PRIORITY}{id}"),
            CreateSelectMenuKind::String { options },
        )
        .placeholder("Priority"),
    );
    (
        format!("Ticket #{id} is open."),
        card.embed(),
        vec![buttons, rate, priority],
    )
}

// --- Buttons, selects and modals ---

/// A ticket button or select: answered here, by a modal or a message only the member sees.
pub async fn ticket_pressed(
    ctx: &serenity::Context,
    data: &Data,
    invoker: &Invoker,
    press: &ComponentInteraction,
) {
    let id = press.data.custom_id.as_str();
    let response = match pressed_response(data, invoker, press).await {
        Ok(response) => response,
        Err(error) => CreateInteractionResponse::Message(error.answer(id).message()),
    };
    if let Err(error) = press.create_response(&ctx.http, response).await {
        tracing::warn!(%error, custom_id = id, "could not answer a ticket button");
    }
}

fn ticket_of(rest: &str) -> Option<TicketId> {
    rest.parse::<i64>().ok().map(TicketId)
}

fn modal(
    custom_id: String,
    title: &str,
    inputs: Vec<CreateInputText>,
) -> CreateInteractionResponse {
    let rows = inputs.into_iter().map(CreateActionRow::InputText).collect();
    CreateInteractionResponse::Modal(CreateModal::new(custom_id, title).components(rows))
}

fn private(card: Card) -> CreateInteractionResponse {
    CreateInteractionResponse::Message(Answer::card(card).ephemeral().message())
}

async fn pressed_response(
    data: &Data,
    invoker: &Invoker,
    press: &ComponentInteraction,
) -> Result<CreateInteractionResponse, BotError> {
    let id = press.data.custom_id.as_str();
    let tickets = &data.core.tickets;
    let actor = || async {
        Ok::<_, BotError>(data.core.discord_links.access(&invoker.member).await?.actor)
    };
    if let Some(rest) = id.strip_prefix(SUGGEST_EDIT) {
        // The draft is the text of the message the button is on: nothing kept elsewhere.
        let draft = press
            .message
            .embeds
            .first()
            .and_then(|embed| embed.description.clone())
            .unwrap_or_default()
            .replace('\u{200B}', "");
        let text = CreateInputText::new(InputTextStyle::Paragraph, "Reply to the customer", "body")
            .max_length(4000)
            .value(draft.chars().take(4000).collect::<String>())
            .required(true);
        return Ok(modal(
            format!("{SUGGEST_SEND}{}", ticket_of(rest).ok_or_else(stale)?),
            "Edit and send the reply",
            vec![text],
        ));
    }
    if let Some(rest) = id.strip_prefix(NOTE) {
        let text = CreateInputText::new(InputTextStyle::Paragraph, "Note (staff only)", "note")
            .max_length(4000)
            .required(true);
        return Ok(modal(
            format!("{NOTE_TEXT}{}", ticket_of(rest).ok_or_else(stale)?),
            "Add a note",
            vec![text],
        ));
    }
    if let Some(rest) = id.strip_prefix(CLOSE_CONFIRM) {
        let reason = CreateInputText::new(InputTextStyle::Paragraph, "Reason", "reason")
            .max_length(500)
            .required(true);
        return Ok(modal(
            format!("{CLOSE_REASON}{}", ticket_of(rest).ok_or_else(stale)?),
            "Close the ticket",
            vec![reason],
        ));
    }
    if let Some(rest) = id.strip_prefix(CLOSE) {
        let ticket = ticket_of(rest).ok_or_else(stale)?;
        let answer = Answer::card(Card::new(format!("Close ticket #{ticket}?")).description(
            "The customer is told, and the thread is archived. You give the reason next.",
        ))
        .ephemeral()
        .button(Button::new(
            format!("{CLOSE_CONFIRM}{ticket}"),
            "Close with a reason",
            ButtonStyle::Danger,
        ));
        return Ok(CreateInteractionResponse::Message(answer.message()));
    }
    if let Some(rest) = id.strip_prefix(RATE) {
        let stars = CreateInputText::new(InputTextStyle::Short, "Stars, 1 to 5", "stars")
            .max_length(1)
            .required(true);
        let comment =
            CreateInputText::new(InputTextStyle::Paragraph, "Anything to add?", "comment")
                .max_length(1000)
                .required(false);
        return Ok(modal(
            format!("{RATE_FORM}{}", ticket_of(rest).ok_or_else(stale)?),
            "Rate the support",
            vec![stars, comment],
        ));
    }
    if let Some(rest) = id.strip_prefix(CLAIM) {
        let ticket = tickets
            .claim(&actor().await?, ticket_of(rest).ok_or_else(stale)?)
            .await?;
        return Ok(private(done("Claimed", &ticket)));
    }
    if let Some(rest) = id.strip_prefix(REOPEN) {
        let ticket = tickets
            .reopen(&actor().await?, ticket_of(rest).ok_or_else(stale)?)
            .await?;
        return Ok(private(done("Reopened", &ticket)));
    }
    if let Some(rest) = id.strip_prefix(PRIORITY) {
        let chosen = match &press.data.kind {
            ComponentInteractionDataKind::StringSelect { values } => values.first().cloned(),
            _ => None,
        };
        let priority = Priority::parse(&chosen.ok_or_else(stale)?)?;
        let ticket = tickets
            .set_priority(
                &actor().await?,
                ticket_of(rest).ok_or_else(stale)?,
                priority,
            )
            .await?;
        return Ok(private(done("Priority changed", &ticket)));
    }
    if let Some(rest) = id.strip_prefix(CONTEXT) {
        let context = tickets
            .context(&actor().await?, ticket_of(rest).ok_or_else(stale)?)
            .await?;
        return Ok(private(context_card(data, &context)));
    }
    Err(stale())
}

/// The customer as staff see them.
fn context_card(data: &Data, context: &hostdeck_core::tickets::CustomerContext) -> Card {
    let currency = &data.core.config.billing.currency;
    let servers: Vec<String> = context
        .servers
        .iter()
        .map(|server| format!("{} ({})", server.name, server.state.as_str()))
        .collect();
    let mut card = Card::new(format!("Customer {}", context.customer.email))
        .field("Balance", context.balance.display(currency))
        .field("Burn per hour", context.burn_per_hour.display(currency))
        .field(
            "Hours left",
            context
                .hours_left
                .map_or_else(|| "nothing billed".to_owned(), |hours| hours.to_string()),
        )
        .field("Servers", servers.join("\n"))
        .field("Open tickets", context.open_tickets.len().to_string());
    if let Some(suspended) = context.suspended_at {
        card = card.field(
            "Suspended",
            suspended.format("%Y-%m-%d %H:%M UTC").to_string(),
        );
    }
    card
}

/// A ticket modal was submitted.
pub async fn ticket_submitted(
    data: &Data,
    invoker: &Invoker,
    submit: &ModalInteraction,
) -> Result<Answer, BotError> {
    let id = submit.data.custom_id.as_str();
    let field = |name: &str| text_input(&submit.data.components, name);
    let actor = data.core.discord_links.access(&invoker.member).await?.actor;
    let tickets = &data.core.tickets;
    if let Some(rest) = id.strip_prefix(OPEN) {
        let (department, server) = rest.rsplit_once(':').ok_or_else(stale)?;
        let server = server.parse::<i64>().map_err(|_| stale())?;
        let opened = tickets
            .open(
                &actor,
                OpenTicket {
                    subject: field("subject"),
                    body: field("body"),
                    department: department.to_owned(),
                    server: (server != 0).then_some(ServerId(server)),
                    ..OpenTicket::default()
                },
            )
            .await?;
        let card = done("Opened", &opened)
            .description("A private thread in the support channel holds the conversation.");
        return Ok(Answer::card(card).ephemeral());
    }
    if let Some(rest) = id.strip_prefix(NOTE_TEXT) {
        tickets
            .note(&actor, ticket_of(rest).ok_or_else(stale)?, &field("note"))
            .await?;
        return Ok(
            Answer::card(Card::new("Note added").description("Only staff see it.")).ephemeral(),
        );
    }
    if let Some(rest) = id.strip_prefix(SUGGEST_SEND) {
        let id = ticket_of(rest).ok_or_else(stale)?;
        tickets
            .reply(&actor, id, &field("body"), Vec::new())
            .await?;
        return Ok(Answer::card(
            Card::new(format!("Reply sent: ticket #{id}"))
                .description("The customer sees it in the thread, the portal and by email."),
        )
        .ephemeral());
    }
    if let Some(rest) = id.strip_prefix(CLOSE_REASON) {
        let ticket = tickets
            .close(&actor, ticket_of(rest).ok_or_else(stale)?, &field("reason"))
            .await?;
        return Ok(Answer::card(done("Closed", &ticket)).ephemeral());
    }
    if let Some(rest) = id.strip_prefix(RATE_FORM) {
        let stars = field("stars").trim().parse::<u8>().map_err(|_| {
            hostdeck_core::Error::invalid("stars", "Give 1 to 5 stars, as a number.")
        })?;
        let comment = field("comment");
        let comment = (!comment.trim().is_empty()).then_some(comment.as_str());
        tickets
            .rate(&actor, ticket_of(rest).ok_or_else(stale)?, stars, comment)
            .await?;
        return Ok(
            Answer::card(Card::new("Thank you").description("Your rating was saved.")).ephemeral(),
        );
    }
    Err(stale())
}

/// The value of the text input `custom_id` in a submitted modal.
pub fn text_input(rows: &[serenity::ActionRow], custom_id: &str) -> String {
    rows.iter()
        .flat_map(|row| row.components.iter())
        .find_map(|component| match component {
            ActionRowComponent::InputText(input) if input.custom_id == custom_id => {
                input.value.clone()
            }
            _ => None,
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn author_lines_cannot_mention_or_format() {
        let line = ticket_line("**@everyone**", true, Door::Portal, "hi <@&2001> @here");
        assert!(line.starts_with("**\\*\\*@\u{200B}everyone\\*\\*** (staff, via portal):\n"));
        assert!(!line.contains("<@&2001>") && !line.contains("@here"));
    }
}
