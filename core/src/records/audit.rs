//! Audit entries: one to write, and one as stored. Writing and reading them is
//! [`crate::audit`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::ids::{AuditId, UserId};
use crate::policy::{Actor, Via};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditOutcome {
    Ok,
    Denied,
    Failed,
}

impl AuditOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Failed => "failed",
        }
    }
}

/// An entry to write. `action` is a dotted name such as `credits.adjust` or `user.create`.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub actor_user: Option<UserId>,
    pub via: Via,
    pub action: String,
    pub target: Option<String>,
    pub outcome: AuditOutcome,
    pub detail: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn new(actor: &Actor, action: impl Into<String>) -> Self {
        Self {
            actor_user: actor.user,
            via: actor.via,
            action: action.into(),
            target: None,
            outcome: AuditOutcome::Ok,
            detail: None,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn outcome(mut self, outcome: AuditOutcome) -> Self {
        self.outcome = outcome;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: AuditId,
    pub at: DateTime<Utc>,
    pub actor_user: Option<UserId>,
    pub via: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<serde_json::Value>,
}
