//! What the public status page reads besides the report: every component's uptime per day,
//! read from the store at most once a minute per process (and again after a refresh), so a busy
//! page costs no query per request.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Status;
use super::public::DayUptime;
use crate::error::Result;

/// How long one process reuses the uptime it read.
const UPTIME_FOR: chrono::Duration = chrono::Duration::seconds(60);

/// One component's days, oldest first (today last).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentUptime {
    pub id: String,
    pub days: Vec<DayUptime>,
}

/// The uptime a process read, and when.
#[derive(Debug, Clone)]
pub(super) struct UptimeCache {
    read_at: DateTime<Utc>,
    days: u32,
    components: Arc<Vec<ComponentUptime>>,
}

impl Status {
    /// Every component's last `days` UTC days, in the page's order.
    pub async fn uptime_all(&self, days: u32) -> Result<Arc<Vec<ComponentUptime>>> {
        let now = self.clock.now();
        if let Some(cached) = self
            .uptime_cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && cached.days == days
            && cached.read_at <= now
            && now - cached.read_at < UPTIME_FOR
            && cached.read_at.date_naive() == now.date_naive()
        {
            return Ok(cached.components.clone());
        }
        let mut components = Vec::with_capacity(self.components.len());
        for component in self.components.iter() {
            components.push(ComponentUptime {
                id: component.id.clone(),
                days: self.uptime(&component.id, days).await?,
            });
        }
        let components = Arc::new(components);
        *self.uptime_cache.write().unwrap_or_else(|p| p.into_inner()) = Some(UptimeCache {
            read_at: now,
            days,
            components: components.clone(),
        });
        Ok(components)
    }
}
