//! The one HTTP client of BetterStack Uptime (`../shared/wire/betterstack/`): v2 monitors and
//! monitor groups, v3 open incidents, and a status page's reports when one is configured.
//!
//! Only what the report needs is read out of an answer (ids, states, times); names, URLs,
//! causes and response bodies are never kept, so they cannot reach any output. A failure is
//! one of a few [`SourceFailure`]s in fixed words, never BetterStack's text. `pagination.next`
//! is followed only to the configured scheme, host and port (the token goes with it), at most
//! `betterstack.max_pages` pages; a page that fails fails the whole read, since a partial
//! monitor list must not read as "everything else is fine".

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use super::config::BetterstackConfig;
use crate::error::{Error, Result};

/// Why BetterStack could not be read, in words the public may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFailure {
    /// No answer: connection refused, reset, DNS.
    Unreachable,
    /// 401 or 403: the token was refused.
    Refused,
    /// 429.
    RateLimited,
    /// No answer within `betterstack.timeout`.
    Slow,
    /// 5xx.
    ServerError,
    /// An answer that is not the documented shape.
    Malformed,
    /// A monitor list with no monitors in it.
    Empty,
    /// A `next` link to another address than the configured one.
    ForeignLink,
    /// No token configured.
    NotConfigured,
}

/// A monitor's `status`, as documented; anything else is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorStatus {
    Up,
    Down,
    Validating,
    Paused,
    Pending,
    Maintenance,
    Other,
}

impl MonitorStatus {
    fn parse(text: &str) -> Self {
        match text {
            "up" => Self::Up,
            "down" => Self::Down,
            "validating" => Self::Validating,
            "paused" => Self::Paused,
            "pending" => Self::Pending,
            "maintenance" => Self::Maintenance,
            _ => Self::Other,
        }
    }
}

/// What the report keeps of a monitor: no name, no URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitor {
    pub id: String,
    pub group: Option<String>,
    pub status: MonitorStatus,
    pub last_checked_at: Option<DateTime<Utc>>,
    /// Seconds between checks.
    pub check_frequency: Option<u64>,
}

impl Monitor {
    /// When its last check is too old to trust: three check periods, and at least 5 minutes.
    pub fn stale_at(&self, now: DateTime<Utc>) -> bool {
        let period = self
            .check_frequency
            .unwrap_or(60)
            .saturating_mul(3)
            .max(300);
        let limit = chrono::Duration::seconds(i64::try_from(period).unwrap_or(i64::MAX / 2));
        self.last_checked_at.is_none_or(|at| now - at > limit)
    }
}

/// A status-page report: only its kind and times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageReport {
    pub maintenance: bool,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// Its `aggregate_state` is something other than operational.
    pub open: bool,
}

/// One successful read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub monitors: Vec<Monitor>,
    /// Ids of monitor groups BetterStack has paused.
    pub paused_groups: Vec<String>,
    /// Ids of monitors with an unresolved incident.
    pub incident_monitors: Vec<String>,
    pub page_reports: Vec<PageReport>,
}

/// A failed read, and how long BetterStack asked to be left alone (429 `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed {
    pub failure: SourceFailure,
    pub retry_after: Option<Duration>,
}

impl From<SourceFailure> for Failed {
    fn from(failure: SourceFailure) -> Self {
        Self {
            failure,
            retry_after: None,
        }
    }
}

pub struct BetterstackClient {
    http: reqwest::Client,
    base: Url,
    token: SecretString,
    max_pages: u32,
    status_page_id: Option<String>,
    read_groups: bool,
}

impl BetterstackClient {
    /// `None` without a token.
    pub fn from_config(config: &BetterstackConfig) -> Result<Option<Self>> {
        let Some(token) = config.token.clone() else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hostdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::internal("building the BetterStack client", error))?;
        Ok(Some(Self {
            http,
            base: config.base_url.clone(),
            token,
            max_pages: config.max_pages,
            status_page_id: config.status_page_id.clone(),
            read_groups: config
                .components
                .values()
                .any(|mapping| !mapping.monitor_groups.is_empty()),
        }))
    }

    /// Monitors (and their groups), open incidents and status reports, or why not.
    pub async fn read(&self) -> std::result::Result<Reading, Failed> {
        let monitors: Vec<Monitor> = self
            .list("/api/v2/monitors?per_page=250")
            .await?
            .iter()
            .map(monitor_of)
            .collect::<Option<_>>()
            .ok_or(SourceFailure::Malformed)?;
        if monitors.is_empty() {
            return Err(SourceFailure::Empty.into());
        }
        let paused_groups = if self.read_groups {
            self.list("/api/v2/monitor-groups?per_page=250")
                .await?
                .iter()
                .filter(|group| group["attributes"]["paused"].as_bool() == Some(true))
                .filter_map(|group| id_text(&group["id"]))
                .collect()
        } else {
            Vec::new()
        };
        let incident_monitors = self
            .list("/api/v3/incidents?resolved=false&per_page=50")
            .await?
            .iter()
            .filter(|incident| incident["attributes"]["resolved_at"].is_null())
            .filter_map(|incident| id_text(&incident["relationships"]["monitor"]["data"]["id"]))
            .collect();
        let page_reports = match &self.status_page_id {
            Some(page) => self
                .list(&format!("/api/v2/status-pages/{page}/status-reports"))
                .await?
                .iter()
                .map(page_report_of)
                .collect(),
            None => Vec::new(),
        };
        Ok(Reading {
            monitors,
            paused_groups,
            incident_monitors,
            page_reports,
        })
    }

    /// Every item of a paginated listing.
    async fn list(&self, path: &str) -> std::result::Result<Vec<Value>, Failed> {
        let mut url = self
            .base
            .join(path)
            .map_err(|_| Failed::from(SourceFailure::Malformed))?;
        let mut items = Vec::new();
        for _ in 0..self.max_pages {
            let page = self.get(url.clone()).await?;
            let data = page["data"].as_array().ok_or(SourceFailure::Malformed)?;
            items.extend(data.iter().cloned());
            match &page["pagination"]["next"] {
                Value::Null => return Ok(items),
                Value::String(next) => {
                    let next = Url::parse(next).map_err(|_| SourceFailure::Malformed)?;
                    if next.origin() != self.base.origin() {
                        tracing::warn!(
                            "BetterStack sent a next-page link to another address; not followed"
                        );
                        return Err(SourceFailure::ForeignLink.into());
                    }
                    url = next;
                }
                _ => return Err(SourceFailure::Malformed.into()),
            }
        }
        tracing::warn!(
            pages = self.max_pages,
            "a BetterStack listing has more pages than betterstack.max_pages"
        );
        Err(SourceFailure::Malformed.into())
    }

    async fn get(&self, url: Url) -> std::result::Result<Value, Failed> {
        let answer = self
            .http
            .get(url)
            .bearer_auth(self.token.expose_secret())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|error| {
                let failure = if error.is_timeout() {
                    SourceFailure::Slow
                } else {
                    SourceFailure::Unreachable
                };
                tracing::warn!(?failure, "BetterStack did not answer");
                Failed::from(failure)
            })?;
        let status = answer.status();
        if !status.is_success() {
            let failure = match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SourceFailure::Refused,
                StatusCode::TOO_MANY_REQUESTS => SourceFailure::RateLimited,
                status if status.is_server_error() => SourceFailure::ServerError,
                _ => SourceFailure::Malformed,
            };
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            tracing::warn!(
                status = status.as_u16(),
                ?failure,
                "BetterStack refused a read"
            );
            return Err(Failed {
                failure,
                retry_after,
            });
        }
        let body = answer.bytes().await.map_err(|error| {
            Failed::from(if error.is_timeout() {
                SourceFailure::Slow
            } else {
                SourceFailure::Unreachable
            })
        })?;
        serde_json::from_slice(&body).map_err(|_| Failed::from(SourceFailure::Malformed))
    }
}

/// Top-level ids are strings; ids inside attributes may be strings or numbers.
fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_str()
        .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
        .map(|time| time.with_timezone(&Utc))
}

/// `None` when the item is not a monitor as documented.
fn monitor_of(item: &Value) -> Option<Monitor> {
    let attributes = item.get("attributes")?.as_object()?;
    let status = attributes.get("status")?.as_str()?;
    Some(Monitor {
        id: id_text(item.get("id")?)?,
        group: attributes.get("monitor_group_id").and_then(id_text),
        status: MonitorStatus::parse(status),
        last_checked_at: attributes.get("last_checked_at").and_then(time),
        check_frequency: attributes.get("check_frequency").and_then(Value::as_u64),
    })
}

fn page_report_of(item: &Value) -> PageReport {
    let attributes = &item["attributes"];
    PageReport {
        maintenance: attributes["report_type"].as_str() == Some("maintenance"),
        starts_at: time(&attributes["starts_at"]),
        ends_at: time(&attributes["ends_at"]),
        open: attributes["aggregate_state"]
            .as_str()
            .is_none_or(|state| !state.eq_ignore_ascii_case("operational")),
    }
}
