//! hostdeck-bot: the Discord front door (poise on serenity). Commands stay thin: parse the
//! interaction, call core with the member's actor, render the reply.
//!
//! This crate so far only decides whether the bot can run; the commands arrive with the bot.

use hostdeck_core::config::DiscordConfig;

/// Why the bot is not running, or `None` when it can start.
pub fn off_reason(config: &DiscordConfig) -> Option<&'static str> {
    if config.token.is_none() {
        return Some("the Discord bot is off: discord.token is not set");
    }
    Some("the Discord bot is off: this build of hostdeck does not include the bot yet")
}
