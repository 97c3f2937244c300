//! The articles a fresh install starts with: how to use this platform, written for customers
//! (`config/knowledge/`, built into the binary so an install answers out of the box). They
//! are loaded once, when the knowledge base was never written ([`super::Knowledge::seed_starter`]);
//! `hostdeck kb import config/knowledge` loads them again after edits.

use super::files::{self, ArticleFile};
use crate::error::Result;
use crate::records::knowledge::ArticleContent;

macro_rules! starter {
    ($($name:literal,)*) => {
        &[$(($name, include_str!(concat!("../../../config/knowledge/", $name))),)*]
    };
}

/// Every starter file: its name and text.
pub const FILES: &[(&str, &str)] = starter![
    "account-limits.md",
    "account-settings.md",
    "add-credit-with-paypal.md",
    "api-keys-and-scopes.md",
    "billing-faq-charges.md",
    "create-a-server.md",
    "create-an-account.md",
    "delete-a-server.md",
    "discord-bot-commands.md",
    "find-your-server-ip.md",
    "free-credit.md",
    "getting-started.md",
    "help-and-ask.md",
    "hourly-billing.md",
    "link-your-discord-account.md",
    "locations.md",
    "log-in-to-your-server.md",
    "low-balance-warnings.md",
    "maintenance-mode.md",
    "open-a-ticket.md",
    "operating-systems.md",
    "payment-methods.md",
    "plans-and-prices.md",
    "power-actions.md",
    "prepaid-credit-and-balance.md",
    "refunds.md",
    "reset-your-password.md",
    "resize-a-server.md",
    "security-and-your-data.md",
    "server-not-responding.md",
    "server-states.md",
    "sign-in-problems.md",
    "ssh-keys.md",
    "statements-and-exports.md",
    "suspended-server.md",
    "ticket-replies.md",
    "too-many-requests.md",
    "two-factor-authentication.md",
];

/// The starter articles, read as `hostdeck kb import` reads files.
pub fn articles() -> Result<Vec<ArticleContent>> {
    FILES
        .iter()
        .map(|(name, text)| {
            files::parse(&ArticleFile {
                name: (*name).to_owned(),
                text: (*text).to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
