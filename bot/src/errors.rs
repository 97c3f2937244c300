//! The bot's one error type and its one `on_error`: mistakes and refusals are answered
//! ephemerally with what to do next; internal failures are logged with a reference id that
//! the apology quotes.

use hostdeck_core::ErrorCode;
use hostdeck_core::error::new_reference;
use poise::serenity_prelude as serenity;

use crate::Data;
use crate::render::{Answer, problem};

/// A button or form whose custom id no longer means anything (an old message, or a
/// hand-made interaction).
pub fn stale() -> BotError {
    hostdeck_core::Error::invalid(
        "custom_id",
        "This button or form is out of date; run the command again.",
    )
    .into()
}

/// What can go wrong in a command: a core error (with its stable code) or Discord itself.
#[derive(Debug)]
pub enum BotError {
    Core(hostdeck_core::Error),
    Discord(serenity::Error),
}

impl std::fmt::Display for BotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Core(error) => error.fmt(f),
            Self::Discord(error) => write!(f, "Discord refused a call: {error}"),
        }
    }
}

impl std::error::Error for BotError {}

impl From<hostdeck_core::Error> for BotError {
    fn from(error: hostdeck_core::Error) -> Self {
        Self::Core(error)
    }
}

impl From<serenity::Error> for BotError {
    fn from(error: serenity::Error) -> Self {
        Self::Discord(error)
    }
}

impl BotError {
    /// What the member is told. Internal failures are logged here, once, under a reference.
    pub fn answer(&self, command: &str) -> Answer {
        match self {
            Self::Core(error) if error.code() != ErrorCode::Internal => {
                problem(&error.public_message("-"))
            }
            Self::Core(error) => {
                let reference = new_reference();
                tracing::error!(%reference, command, error = ?error, "a bot command failed");
                problem(&error.public_message(&reference))
            }
            Self::Discord(error) => {
                let reference = new_reference();
                tracing::error!(%reference, command, %error, "a Discord call failed");
                problem(&format!(
                    "Sorry, something went wrong on our side. If it keeps happening, contact \
                     support and quote reference {reference}."
                ))
            }
        }
    }
}

/// Poise's error hook: every failure of a command ends here.
pub fn on_error(error: poise::FrameworkError<'_, Data, BotError>) -> poise::BoxFuture<'_, ()> {
    Box::pin(async move {
        let (ctx, answer) = match error {
            poise::FrameworkError::Command { error, ctx, .. } => {
                let answer = error.answer(&ctx.command().qualified_name);
                (ctx, answer)
            }
            poise::FrameworkError::CommandCheckFailed { error, ctx, .. } => {
                let answer = match error {
                    Some(error) => error.answer(&ctx.command().qualified_name),
                    None => problem("You may not use this command here."),
                };
                (ctx, answer)
            }
            poise::FrameworkError::ArgumentParse { error, ctx, .. } => {
                let answer = problem(&format!("One of the options is not valid: {error}."));
                (ctx, answer)
            }
            other => {
                if let Err(error) = poise::builtins::on_error(other).await {
                    tracing::error!(%error, "could not report a bot framework error");
                }
                return;
            }
        };
        if let Err(error) = ctx.send(answer.reply()).await {
            tracing::warn!(%error, "could not tell the member what went wrong");
        }
    })
}
