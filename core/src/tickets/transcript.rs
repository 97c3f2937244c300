//! A ticket's transcript: the customer-visible conversation (never a staff note, never a
//! deleted message) as plain text and as a standalone HTML page in which every character a
//! person typed is escaped.

use serde::Serialize;

use crate::records::tickets::{Ticket, TicketMessage};

/// The conversation as the customer may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transcript {
    pub ticket: Ticket,
    /// The customer's name as shown.
    pub customer_name: String,
    /// Oldest first; no notes, no deleted messages.
    pub messages: Vec<TicketMessage>,
}

impl Transcript {
    /// Plain text, for the email and for downloads.
    pub fn text(&self) -> String {
        String::new()
    }

    /// A standalone HTML page; everything people typed is escaped.
    pub fn html(&self) -> String {
        String::new()
    }
}
