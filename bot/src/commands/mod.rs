//! The slash commands, one file per area. Each is a few lines: parse, call core with the
//! member's access, render. Each area also owns the `custom_id` prefixes of its buttons and
//! modals and their handlers, which `components` routes to.

mod ask;
mod member;
mod servers;
mod staff;
mod status;
mod tickets;

use poise::serenity_prelude as serenity;

use crate::errors::BotError;
use crate::{ApplicationContext, Data};

/// Every command the bot registers.
pub fn all() -> Vec<poise::Command<Data, BotError>> {
    vec![
        ask::ask(),
        member::help(),
        member::link(),
        member::unlink(),
        member::balance(),
        staff::whois(),
        staff::credits(),
        servers::server(),
        tickets::ticket(),
        status::status(),
        status::incident(),
    ]
}

pub use ask::{ASK, ask_pressed, ask_submitted};
pub use servers::{
    SERVER_CANCEL, SERVER_CREATE, SERVER_POWER, SERVER_RESIZE, server_create_confirmed,
    server_power_confirmed, server_resize_confirmed,
};
pub use staff::{
    CREDITS_CANCEL, CREDITS_CONFIRM, CREDITS_REASON, credit_cancelled, credit_confirmed,
    credit_modal_submitted,
};
pub use tickets::{
    OPEN as TICKET_OPEN, TICKET, text_input, thread_card, ticket_line, ticket_pressed,
    ticket_submitted,
};

/// Answers a slash command with `modal`; its submission comes back through `components`.
async fn show_modal(
    ctx: ApplicationContext<'_>,
    modal: serenity::CreateModal,
) -> Result<(), BotError> {
    ctx.interaction
        .create_response(
            ctx.serenity_context(),
            serenity::CreateInteractionResponse::Modal(modal),
        )
        .await?;
    ctx.has_sent_initial_response
        .store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}
