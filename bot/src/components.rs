//! The one handler of buttons and modals. Every `custom_id` starts with a stable prefix that
//! names its handler (each defined by the command that shows it, in `commands/`); everything
//! else the handler needs is in the rest of the id or in the database, never only in memory, so
//! a button shown before a restart works after it. Maintenance is checked before any handler.

use poise::serenity_prelude as serenity;
use serenity::{ComponentInteraction, CreateInteractionResponse, Interaction, ModalInteraction};

use crate::Data;
use crate::access::{Invoker, admit, member_from};
use crate::commands::{
    self, ASK, CREDITS_CANCEL, CREDITS_CONFIRM, CREDITS_REASON, SERVER_CANCEL, SERVER_CREATE,
    SERVER_POWER, SERVER_RESIZE, TICKET, TICKET_OPEN, text_input,
};
use crate::errors::{BotError, stale};

/// Routes a component or modal interaction; other interactions are poise's.
pub async fn handle(ctx: &serenity::Context, data: &Data, interaction: &Interaction) {
    match interaction {
        Interaction::Component(press) => pressed(ctx, data, press).await,
        Interaction::Modal(submit) => submitted(ctx, data, submit).await,
        _ => {}
    }
}

/// Whether maintenance lets the invoker in, as it does before every command.
async fn admitted(data: &Data, invoker: &Invoker) -> Result<(), BotError> {
    let access = data.core.discord_links.access(&invoker.member).await?;
    admit(&data.core, &access).await
}

async fn pressed(ctx: &serenity::Context, data: &Data, press: &ComponentInteraction) {
    let invoker = Invoker {
        member: member_from(&press.user, press.guild_id, press.member.as_ref()),
    };
    let id = press.data.custom_id.as_str();
    if let Err(error) = admitted(data, &invoker).await {
        let response = CreateInteractionResponse::Message(error.answer(id).message());
        if let Err(error) = press.create_response(&ctx.http, response).await {
            tracing::warn!(%error, custom_id = id, "could not answer a button");
        }
        return;
    }
    if id.starts_with(TICKET) {
        commands::ticket_pressed(ctx, data, &invoker, press).await;
        return;
    }
    if id.starts_with(ASK) {
        commands::ask_pressed(ctx, data, &invoker, press).await;
        return;
    }
    let slow = [SERVER_POWER, SERVER_CREATE, SERVER_RESIZE]
        .into_iter()
        .find_map(|prefix| id.strip_prefix(prefix).map(|rest| (rest, prefix)));
    if let Some((rest, which)) = slow {
        // A provider task may outlast Discord's 3 seconds: acknowledge at once, then edit the
        // question into the result when the task has finished.
        if let Err(error) = press
            .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            .await
        {
            tracing::warn!(%error, custom_id = id, "could not acknowledge a button");
            return;
        }
        let outcome = match which {
            SERVER_POWER => commands::server_power_confirmed(data, &invoker, rest).await,
            SERVER_RESIZE => commands::server_resize_confirmed(data, &invoker, rest).await,
            _ => commands::server_create_confirmed(data, &invoker, rest).await,
        };
        let answer = outcome.unwrap_or_else(|error| error.answer(id));
        if let Err(error) = press.edit_response(&ctx.http, answer.edit()).await {
            tracing::warn!(%error, custom_id = id, "could not show a power result");
        }
        return;
    }
    let outcome = if id == SERVER_CANCEL {
        Ok(crate::render::Answer::card(
            crate::render::Card::new("Cancelled").description("Nothing was done."),
        )
        .ephemeral())
    } else if let Some(rest) = id.strip_prefix(CREDITS_CONFIRM) {
        commands::credit_confirmed(data, &invoker, rest).await
    } else if let Some(rest) = id.strip_prefix(CREDITS_CANCEL) {
        commands::credit_cancelled(data, &invoker, rest).await
    } else {
        Err(stale())
    };
    // Success replaces the message the button was on (and its buttons); a problem is a new
    // ephemeral message, so the question stays for another try.
    let response = match outcome {
        Ok(answer) => CreateInteractionResponse::UpdateMessage(answer.message()),
        Err(error) => CreateInteractionResponse::Message(error.answer(id).message()),
    };
    if let Err(error) = press.create_response(&ctx.http, response).await {
        tracing::warn!(%error, custom_id = id, "could not answer a button");
    }
}

async fn submitted(ctx: &serenity::Context, data: &Data, submit: &ModalInteraction) {
    let invoker = Invoker {
        member: member_from(&submit.user, submit.guild_id, submit.member.as_ref()),
    };
    let id = submit.data.custom_id.as_str();
    if id.starts_with(ASK) {
        // A follow-up waits for the model: deferred at once, after the same maintenance check.
        match admitted(data, &invoker).await {
            Ok(()) => commands::ask_submitted(ctx, data, &invoker, submit).await,
            Err(error) => {
                let response = CreateInteractionResponse::Message(error.answer(id).message());
                if let Err(error) = submit.create_response(&ctx.http, response).await {
                    tracing::warn!(%error, custom_id = id, "could not answer a modal");
                }
            }
        }
        return;
    }
    let outcome = match admitted(data, &invoker).await {
        Err(error) => Err(error),
        Ok(()) if id.starts_with(TICKET_OPEN) => {
            // Opening stores the ticket, its first message and what it sends, which may queue
            // behind other writes: acknowledged at once (only the member sees it), then the
            // answer edited in, so Discord's three seconds never run out.
            if let Err(error) = submit.defer_ephemeral(&ctx.http).await {
                tracing::warn!(%error, custom_id = id, "could not acknowledge a ticket form");
                return;
            }
            let answer = commands::ticket_submitted(data, &invoker, submit)
                .await
                .unwrap_or_else(|error| error.answer(id));
            if let Err(error) = submit.edit_response(&ctx.http, answer.edit()).await {
                tracing::warn!(%error, custom_id = id, "could not show an opened ticket");
            }
            return;
        }
        Ok(()) if id.starts_with(TICKET) => {
            commands::ticket_submitted(data, &invoker, submit).await
        }
        Ok(()) => match id.strip_prefix(CREDITS_REASON) {
            Some(rest) => {
                let reason = text_input(&submit.data.components, "reason");
                commands::credit_modal_submitted(data, &invoker, rest, &reason).await
            }
            None => Err(stale()),
        },
    };
    let answer = outcome.unwrap_or_else(|error| error.answer(id));
    let response = CreateInteractionResponse::Message(answer.message());
    if let Err(error) = submit.create_response(&ctx.http, response).await {
        tracing::warn!(%error, custom_id = id, "could not answer a modal");
    }
}
