//! A ticket's transcript: the customer-visible conversation (never a staff note, never a
//! deleted message) as plain text and as a standalone HTML page in which every character a
//! person typed is escaped.

use std::fmt::Write as _;

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

const TIME: &str = "%Y-%m-%d %H:%M UTC";

impl Transcript {
    /// Keeps only what the customer may see of `messages`.
    pub fn new(ticket: Ticket, customer_name: String, messages: Vec<TicketMessage>) -> Self {
        let messages = messages
            .into_iter()
            .filter(|message| !message.note && message.deleted_at.is_none())
            .collect();
        Self {
            ticket,
            customer_name,
            messages,
        }
    }

    fn status_line(&self) -> String {
        let ticket = &self.ticket;
        let mut line = format!(
            "Department: {} · Priority: {} · Status: {} · Opened {}",
            ticket.department,
            ticket.priority,
            ticket.status,
            ticket.created_at.format(TIME)
        );
        if let Some(closed) = ticket.closed_at {
            let _ = write!(line, " · Closed {}", closed.format(TIME));
        }
        if let Some(reason) = &ticket.close_reason {
            let _ = write!(line, " ({reason})");
        }
        line
    }

    fn byline(message: &TicketMessage) -> String {
        let role = if message.author_staff {
            "staff"
        } else if message.author.is_none() {
            "platform"
        } else {
            "customer"
        };
        let edited = if message.edited_at.is_some() {
            ", edited"
        } else {
            ""
        };
        format!(
            "{} · {} ({role}) via {}{edited}",
            message.created_at.format(TIME),
            message.author_name,
            message.door
        )
    }

    /// Plain text, for the email and for downloads.
    pub fn text(&self) -> String {
        let ticket = &self.ticket;
        let mut text = format!(
            "Ticket #{}: {}\nCustomer: {}\n{}\n",
            ticket.id,
            ticket.subject,
            self.customer_name,
            self.status_line()
        );
        for message in &self.messages {
            let _ = write!(text, "\n--- {}\n{}\n", Self::byline(message), message.body);
            for file in &message.attachments {
                let _ = writeln!(
                    text,
                    "Attachment: {} ({} bytes) {}",
                    file.name, file.size, file.url
                );
            }
        }
        text
    }

    /// A standalone HTML page; everything people typed is escaped.
    pub fn html(&self) -> String {
        let ticket = &self.ticket;
        let mut html = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Ticket #{id}: {subject}</title>\n\
             <style>body{{font-family:sans-serif;max-width:48rem;margin:2rem auto}}\
             .message{{border-top:1px solid #ccc;padding:.5rem 0}}\
             .by{{color:#555;font-size:.9rem}}.body{{white-space:pre-wrap}}</style>\n\
             </head>\n<body>\n<h1>Ticket #{id}: {subject}</h1>\n<p>Customer: {customer}</p>\n\
             <p>{status}</p>\n",
            id = ticket.id,
            subject = escape(&ticket.subject),
            customer = escape(&self.customer_name),
            status = escape(&self.status_line()),
        );
        for message in &self.messages {
            let _ = write!(
                html,
                "<div class=\"message\">\n<p class=\"by\">{}</p>\n<div class=\"body\">{}</div>\n",
                escape(&Self::byline(message)),
                escape(&message.body)
            );
            for file in &message.attachments {
                let _ = writeln!(
                    html,
                    "<p>Attachment: <a href=\"{url}\" rel=\"nofollow noopener\">{name}</a> \
                     ({size} bytes)</p>",
                    url = escape(&file.url),
                    name = escape(&file.name),
                    size = file.size
                );
            }
            html.push_str("</div>\n");
        }
        html.push_str("</body>\n</html>\n");
        html
    }
}

/// Text made safe inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::ids::{TicketId, TicketMessageId, UserId};
    use crate::records::tickets::{Attachment, Door, Priority, TicketStatus};

    fn message(id: i64, body: &str, note: bool) -> TicketMessage {
        let at = chrono::Utc
            .with_ymd_and_hms(2026, 3, 1, 10, 0, 0)
            .single()
            .expect("a time");
        TicketMessage {
            id: TicketMessageId(id),
            ticket: TicketId(1),
            author: Some(UserId(1)),
            author_name: "<b>Ana</b>".into(),
            author_staff: false,
            door: Door::Portal,
            body: body.into(),
            note,
            attachments: vec![Attachment {
                name: "a\"b.txt".into(),
                size: 3,
                url: "https://cdn.discordapp.com/x?a=1&b=2".into(),
            }],
            discord_message_id: None,
            created_at: at,
            edited_at: None,
            deleted_at: None,
        }
    }

    fn transcript() -> Transcript {
        let first = message(1, "<script>alert(1)</script> & @everyone", false);
        let ticket = Ticket {
            subject: "Help <img src=x onerror=alert(1)>".into(),
            priority: Priority::High,
            status: TicketStatus::Closed,
            closed_at: Some(first.created_at),
            close_reason: Some("<i>done</i>".into()),
            ..Ticket::example(first.created_at)
        };
        let mut deleted = message(3, "gone", false);
        deleted.deleted_at = Some(first.created_at);
        Transcript::new(
            ticket,
            "Ana <ana@example.com>".into(),
            vec![first, message(2, "SECRET NOTE", true), deleted],
        )
    }

    #[test]
    fn notes_and_deleted_messages_are_left_out() {
        let transcript = transcript();
        assert_eq!(transcript.messages.len(), 1);
        for text in [transcript.text(), transcript.html()] {
            assert!(!text.contains("SECRET NOTE"));
            assert!(!text.contains("gone"));
        }
    }

    #[test]
    fn everything_typed_is_escaped_in_html() {
        let html = transcript().html();
        for raw in ["<script>", "<img", "<b>Ana", "<i>done", "a\"b", "<ana@"] {
            assert!(!html.contains(raw), "{raw} in {html}");
        }
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; @everyone"));
        assert!(html.contains("x?a=1&amp;b=2"));
        assert!(transcript().text().contains("<script>alert(1)</script>"));
    }
}
