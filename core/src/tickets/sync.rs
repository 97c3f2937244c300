//! The seam between tickets and their Discord threads. The outbox holds one `discord_ticket`
//! row (recipient: the ticket id) for every change that shows in Discord, written in the
//! change's own transaction; delivering it calls [`TicketSync::sync_ticket`], which the bot
//! implements as a reconcile: take the ticket's lease ([`super::Tickets::sync_lease`]), create
//! the thread if there is none ([`super::Tickets::set_thread`]), post every message not yet
//! posted ([`super::Tickets::unsynced_messages`], then [`super::Tickets::mark_posted`] right
//! after each post), make the thread's name and state follow the status, and release the
//! lease. A reconcile that fails halfway is simply run again: nothing is posted twice, nothing
//! is lost. Staff notes are never posted into the thread (the customer is in it).

pub use crate::notify::TicketSync;
