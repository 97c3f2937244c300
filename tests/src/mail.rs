//! A mailer that keeps what it is asked to send, for tests that read their email.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hostdeck_core::notify::{EmailMessage, Mailer, SendError};

/// One email as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Records every email; can be told to fail the next sends.
#[derive(Debug, Clone, Default)]
pub struct Mailbox {
    sent: Arc<Mutex<Vec<Sent>>>,
    failures: Arc<Mutex<u32>>,
    refused: Arc<Mutex<u32>>,
}

impl Mailbox {
    pub fn all(&self) -> Vec<Sent> {
        self.sent.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn to(&self, address: &str) -> Vec<Sent> {
        self.all()
            .into_iter()
            .filter(|mail| mail.to.eq_ignore_ascii_case(address))
            .collect()
    }

    /// The next `count` sends fail as if the mail server were down.
    pub fn fail_next(&self, count: u32) {
        *self.failures.lock().unwrap_or_else(|p| p.into_inner()) = count;
    }

    /// How many sends were refused so far (see [`Mailbox::fail_next`]).
    pub fn refused(&self) -> u32 {
        *self.refused.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to five seconds for an email to `address` whose subject contains `subject`.
    pub async fn wait_for(&self, address: &str, subject: &str) -> Sent {
        for _ in 0..250 {
            if let Some(mail) = self
                .to(address)
                .into_iter()
                .rev()
                .find(|mail| mail.subject.contains(subject))
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "no email to {address} about {subject:?}; sent: {:#?}",
            self.all()
        )
    }
}

/// The first run of `digits` digits in `text` (a verification or reset code).
pub fn code_in(text: &str, digits: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == digits)
        .map(str::to_owned)
}

/// The value of query parameter `name` in the first link in `text` that has one (the token of
/// a reset link), decoded.
pub fn link_param(text: &str, name: &str) -> Option<String> {
    text.split_whitespace()
        .filter_map(|word| url::Url::parse(word).ok())
        .find_map(|link| {
            link.query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        })
}

#[async_trait::async_trait]
impl Mailer for Mailbox {
    async fn send(&self, to: &str, message: &EmailMessage) -> Result<(), SendError> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
            if *failures > 0 {
                *failures -= 1;
                *self.refused.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                return Err(SendError::retryable("the test mail server is down"));
            }
        }
        self.sent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Sent {
                to: to.to_owned(),
                subject: message.subject.clone(),
                text: message.text.clone(),
            });
        Ok(())
    }
}
