//! `[discord]`: the bot's token, guild and the Discord roles that map to hostdeck roles.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::values::serialize_secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordConfig {
    /// The bot token. Without it the bot stays off.
    #[serde(serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    /// Discord's address; any other value routes the bot's REST and gateway there.
    pub api_base: url::Url,
    /// A channel webhook URL where billing staff are told of payments that credited nobody
    /// and of `/credits` adjustments. It carries the webhook's token, so it is treated as a
    /// secret, read when a post is sent and never stored in the outbox.
    #[serde(serialize_with = "serialize_secret")]
    pub billing_webhook: Option<SecretString>,
    /// The guild (server) the bot serves. Staff roles count only here; commands are
    /// registered here when set, otherwise globally.
    pub guild_id: Option<u64>,
    /// Which Discord role ids (never names) make a member support, billing or admin.
    pub roles: DiscordRoles,
    /// How many gateway shards to run; unset means as many as Discord recommends.
    pub shards: Option<u32>,
    /// Whether `hostdeck serve` registers the slash commands when the bot starts
    /// (`hostdeck bot register-commands` does it on demand).
    pub register_on_start: bool,
    /// The channel whose private threads hold the tickets (one thread per ticket).
    pub support_channel_id: Option<u64>,
    /// The channel of the status: one sticky message with the report, edited when it changes,
    /// and a post for each new incident or maintenance window. Unset: neither.
    pub status_channel_id: Option<u64>,
}

/// Discord role ids per platform role.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiscordRoles {
    pub admin: Vec<u64>,
    pub support: Vec<u64>,
    pub billing: Vec<u64>,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            token: None,
            api_base: url::Url::parse("https://discord.com").unwrap_or_else(|_| unreachable!()),
            billing_webhook: None,
            guild_id: None,
            roles: DiscordRoles::default(),
            shards: None,
            register_on_start: true,
            support_channel_id: None,
            status_channel_id: None,
        }
    }
}
