//! The one handler of buttons and modals. Every `custom_id` starts with a stable prefix that
//! names its handler; everything else the handler needs is in the rest of the id or in the
//! database, never only in memory, so a button shown before a restart works after it.

use poise::serenity_prelude as serenity;
use serenity::{ActionRowComponent, CreateInteractionResponse, Interaction};

use crate::Data;
use crate::access::member_from;
use crate::commands;
use crate::errors::stale;
use hostdeck_core::discord_links::DiscordMember;

/// The reason modal of `/credits`: `credits:reason:{member}:{signed micros}:{interaction}`.
pub const CREDITS_REASON: &str = "credits:reason:";
/// The confirm button of `/credits`: `credits:confirm:{request}`.
pub const CREDITS_CONFIRM: &str = "credits:confirm:";
/// The cancel button of `/credits`: `credits:cancel:{request}`.
pub const CREDITS_CANCEL: &str = "credits:cancel:";

/// The confirm button of `/server power`: `server:power:{server}:{action}`.
pub const SERVER_POWER: &str = "server:power:";
/// The confirm button of `/server create`: `server:create:{request}`.
pub const SERVER_CREATE: &str = "server:create:";
/// The confirm button of `/server resize`: `server:resize:{server}:{plan}`.
pub const SERVER_RESIZE: &str = "server:resize:";
/// The cancel button of `/server power`, `/server create` and `/server resize`.
pub const SERVER_CANCEL: &str = "server:cancel";

/// Who pressed or submitted.
pub struct Invoker {
    pub member: DiscordMember,
}

/// Routes a component or modal interaction; other interactions are poise's.
pub async fn handle(ctx: &serenity::Context, data: &Data, interaction: &Interaction) {
    match interaction {
        Interaction::Component(press) => {
            let invoker = Invoker {
                member: member_from(&press.user, press.guild_id, press.member.as_ref()),
            };
            let id = press.data.custom_id.as_str();
            let slow = id
                .strip_prefix(SERVER_POWER)
                .map(|rest| (rest, SERVER_POWER))
                .or_else(|| {
                    id.strip_prefix(SERVER_CREATE)
                        .map(|rest| (rest, SERVER_CREATE))
                })
                .or_else(|| {
                    id.strip_prefix(SERVER_RESIZE)
                        .map(|rest| (rest, SERVER_RESIZE))
                });
            if let Some((rest, which)) = slow {
                // A provider task may outlast Discord's 3 seconds: acknowledge at once, then
                // edit the question into the result when the task has finished.
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
            // Success replaces the message the button was on (and its buttons); a problem is
            // a new ephemeral message, so the question stays for another try.
            let response = match outcome {
                Ok(answer) => CreateInteractionResponse::UpdateMessage(answer.message()),
                Err(error) => CreateInteractionResponse::Message(error.answer(id).message()),
            };
            if let Err(error) = press.create_response(&ctx.http, response).await {
                tracing::warn!(%error, custom_id = id, "could not answer a button");
            }
        }
        Interaction::Modal(submit) => {
            let invoker = Invoker {
                member: member_from(&submit.user, submit.guild_id, submit.member.as_ref()),
            };
            let id = submit.data.custom_id.as_str();
            let outcome = if let Some(rest) = id.strip_prefix(CREDITS_REASON) {
                let reason = text_input(&submit.data.components, "reason");
                commands::credit_modal_submitted(data, &invoker, rest, &reason).await
            } else {
                Err(stale())
            };
            let answer = outcome.unwrap_or_else(|error| error.answer(id));
            let response = CreateInteractionResponse::Message(answer.message());
            if let Err(error) = submit.create_response(&ctx.http, response).await {
                tracing::warn!(%error, custom_id = id, "could not answer a modal");
            }
        }
        _ => {}
    }
}

/// The value of the text input `custom_id` in a submitted modal.
fn text_input(rows: &[serenity::ActionRow], custom_id: &str) -> String {
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
