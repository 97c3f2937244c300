//! The report with every component's uptime per day, as `GET /api/v1/status` shows it. The
//! uptime only moves when a refresh stores new samples (or the day turns), so it is read from
//! the database once per refresh and day per process, not per request; the report itself is
//! the two-second cached one.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::Status;
use super::public::{DayUptime, PublicReport};
use crate::error::Result;

/// One component's last days, today last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentUptime {
    pub id: String,
    pub days: Vec<DayUptime>,
}

/// The public report and the uptime of every component.
#[derive(Debug, Clone)]
pub struct Overview {
    pub report: PublicReport,
    pub uptime: Arc<Vec<ComponentUptime>>,
}

/// What the uptime was read for.
#[derive(Debug, Clone)]
pub(super) struct UptimeCache {
    checked_at: Option<DateTime<Utc>>,
    today: NaiveDate,
    days: u32,
    uptime: Arc<Vec<ComponentUptime>>,
}

impl Status {
    /// The public report with `days` days of uptime per component (at most
    /// `status.history_days`).
    pub async fn overview(&self, days: u32) -> Result<Overview> {
        let report = self.public_report().await?;
        let today = self.clock.now().date_naive();
        let cached = self
            .uptime_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|cache| {
                cache.checked_at == report.checked_at && cache.today == today && cache.days == days
            })
            .map(|cache| cache.uptime.clone());
        if let Some(uptime) = cached {
            return Ok(Overview { report, uptime });
        }
        let mut uptime = Vec::with_capacity(self.components.len());
        for component in self.components.iter() {
            uptime.push(ComponentUptime {
                id: component.id.clone(),
                days: self.uptime(&component.id, days).await?,
            });
        }
        let uptime = Arc::new(uptime);
        *self.uptime_cache.write().unwrap_or_else(|p| p.into_inner()) = Some(UptimeCache {
            checked_at: report.checked_at,
            today,
            days,
            uptime: uptime.clone(),
        });
        Ok(Overview { report, uptime })
    }
}
