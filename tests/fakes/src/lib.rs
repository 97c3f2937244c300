//! hostdeck-fakes: the outside services hostdeck talks to, faked on 127.0.0.1.
//!
//! Each fake speaks the real wire format, checks what it receives against the published spec in
//! `../shared/wire/` (a fake that accepts anything proves nothing), records every call for the
//! test to read back, and can be told to fail, stall or slow down.
//!
//! - [`server`]: starting a fake on a free port, the call log, fault injection.
//! - [`spec`]: OpenAPI request and response checks.
//! - [`betterstack`]: BetterStack Uptime's monitors, groups, incidents and status reports from
//!   the example data set, with the ways it fails (401, 429, 500, slow, truncated, empty).
//! - [`discord`]: REST and gateway websocket, checked against Discord's OpenAPI spec; injects
//!   slash commands, clicks and modal submits as any member; enforces the 3-second deadline.
//! - [`paypal`]: OAuth, Orders v2, captures, refunds, an approve page, signed webhooks and the
//!   verify API, checked against PayPal's specs.
//! - [`gemini`]: generateContent, embedContent, batchEmbedContents and countTokens, checked
//!   against the captured answers and notes; scripted answers, every failure, and a mode that
//!   obeys every prompt injection.
//! - [`virtfusion`], [`proxmox`], [`jelastic`]: stateful providers; Proxmox checks every request
//!   against the PVE API schema. Each can be slowed, failed or seeded with thousands of servers.

pub mod betterstack;
pub mod discord;
pub(crate) mod exchange;
pub mod gemini;
pub mod jelastic;
pub mod paypal;
pub mod proxmox;
pub mod server;
pub mod spec;
pub mod virtfusion;

use std::path::PathBuf;

/// `../shared/wire/` beside the repository: the wire formats and published specs.
pub fn wire_dir() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for candidate in [repo.join("../shared/wire"), repo.join("shared/wire")] {
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!(
        "the wire formats are missing: expected ../shared/wire beside the repository at {}",
        repo.display()
    )
}
