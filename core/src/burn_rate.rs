//! How fast a customer's credit runs out: the sum of their servers' hourly prices, and the hours
//! their balance lasts at that pace. Read straight from each server's price snapshot (running,
//! unsuspended servers at the running rate, every other billable server at the stopped rate),
//! exactly, with no rounding until it is shown. This is what customers see (`/balance`, the
//! portal, the API) and what the balance rules of [`crate::billing`] decide by ([`is_low`]);
//! their SQL only picks the customers to look at.

use rust_decimal::Decimal;

use crate::error::Result;
use crate::ids::UserId;
use crate::money::Money;
use crate::store::Store;
use crate::store::servers::ServerRate;

/// Micro-units per hour, exact (a $2/month plan is 2_000_000/730 micros an hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BurnRate {
    micros_per_hour: Decimal,
}

impl BurnRate {
    /// The sum over `servers` of rate/rate_hours, running or stopped as each is.
    pub fn of(servers: &[ServerRate]) -> Self {
        let micros_per_hour = servers
            .iter()
            .filter(|server| server.rate_hours > 0)
            .map(|server| {
                let rate = if server.running {
                    server.rate_running
                } else {
                    server.rate_stopped
                };
                Decimal::from(rate) / Decimal::from(server.rate_hours)
            })
            .fold(Decimal::ZERO, |sum, rate| sum + rate);
        Self { micros_per_hour }
    }

    /// The hourly price rounded up to a whole micro-unit, for showing.
    pub fn per_hour(&self) -> Money {
        let micros = self.micros_per_hour.ceil();
        Money::from_micros(i64::try_from(micros).unwrap_or(i64::MAX))
    }

    /// Whole hours `balance` lasts at this rate; `None` when nothing is burning. A balance at
    /// or below zero lasts no hours.
    pub fn hours_left(&self, balance: Money) -> Option<i64> {
        if self.micros_per_hour <= Decimal::ZERO {
            return None;
        }
        if !balance.is_positive() {
            return Some(0);
        }
        let hours = (Decimal::from(balance.micros()) / self.micros_per_hour).floor();
        Some(i64::try_from(hours).unwrap_or(i64::MAX))
    }
}

/// Whether `balance` is low: below zero, or lasting fewer than `low_balance_hours` hours at
/// `burn`. The one test of "low" for what customers are shown and for the low-balance notice.
pub fn is_low(balance: Money, burn: &BurnRate, low_balance_hours: i64) -> bool {
    balance.is_negative()
        || burn
            .hours_left(balance)
            .is_some_and(|hours| hours < low_balance_hours)
}

/// The burn rate of `user`'s servers that are not deleted.
pub async fn burn_rate_of(store: &dyn Store, user: UserId) -> Result<BurnRate> {
    Ok(BurnRate::of(&store.servers().server_rates(user).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(running: bool, rate_running: i64, rate_stopped: i64, hours: i64) -> ServerRate {
        ServerRate {
            running,
            rate_running,
            rate_stopped,
            rate_hours: hours,
        }
    }

    #[test]
    fn running_servers_burn_the_running_rate_and_others_the_stopped_rate() {
        let rate = BurnRate::of(&[
            server(true, 7_300_000, 730_000, 730),
            server(false, 7_300_000, 730_000, 730),
        ]);
        // 10_000 + 1_000 micros an hour.
        assert_eq!(rate.per_hour(), Money::from_micros(11_000));
        assert_eq!(rate.hours_left(Money::from_micros(110_000)), Some(10));
        assert_eq!(rate.hours_left(Money::from_micros(-5)), Some(0));
    }

    #[test]
    fn remainders_are_kept_until_shown() {
        // $2 a month: 2_000_000 / 730 = 2739.726... micros an hour.
        let rate = BurnRate::of(&[server(true, 2_000_000, 0, 730)]);
        assert_eq!(rate.per_hour(), Money::from_micros(2_740));
        // 2 USD lasts exactly 730 hours, not 729 as a rounded rate would say.
        assert_eq!(rate.hours_left(Money::from_micros(2_000_000)), Some(730));
    }

    #[test]
    fn nothing_running_means_no_hours_left_figure() {
        let rate = BurnRate::of(&[server(false, 5, 0, 1)]);
        assert_eq!(rate.per_hour(), Money::ZERO);
        assert_eq!(rate.hours_left(Money::from_micros(1)), None);
        assert!(!is_low(Money::ZERO, &rate, 10));
        assert!(is_low(Money::from_micros(-1), &rate, 10));
    }

    #[test]
    fn low_means_fewer_hours_left_than_the_line_at_the_exact_rate() {
        // $2 a month: 10 hours cost 27_397.26 micros, so 27_397 lasts 9 whole hours and
        // 27_398 lasts 10 (a rate rounded up to 2_740 would call both low).
        let rate = BurnRate::of(&[server(true, 2_000_000, 0, 730)]);
        assert!(is_low(Money::from_micros(27_397), &rate, 10));
        assert!(!is_low(Money::from_micros(27_398), &rate, 10));
        assert!(is_low(Money::ZERO, &rate, 10));
        assert!(!is_low(Money::from_micros(27_398), &rate, 0));
    }
}
