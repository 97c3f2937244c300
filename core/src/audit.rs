//! The audit log: who did what, through which front door, when, and how it ended.
//!
//! Services write an entry for every action that changes something and for every refusal a
//! person should be able to trace (a denied staff command, a forged webhook). Entries are
//! append-only. Secrets and passwords never go into `detail`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::clock::Clock;
use crate::error::Result;
use crate::ids::{AuditId, UserId};
use crate::policy::{Actor, Permission, Via};
use crate::store::{Page, Paginated, Store};

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

#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Audit {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn record(&self, entry: AuditEntry) -> Result<()> {
        self.store.record_audit(&entry, self.clock.now()).await
    }

    /// Records a refusal and hands the error back, so a caller can `return Err(audit.denied(..))`.
    pub async fn denied(&self, actor: &Actor, action: &str, error: crate::Error) -> crate::Error {
        let entry = AuditEntry::new(actor, action)
            .outcome(AuditOutcome::Denied)
            .detail(serde_json::json!({ "reason": error.to_string() }));
        if let Err(write_error) = self.record(entry).await {
            tracing::error!(error = %write_error, action, "could not write an audit entry for a refusal");
        }
        error
    }

    /// The guard a door calls before it reads the rest of a request: `Ok` when the policy lets
    /// `actor` use `permission`; otherwise the refusal, audited as every refusal is.
    pub async fn require(&self, actor: &Actor, permission: Permission) -> Result<()> {
        match actor.require(permission) {
            Ok(()) => Ok(()),
            Err(error) => Err(self.denied(actor, "permission.check", error).await),
        }
    }

    pub async fn list(&self, actor: &Actor, page: Page) -> Result<Paginated<AuditRecord>> {
        actor.require(Permission::ReadAudit)?;
        self.store.audit_log(page).await
    }
}
