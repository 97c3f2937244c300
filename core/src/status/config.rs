//! `[betterstack]` (where BetterStack Uptime is, its token, which monitors make which public
//! component) and `[status]` (the public components, which internal checks feed each, how often
//! the report is computed and when a reading is too old to trust).

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::config::values::serialize_secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BetterstackConfig {
    /// A team-scoped Uptime API token. Unset: BetterStack is not read, and components mapped to
    /// its monitors are unknown.
    #[serde(serialize_with = "serialize_secret")]
    pub token: Option<SecretString>,
    /// Where the API is; `pagination.next` links are followed only to this scheme, host and port.
    pub base_url: Url,
    /// How long one request may take before the source counts as failed.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How many pages of one listing are read at most.
    pub max_pages: u32,
    /// A BetterStack status page whose status reports are read too (unset: none).
    pub status_page_id: Option<String>,
    /// Public component id (from `[[status.components]]`) -> the monitors and monitor groups
    /// whose states make it.
    pub components: BTreeMap<String, MonitorMapping>,
}

impl Default for BetterstackConfig {
    fn default() -> Self {
        Self {
            token: None,
            base_url: Url::parse("https://uptime.betterstack.com")
                .unwrap_or_else(|_| unreachable!()),
            timeout: Duration::from_secs(10),
            max_pages: 20,
            status_page_id: None,
            components: BTreeMap::new(),
        }
    }
}

/// The BetterStack monitors behind one public component: ids of monitors, and ids of monitor
/// groups (every monitor in the group). Ids may be written as text or as numbers.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorMapping {
    #[serde(deserialize_with = "id_list")]
    pub monitors: Vec<String>,
    #[serde(deserialize_with = "id_list")]
    pub monitor_groups: Vec<String>,
}

fn id_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Number(u64),
    }
    Ok(Vec::<Id>::deserialize(deserializer)?
        .into_iter()
        .map(|id| match id {
            Id::Text(text) => text.trim().to_owned(),
            Id::Number(number) => number.to_string(),
        })
        .collect())
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusConfig {
    /// How often `serve` computes the report (one replica per interval does the fetching).
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
    /// A stored report, or a reading in it, older than this shows its components as unknown.
    #[serde(with = "humantime_serde")]
    pub freshness: Duration,
    /// How long internal checks may take, each.
    #[serde(with = "humantime_serde")]
    pub check_timeout: Duration,
    /// Days of component history kept for the uptime bars.
    pub history_days: u32,
    /// Outbox messages waiting beyond this many degrade the components that watch the outbox.
    pub outbox_backlog: u64,
    /// A billing run older than this degrades the components that watch billing.
    #[serde(with = "humantime_serde")]
    pub billing_run_max_age: Duration,
    /// The public components, in the order shown. Empty: one per area hostdeck runs (the portal
    /// and API, billing, payments when PayPal is on, the Discord bot when it has a token, and
    /// servers on each provider).
    pub components: Vec<ComponentConfig>,
    /// The sticky message in `discord.status_channel_id` is written at most once per this
    /// interval, however often the report changes (Discord's own rate limits apply as well).
    #[serde(with = "humantime_serde")]
    pub sticky_min_interval: Duration,
    /// A sticky message older than this is replaced by a new one (at the bottom of the
    /// channel) at its next change, instead of being edited.
    #[serde(with = "humantime_serde")]
    pub sticky_max_age: Duration,
    /// A Discord role id pinged by the post of each new incident or maintenance window in the
    /// status channel (unset: the post pings nobody).
    pub incident_role_id: Option<u64>,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(60),
            freshness: Duration::from_secs(300),
            check_timeout: Duration::from_secs(10),
            history_days: 90,
            outbox_backlog: 500,
            billing_run_max_age: Duration::from_secs(2 * 3600),
            components: Vec::new(),
            sticky_min_interval: Duration::from_secs(30),
            sticky_max_age: Duration::from_secs(7 * 24 * 3600),
            incident_role_id: None,
        }
    }
}

/// One public component.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentConfig {
    /// A short stable id (`vps-ams`), used in URLs, incidents and the history.
    pub id: String,
    /// What the public sees ("Amsterdam VPS").
    pub name: String,
    /// A heading components are grouped under ("Servers").
    #[serde(default)]
    pub group: Option<String>,
    /// Internal checks that feed it: `database`, `outbox`, `billing`, `paypal`, `discord`,
    /// `gemini`, `provider:NAME`.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Whether maintenance mode shows it as under maintenance.
    #[serde(default = "yes")]
    pub maintenance_mode: bool,
}

const fn yes() -> bool {
    true
}

impl StatusConfig {
    pub(crate) fn problems(&self, betterstack: &BetterstackConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if self.refresh_interval < Duration::from_secs(1) {
            problems.push("status.refresh_interval: expected at least 1s".to_owned());
        }
        if self.freshness < self.refresh_interval * 2 {
            problems.push(
                "status.freshness: expected at least twice status.refresh_interval (a reading \
                 may come up to two intervals after the last one, and must not turn the \
                 components unknown in between)"
                    .to_owned(),
            );
        }
        if self.sticky_min_interval < Duration::from_secs(1) {
            problems.push("status.sticky_min_interval: expected at least 1s".to_owned());
        }
        if self.sticky_max_age < self.sticky_min_interval {
            problems.push(
                "status.sticky_max_age: expected at least status.sticky_min_interval".to_owned(),
            );
        }
        if self.incident_role_id == Some(0) {
            problems.push("status.incident_role_id: expected a Discord role id".to_owned());
        }
        if self.history_days == 0 {
            problems.push("status.history_days: expected at least 1".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for component in &self.components {
            let id = &component.id;
            if id.is_empty()
                || id.len() > 40
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                problems.push(format!(
                    "status.components: id {id:?}: expected 1 to 40 of a-z, 0-9 and -"
                ));
            }
            if !seen.insert(id.as_str()) {
                problems.push(format!("status.components: id {id:?} is there twice"));
            }
            if let Err(error) = crate::text::name("name", "a component name", &component.name, 60) {
                problems.push(format!("status.components.{id}.name: {error}"));
            }
            if let Some(group) = &component.group
                && let Err(error) = crate::text::name("group", "a group name", group, 60)
            {
                problems.push(format!("status.components.{id}.group: {error}"));
            }
        }
        for id in betterstack.components.keys() {
            if !self.components.iter().any(|component| &component.id == id) {
                problems.push(format!(
                    "betterstack.components.{id}: no [[status.components]] has this id"
                ));
            }
        }
        if betterstack.timeout < Duration::from_millis(100) {
            problems.push("betterstack.timeout: expected at least 100ms".to_owned());
        }
        if betterstack
            .status_page_id
            .as_ref()
            .is_some_and(|id| id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()))
        {
            problems.push("betterstack.status_page_id: expected the page's number".to_owned());
        }
        if betterstack.max_pages == 0 {
            problems.push("betterstack.max_pages: expected at least 1".to_owned());
        }
        if !matches!(betterstack.base_url.scheme(), "http" | "https") {
            problems.push("betterstack.base_url: expected an http:// or https:// address".into());
        }
        problems
    }
}
