//! The one error type of hostdeck.
//!
//! Policy: every failure a core service can return is an [`Error`] whose [`Error::code`] is one
//! of the stable codes ([`ErrorCode::ALL`]). Front doors map the code, never the variant: the web turns it into an
//! HTTP status and `{"error":{"code","message"}}`, the bot into an ephemeral reply. Messages of
//! every variant but [`Error::Internal`] are written for the person who caused them and say what
//! to do next. An internal error carries its cause for the log only; people see a short apology
//! and a reference id (see [`Error::public_message`]).

use std::time::Duration;

/// The stable error codes (DESIGN §3). Tests, API clients and the bot rely on these strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    NotFound,
    /// No valid credentials (HTTP 401): sign in, or send a valid token.
    Unauthenticated,
    /// Signed in, but not allowed (HTTP 403).
    Forbidden,
    Invalid,
    Conflict,
    /// An idempotency key sent again with a different request (HTTP 422): the client must
    /// use a new key for a new request.
    IdempotencyMismatch,
    RateLimited,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// Every code, in the order the API documents them.
    pub const ALL: [ErrorCode; 9] = [
        Self::NotFound,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::Invalid,
        Self::Conflict,
        Self::IdempotencyMismatch,
        Self::RateLimited,
        Self::Unavailable,
        Self::Internal,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::Invalid => "invalid",
            Self::Conflict => "conflict",
            Self::IdempotencyMismatch => "idempotency_mismatch",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing asked for does not exist, or the actor may not know that it exists.
    #[error("{0}")]
    NotFound(String),
    /// The actor is known but lacks a permission; the message names what is needed.
    #[error("{0}")]
    Forbidden(String),
    /// No valid credentials: a wrong password, or a token that is expired, revoked or forged.
    /// Its code is `unauthenticated`; the web answers it with 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// Bad input. `field` names the offending field when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<&'static str>,
        message: String,
    },
    /// The request clashes with the current state (a duplicate, a reused key, too little credit).
    #[error("{0}")]
    Conflict(String),
    /// An idempotency key came again with a request other than the one it was first used for.
    /// The message names neither the first request nor whose it was.
    #[error("{0}")]
    KeyReused(String),
    /// Too many requests; `retry_after` says when trying again makes sense.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after: Duration,
    },
    /// A dependency (the database, a provider, PayPal) did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure. `context` says what was being done.
    #[error("internal error while {context}")]
    Internal {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Invalid { .. } => ErrorCode::Invalid,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::KeyReused(_) => ErrorCode::IdempotencyMismatch,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
            Self::Unavailable(_) => ErrorCode::Unavailable,
            Self::Internal { .. } => ErrorCode::Internal,
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn internal(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: source.into(),
        }
    }

    /// What a person may be shown. Internal details stay in the log, under `reference`.
    pub fn public_message(&self, reference: &str) -> String {
        match self {
            Self::Internal { .. } => format!(
                "Sorry, something went wrong on our side. If it keeps happening, contact support \
                 and quote reference {reference}."
            ),
            other => other.to_string(),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                Self::Unavailable(
                    "The database is not answering right now; try again in a moment.".into(),
                )
            }
            other => Self::internal("talking to the database", other),
        }
    }
}

/// A short random reference for an internal error, shown to the person and written to the log.
pub fn new_reference() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..10)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}
