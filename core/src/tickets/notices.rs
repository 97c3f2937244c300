//! What a ticket change sends, as outbox rows written in the change's own transaction: the
//! thread's sync, the staff channel's posts, and the customer's emails. Bodies of staff notes
//! never reach this file's emails: only replies and the transcript (which has no notes) do.

use crate::config::Config;
use crate::notify::{ChannelPost, DISCORD_CHANNEL, DISCORD_TICKET, EMAIL, EmailMessage};
use crate::records::outbox::NewOutboxMessage;
use crate::records::tickets::Ticket;
use crate::records::users::User;

use super::transcript::Transcript;

/// The outbox rows of one change.
pub(super) struct Notices<'a> {
    config: &'a Config,
    rows: Vec<NewOutboxMessage>,
}

impl<'a> Notices<'a> {
    pub(super) fn new(config: &'a Config) -> Self {
        Self {
            config,
            rows: Vec::new(),
        }
    }

    pub(super) fn rows(self) -> Vec<NewOutboxMessage> {
        self.rows
    }

    fn push(&mut self, channel: &str, recipient: String, payload: serde_json::Value) {
        self.rows.push(NewOutboxMessage {
            channel: channel.to_owned(),
            recipient,
            payload,
        });
    }

    /// The ticket's Discord thread is brought up to date (when tickets have threads at all).
    pub(super) fn sync(mut self, ticket: &Ticket) -> Self {
        if self.config.discord.support_channel_id.is_some() {
            self.push(DISCORD_TICKET, ticket.id.to_string(), serde_json::json!({}));
        }
        self
    }

    /// A post in the staff channel; `ping` adds the escalation role's mention.
    pub(super) fn staff(mut self, content: String, ping: bool) -> Self {
        let tickets = &self.config.tickets;
        if let Some(channel) = tickets.staff_channel_id {
            let post = ChannelPost {
                content,
                ping_role: tickets.escalation_role_id.filter(|_| ping),
            };
            let payload = serde_json::to_value(&post).unwrap_or_default();
            self.push(DISCORD_CHANNEL, channel.to_string(), payload);
        }
        self
    }

    fn email(mut self, to: &User, subject: String, text: String) -> Self {
        let payload = serde_json::to_value(EmailMessage { subject, text }).unwrap_or_default();
        self.push(EMAIL, to.email.clone(), payload);
        self
    }

    fn link(&self, ticket: &Ticket) -> String {
        self.config
            .web
            .portal_url(&format!("/tickets/{}", ticket.id))
    }

    /// The customer hears of a staff reply (`author` wrote `body`): its text and a link. Only
    /// replies come here, never a note.
    pub(super) fn reply_email(
        self,
        customer: &User,
        ticket: &Ticket,
        author: &str,
        body: &str,
    ) -> Self {
        let text = format!(
            "{author} answered your ticket #{id}, \"{subject}\":\n\n{body}\n\n\
             See the whole conversation and answer here: {link}\n\n{company}",
            id = ticket.id,
            subject = ticket.subject,
            link = self.link(ticket),
            company = self.config.company.name,
        );
        let subject = format!("Re: [#{}] {}", ticket.id, ticket.subject);
        self.email(customer, subject, text)
    }

    /// The customer is told the ticket closes unless they answer.
    pub(super) fn autoclose_email(self, customer: &User, ticket: &Ticket, warning: &str) -> Self {
        let text = format!(
            "{warning}\n\nAnswer here: {link}\n\n{company}",
            link = self.link(ticket),
            company = self.config.company.name,
        );
        let subject = format!("[#{}] {}: closing soon", ticket.id, ticket.subject);
        self.email(customer, subject, text)
    }

    /// The transcript goes to the customer when the ticket closes.
    pub(super) fn transcript_email(self, customer: &User, transcript: &Transcript) -> Self {
        let ticket = &transcript.ticket;
        let reason = ticket
            .close_reason
            .as_deref()
            .map(|reason| format!(" ({reason})"))
            .unwrap_or_default();
        let text = format!(
            "Your ticket #{id} was closed{reason}. The whole conversation is below; you can \
             also read it, rate our help or reopen the ticket here: {link}\n\n{transcript}\n{company}",
            id = ticket.id,
            link = self.link(ticket),
            transcript = transcript.text(),
            company = self.config.company.name,
        );
        let subject = format!("[#{}] {}: closed", ticket.id, ticket.subject);
        self.email(customer, subject, text)
    }
}

/// How a ticket is named in staff posts: `#12 [technical, high] Subject`.
pub(super) fn headline(ticket: &Ticket) -> String {
    format!(
        "#{} [{}, {}] {}",
        ticket.id, ticket.department, ticket.priority, ticket.subject
    )
}
