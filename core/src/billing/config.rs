//! `[billing]`: the tick, credits and thresholds of the prepaid balance.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::values::amount;

use crate::money::{Currency, Money};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The platform's one currency (ISO 4217).
    pub currency: Currency,
    /// How often `serve` bills the hours that ended (and checks balances).
    #[serde(with = "humantime_serde")]
    pub tick_interval: Duration,
    /// After downtime, bill at most this many past hours; older ones are never billed.
    pub max_catchup_hours: u32,
    /// Credit given once when a customer verifies their email.
    #[serde(with = "amount")]
    pub signup_credit: Money,
    /// Credit given to every verified customer once a calendar month (UTC).
    #[serde(with = "amount")]
    pub monthly_free_credit: Money,
    /// A notice goes out when the balance falls under this many hours of current use.
    pub low_balance_hours: u32,
    /// Hours below zero before the customer's servers are suspended.
    pub grace_hours: u32,
    /// The pricing file; unset means config/pricing.toml if present, else the built-in prices.
    pub pricing: Option<PathBuf>,
}

impl BillingConfig {
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        // A zero interval would panic the ticker task (and with it all billing) at start.
        if self.tick_interval < Duration::from_secs(1) {
            problems.push("billing.tick_interval: expected at least 1s".to_owned());
        }
        if self.max_catchup_hours == 0 {
            problems.push("billing.max_catchup_hours: expected at least 1".to_owned());
        }
        let most = crate::ledger::MAX_POSTING;
        for (key, amount) in [
            ("signup_credit", self.signup_credit),
            ("monthly_free_credit", self.monthly_free_credit),
        ] {
            if amount > most {
                problems.push(format!(
                    "billing.{key}: expected at most {} (the largest single posting)",
                    most.amount_text()
                ));
            }
        }
        problems
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self {
            currency: Currency::default(),
            tick_interval: Duration::from_secs(60),
            max_catchup_hours: 744,
            signup_credit: Money::ZERO,
            monthly_free_credit: Money::ZERO,
            low_balance_hours: 24,
            grace_hours: 72,
            pricing: None,
        }
    }
}
