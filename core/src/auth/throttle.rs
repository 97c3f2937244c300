//! Counting requests in fixed one-minute (or longer) windows: API keys' rate limits and failed
//! sign-ins.
//!
//! Counts live in this process. With several replicas each keeps its own, so the limits hold
//! per replica; that keeps every request free of a shared write, and the load balancer spreads
//! one client's requests anyway.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the window resets.
    pub reset_after: Duration,
}

/// At most `limit` events per key in each window of `window`.
#[derive(Debug)]
pub struct FixedWindow<K> {
    limit: u32,
    window: Duration,
    counts: Mutex<HashMap<K, (i64, u32)>>,
}

impl<K: Eq + Hash + Clone> FixedWindow<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    fn window_of(&self, now: DateTime<Utc>) -> (i64, Duration) {
        let size = self.window.as_millis().max(1) as i64;
        let at = now.timestamp_millis();
        let index = at.div_euclid(size);
        let reset = Duration::from_millis(u64::try_from((index + 1) * size - at).unwrap_or(0));
        (index, reset)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<K, (i64, u32)>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts one event for `key` and says whether it is within the limit.
    pub fn hit(&self, key: &K, now: DateTime<Utc>) -> Verdict {
        let (index, reset_after) = self.window_of(now);
        let mut counts = self.counts();
        if counts.len() > 100_000 {
            counts.retain(|_, (window, _)| *window == index);
        }
        let entry = counts.entry(key.clone()).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        let allowed = entry.1 < self.limit;
        if allowed {
            entry.1 += 1;
        }
        Verdict {
            allowed,
            limit: self.limit,
            remaining: self.limit - entry.1,
            reset_after,
        }
    }

    /// Whether `key` has used up this window, without counting anything.
    pub fn exhausted(&self, key: &K, now: DateTime<Utc>) -> Option<Duration> {
        let (index, reset_after) = self.window_of(now);
        let counts = self.counts();
        counts
            .get(key)
            .filter(|(window, count)| *window == index && *count >= self.limit)
            .map(|_| reset_after)
    }

    pub fn forget(&self, key: &K) {
        self.counts().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn allows_exactly_the_limit_per_window() {
        let limiter = FixedWindow::new(3, Duration::from_secs(60));
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 10)
            .single()
            .expect("time");
        let verdicts: Vec<_> = (0..5).map(|_| limiter.hit(&"k", start)).collect();
        assert_eq!(verdicts.iter().filter(|v| v.allowed).count(), 3);
        assert_eq!(verdicts[2].remaining, 0);
        assert_eq!(verdicts[0].reset_after, Duration::from_secs(50));
        assert!(limiter.exhausted(&"k", start).is_some());
        let next_minute = start + chrono::Duration::seconds(50);
        assert!(limiter.hit(&"k", next_minute).allowed);
        assert!(
            limiter.hit(&"other", start).allowed,
            "keys are counted apart"
        );
    }
}
