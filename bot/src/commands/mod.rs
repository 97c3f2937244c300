//! The slash commands, one file per area. Each is a few lines: parse, call core with the
//! member's access, render.

mod account;
mod servers;
mod staff;

use crate::Data;
use crate::errors::BotError;

/// Every command the bot registers.
pub fn all() -> Vec<poise::Command<Data, BotError>> {
    vec![
        account::help(),
        account::link(),
        account::unlink(),
        account::balance(),
        staff::whois(),
        staff::credits(),
        servers::server(),
    ]
}

pub use servers::{server_create_confirmed, server_power_confirmed, server_resize_confirmed};
pub use staff::credit_modal_submitted;
pub use staff::{credit_cancelled, credit_confirmed};
