//! The status of the platform: one report from BetterStack's monitors, hostdeck's own checks,
//! its incidents and maintenance windows, and maintenance mode.
//!
//! **One fetch per interval for the cluster.** [`Status::refresh`] runs on every replica every
//! `status.refresh_interval`; the replica that takes the lease row (`status_leases`) reads the
//! sources and stores a [`Snapshot`] with each component's finding and a sample per component
//! for the history; the others read what it stored. Doors never read a source: they read the
//! stored snapshot, composed with the incidents and maintenance mode ([`Status::report`],
//! cached two seconds per process).
//!
//! **Honest first.** A component whose source failed or is not set up, or whose snapshot is
//! older than `status.freshness`, is unknown; the headline says all systems are operational only
//! when every component is known and operational ([`report`]).
//!
//! **Nothing private leaves.** The public shapes ([`public::PublicReport`], [`public::Summary`])
//! are built from an allow-list of fields; the report holds component names from the config,
//! states and reasons in fixed words, and what staff wrote for the public.
//!
//! Parts: `config` (`[betterstack]`, `[status]`), `betterstack` (the client), `checks`
//! (internal checks behind [`checks::Check`]), `report` (the pure rules), `public` (what leaves),
//! `incidents` (staff declare, update and resolve), `subscriptions` (incident emails, written in
//! the change's transaction), `affecting` (which incidents touch a customer's servers), `overview`
//! (the report with every component's uptime, one cache serving the API and the public page),
//! `sticky` (the status channel's sticky message).

mod affecting;
pub mod betterstack;
pub mod checks;
pub mod config;
mod incidents;
pub mod overview;
pub mod public;
pub mod report;
pub mod sticky;
mod subscriptions;
#[cfg(test)]
mod tests;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinSet;

pub use crate::records::status::{
    ComponentState, Impact, Incident, IncidentId, IncidentKind, IncidentStatus, IncidentUpdate,
};
pub use affecting::{Affecting, affecting, ticket_providers};
pub use incidents::{Declare, plain_markdown};
pub use overview::{ComponentUptime, Overview};
pub use public::{DayUptime, PublicReport, Summary};
pub use report::{Component, Finding, Reason, Report, Snapshot};
pub use sticky::{StickyOutcome, StickyStep, StickyTurn};
pub use subscriptions::status_words;

use crate::audit::Audit;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::maintenance::Maintenance;
use crate::records::status::{StatusSample, StoredReport};
use crate::store::Store;
use betterstack::{BetterstackClient, Reading, SourceFailure};
use checks::{Check, GatewayReport};
use config::ComponentConfig;

/// The lease row of the refresh.
const LEASE: &str = "status.refresh";
/// How long a composed report is reused by one process.
const CACHE_FOR: chrono::Duration = chrono::Duration::seconds(2);
/// How long recently resolved incidents stay in the report.
const RESOLVED_SHOWN_FOR: chrono::Duration = chrono::Duration::days(7);

/// What [`Status::refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// This replica held the lease and read the sources.
    Fetched,
    /// Another replica holds the lease this interval; its stored snapshot is used.
    Shared,
}

#[derive(Clone)]
pub struct Status {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    config: Arc<Config>,
    maintenance: Maintenance,
    components: Arc<Vec<ComponentConfig>>,
    betterstack: Option<Arc<BetterstackClient>>,
    checks: Vec<Arc<dyn Check>>,
    /// This process's name in the lease row.
    holder: String,
    cache: Arc<RwLock<Option<Report>>>,
    /// Moves on at every change made here, so a report composed before it is not kept.
    generation: Arc<std::sync::atomic::AtomicU64>,
    /// Held by the one request of this process that composes the report again.
    composing: Arc<tokio::sync::Mutex<()>>,
    uptime_cache: Arc<RwLock<Option<overview::UptimeCache>>>,
}

impl Status {
    /// The service with the built-in checks hostdeck has (`checks` from the caller: the
    /// database, providers, PayPal, Discord, outbox, billing).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        config: Arc<Config>,
        maintenance: Maintenance,
        checks: Vec<Arc<dyn Check>>,
    ) -> Result<Self> {
        let betterstack = BetterstackClient::from_config(&config.betterstack)?.map(Arc::new);
        let components = if config.status.components.is_empty() {
            default_components(&checks)
        } else {
            config.status.components.clone()
        };
        Ok(Self {
            store,
            clock,
            audit,
            maintenance,
            components: Arc::new(components),
            betterstack,
            checks,
            holder: format!("{:016x}", rand::random::<u64>()),
            cache: Arc::new(RwLock::new(None)),
            composing: Arc::new(tokio::sync::Mutex::new(())),
            generation: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            uptime_cache: Arc::new(RwLock::new(None)),
            config,
        })
    }

    /// The same service with one more check (another area's: the assistant's model).
    pub fn with_check(mut self, check: Arc<dyn Check>) -> Self {
        self.checks.push(check);
        self
    }

    /// The public components, in the order shown.
    pub fn components(&self) -> &[ComponentConfig] {
        &self.components
    }

    /// Reads the sources if this replica takes this interval's lease, and stores the snapshot
    /// and a history sample; otherwise leaves the stored one.
    pub async fn refresh(&self) -> Result<Refreshed> {
        let now = self.clock.now();
        // The lease holds to the end of the interval `now` falls in (intervals counted from the
        // epoch), so each interval has one reading for the cluster, however many replicas tick
        // and whatever their phases: four replicas read as often as one.
        let interval = i64::try_from(self.config.status.refresh_interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let millis = now.timestamp_millis();
        let until = DateTime::<Utc>::from_timestamp_millis(millis - millis.rem_euclid(interval))
            .and_then(|start| start.checked_add_signed(chrono::Duration::milliseconds(interval)))
            .ok_or_else(|| Error::internal("the status lease", "the interval is out of range"))?;
        if !self
            .store
            .status()
            .take_lease(LEASE, &self.holder, now, until)
            .await?
        {
            return Ok(Refreshed::Shared);
        }
        let previous = self.snapshot().await?;
        let (reading, not_before) = self.read_betterstack(now, previous.as_ref()).await;
        let findings = self.run_checks().await;
        let components = self
            .components
            .iter()
            .map(|component| {
                let mut sources: Vec<Finding> = component
                    .checks
                    .iter()
                    .map(|id| {
                        findings
                            .iter()
                            .find(|(check, _)| check == id)
                            .map_or(Finding::unknown(Reason::NotMonitored), |(_, found)| *found)
                    })
                    .collect();
                if let Some(mapping) = self.config.betterstack.components.get(&component.id) {
                    sources.push(report::from_monitors(mapping, &reading, now));
                }
                (component.id.clone(), Finding::combine(sources))
            })
            .collect();
        let snapshot = Snapshot {
            computed_at: now,
            components,
            betterstack_not_before: not_before,
            page_reports: reading
                .map(|reading| reading.page_reports)
                .unwrap_or_default(),
        };
        let body = serde_json::to_string(&snapshot)
            .map_err(|error| Error::internal("writing the status snapshot", error))?;
        self.store
            .status()
            .put_report(&StoredReport {
                body,
                computed_at: now,
            })
            .await?;
        self.forget_cached();
        let report = self.report().await?;
        let samples: Vec<StatusSample> = report
            .components
            .iter()
            .map(|component| StatusSample {
                component: component.id.clone(),
                state: component.state,
            })
            .collect();
        let history = self.store.status();
        history.record_samples(now, &samples).await?;
        history
            .purge_samples(now - chrono::Duration::days(i64::from(self.config.status.history_days)))
            .await?;
        Ok(Refreshed::Fetched)
    }

    /// Refreshes every `status.refresh_interval` until `stop` (what `serve` runs). The first
    /// refresh comes one interval after the start: until then the report is the stored one (or
    /// "not checked yet"), and a replica that restarts does not read the sources out of turn.
    pub async fn run_refresh(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let every = self.config.status.refresh_interval;
        let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            tokio::select! {
                outcome = self.refresh() => if let Err(error) = outcome {
                    tracing::warn!(%error, "the status refresh failed; it runs again next interval");
                },
                _ = stop.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn read_betterstack(
        &self,
        now: DateTime<Utc>,
        previous: Option<&Snapshot>,
    ) -> (
        std::result::Result<Reading, SourceFailure>,
        Option<DateTime<Utc>>,
    ) {
        let Some(client) = &self.betterstack else {
            return (Err(SourceFailure::NotConfigured), None);
        };
        if self.config.betterstack.components.is_empty() {
            return (Err(SourceFailure::NotConfigured), None);
        }
        if let Some(not_before) = previous.and_then(|previous| previous.betterstack_not_before)
            && now < not_before
        {
            return (Err(SourceFailure::RateLimited), Some(not_before));
        }
        // The client bounds each request; this bounds a long walk of pages.
        let whole = self.config.betterstack.timeout * (self.config.betterstack.max_pages + 4);
        match tokio::time::timeout(whole, client.read()).await {
            Ok(Ok(reading)) => (Ok(reading), None),
            Ok(Err(failed)) => {
                let not_before = failed.retry_after.map(|wait| {
                    now + chrono::Duration::from_std(wait.min(Duration::from_secs(3600)))
                        .unwrap_or_default()
                });
                (Err(failed.failure), not_before)
            }
            Err(_) => (Err(SourceFailure::Slow), None),
        }
    }

    /// Every check at once, each bounded by `status.check_timeout`.
    async fn run_checks(&self) -> Vec<(String, Finding)> {
        let timeout = self.config.status.check_timeout;
        let mut running = JoinSet::new();
        for check in &self.checks {
            let check = check.clone();
            running.spawn(async move {
                let finding = tokio::time::timeout(timeout, check.run())
                    .await
                    .unwrap_or(Finding::unknown(Reason::CheckTimedOut));
                (check.id(), finding)
            });
        }
        let mut findings = Vec::with_capacity(self.checks.len());
        while let Some(done) = running.join_next().await {
            match done {
                Ok(found) => findings.push(found),
                Err(error) => tracing::error!(%error, "a status check panicked"),
            }
        }
        findings
    }

    async fn snapshot(&self) -> Result<Option<Snapshot>> {
        match self.store.status().report().await? {
            None => Ok(None),
            Some(stored) => serde_json::from_str(&stored.body)
                .map(Some)
                .map_err(|error| Error::internal("reading the status snapshot", error)),
        }
    }

    fn forget_cached(&self) {
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        *cache = None;
        drop(cache);
        *self.uptime_cache.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A key of what every public shape of the report shows now, without composing anything:
    /// the changes made here, the cached report's time and today's date (the uptime moves with
    /// a refresh, which is a change, or with the day). `None` when the cached report is not
    /// fresh (the next read composes it again). Doors keep what they derive from the report
    /// under it.
    pub fn stamp(&self) -> Option<String> {
        let now = self.clock.now();
        let changes = self.changes();
        let cache = self.cache.read().unwrap_or_else(|p| p.into_inner());
        let report = cache.as_ref()?;
        (report.generated_at <= now && now - report.generated_at < CACHE_FOR).then(|| {
            format!(
                "{changes}/{}/{}",
                report.generated_at.timestamp_micros(),
                now.date_naive()
            )
        })
    }

    /// The key [`Status::stamp`] gives for `report`, composed with `changes` counted before it
    /// was read.
    pub fn stamp_of(&self, changes: u64, report: &PublicReport) -> String {
        format!(
            "{changes}/{}/{}",
            report.generated_at.timestamp_micros(),
            self.clock.now().date_naive()
        )
    }

    /// How many changes this process made to what the report shows (incidents, refreshes):
    /// with the report's `generated_at`, a key for what doors derive from it. Read it before
    /// the report: a report read after it is never older than the changes it counts.
    pub fn changes(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The report every door shows: the stored snapshot with the incidents and maintenance
    /// mode applied at this moment. Reused by this process for two seconds; while one request
    /// composes it again, others get the previous one if it is under ten seconds old. A change
    /// made in this process shows at once; one made by another replica within those times.
    pub async fn report(&self) -> Result<Report> {
        let now = self.clock.now();
        let cached = self.cache.read().unwrap_or_else(|p| p.into_inner()).clone();
        let age = |report: &Report| (report.generated_at <= now).then(|| now - report.generated_at);
        if let Some(report) = &cached
            && age(report).is_some_and(|age| age < CACHE_FOR)
        {
            return Ok(report.clone());
        }
        // One request of this process composes it again; those arriving meanwhile get the copy
        // that just expired (when it is only a little older), instead of all asking the
        // database at once.
        let _composing = match self.composing.try_lock() {
            Ok(guard) => guard,
            Err(_) => match cached {
                Some(report) if age(&report).is_some_and(|age| age < CACHE_FOR * 5) => {
                    return Ok(report);
                }
                _ => self.composing.lock().await,
            },
        };
        if let Some(report) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|report| age(report).is_some_and(|age| age < CACHE_FOR))
        {
            return Ok(report.clone());
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let snapshot = self.snapshot().await?;
        let incidents = self
            .store
            .status()
            .recent_incidents(now - RESOLVED_SHOWN_FOR)
            .await?;
        let maintenance = self.maintenance.current().await?;
        let report = report::compose(report::Inputs {
            components: &self.components,
            snapshot: snapshot.as_ref(),
            incidents,
            maintenance: &maintenance,
            now,
            freshness: self.config.status.freshness,
        });
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        // A change made here while it was composed: it may not show it, so it is not kept.
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            *cache = Some(report.clone());
        }
        Ok(report)
    }

    /// The report as anyone may see it.
    pub async fn public_report(&self) -> Result<PublicReport> {
        Ok(PublicReport::of(&self.report().await?))
    }

    /// The report in the shape Statuspage clients read; `url` is the public status page.
    pub async fn summary(&self, url: Option<String>) -> Result<Summary> {
        Ok(self.summary_of(&self.public_report().await?, url))
    }

    /// [`Status::summary`] of a report read already.
    pub fn summary_of(&self, report: &PublicReport, url: Option<String>) -> Summary {
        Summary::of(report, &self.config.company.name, url)
    }

    /// A component's last `days` UTC days (today last), for the uptime bars.
    pub async fn uptime(&self, component: &str, days: u32) -> Result<Vec<DayUptime>> {
        if !self.components.iter().any(|known| known.id == component) {
            return Err(Error::NotFound(format!(
                "There is no status component {component:?}."
            )));
        }
        let days = days.clamp(1, self.config.status.history_days);
        let today = self.clock.now().date_naive();
        let first = today - chrono::Duration::days(i64::from(days) - 1);
        let counts = self.store.status().day_counts(component, first).await?;
        Ok(first
            .iter_days()
            .take_while(|day| *day <= today)
            .map(|day| DayUptime::of(day, counts.iter().find(|each| each.day == day)))
            .collect())
    }

    /// The bot tells the report whether its gateway connection is up (on connect, on
    /// disconnect, and at least once every `status.freshness`); kept in the database so every
    /// replica's report shows it.
    pub async fn report_gateway(&self, connected: bool) -> Result<()> {
        let now = self.clock.now();
        let report = serde_json::to_string(&GatewayReport { connected, at: now })
            .map_err(|error| Error::internal("writing the gateway state", error))?;
        self.store
            .settings()
            .put_setting(checks::GATEWAY_SETTING, &report, now)
            .await
    }
}

/// With no `[[status.components]]`: one component per area hostdeck runs.
fn default_components(checks: &[Arc<dyn Check>]) -> Vec<ComponentConfig> {
    let has = |id: &str| checks.iter().any(|check| check.id() == id);
    let component = |id: &str, name: &str, checks: &[&str]| ComponentConfig {
        id: id.to_owned(),
        name: name.to_owned(),
        group: None,
        checks: checks.iter().map(|check| (*check).to_owned()).collect(),
        maintenance_mode: true,
    };
    let mut components = vec![
        component("portal", "Customer portal and API", &["database", "outbox"]),
        component("billing", "Billing", &["database", "billing"]),
    ];
    if has("paypal") {
        components.push(component("payments", "Payments", &["paypal"]));
    }
    if has("discord") {
        components.push(component("discord", "Discord bot", &["discord"]));
    }
    let providers = checks
        .iter()
        .filter_map(|check| check.id().strip_prefix("provider:").map(str::to_owned));
    for name in providers {
        let mut servers = component(
            &format!("servers-{name}"),
            &format!("Servers ({name})"),
            &[&format!("provider:{name}")],
        );
        servers.group = Some("Servers".into());
        servers.maintenance_mode = false;
        components.push(servers);
    }
    components
}
