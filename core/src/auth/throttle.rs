//! Counting attempts and requests, so that guessing is slow and no one caller can take the
//! platform's time.
//!
//! Two kinds of counter live here, and they differ in where the count is kept:
//!
//! - [`SharedThrottle`] counts in the store, so it holds for the whole cluster: every replica on
//!   one database sees the same count. Sign-ins, one-time codes (email verification, password
//!   reset, Discord link codes), current-password checks and the mail that sign-up, "resend the
//!   code" and "forgot my password" send are counted here. Each attempt takes its slot *before*
//!   the secret is checked, in one atomic statement, so twenty attempts sent at once against a
//!   limit of five check five secrets and refuse the rest; an attempt that turns out not to
//!   count (a right password) gives its slot back. A key's window starts at its first attempt and
//!   runs for the limit's length, so no clock-aligned boundary splits a burst in two.
//! - [`SlidingWindow`] counts in this process: the per-minute limits of API keys and sessions,
//!   which every request passes and which would otherwise cost a database write each. A window
//!   slides (at most `limit` requests in any `window`, whenever it starts), so no burst fits
//!   across a minute boundary. With several replicas each counts its own requests: one key or
//!   session may make up to `limit` requests a minute on each replica.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::store::Store;

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the next request would be allowed (when refused), or until the whole allowance is
    /// back (when allowed).
    pub reset_after: Duration,
}

/// At most `limit` events per key in any stretch of `window`: the times of the last `limit`
/// allowed events are kept per key.
#[derive(Debug)]
pub struct SlidingWindow<K> {
    limit: u32,
    window: Duration,
    events: Mutex<HashMap<K, VecDeque<DateTime<Utc>>>>,
}

/// Keys kept before the ones with no event in the window are dropped.
const KEYS_BEFORE_PRUNING: usize = 100_000;

impl<K: Eq + Hash + Clone> SlidingWindow<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            events: Mutex::new(HashMap::new()),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or(chrono::Duration::MAX)
    }

    fn until(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        (to - from).to_std().unwrap_or(Duration::ZERO)
    }

    /// Counts one event for `key` if it is within the limit, and says whether it was.
    pub fn hit(&self, key: &K, now: DateTime<Utc>) -> Verdict {
        let window = self.window();
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if events.len() > KEYS_BEFORE_PRUNING {
            events.retain(|_, times| times.back().is_some_and(|last| *last + window > now));
        }
        let times = events.entry(key.clone()).or_default();
        while times.front().is_some_and(|first| *first + window <= now) {
            times.pop_front();
        }
        let used = u32::try_from(times.len()).unwrap_or(u32::MAX);
        if used >= self.limit {
            // Refused: the next slot frees when the oldest counted event leaves the window.
            let reset_after = times
                .front()
                .map_or(self.window, |first| Self::until(now, *first + window));
            return Verdict {
                allowed: false,
                limit: self.limit,
                remaining: 0,
                reset_after,
            };
        }
        times.push_back(now);
        let first = times.front().copied().unwrap_or(now);
        Verdict {
            allowed: true,
            limit: self.limit,
            remaining: self.limit - used - 1,
            reset_after: Self::until(now, first + window),
        }
    }
}

/// A limit counted for the whole cluster: at most `max` attempts per key in a `window` that
/// starts at the key's first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Names the counter, so equal keys of different limits are counted apart.
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

/// An attempt counted by [`SharedThrottle::take`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    key: String,
    window: i64,
    pub verdict: Verdict,
}

impl Taken {
    pub fn allowed(&self) -> bool {
        self.verdict.allowed
    }
}

/// Counters in the store (see the module comment).
#[derive(Clone)]
pub struct SharedThrottle {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    hits: Arc<AtomicU32>,
}

/// Every this many counted attempts, windows that are over are deleted.
const HITS_BETWEEN_PURGES: u32 = 256;

impl SharedThrottle {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            hits: Arc::new(AtomicU32::new(0)),
        }
    }

    fn key(limit: &Limit, subject: &str) -> String {
        let digest = Sha256::digest(format!("{}:{subject}", limit.name).as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Counts one attempt at `subject` (an address, an email and an address, ...) against
    /// `limit`, before the attempt is made. An attempt over the limit is counted too: hammering
    /// keeps the door shut.
    pub async fn take(&self, limit: &Limit, subject: &str) -> Result<Taken> {
        let now = self.clock.now();
        let ends =
            now + chrono::Duration::from_std(limit.window).unwrap_or(chrono::Duration::MAX / 2);
        let key = Self::key(limit, subject);
        let (count, ends) = self.store.throttle().throttle_hit(&key, now, ends).await?;
        let reset_after = (ends - now).to_std().unwrap_or(Duration::ZERO);
        // Counts live in one row per key; `window` names it for give-backs.
        let window = 0;
        if self
            .hits
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(HITS_BETWEEN_PURGES)
            && let Err(error) = self.store.throttle().throttle_purge(now).await
        {
            tracing::warn!(%error, "could not delete old throttle counts");
        }
        let used = u32::try_from(count.max(0)).unwrap_or(u32::MAX);
        Ok(Taken {
            key,
            window,
            verdict: Verdict {
                allowed: used <= limit.max,
                limit: limit.max,
                remaining: limit.max.saturating_sub(used),
                reset_after,
            },
        })
    }

    /// Takes attempts at several limits at once; `Err(RateLimited)` with `message` (and the
    /// longest wait) if any is over. The slots stay taken either way.
    pub async fn take_all(
        &self,
        limits: &[(&Limit, &str)],
        message: impl FnOnce(Duration) -> String,
    ) -> Result<Vec<Taken>> {
        let mut taken = Vec::with_capacity(limits.len());
        for (limit, subject) in limits {
            taken.push(self.take(limit, subject).await?);
        }
        let wait = taken
            .iter()
            .filter(|t| !t.allowed())
            .map(|t| t.verdict.reset_after)
            .max();
        match wait {
            Some(wait) => Err(Error::RateLimited {
                message: message(wait),
                retry_after: wait,
            }),
            None => Ok(taken),
        }
    }

    /// Gives back an attempt that turned out not to count.
    pub async fn give_back(&self, taken: &Taken) {
        if let Err(error) = self
            .store
            .throttle()
            .throttle_give_back(&taken.key, taken.window)
            .await
        {
            tracing::warn!(%error, "could not give back a throttle slot");
        }
    }

    /// Forgets every attempt at `subject` against `limit`.
    pub async fn clear(&self, limit: &Limit, subject: &str) {
        if let Err(error) = self
            .store
            .throttle()
            .throttle_clear(&Self::key(limit, subject))
            .await
        {
            tracing::warn!(%error, "could not clear a throttle");
        }
    }
}

/// "3 minutes", "1 minute": a wait as people read it.
pub fn minutes(wait: Duration) -> String {
    let minutes = wait.as_secs().div_ceil(60).max(1);
    if minutes == 1 {
        "1 minute".into()
    } else {
        format!("{minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_window_slides_so_no_burst_fits_across_a_minute_boundary() {
        let limiter = SlidingWindow::new(3, Duration::from_secs(60));
        let start = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 58)
            .single()
            .expect("time");
        let verdicts: Vec<_> = (0..5).map(|_| limiter.hit(&"k", start)).collect();
        assert_eq!(verdicts.iter().filter(|v| v.allowed).count(), 3);
        assert_eq!(verdicts[2].remaining, 0);
        assert_eq!(verdicts[0].reset_after, Duration::from_secs(60));
        assert_eq!(verdicts[4].reset_after, Duration::from_secs(60));
        // Past the minute boundary the same three are still in the window.
        let after_boundary = start + chrono::Duration::seconds(3);
        let refused = limiter.hit(&"k", after_boundary);
        assert!(!refused.allowed);
        assert_eq!(refused.reset_after, Duration::from_secs(57));
        assert!(
            limiter
                .hit(&"k", start + chrono::Duration::seconds(60))
                .allowed
        );
        assert!(
            limiter.hit(&"other", start).allowed,
            "keys are counted apart"
        );
    }
}
