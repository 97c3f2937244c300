//! Delivering email: over SMTP with lettre, or, while no mail server is configured, as `.eml`
//! files in a spool directory with the subject logged, so sign-up works on a fresh install.

use std::path::PathBuf;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::EmailMessage;
use crate::config::SmtpConfig;
use crate::error::{Error, Result};

/// Why a message could not be sent, and whether trying later may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    pub retryable: bool,
    pub message: String,
    /// When the receiver said how long to wait (Discord's 429 `retry_after`), the next attempt
    /// waits that long instead of the usual backoff.
    pub retry_after: Option<std::time::Duration>,
}

impl SendError {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Rate limited: try again after `retry_after`.
    pub fn rate_limited(message: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }
}

#[async_trait::async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, to: &str, message: &EmailMessage) -> std::result::Result<(), SendError>;
}

/// The mailer the config asks for: SMTP when `smtp.url` is set, the spool otherwise.
pub fn from_config(config: &SmtpConfig) -> Result<std::sync::Arc<dyn Mailer>> {
    let from: Mailbox = config.from.parse().map_err(|error| {
        Error::invalid(
            "smtp.from",
            format!("{:?} is not a sender address: {error}", config.from),
        )
    })?;
    Ok(match &config.url {
        Some(url) => {
            let url = transport_url(url.expose_secret())?;
            let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
                .map_err(|error| {
                    Error::invalid("smtp.url", format!("cannot use this SMTP address: {error}"))
                })?
                .build();
            std::sync::Arc::new(SmtpMailer { transport, from })
        }
        None => {
            tracing::info!(dir = %config.spool_dir.display(), "no smtp.url: email is written to the spool directory");
            std::sync::Arc::new(SpoolMailer {
                dir: config.spool_dir.clone(),
                from,
            })
        }
    })
}

/// The documented `smtp.url` forms in lettre's terms: `smtp://` is STARTTLS, required, unless
/// `?tls=none` asks for a plain connection (a relay on the same host) or `?tls=opportunistic`
/// for TLS when offered; `smtps://` is TLS from the start. (lettre alone reads a bare
/// `smtp://` as plain text and refuses `tls=none`.) Errors never repeat the URL: it may hold
/// a password.
fn transport_url(url: &str) -> Result<String> {
    let mut parsed = url::Url::parse(url)
        .map_err(|error| Error::invalid("smtp.url", format!("not a URL: {error}")))?;
    if parsed.scheme() != "smtp" {
        return Ok(url.to_owned());
    }
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    let tls = match pairs
        .iter()
        .find(|(key, _)| key == "tls")
        .map(|(_, v)| v.as_str())
    {
        None | Some("required") => Some("required"),
        Some("opportunistic") => Some("opportunistic"),
        Some("none") => None,
        Some(_) => {
            return Err(Error::invalid(
                "smtp.url",
                "tls= takes none, opportunistic or required (the default)",
            ));
        }
    };
    let rest: Vec<(String, String)> = pairs.into_iter().filter(|(key, _)| key != "tls").collect();
    parsed.set_query(None);
    if tls.is_some() || !rest.is_empty() {
        let mut query = parsed.query_pairs_mut();
        query.extend_pairs(rest);
        if let Some(tls) = tls {
            query.append_pair("tls", tls);
        }
    }
    Ok(parsed.to_string())
}

fn build(
    from: &Mailbox,
    to: &str,
    message: &EmailMessage,
) -> std::result::Result<Message, SendError> {
    let to: Mailbox = to
        .parse()
        .map_err(|error| SendError::permanent(format!("bad recipient: {error}")))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(message.subject.clone())
        .header(ContentType::TEXT_PLAIN)
        .body(message.text.clone())
        .map_err(|error| SendError::permanent(format!("cannot build the email: {error}")))
}

pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

#[async_trait::async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, message: &EmailMessage) -> std::result::Result<(), SendError> {
        let email = build(&self.from, to, message)?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            // A 5xx answer (no such mailbox, refused) will not change by trying again.
            Err(error) if error.is_permanent() => Err(SendError::permanent(error.to_string())),
            Err(error) => Err(SendError::retryable(error.to_string())),
        }
    }
}

pub struct SpoolMailer {
    dir: PathBuf,
    from: Mailbox,
}

#[async_trait::async_trait]
impl Mailer for SpoolMailer {
    async fn send(&self, to: &str, message: &EmailMessage) -> std::result::Result<(), SendError> {
        let email = build(&self.from, to, message)?;
        // The spool holds verification and reset codes: the folder is 0700 and each message
        // 0600, written here rather than by lettre's file transport, which leaves both to the
        // umask.
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || crate::private_files::create_dir_all(&dir))
            .await
            .map_err(std::io::Error::other)
            .and_then(|created| created)
            .map_err(|error| {
                SendError::retryable(format!("cannot create {}: {error}", self.dir.display()))
            })?;
        let id: [u8; 16] = rand::random();
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let file = self.dir.join(format!("{id}.eml"));
        crate::private_files::write_new(&file, email.formatted())
            .await
            .map_err(|error| {
                SendError::retryable(format!("cannot write to {}: {error}", self.dir.display()))
            })?;
        tracing::info!(to, subject = %message.subject, file = %file.display(), "email written to the spool");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_mean_what_the_config_documents() {
        let cases = [
            (
                "smtp://user:pw@mail.example.com:587",
                "smtp://user:pw@mail.example.com:587?tls=required",
            ),
            ("smtp://127.0.0.1:25?tls=none", "smtp://127.0.0.1:25"),
            (
                "smtp://mail.example.com?tls=opportunistic",
                "smtp://mail.example.com?tls=opportunistic",
            ),
            (
                "smtp://mail.example.com:587?tls=required",
                "smtp://mail.example.com:587?tls=required",
            ),
            (
                "smtps://user:pw@mail.example.com:465",
                "smtps://user:pw@mail.example.com:465",
            ),
        ];
        for (configured, meant) in cases {
            assert_eq!(transport_url(configured).expect(configured), meant);
        }
        let refused =
            transport_url("smtp://user:secret@mail.example.com?tls=maybe").expect_err("bad tls");
        assert!(!refused.to_string().contains("secret"), "{refused}");
    }

    #[tokio::test]
    async fn every_documented_smtp_url_starts_a_mailer() {
        for url in [
            "smtp://user:pw@mail.example.com:587",
            "smtp://127.0.0.1:25?tls=none",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:pw@mail.example.com:465",
        ] {
            let config = SmtpConfig {
                url: Some(url.to_owned().into()),
                ..SmtpConfig::default()
            };
            assert!(from_config(&config).is_ok(), "{url}");
        }
    }
}
