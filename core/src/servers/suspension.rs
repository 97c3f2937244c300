//! Suspension: by staff, with a reason, or by billing for an unpaid balance (only billing's
//! own suspensions are lifted by billing).

use super::access::source_of;
use super::{BILLING_REASON, BulkOutcome, Server, ServerStatus, Servers};
use crate::audit::AuditEntry;
use crate::billing::BillingSuspension;
use crate::billing::meter::posting_reference;
use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::policy::{Actor, Permission};

impl Servers {
    /// Suspends a server (staff, or the platform for billing): stopped on the provider, and
    /// its owner's power actions refused until it is unsuspended.
    pub async fn suspend(&self, actor: &Actor, id: ServerId, reason: &str) -> Result<Server> {
        let reason = self
            .check_suspension(actor, "server.suspend", reason)
            .await?;
        let server = self.existing(id).await?;
        if server.is_suspended() {
            return Err(Error::Conflict(format!(
                "{} is already suspended ({}).",
                server.name,
                server
                    .suspend_reason
                    .as_deref()
                    .unwrap_or("no reason given")
            )));
        }
        self.change_suspension(actor, &server, true, &reason).await
    }

    /// Lifts a suspension and starts the server again.
    pub async fn unsuspend(&self, actor: &Actor, id: ServerId, reason: &str) -> Result<Server> {
        let reason = self
            .check_suspension(actor, "server.unsuspend", reason)
            .await?;
        let server = self.existing(id).await?;
        if !server.is_suspended() {
            return Err(Error::Conflict(format!(
                "{} is not suspended.",
                server.name
            )));
        }
        self.change_suspension(actor, &server, false, &reason).await
    }

    /// Suspends `server` (`suspend`) or lifts its suspension, for `reason`: on the provider
    /// first, then in the store (a server on the provider is then stopped or running), then in
    /// the audit log. Only a suspension keeps its reason on the server.
    async fn change_suspension(
        &self,
        actor: &Actor,
        server: &Server,
        suspend: bool,
        reason: &str,
    ) -> Result<Server> {
        let id = server.id;
        let (action, state_after) = if suspend {
            ("server.suspend", ServerStatus::Stopped)
        } else {
            ("server.unsuspend", ServerStatus::Running)
        };
        let entry = AuditEntry::new(actor, action)
            .target(posting_reference(id))
            .detail(serde_json::json!({ "reason": reason }));
        if let Some(remote) = &server.remote_id {
            let provider = self.providers.require(&server.provider)?;
            let done = if suspend {
                provider.suspend(remote).await
            } else {
                provider.unsuspend(remote).await
            };
            if let Err(error) = done {
                return Err(self.failed(entry, error).await);
            }
        }
        let state = if server.state.is_on_provider() {
            state_after
        } else {
            server.state
        };
        self.store
            .servers()
            .set_server_suspension(
                id,
                suspend.then_some(reason),
                state,
                source_of(actor),
                self.clock.now(),
            )
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Suspends every server of `user` that is not suspended yet, for an unpaid balance. For
    /// the billing tick; a server its provider refused is tried again on the next call.
    pub async fn suspend_all_for_billing(&self, user: UserId) -> Result<BulkOutcome> {
        let system = Actor::system();
        let mut outcome = BulkOutcome::default();
        for server in self.store.servers().servers_of(Some(user)).await? {
            if server.is_suspended() || !server.state.is_on_provider() {
                continue;
            }
            match self.suspend(&system, server.id, BILLING_REASON).await {
                Ok(_) => outcome.done.push(server.id),
                Err(error) => outcome.failed.push((server.id, error.to_string())),
            }
        }
        Ok(outcome)
    }

    /// Lifts every billing suspension of `user` (never one staff made), after a top-up.
    pub async fn unsuspend_billing(&self, user: UserId) -> Result<BulkOutcome> {
        let system = Actor::system();
        let mut outcome = BulkOutcome::default();
        for server in self.store.servers().servers_of(Some(user)).await? {
            if server.suspend_reason.as_deref() != Some(BILLING_REASON) {
                continue;
            }
            match self
                .unsuspend(&system, server.id, "the balance was topped up")
                .await
            {
                Ok(_) => outcome.done.push(server.id),
                Err(error) => outcome.failed.push((server.id, error.to_string())),
            }
        }
        Ok(outcome)
    }

    pub(super) async fn check_suspension(
        &self,
        actor: &Actor,
        action: &str,
        reason: &str,
    ) -> Result<String> {
        if let Err(error) = actor.require(Permission::SuspendServers) {
            return Err(self.refused(actor, action, None, error).await);
        }
        // Shown to the customer and staff later: a note, without hidden characters.
        crate::text::note("reason", "The reason", reason, 500)
    }
}

/// Billing suspends and unsuspends through this seam, so billing needs no server service.
#[async_trait::async_trait]
impl BillingSuspension for Servers {
    /// Suspends what it can; if a provider refused any server, the step is not taken, and the
    /// next run tries the rest again (the ones done are skipped then).
    async fn suspend_all_for_billing(&self, user: UserId) -> Result<usize> {
        let outcome = Servers::suspend_all_for_billing(self, user).await?;
        bulk_result("suspended", &outcome)
    }

    async fn unsuspend_billing(&self, user: UserId) -> Result<usize> {
        let outcome = Servers::unsuspend_billing(self, user).await?;
        bulk_result("unsuspended", &outcome)
    }
}

fn bulk_result(what: &str, outcome: &BulkOutcome) -> Result<usize> {
    if outcome.failed.is_empty() {
        return Ok(outcome.done.len());
    }
    let failed: Vec<String> = outcome
        .failed
        .iter()
        .map(|(server, why)| format!("server {server}: {why}"))
        .collect();
    Err(Error::Unavailable(format!(
        "{} server(s) {what}, but not {}; tried again on the next tick",
        outcome.done.len(),
        failed.join("; ")
    )))
}
