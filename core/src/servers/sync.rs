//! The sync job: every `providers.sync_interval`, read each provider's servers (one listing
//! request per page, never one request per server), and bring the stored rows up to date.
//!
//! - A state that changed (running, stopped) is recorded with an event, which billing reads.
//! - A create whose answer was lost (`creating`, its first hour charged with its row) is
//!   finished when the provider shows a server with its key; after [`CREATE_GRACE`] without one
//!   it is `failed` and its first hour refunded, so it costs nothing.
//! - A `failed` create whose server the provider made after all (found by its key) is
//!   adopted: the row takes the server, and billing starts then, its first hour charged (even
//!   past the customer's ceilings or balance: the server exists).
//! - Drift is reported to staff (an audit entry, and the `providers.drift_webhook` channel):
//!   a server gone from its provider (confirmed by asking for it, so a short listing never
//!   deletes anything on its own) is marked deleted and its billing stops; a server on a
//!   provider that hostdeck did not create is reported once.
//!
//! A provider that does not answer is skipped this round and changes nothing; a failure on one
//! server is reported in the round's errors and the rest are still brought up to date.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;

use chrono::{DateTime, Utc};

use super::{CREATE_GRACE, NewServerRow, Rate, Server, ServerStatus, Servers};
use crate::audit::{AuditEntry, AuditOutcome};
use crate::error::Result;
use crate::ids::ServerId;
use crate::ledger::Overdraft;
use crate::notify::DiscordMessage;
use crate::policy::Actor;
use crate::providers::{self, Provider, RemoteId, RemoteServer};
use crate::store::servers::{CreateStart, EventSource, FirstHour};

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
    /// Servers on the provider carrying the key of a create recorded as failed: the provider
    /// made them after all, so they are finished (and billed from now) like a lost create.
    pub adopted: Vec<ServerId>,
    /// What went wrong with single servers this round (the rest were still synced); each is
    /// tried again on the next round.
    pub errors: Vec<String>,
    /// Why the provider was skipped, when it was.
    pub error: Option<String>,
}

impl SyncReport {
    /// 1 for a repair of server `id`'s create that happened, 0 for one not needed; a failed
    /// one (`doing` the create) goes to the errors.
    fn tally(&mut self, done: Result<bool>, doing: &str, id: ServerId) -> usize {
        match done {
            Ok(done) => usize::from(done),
            Err(error) => {
                self.errors
                    .push(format!("{doing} the create of server {id}: {error}"));
                0
            }
        }
    }
}

/// What a server on a provider without a row turned out to be.
enum Unknown {
    /// Not hostdeck's: reported as drift.
    Stray,
    /// A create recorded as failed, finished now.
    Adopted(ServerId),
    /// A failed create that a retry took over meanwhile: the retry finishes it.
    Taken,
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
        let rows = self.store.servers().servers_on(provider.name()).await?;
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
                    let finished = self.finish_lost_create(row, found).await;
                    report.finished_creates += report.tally(finished, "finishing", row.id);
                } else if now - row.created_at > CREATE_GRACE {
                    let abandoned = self.abandon_create(row, now).await;
                    report.abandoned_creates += report.tally(abandoned, "giving up", row.id);
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
        match self
            .store
            .servers()
            .set_server_states(&changes, EventSource::Sync, now)
            .await
        {
            Ok(changed) => report.changed = changed,
            Err(error) => report.errors.push(format!(
                "recording {} changed states: {error}",
                changes.len()
            )),
        }

        // Gone from the listing: ask for each one before believing it.
        self.confirm_gone(provider, missing, report).await;

        // Not known here: a create recorded as failed that the provider made after all is
        // adopted; anything else is a stray, reported once.
        let unknown: Vec<&RemoteServer> = {
            let reported = self
                .reported_strays
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            remote
                .iter()
                .filter(|server| !known.contains(&server.remote_id))
                .filter(|server| {
                    !reported.contains(&(provider.name().to_owned(), server.remote_id.clone()))
                })
                .collect()
        };
        for server in unknown {
            match self.adopt(provider, server).await {
                Ok(Unknown::Adopted(id)) => report.adopted.push(id),
                Ok(Unknown::Stray) => report.strays.push(server.remote_id.clone()),
                Ok(Unknown::Taken) => {}
                Err(error) => report.errors.push(format!(
                    "looking up the create of {}: {error}",
                    server.remote_id
                )),
            }
        }
        if !report.vanished.is_empty() || !report.strays.is_empty() {
            self.report_drift(report).await?;
            let mut reported = self
                .reported_strays
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for stray in &report.strays {
                reported.insert((provider.name().to_owned(), stray.clone()));
            }
        }
        for error in &report.errors {
            tracing::warn!(provider = provider.name(), %error, "the server sync could not sync a server");
        }
        Ok(())
    }

    /// Rows whose server is gone from the provider's listing: each asked for by its id, and
    /// recorded as deleted only when the provider says it does not exist.
    async fn confirm_gone(
        &self,
        provider: &dyn Provider,
        missing: Vec<&Server>,
        report: &mut SyncReport,
    ) {
        for row in missing {
            let Some(remote_id) = &row.remote_id else {
                continue;
            };
            match provider.server(remote_id).await {
                Err(error) if error.is_not_found() => {
                    match self
                        .store
                        .servers()
                        .server_deleted(row.id, EventSource::Sync, self.clock.now())
                        .await
                    {
                        Ok(true) => report.vanished.push(row.id),
                        Ok(false) => {}
                        Err(error) => report
                            .errors
                            .push(format!("recording server {} as deleted: {error}", row.id)),
                    }
                }
                Err(error) => report
                    .errors
                    .push(format!("asking for server {}: {error}", row.id)),
                Ok(_) => {}
            }
        }
    }

    /// Finishes a `creating` row the provider shows by its key; `false` if it was finished
    /// meanwhile.
    async fn finish_lost_create(&self, row: &Server, found: &RemoteServer) -> Result<bool> {
        if !self.finish_create(row, found, EventSource::Sync).await? {
            return Ok(false);
        }
        self.record_found(row, false).await?;
        Ok(true)
    }

    /// The audit entry of a create the sync found made: `adopted_after_failure` when the row
    /// had been given up as failed first.
    async fn record_found(&self, row: &Server, adopted_after_failure: bool) -> Result<()> {
        let mut detail = serde_json::json!({
            "provider": row.provider,
            "found_by_sync": true,
        });
        if adopted_after_failure {
            detail["adopted_after_failure"] = serde_json::json!(true);
        }
        self.audit
            .record(
                AuditEntry::new(&Actor::system(), "server.create")
                    .target(super::posting_reference(row.id))
                    .detail(detail),
            )
            .await
    }

    /// Gives up a `creating` row the provider shows no server for, refunding its first hour;
    /// `false` if it was no longer `creating`.
    async fn abandon_create(&self, row: &Server, now: DateTime<Utc>) -> Result<bool> {
        // Only the attempt this pass saw: a retry the customer started since is its own.
        if !self
            .store
            .servers()
            .server_failed(row.id, row.created_at, now)
            .await?
        {
            return Ok(false);
        }
        self.audit
            .record(
                AuditEntry::new(&Actor::system(), "server.create")
                    .target(super::posting_reference(row.id))
                    .outcome(AuditOutcome::Failed)
                    .detail(serde_json::json!({
                        "provider": row.provider,
                        "reason": "the provider shows no server with its key",
                    })),
            )
            .await?;
        Ok(true)
    }

    /// A server on the provider without a row: if it carries the key of a create on this
    /// provider recorded as `failed`, that create is finished now (billed from now, at the
    /// price it was created at); a create retried meanwhile is left to that retry; anything
    /// else is a stray.
    async fn adopt(&self, provider: &dyn Provider, remote: &RemoteServer) -> Result<Unknown> {
        let Some(key) = &remote.key else {
            return Ok(Unknown::Stray);
        };
        let Some(row) = self.store.servers().server_by_key(key.as_str()).await? else {
            return Ok(Unknown::Stray);
        };
        if row.state != ServerStatus::Failed || row.provider != provider.name() {
            return Ok(Unknown::Stray);
        }
        let now = self.clock.now();
        let again = NewServerRow {
            user: row.user,
            provider: row.provider.clone(),
            key: key.clone(),
            name: row.name.clone(),
            hostname: row.hostname.clone(),
            plan: row.plan.clone(),
            resources: row.resources,
            image: row.image.clone(),
            location: row.location.clone(),
            rate: Rate {
                since: now,
                ..row.rate
            },
            billed_until: super::hour_of(now) + chrono::Duration::hours(1),
        };
        let owner = self.user(row.user).await?;
        let first = FirstHour {
            wallet: owner.wallet,
            amount: row.quote().first_hour(),
            overdraft: Overdraft::Allow,
            limits: None,
        };
        let creating = match self
            .store
            .servers()
            .retry_failed_server(row.id, &again, Some(&first))
            .await?
        {
            CreateStart::Started(creating) => creating,
            CreateStart::Taken(_) | CreateStart::NoFunds { .. } => return Ok(Unknown::Taken),
        };
        if !self
            .finish_create(&creating, remote, EventSource::Sync)
            .await?
        {
            return Ok(Unknown::Taken);
        }
        self.record_found(&row, true).await?;
        Ok(Unknown::Adopted(row.id))
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
