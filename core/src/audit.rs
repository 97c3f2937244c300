//! The audit log: who did what, through which front door, when, and how it ended.
//!
//! Services write an entry for every action that changes something and for every refusal a
//! person should be able to trace (a denied staff command, a forged webhook). Entries are
//! append-only. Secrets and passwords never go into `detail`.

use std::sync::Arc;

use crate::clock::Clock;
use crate::error::Result;
use crate::policy::{Actor, Permission};
pub use crate::records::audit::{AuditEntry, AuditOutcome, AuditRecord};
use crate::store::{Page, Paginated, Store};

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
        self.store
            .audit()
            .record_audit(&entry, self.clock.now())
            .await
    }

    /// Records a refusal and hands the error back, so a caller can `return Err(audit.denied(..))`.
    pub async fn denied(&self, actor: &Actor, action: &str, error: crate::Error) -> crate::Error {
        self.denied_on(actor, action, None, error).await
    }

    /// [`Audit::denied`] of an action on `target` (`server:4`, `ticket:12`) when one is named.
    pub async fn denied_on(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<String>,
        error: crate::Error,
    ) -> crate::Error {
        let mut entry = AuditEntry::new(actor, action)
            .outcome(AuditOutcome::Denied)
            .detail(serde_json::json!({ "reason": error.to_string() }));
        if let Some(target) = target {
            entry = entry.target(target);
        }
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
        self.store.audit().audit_log(page).await
    }
}
