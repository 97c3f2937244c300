//! Answers kept for the doors' buttons: each answer a door gives is stored with its question,
//! sources and earlier exchanges, under the asker it belongs to, so "Solved" records feedback,
//! "Ask a follow-up" continues the conversation from the server's copy (never from a button's
//! id), and "Open a ticket" turns it into a ticket with everything attached. Somebody else's
//! answer is `not_found`. Also the staff's draft of a ticket reply (`/ticket suggest`).

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::Assistant;
use super::answer::{Answer, Exchange, Source};
use super::quota::Asker;
use crate::error::{Error, Result};
use crate::policy::{Actor, Permission};
use crate::records::assistant::{AnswerId, Feedback, KeptAnswerRow};
use crate::records::tickets::{MAX_BODY, MAX_SUBJECT, Ticket, TicketId};
use crate::tickets::{OpenTicket, Tickets};

/// How long after an answer a follow-up may continue its conversation (Discord's interaction
/// window).
pub const FOLLOW_UP_WINDOW: chrono::Duration = chrono::Duration::minutes(15);
/// Ticket messages a draft reads, newest last.
const DRAFT_MESSAGES: usize = 12;

/// An answer and the id its buttons carry.
#[derive(Debug, Clone)]
pub struct Kept {
    pub id: AnswerId,
    pub answer: Answer,
}

/// A kept answer as its asker reads it back.
#[derive(Debug, Clone)]
pub struct KeptAnswer {
    pub id: AnswerId,
    pub asked_at: DateTime<Utc>,
    pub question: String,
    pub answer: String,
    pub sources: Vec<Source>,
    pub conversation: Vec<Exchange>,
    pub feedback: Option<String>,
    pub ticket: Option<TicketId>,
}

/// A reply drafted for staff, never sent by itself.
#[derive(Debug, Clone)]
pub struct Draft {
    pub text: String,
    pub sources: Vec<Source>,
    /// Whether the draft is only the articles that look relevant (no model, or it failed).
    pub from_model: bool,
}

impl Assistant {
    /// Answers `question` (continuing the conversation of `follow_up_of`, the asker's own
    /// answer of the last [`FOLLOW_UP_WINDOW`], when given) and keeps the answer for its buttons.
    pub async fn ask_kept(
        &self,
        actor: &Actor,
        asker: &Asker,
        question: &str,
        follow_up_of: Option<AnswerId>,
    ) -> Result<Kept> {
        actor.require(Permission::Ask)?;
        let mut conversation = Vec::new();
        if let Some(earlier) = follow_up_of {
            let earlier = self.kept(actor, asker, earlier).await?;
            if self.inner.clock.now() - earlier.asked_at > FOLLOW_UP_WINDOW {
                return Err(Error::invalid(
                    "follow_up",
                    "That conversation has ended (follow-ups are taken for 15 minutes). Ask \
                     again with a new question.",
                ));
            }
            conversation = earlier.conversation;
            conversation.push(Exchange {
                question: earlier.question,
                answer: earlier.answer,
            });
            let keep = self.inner.config.assistant.max_turns;
            conversation.drain(..conversation.len().saturating_sub(keep));
            self.set_feedback(earlier.id, Feedback::FollowedUp).await?;
        }
        let answer = self.ask(actor, asker, question, &conversation).await?;
        let row = KeptAnswerRow {
            asked_at: self.inner.clock.now(),
            user: actor.user,
            asker: asker.key.clone(),
            question: question.trim().to_owned(),
            answer: answer.text.clone(),
            sources: json(&answer.sources)?,
            conversation: json(&conversation)?,
            outcome: answer.outcome(),
            feedback: None,
            ticket: None,
        };
        let id = self.inner.store.assistant().keep_answer(&row).await?;
        Ok(Kept { id, answer })
    }

    /// The asker's own kept answer; anybody else's is `not_found`.
    pub async fn kept(&self, actor: &Actor, asker: &Asker, id: AnswerId) -> Result<KeptAnswer> {
        actor.require(Permission::Ask)?;
        let missing = || Error::NotFound("That answer no longer exists; ask again.".into());
        let row = self
            .inner
            .store
            .assistant()
            .kept_answer(id)
            .await?
            .filter(|row| row.asker == asker.key)
            .ok_or_else(missing)?;
        Ok(KeptAnswer {
            id,
            asked_at: row.asked_at,
            question: row.question,
            answer: row.answer,
            sources: serde_json::from_str(&row.sources)
                .map_err(|error| Error::internal("reading a kept answer's sources", error))?,
            conversation: serde_json::from_str(&row.conversation)
                .map_err(|error| Error::internal("reading a kept conversation", error))?,
            feedback: row.feedback,
            ticket: row.ticket,
        })
    }

    /// "Solved" (or another word) on the asker's own answer.
    pub async fn feedback(
        &self,
        actor: &Actor,
        asker: &Asker,
        id: AnswerId,
        feedback: Feedback,
    ) -> Result<()> {
        let kept = self.kept(actor, asker, id).await?;
        if kept.ticket.is_some() {
            return Ok(());
        }
        self.set_feedback(id, feedback).await
    }

    async fn set_feedback(&self, id: AnswerId, feedback: Feedback) -> Result<()> {
        self.inner
            .store
            .assistant()
            .set_feedback(id, feedback.as_str())
            .await
    }

    /// Opens a ticket from the asker's own answer: the question as its subject, the question,
    /// the answer and its sources as its first message. Only a signed-in (linked) customer has
    /// tickets; an answer becomes at most one ticket.
    pub async fn open_ticket(
        &self,
        tickets: &Tickets,
        actor: &Actor,
        asker: &Asker,
        id: AnswerId,
    ) -> Result<Ticket> {
        let kept = self.kept(actor, asker, id).await?;
        if actor.user.is_none() {
            return Err(Error::Unauthenticated(
                "Tickets belong to an account: link yours first (make a code on your account \
                 page in the portal, then use /link with it), then press the button again."
                    .into(),
            ));
        }
        if let Some(ticket) = kept.ticket {
            return tickets.get(actor, ticket).await;
        }
        if !self.inner.store.assistant().claim_for_ticket(id).await? {
            return Err(Error::Conflict(
                "A ticket is already being opened from this answer.".into(),
            ));
        }
        let department = self
            .inner
            .config
            .tickets
            .departments
            .first()
            .cloned()
            .unwrap_or_default();
        let opened = tickets
            .open(
                actor,
                OpenTicket {
                    subject: ticket_subject(&kept.question),
                    body: ticket_body(&kept),
                    department,
                    ..OpenTicket::default()
                },
            )
            .await;
        let store = self.inner.store.assistant();
        match opened {
            Ok(ticket) => {
                store.set_answer_ticket(id, ticket.id).await?;
                Ok(ticket)
            }
            Err(error) => {
                if let Err(problem) = store.set_feedback(id, "ticket_failed").await {
                    tracing::warn!(%problem, "could not release an answer's ticket claim");
                }
                Err(error)
            }
        }
    }

    /// Answers since `since` by the feedback given (`None`: none), for admins.
    pub async fn feedback_since(
        &self,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Option<String>, i64)>> {
        actor.require(Permission::ManageSettings)?;
        self.inner.store.assistant().feedback_since(since).await
    }

    /// A reply drafted for staff from the knowledge base and the ticket's conversation (its
    /// messages to and from the customer; never staff notes, never anybody else's data). Shown
    /// to the staff member only; nothing is sent. The token budget applies, the daily question
    /// limits do not.
    pub async fn draft_reply(
        &self,
        tickets: &Tickets,
        actor: &Actor,
        ticket: TicketId,
    ) -> Result<Draft> {
        actor.require(Permission::ReplyAsStaff)?;
        let found = tickets.get(actor, ticket).await?;
        let messages = tickets.messages(actor, ticket).await?;
        let (conversation, question) = draft_turns(&found, &messages);
        let max = self.inner.config.assistant.max_question_chars;
        let question = super::inert::truncate(&question, max);
        let deadline = Instant::now() + self.inner.config.gemini.total_timeout;
        let (answer, tokens) = self
            .answer(actor, &question, &conversation, deadline, false)
            .await?;
        let asker = Asker {
            key: format!("staff:{}", actor.user.map_or(0, |user| user.0)),
            channel: None,
        };
        self.record(
            actor,
            &asker,
            &format!("draft:{}", answer.outcome()),
            tokens,
        )
        .await;
        let from_model = matches!(
            answer.kind,
            super::AnswerKind::Answered | super::AnswerKind::NotInSources
        );
        Ok(Draft {
            text: answer.text,
            sources: answer.sources,
            from_model,
        })
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|error| Error::internal("keeping an answer", error))
}

/// The question as a one-line subject.
fn ticket_subject(question: &str) -> String {
    let line: String = question
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let subject = super::inert::truncate(&line, MAX_SUBJECT);
    if subject.trim().is_empty() {
        "A question for support".into()
    } else {
        subject
    }
}

/// The ticket's first message: the conversation, the answer and its sources.
fn ticket_body(kept: &KeptAnswer) -> String {
    let mut body = String::new();
    for earlier in &kept.conversation {
        body.push_str(&format!(
            "Earlier question: {}\nEarlier answer: {}\n\n",
            earlier.question, earlier.answer
        ));
    }
    body.push_str(&format!(
        "Question: {}\n\nThe assistant's answer: {}\n",
        kept.question, kept.answer
    ));
    if !kept.sources.is_empty() {
        body.push_str("\nSources:\n");
        for (n, source) in kept.sources.iter().enumerate() {
            body.push_str(&format!("{}. {} ({})\n", n + 1, source.title, source.url));
        }
    }
    super::inert::truncate(body.trim_end(), MAX_BODY)
}

/// The ticket's messages as turns (the customer's as questions, staff's as answers), notes
/// left out, and the question a draft answers: the subject and the customer's latest words.
fn draft_turns(
    ticket: &Ticket,
    messages: &[crate::records::tickets::TicketMessage],
) -> (Vec<Exchange>, String) {
    let visible: Vec<_> = messages
        .iter()
        .filter(|m| !m.note && m.deleted_at.is_none())
        .collect();
    let recent = &visible[visible.len().saturating_sub(DRAFT_MESSAGES)..];
    let mut conversation: Vec<Exchange> = Vec::new();
    let mut pending: Vec<&str> = Vec::new();
    for message in recent {
        if message.author_staff {
            conversation.push(Exchange {
                question: pending.join("\n\n"),
                answer: message.body.clone(),
            });
            pending.clear();
        } else {
            pending.push(&message.body);
        }
    }
    let latest = if pending.is_empty() {
        "(the customer has not written since the last reply)".to_owned()
    } else {
        pending.join("\n\n")
    };
    let question = format!(
        "Draft the support team's next reply to this ticket.\nSubject: {}\nThe customer wrote: {}",
        ticket.subject, latest
    );
    (conversation, question)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_one_bounded_line() {
        assert_eq!(ticket_subject("how do\n  i top up?"), "how do i top up?");
        assert!(ticket_subject(&"word ".repeat(100)).chars().count() <= MAX_SUBJECT);
        assert_eq!(ticket_subject("   "), "A question for support");
    }
}
