//! `/ask`: a question answered from the help articles. Deferred at once (only the member sees
//! the answer, which may mention their own account), then the answer with numbered sources
//! linking to the help pages and three buttons: "Solved" (feedback on the answer), "Ask a
//! follow-up" (a modal; the conversation continues from the server's copy of the answer, with
//! fresh retrieval, for 15 minutes) and "Open a ticket" (the question, the answer and its
//! sources become a ticket, whose private thread the ticket sync opens with the member in it).
//! Every id carries only the answer's number; core checks the answer is the member's own.

use hostdeck_core::assistant::{Asker, Kept};
use hostdeck_core::discord_links::DiscordMember;
use hostdeck_core::records::assistant::{AnswerId, Feedback};
use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, ComponentInteraction, CreateActionRow, CreateInputText, CreateInteractionResponse,
    CreateModal, InputTextStyle, ModalInteraction,
};

use crate::access::{Invoker, access, member_of};
use crate::errors::{BotError, stale};
use crate::render::{Answer, Button, Card};
use crate::{Context, Data};

/// Every `/ask` button and modal starts with this (the router sends them here).
pub const ASK: &str = "ask:";
const SOLVED: &str = "ask:solved:";
const FOLLOW: &str = "ask:follow:";
const FOLLOW_TEXT: &str = "ask:follow-text:";
const OPEN_TICKET: &str = "ask:ticket:";

/// Asks a question: answered from our help articles, with its sources.
#[poise::command(slash_command)]
pub async fn ask(
    ctx: Context<'_>,
    #[description = "Your question, in your own words"]
    #[max_length = 2000]
    question: String,
) -> Result<(), BotError> {
    // Discord waits 3 seconds for a first response; the model may take longer.
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let asker = asker_of(&member_of(ctx), Some(ctx.channel_id().get()));
    let kept = ctx
        .data()
        .core
        .assistant
        .ask_kept(&access.actor, &asker, &question, None)
        .await?;
    ctx.send(answer_message(&kept).reply()).await?;
    Ok(())
}

/// Who asks: the member, in the channel.
fn asker_of(member: &DiscordMember, channel: Option<u64>) -> Asker {
    Asker {
        key: format!("discord:{}", member.user_id),
        channel: channel.map(|id| id.to_string()),
    }
}

/// A source's title as the text of a Markdown link.
fn link_text(title: &str) -> String {
    title
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | '(' | ')'))
        .collect()
}

/// The answer, its numbered sources and its buttons.
fn answer_message(kept: &Kept) -> Answer {
    let answer = &kept.answer;
    let mut card = Card::new("Answer").description(answer.text.clone());
    if !answer.sources.is_empty() {
        let lines: Vec<String> = (1_usize..)
            .zip(&answer.sources)
            .map(|(n, source)| format!("{n}. [{}]({})", link_text(&source.title), source.url))
            .collect();
        card = card.field("Sources", lines.join("\n"));
    }
    let footer = if answer.ticket_offer {
        "Not answered? Open a ticket and a person will help."
    } else {
        "Answers come from our help articles and can be wrong; a person can help with a ticket."
    };
    let id = kept.id;
    Answer::card(card.footer(footer))
        .ephemeral()
        .button(Button::new(
            format!("{SOLVED}{id}"),
            "Solved",
            ButtonStyle::Success,
        ))
        .button(Button::new(
            format!("{FOLLOW}{id}"),
            "Ask a follow-up",
            ButtonStyle::Primary,
        ))
        .button(Button::new(
            format!("{OPEN_TICKET}{id}"),
            "Open a ticket",
            ButtonStyle::Secondary,
        ))
}

fn answer_of(rest: &str) -> Result<AnswerId, BotError> {
    rest.parse::<i64>().map(AnswerId).map_err(|_| stale())
}

/// An `/ask` button: "Solved" and "Ask a follow-up" answer at once; "Open a ticket" is
/// deferred, then edited into the ticket.
pub async fn ask_pressed(
    ctx: &serenity::Context,
    data: &Data,
    invoker: &Invoker,
    press: &ComponentInteraction,
) {
    let id = press.data.custom_id.as_str();
    let asker = asker_of(&invoker.member, Some(press.channel_id.get()));
    if let Some(rest) = id.strip_prefix(OPEN_TICKET) {
        if let Err(error) = press.defer_ephemeral(&ctx.http).await {
            tracing::warn!(%error, custom_id = id, "could not acknowledge a ticket button");
            return;
        }
        let answer = ticket_from_answer(data, invoker, &asker, rest)
            .await
            .unwrap_or_else(|error| error.answer(id));
        if let Err(error) = press.edit_response(&ctx.http, answer.edit()).await {
            tracing::warn!(%error, custom_id = id, "could not show the ticket");
        }
        return;
    }
    let response = match pressed_response(data, invoker, &asker, id).await {
        Ok(response) => response,
        Err(error) => CreateInteractionResponse::Message(error.answer(id).message()),
    };
    if let Err(error) = press.create_response(&ctx.http, response).await {
        tracing::warn!(%error, custom_id = id, "could not answer an /ask button");
    }
}

async fn pressed_response(
    data: &Data,
    invoker: &Invoker,
    asker: &Asker,
    id: &str,
) -> Result<CreateInteractionResponse, BotError> {
    let actor = data.core.discord_links.access(&invoker.member).await?.actor;
    let assistant = &data.core.assistant;
    if let Some(rest) = id.strip_prefix(SOLVED) {
        assistant
            .feedback(&actor, asker, answer_of(rest)?, Feedback::Solved)
            .await?;
        let card = Card::new("Glad it helped").description("The answer is marked as solved.");
        return Ok(CreateInteractionResponse::Message(
            Answer::card(card).ephemeral().message(),
        ));
    }
    if let Some(rest) = id.strip_prefix(FOLLOW) {
        // The answer must be the member's own before the form is shown.
        let kept = assistant.kept(&actor, asker, answer_of(rest)?).await?;
        let question =
            CreateInputText::new(InputTextStyle::Paragraph, "Your follow-up", "question")
                .max_length(2000)
                .required(true);
        let modal = CreateModal::new(format!("{FOLLOW_TEXT}{}", kept.id), "Ask a follow-up")
            .components(vec![CreateActionRow::InputText(question)]);
        return Ok(CreateInteractionResponse::Modal(modal));
    }
    Err(stale())
}

async fn ticket_from_answer(
    data: &Data,
    invoker: &Invoker,
    asker: &Asker,
    rest: &str,
) -> Result<Answer, BotError> {
    let access = data.core.discord_links.access(&invoker.member).await?;
    let core = &data.core;
    let ticket = core
        .assistant
        .open_ticket(&core.tickets, &access.actor, asker, answer_of(rest)?)
        .await?;
    let place = match core.config.discord.support_channel_id {
        Some(channel) => format!("a private thread in <#{channel}>"),
        None => "a private thread in the support channel".to_owned(),
    };
    let card = Card::new(format!("Ticket #{} is open", ticket.id)).description(format!(
        "Your question, the answer and its sources are in it. The conversation continues in \
         {place}, which you are added to; you can also follow it in the portal at {}.",
        core.config
            .web
            .portal_url(&format!("/tickets/{}", ticket.id))
    ));
    Ok(Answer::card(card).ephemeral())
}

/// The follow-up form: deferred at once, then edited into the answer.
pub async fn ask_submitted(
    ctx: &serenity::Context,
    data: &Data,
    invoker: &Invoker,
    submit: &ModalInteraction,
) {
    let id = submit.data.custom_id.as_str();
    if let Err(error) = submit.defer_ephemeral(&ctx.http).await {
        tracing::warn!(%error, custom_id = id, "could not acknowledge a follow-up");
        return;
    }
    let answer = follow_up(data, invoker, submit)
        .await
        .unwrap_or_else(|error| error.answer(id));
    if let Err(error) = submit.edit_response(&ctx.http, answer.edit()).await {
        tracing::warn!(%error, custom_id = id, "could not show a follow-up's answer");
    }
}

async fn follow_up(
    data: &Data,
    invoker: &Invoker,
    submit: &ModalInteraction,
) -> Result<Answer, BotError> {
    let rest = submit
        .data
        .custom_id
        .strip_prefix(FOLLOW_TEXT)
        .ok_or_else(stale)?;
    let earlier = answer_of(rest)?;
    let question = super::text_input(&submit.data.components, "question");
    let actor = data.core.discord_links.access(&invoker.member).await?.actor;
    let asker = asker_of(&invoker.member, Some(submit.channel_id.get()));
    let kept = data
        .core
        .assistant
        .ask_kept(&actor, &asker, &question, Some(earlier))
        .await?;
    Ok(answer_message(&kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_title_cannot_break_its_link() {
        assert_eq!(link_text("a [b](c) d"), "a bc d");
    }
}
