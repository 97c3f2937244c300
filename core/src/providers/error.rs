//! What can go wrong talking to a provider, and how it reaches people.
//!
//! Each implementation turns its platform's answers (HTTP statuses, reason phrases, `errors`
//! bodies, Jelastic `result` codes, Proxmox task exit statuses) into one [`Failure`]. The
//! conversion into a core [`Error`] picks the stable code and a message that says what to do
//! next. Two failures are ours to fix, not the customer's, and become `internal` (logged with
//! the details, shown as an apology with a reference): credentials the provider refuses, and an
//! answer hostdeck cannot read or a task that failed on the node.

use std::fmt;
use std::time::Duration;

use super::ProviderKind;
use crate::error::Error;

/// A failed provider call: which provider, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderError {
    /// The configured name (`[providers.NAME]`).
    pub provider: String,
    pub kind: ProviderKind,
    pub failure: Failure,
}

impl ProviderError {
    pub fn new(provider: &str, kind: ProviderKind, failure: Failure) -> Self {
        Self {
            provider: provider.to_owned(),
            kind,
            failure,
        }
    }

    /// The thing asked about does not exist on the platform.
    pub fn is_not_found(&self) -> bool {
        matches!(self.failure, Failure::NotFound { .. })
    }
}

/// What went wrong, in provider-neutral terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The provider refused hostdeck's credentials (401), or they lack a permission (403,
    /// Jelastic's invalid session). `detail` is the provider's own words.
    BadCredentials { detail: String },
    /// No such server (or user, or task) on the provider.
    NotFound { what: String },
    /// The server has tasks pending (VirtFusion 423, a locked Proxmox guest, a Jelastic
    /// environment in the middle of another operation).
    Busy { detail: String },
    /// The hypervisor is in maintenance (VirtFusion 503).
    Maintenance { detail: String },
    /// A quota or resource limit on the provider stops this.
    Limit { detail: String },
    /// Refused in the server's current state (suspended, not built, already exists).
    Conflict { detail: String },
    /// The provider refused what was asked as invalid (VirtFusion 422, Proxmox 400).
    Rejected { detail: String },
    /// Something hostdeck itself can tell is wrong before asking, naming the field.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// Too many requests; the provider said when to come back.
    RateLimited { retry_after: Duration },
    /// Nothing answered: connection refused, no route, a connection dropped mid-answer.
    /// `maybe_done` when a write was already sent, so it may have happened.
    Unreachable { detail: String, maybe_done: bool },
    /// No answer within the configured timeout. `maybe_done` as for [`Self::Unreachable`].
    Timeout { after: Duration, maybe_done: bool },
    /// A provider task was still running when hostdeck stopped waiting; it may yet finish.
    StillRunning { task: String, after: Duration },
    /// A provider task ended with an error (a Proxmox UPID whose exit status is not `OK`).
    TaskFailed { task: String, exit_status: String },
    /// The provider answered with a server error of its own (HTTP 5xx).
    ProviderFailed { status: u16, detail: String },
    /// An answer hostdeck could not read, or a request the provider does not know.
    Protocol(String),
    /// The platform (or its API) cannot do this at all, such as resizing a server or growing
    /// a disk through VirtFusion's API. `what` names it: `resize servers`.
    Unsupported { what: String },
}

impl Failure {
    /// A provider message that names a quota or a resource running out, whatever the platform.
    pub(crate) fn mentions_limit(text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        [
            "quota",
            "limit",
            "not enough",
            "no space",
            "insufficient",
            "out of ",
            "exceed",
        ]
        .iter()
        .any(|word| text.contains(word))
    }

    /// A provider message that says the thing is already in the state asked for, or in one
    /// that rules the action out (a name taken, a guest running or paused).
    pub(crate) fn mentions_conflict(text: &str) -> bool {
        let text = text.to_ascii_lowercase();
        [
            "already exists",
            "already running",
            "not running",
            "is running",
            "is paused",
        ]
        .iter()
        .any(|word| text.contains(word))
    }
}

fn seconds(duration: Duration) -> String {
    humantime_serde::re::humantime::format_duration(Duration::from_millis(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
    ))
    .to_string()
}

const MAYBE_DONE: &str =
    " The action may still have been carried out: check the server's state before trying again.";

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadCredentials { detail } => {
                write!(f, "the provider refused hostdeck's credentials ({detail})")
            }
            Self::NotFound { what } => write!(f, "{what} does not exist"),
            Self::Busy { detail } => write!(f, "tasks are pending ({detail})"),
            Self::Maintenance { detail } => write!(f, "in maintenance ({detail})"),
            Self::Limit { detail } => write!(f, "a limit was reached ({detail})"),
            Self::Conflict { detail } | Self::Rejected { detail } => f.write_str(detail),
            Self::Invalid { field, message } => write!(f, "{field}: {message}"),
            Self::RateLimited { retry_after } => {
                write!(f, "rate limited for {}", seconds(*retry_after))
            }
            Self::Unreachable { detail, .. } => write!(f, "unreachable ({detail})"),
            Self::Timeout { after, .. } => write!(f, "no answer within {}", seconds(*after)),
            Self::StillRunning { task, after } => {
                write!(f, "task {task} still running after {}", seconds(*after))
            }
            Self::TaskFailed { task, exit_status } => {
                write!(f, "task {task} failed: {exit_status}")
            }
            Self::ProviderFailed { status, detail } => write!(f, "HTTP {status}: {detail}"),
            Self::Protocol(detail) => write!(f, "unexpected answer: {detail}"),
            Self::Unsupported { what } => write!(f, "this platform cannot {what}"),
        }
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} provider {:?}: {}",
            self.kind.label(),
            self.provider,
            self.failure
        )
    }
}

impl std::error::Error for ProviderError {}

impl ProviderError {
    /// The config keys that hold this provider's credentials, for the admin's log line.
    fn credential_keys(&self) -> String {
        let keys: &[&str] = match self.kind {
            ProviderKind::Proxmox => &["token_id", "token_secret"],
            _ => &["token"],
        };
        keys.iter()
            .map(|key| format!("providers.{}.{key}", self.provider))
            .collect::<Vec<_>>()
            .join(" and ")
    }
}

impl From<ProviderError> for Error {
    fn from(error: ProviderError) -> Self {
        let name = &error.provider;
        let maybe = |maybe_done: bool| if maybe_done { MAYBE_DONE } else { "" };
        match &error.failure {
            Failure::BadCredentials { detail } => {
                let context = format!(
                    "talking to {} provider {name:?}: it refused hostdeck's credentials \
                     ({detail}); check {}",
                    error.kind.label(),
                    error.credential_keys()
                );
                Error::internal(context, error)
            }
            Failure::NotFound { what } => Error::NotFound(format!(
                "The server provider {name:?} has no {what}; it may have been deleted outside \
                 hostdeck."
            )),
            Failure::Busy { detail } => Error::Conflict(format!(
                "The server has tasks pending at its provider ({detail}); try again in a minute."
            )),
            Failure::Maintenance { detail } => Error::Unavailable(format!(
                "The server's host is in maintenance ({detail}); try again later."
            )),
            Failure::Limit { detail } => Error::Conflict(format!(
                "The provider's limits do not allow this ({detail}); choose a smaller plan or \
                 contact support."
            )),
            Failure::Conflict { detail } => Error::Conflict(format!(
                "The provider refused this in the server's current state: {detail}"
            )),
            Failure::Rejected { detail } => Error::Invalid {
                field: None,
                message: format!("The provider refused the request: {detail}"),
            },
            Failure::Invalid { field, message } => Error::Invalid {
                field: Some(field),
                message: message.clone(),
            },
            Failure::RateLimited { retry_after } => Error::RateLimited {
                message: format!(
                    "The server provider {name:?} is limiting requests; try again in {}.",
                    seconds(*retry_after)
                ),
                retry_after: *retry_after,
            },
            Failure::Unreachable { maybe_done, .. } => Error::Unavailable(format!(
                "The server provider {name:?} cannot be reached right now; try again in a few \
                 minutes.{}",
                maybe(*maybe_done)
            )),
            Failure::Timeout { after, maybe_done } => Error::Unavailable(format!(
                "The server provider {name:?} did not answer within {}; try again in a few \
                 minutes.{}",
                seconds(*after),
                maybe(*maybe_done)
            )),
            Failure::StillRunning { after, .. } => Error::Unavailable(format!(
                "The server provider {name:?} is still working on it after {}; check the \
                 server's state in a few minutes before trying again.",
                seconds(*after)
            )),
            Failure::ProviderFailed { status, .. } => Error::Unavailable(format!(
                "The server provider {name:?} answered with an error (HTTP {status}); try again \
                 later."
            )),
            Failure::Unsupported { what } => Error::Conflict(format!(
                "This provider ({} {name:?}) cannot {what}; choose a size it can give, or \
                 contact support.",
                error.kind.label()
            )),
            Failure::TaskFailed { .. } | Failure::Protocol(_) => {
                let context = format!("talking to {error}");
                Error::internal(context, error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    fn code_and_text(failure: Failure) -> (ErrorCode, String) {
        let error = Error::from(ProviderError::new("pve", ProviderKind::Proxmox, failure));
        (error.code(), error.to_string())
    }

    #[test]
    fn each_failure_has_its_code_and_says_what_to_do() {
        let (code, text) = code_and_text(Failure::BadCredentials {
            detail: "HTTP 401 invalid token value!".into(),
        });
        assert_eq!(code, ErrorCode::Internal);
        assert!(
            text.contains("providers.pve.token_id and providers.pve.token_secret"),
            "{text}"
        );
        let (code, text) = code_and_text(Failure::Busy {
            detail: "VM is locked (backup)".into(),
        });
        assert_eq!(code, ErrorCode::Conflict);
        assert!(text.contains("try again in a minute"), "{text}");
        let (code, text) = code_and_text(Failure::Maintenance {
            detail: "The hypervisor is in maintenance mode.".into(),
        });
        assert_eq!(code, ErrorCode::Unavailable);
        assert!(text.contains("maintenance"), "{text}");
        let (code, _) = code_and_text(Failure::NotFound {
            what: "guest qemu/100".into(),
        });
        assert_eq!(code, ErrorCode::NotFound);
        let (code, text) = code_and_text(Failure::Limit {
            detail: "out of cloudlets".into(),
        });
        assert_eq!(code, ErrorCode::Conflict);
        assert!(text.contains("smaller plan"), "{text}");
        let (code, text) = code_and_text(Failure::Timeout {
            after: Duration::from_secs(15),
            maybe_done: true,
        });
        assert_eq!(code, ErrorCode::Unavailable);
        assert!(
            text.contains("15s") && text.contains("check the server"),
            "{text}"
        );
        let (code, text) = code_and_text(Failure::Unreachable {
            detail: "connection refused".into(),
            maybe_done: false,
        });
        assert_eq!(code, ErrorCode::Unavailable);
        assert!(!text.contains("check the server"), "{text}");
        let (code, text) = code_and_text(Failure::TaskFailed {
            task: "UPID:pve:1".into(),
            exit_status: "start failed: QEMU exited with code 1".into(),
        });
        assert_eq!(code, ErrorCode::Internal);
        assert!(text.contains("QEMU exited with code 1"), "{text}");
        let (code, _) = code_and_text(Failure::RateLimited {
            retry_after: Duration::from_secs(3),
        });
        assert_eq!(code, ErrorCode::RateLimited);
        let (code, text) = code_and_text(Failure::Unsupported {
            what: "resize servers".into(),
        });
        assert_eq!(code, ErrorCode::Conflict);
        assert!(
            text.contains("cannot resize servers") && text.contains("contact support"),
            "{text}"
        );
    }

    #[test]
    fn limits_are_recognised_in_any_platforms_words() {
        assert!(Failure::mentions_limit("out of cloudlets"));
        assert!(Failure::mentions_limit("Quota exceeded for memory"));
        assert!(Failure::mentions_limit(
            "unable to create VM 121 - no space left"
        ));
        assert!(!Failure::mentions_limit("VM 100 already running"));
    }
}
