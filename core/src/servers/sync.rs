//! The sync job: every `providers.sync_interval`, read each provider's servers (one listing
//! request per page, never one request per server), and bring the stored rows up to date.
//!
//! - A state that changed (running, stopped) is recorded with an event, which billing reads.
//! - A create whose answer was lost (`creating`) is finished when the provider shows a server
//!   with its key, and its first hour charged then; after [`CREATE_GRACE`] without one it is
//!   `failed` and costs nothing.
//! - Drift is reported to staff (an audit entry, and the `providers.drift_webhook` channel):
//!   a server gone from its provider (confirmed by asking for it, so a short listing never
//!   deletes anything on its own) is marked deleted and its billing stops; a server on a
//!   provider that hostdeck did not create is reported once.
//!
//! A provider that does not answer is skipped this round and changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use super::{CREATE_GRACE, ServerStatus, Servers};
use crate::audit::{AuditEntry, AuditOutcome};
use crate::error::Result;
use crate::ids::ServerId;
use crate::notify::DiscordMessage;
use crate::policy::Actor;
use crate::providers::{self, Failure, Provider, RemoteId, RemoteServer};
use crate::store::servers::EventSource;

/// What one sync of one provider found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    pub provider: String,
    /// Servers the provider listed.
    pub listed: usize,
    /// Stored states that changed.
    pub changed: usize,
    /// Creates whose answer was lost, found by their key and finished.
    pub finished_creates: usize,
    /// Creates given up on: no server with their key after the grace period.
    pub abandoned_creates: usize,
    /// Servers gone from the provider without hostdeck deleting them.
    pub vanished: Vec<ServerId>,
    /// Servers on the provider hostdeck has no record of (newly seen this round).
    pub strays: Vec<RemoteId>,
    /// Why the provider was skipped, when it was.
    pub error: Option<String>,
}

impl Servers {
    /// Syncs every provider at once and reports on each.
    pub async fn sync(&self) -> Vec<SyncReport> {
        let mut runs = tokio::task::JoinSet::new();
        for provider in self.providers.iter() {
            let servers = self.clone();
            let provider = provider.clone();
            runs.spawn(async move { servers.sync_provider(provider).await });
        }
        let mut reports = Vec::new();
        while let Some(joined) = runs.join_next().await {
            match joined {
                Ok(report) => reports.push(report),
                Err(error) => tracing::error!(%error, "a provider sync panicked"),
            }
        }
        reports.sort_by(|a, b| a.provider.cmp(&b.provider));
        reports
    }

    /// Syncs one provider. Never fails: what went wrong is in the report and the log.
    pub async fn sync_provider(&self, provider: Arc<dyn Provider>) -> SyncReport {
        let mut report = SyncReport {
            provider: provider.name().to_owned(),
            ..SyncReport::default()
        };
        if let Err(error) = self.try_sync(provider.as_ref(), &mut report).await {
            let text = error.to_string();
            tracing::warn!(provider = provider.name(), error = %text, "the server sync skipped a provider");
            report.error = Some(text);
        }
        report
    }

    async fn try_sync(&self, provider: &dyn Provider, report: &mut SyncReport) -> Result<()> {
        let remote = providers::list_all(provider).await?;
        report.listed = remote.len();
        let rows = self.store.servers_on(provider.name()).await?;
        let by_id: BTreeMap<&RemoteId, &RemoteServer> = remote
            .iter()
            .map(|server| (&server.remote_id, server))
            .collect();
        let by_key: BTreeMap<&str, &RemoteServer> = remote
            .iter()
            .filter_map(|server| server.key.as_ref().map(|key| (key.as_str(), server)))
            .collect();
        let now = self.clock.now();
        let mut known: BTreeSet<&RemoteId> = BTreeSet::new();
        let mut changes = Vec::new();
        let mut missing = Vec::new();
        for row in &rows {
            if row.state == ServerStatus::Creating {
                if let Some(found) = by_key.get(row.key.as_str()) {
                    known.insert(&found.remote_id);
                    if !self.finish_create(row, found, EventSource::Sync).await? {
                        // The create call finished it meanwhile.
                        continue;
                    }
                    self.audit
                        .record(
                            AuditEntry::new(&Actor::system(), "server.create")
                                .target(super::target(row.id))
                                .detail(serde_json::json!({
                                    "provider": row.provider,
                                    "found_by_sync": true,
                                })),
                        )
                        .await?;
                    report.finished_creates += 1;
                } else if now - row.created_at > CREATE_GRACE
                    && self.store.server_failed(row.id, now).await?
                {
                    self.audit
                        .record(
                            AuditEntry::new(&Actor::system(), "server.create")
                                .target(super::target(row.id))
                                .outcome(AuditOutcome::Failed)
                                .detail(serde_json::json!({
                                    "provider": row.provider,
                                    "reason": "the provider shows no server with its key",
                                })),
                        )
                        .await?;
                    report.abandoned_creates += 1;
                }
                continue;
            }
            let Some(remote_id) = &row.remote_id else {
                continue;
            };
            match by_id.get(remote_id) {
                Some(found) => {
                    known.insert(remote_id);
                    if let Some(state) = row.state.observed(found.state) {
                        changes.push((row.id, state));
                    }
                }
                None => missing.push(row),
            }
        }
        report.changed = self
            .store
            .set_server_states(&changes, EventSource::Sync, now)
            .await?;

        // Gone from the listing: ask for each one before believing it.
        for row in missing {
            let Some(remote_id) = &row.remote_id else {
                continue;
            };
            match provider.server(remote_id).await {
                Err(error) if matches!(error.failure, Failure::NotFound { .. }) => {
                    if self
                        .store
                        .server_deleted(row.id, EventSource::Sync, self.clock.now())
                        .await?
                    {
                        report.vanished.push(row.id);
                    }
                }
                Err(error) => return Err(error.into()),
                Ok(_) => {}
            }
        }

        let fresh_strays: Vec<RemoteId> = {
            let mut reported = self
                .reported_strays
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            remote
                .iter()
                .filter(|server| !known.contains(&server.remote_id))
                .filter(|server| {
                    reported.insert((provider.name().to_owned(), server.remote_id.clone()))
                })
                .map(|server| server.remote_id.clone())
                .collect()
        };
        report.strays = fresh_strays;
        if !report.vanished.is_empty() || !report.strays.is_empty() {
            self.report_drift(report).await?;
        }
        Ok(())
    }

    async fn report_drift(&self, report: &SyncReport) -> Result<()> {
        const SHOWN: usize = 20;
        let vanished: Vec<String> = report.vanished.iter().map(ToString::to_string).collect();
        let strays: Vec<&str> = report.strays.iter().map(RemoteId::as_str).collect();
        self.audit
            .record(
                AuditEntry::new(&Actor::system(), "servers.drift")
                    .target(format!("provider:{}", report.provider))
                    .detail(serde_json::json!({
                        "deleted_outside": vanished,
                        "created_outside_count": strays.len(),
                        "created_outside": strays.iter().take(200).collect::<Vec<_>>(),
                    })),
            )
            .await?;
        let list = |items: &[&str]| {
            let mut text = items
                .iter()
                .take(SHOWN)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if items.len() > SHOWN {
                text.push_str(&format!(" and {} more", items.len() - SHOWN));
            }
            text
        };
        let mut content = format!("Drift on provider {}:", report.provider);
        if !vanished.is_empty() {
            let ids: Vec<&str> = vanished.iter().map(String::as_str).collect();
            content.push_str(&format!(
                "\n- {} server(s) deleted outside hostdeck (billing stopped): {}",
                ids.len(),
                list(&ids)
            ));
        }
        if !strays.is_empty() {
            content.push_str(&format!(
                "\n- {} server(s) on the provider that hostdeck did not create: {}",
                strays.len(),
                list(&strays)
            ));
        }
        tracing::warn!(provider = %report.provider, "{content}");
        if let Some(url) = &self.config.providers.drift_webhook {
            self.outbox
                .discord_webhook(
                    secrecy::ExposeSecret::expose_secret(url),
                    DiscordMessage { content },
                )
                .await?;
        }
        Ok(())
    }

    /// Runs [`Self::sync`] now and then every `providers.sync_interval` until `stop` turns true.
    pub async fn run_sync(self, mut stop: watch::Receiver<bool>) {
        let mut ticks = tokio::time::interval(self.config.providers.sync_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = async {
                let _ = stop.wait_for(|stop| *stop).await;
            };
            tokio::select! {
                _ = ticks.tick() => {
                    for report in self.sync().await {
                        tracing::debug!(?report, "server sync");
                    }
                }
                () = stopping => return,
            }
        }
    }
}
