//! The metering rules in plain Rust: what one hour of one server costs, and its ledger key.
//!
//! The tick does the same arithmetic in SQL over every server at once
//! (`store/sql/billing/`); this is its twin, which tests hold the SQL to, hour by hour.

use chrono::{DateTime, Utc};

use crate::ids::ServerId;

pub use crate::records::meter::{
    SECONDS_PER_HOUR, UNBILLABLE_STATES, hour_cost, hour_number, hour_of, hour_start,
    posting_reference, refund_key, usage_key, usage_of_key,
};

/// Everything the hour rule reads about one server: its row and its state history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHistory {
    pub id: ServerId,
    /// The current state (`servers.state`).
    pub state: String,
    pub rate_running: i64,
    pub rate_stopped: i64,
    pub rate_hours: i64,
    pub rate_since: DateTime<Utc>,
    pub billed_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub suspended_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// `server_events` in time order: when, and which state.
    pub events: Vec<(DateTime<Utc>, String)>,
}

/// One hour the tick charges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourCharge {
    pub hour: DateTime<Utc>,
    pub running: bool,
    pub amount: i64,
}

impl ServerHistory {
    /// The hours a tick at `now` charges for this server (zero-cost hours left out), given at
    /// most `max_catchup` hours of catch-up. This is the rule of [`crate::billing`] in Rust.
    pub fn charges(&self, now: DateTime<Utc>, max_catchup: i64) -> Vec<HourCharge> {
        let now_h = hour_number(now);
        if UNBILLABLE_STATES.contains(&self.state.as_str())
            || self.billed_until >= hour_start(now_h)
        {
            return Vec::new();
        }
        if self
            .deleted_at
            .is_some_and(|deleted| self.billed_until > deleted)
        {
            return Vec::new();
        }
        let from = hour_number(self.billed_until)
            .max(now_h - max_catchup)
            .max(hour_number(self.created_at));
        let to = match self.deleted_at {
            Some(deleted) => now_h.min(hour_number(deleted) + 1),
            None => now_h,
        };
        let changed = self.events.iter().any(|(at, _)| *at >= self.billed_until);
        let suspended_h = self.suspended_at.map(hour_number);
        let since_h = hour_number(self.rate_since);
        (from..to)
            .filter_map(|h| {
                let running = if suspended_h.is_some_and(|s| s < h) {
                    false
                } else if !changed {
                    self.state == "running" && suspended_h.is_none()
                } else {
                    let at_start = self
                        .events
                        .iter()
                        .rev()
                        .find(|(at, _)| hour_number(*at) < h)
                        .map_or(self.state.as_str(), |(_, state)| state.as_str());
                    at_start == "running"
                        || self
                            .events
                            .iter()
                            .any(|(at, state)| hour_number(*at) == h && state == "running")
                };
                let rate = if running {
                    self.rate_running
                } else {
                    self.rate_stopped
                };
                let amount = hour_cost(rate, self.rate_hours, h - since_h);
                (amount > 0).then(|| HourCharge {
                    hour: hour_start(h),
                    running,
                    amount,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_month_of_hours_adds_up_to_the_rate_exactly() {
        // $2 a month over 730 hours: 2_000_000 / 730 is not whole, yet nothing is lost.
        let total: i64 = (0..730).map(|k| hour_cost(2_000_000, 730, k)).sum();
        assert_eq!(total, 2_000_000);
        assert_eq!(hour_cost(2_000_000, 730, 0), 2_739);
        assert_eq!(hour_cost(2_000_000, 730, 1), 2_740);
        assert_eq!((0..10).map(|k| hour_cost(7_000, 1, k)).sum::<i64>(), 70_000);
    }

    #[test]
    fn usage_keys_name_the_hour() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 21, 9, 0, 0)
            .single()
            .expect("a time");
        assert_eq!(usage_key(ServerId(7), at), "usage:7:2026-11-21T09:00Z");
        assert_eq!(
            usage_of_key("usage:7:2026-11-21T09:00Z"),
            Some((ServerId(7), at))
        );
        assert_eq!(
            usage_of_key("usage:7:2026-11-21T09:00Z+1"),
            Some((ServerId(7), at))
        );
        assert_eq!(usage_of_key("paypal:capture:7"), None);
        let later = at + chrono::Duration::minutes(41) + chrono::Duration::seconds(7);
        assert_eq!(
            usage_key(ServerId(12), hour_of(later)),
            "usage:12:2026-11-21T09:00Z"
        );
        assert_eq!(hour_of(at + chrono::Duration::minutes(59)), at);
        assert_eq!(posting_reference(ServerId(12)), "server:12");
    }

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, hour, minute, 0)
            .single()
            .expect("a time")
    }

    fn server() -> ServerHistory {
        ServerHistory {
            id: ServerId(1),
            state: "running".into(),
            rate_running: 10_000,
            rate_stopped: 1_000,
            rate_hours: 1,
            rate_since: at(0, 20),
            billed_until: at(1, 0),
            created_at: at(0, 20),
            suspended_at: None,
            deleted_at: None,
            events: vec![(at(0, 20), "running".into())],
        }
    }

    #[test]
    fn an_hour_with_any_running_moment_costs_the_running_rate() {
        let mut s = server();
        s.state = "stopped".into();
        s.events.push((at(2, 30), "stopped".into()));
        s.events.push((at(4, 59), "running".into()));
        s.events.push((at(4, 59), "stopped".into()));
        let charged: Vec<(u32, bool)> = s
            .charges(at(6, 10), 744)
            .iter()
            .map(|c| (chrono::Timelike::hour(&c.hour), c.running))
            .collect();
        assert_eq!(
            charged,
            [(1, true), (2, true), (3, false), (4, true), (5, false)]
        );
    }

    #[test]
    fn deleted_servers_pay_up_to_the_hour_they_went() {
        let mut s = server();
        s.state = "deleted".into();
        s.deleted_at = Some(at(3, 15));
        s.events.push((at(3, 15), "deleted".into()));
        assert_eq!(s.charges(at(9, 0), 744).len(), 3); // hours 1, 2, 3
        s.billed_until = at(4, 0);
        assert!(s.charges(at(9, 0), 744).is_empty());
    }

    #[test]
    fn catch_up_stops_at_the_limit_and_the_clock_going_back_bills_nothing() {
        let s = server();
        assert_eq!(s.charges(at(23, 0), 5).len(), 5);
        assert!(s.charges(at(0, 30), 744).is_empty());
        let mut creating = server();
        creating.state = "creating".into();
        assert!(creating.charges(at(9, 0), 744).is_empty());
    }

    #[test]
    fn a_suspended_server_pays_the_stopped_rate_from_the_next_hour() {
        let mut s = server();
        s.suspended_at = Some(at(2, 10));
        s.events.push((at(2, 10), "suspended".into()));
        let amounts: Vec<i64> = s.charges(at(5, 0), 744).iter().map(|c| c.amount).collect();
        assert_eq!(amounts, [10_000, 10_000, 1_000, 1_000]);
    }
}
