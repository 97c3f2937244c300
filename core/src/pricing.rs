//! Prices: what a server costs per hour, from `config/pricing.toml`.
//!
//! A price is kept as a fraction, never as a rounded hourly amount: a [`Quote`] says "this many
//! micro-units per `rate_hours` hours". A $2.00 monthly plan is 2,000,000 micro-units per 730
//! hours; hour `k` of it costs `floor((k+1)·rate/730) − floor(k·rate/730)` ([`hour_cost`]), so
//! every hour costs 2,739 or 2,740 micro-units and 730 hours cost exactly $2.00. Rounding each
//! hour instead would make a $2 plan cost $1.99 or $2.00 depending on direction, and a plan
//! priced at a whole cent per hour would cost $7.30 for a "$5" month.
//!
//! A server stores its quote when it is created or resized (`servers.rate_running`,
//! `rate_stopped`, `rate_hours`, `rate_since`), so editing this file never reprices running
//! servers.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::values::ConfigError;
use crate::error::{Error, Result};
use crate::money::Money;
use crate::providers::Resources;
/// The cost of hour `k` of a rate; the tick's SQL repeats it.
pub use crate::records::meter::hour_cost;

/// The pricing shipped with hostdeck, used when no pricing file exists.
pub const BUILT_IN: &str = include_str!("../../config/pricing.toml");
/// Where the pricing file is looked for when `billing.pricing` is not set.
pub const DEFAULT_PATH: &str = "config/pricing.toml";

/// What a server is asked for: a plan by name, or a custom size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Size {
    Plan(String),
    Custom(Resources),
}

/// How a plan is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanPrice {
    Monthly(Money),
    Hourly(Money),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub name: String,
    pub resources: Resources,
    pub price: PlanPrice,
}

/// Hourly rates per resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResourceRates {
    pub vcpu: Money,
    pub memory_gib: Money,
    pub disk_gib: Money,
}

/// The price snapshot a server carries: micro-units per `rate_hours` hours while running and
/// while stopped. Maps one to one to the `servers.rate_*` columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The plan's name, or `custom`.
    pub plan: String,
    pub resources: Resources,
    pub running: i64,
    pub stopped: i64,
    pub rate_hours: i64,
}

impl Quote {
    /// The cost of hour `k` since the rate started, running or stopped.
    pub fn hour_cost(&self, running: bool, k: i64) -> Money {
        let rate = if running { self.running } else { self.stopped };
        Money::from_micros(hour_cost(rate, self.rate_hours, k))
    }

    /// What creating the server charges up front: its first running hour.
    pub fn first_hour(&self) -> Money {
        self.hour_cost(true, 0)
    }

    /// What `hours` running hours cost from the rate's start (a month: `hours_per_month`).
    pub fn running_for(&self, hours: i64) -> Money {
        let total = i128::from(self.running) * i128::from(hours.max(0))
            / i128::from(self.rate_hours.max(1));
        Money::from_micros(i64::try_from(total).unwrap_or(i64::MAX))
    }

    /// The average hourly price as a decimal, for display ("0.006849").
    pub fn per_hour_text(&self) -> String {
        let per_hour = rust_decimal::Decimal::from(self.running)
            / rust_decimal::Decimal::from(self.rate_hours.max(1))
            / rust_decimal::Decimal::from(1_000_000);
        per_hour.round_dp(6).normalize().to_string()
    }
}

/// The loaded and validated pricing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    hours_per_month: i64,
    plans: Vec<Plan>,
    custom: Option<ResourceRates>,
    stopped_disk_gib: Money,
}

impl Default for Pricing {
    /// The built-in pricing (the shipped `config/pricing.toml`).
    fn default() -> Self {
        Self::parse(BUILT_IN, "the built-in pricing")
            .unwrap_or_else(|error| panic!("the built-in pricing is invalid: {error}"))
    }
}

impl Pricing {
    /// The pricing for a config: the file at `path` when given (it must exist), otherwise
    /// `config/pricing.toml` when present, otherwise the built-in pricing.
    pub fn for_path(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file: PathBuf = match path {
            Some(path) => path.to_owned(),
            None if Path::new(DEFAULT_PATH).is_file() => PathBuf::from(DEFAULT_PATH),
            None => return Ok(Self::default()),
        };
        Self::load(&file)
    }

    /// Reads and checks a pricing file; every problem names its line.
    fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            ConfigError(vec![format!(
                "billing.pricing: cannot read {}: {error}",
                path.display()
            )])
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks pricing text; `origin` names it in messages (a file path).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let file: File = toml::from_str(text).map_err(|error| {
            let at = error
                .span()
                .map(|span| format!(" line {}", line_of(text, span.start)))
                .unwrap_or_default();
            ConfigError(vec![format!(
                "{origin}{at}: {}",
                error.message().trim_end()
            )])
        })?;
        let mut problems = Vec::new();
        let mut problem = |span: std::ops::Range<usize>, message: String| {
            problems.push(format!(
                "{origin} line {}: {message}",
                line_of(text, span.start)
            ));
        };

        let hours_per_month = file
            .hours_per_month
            .as_ref()
            .map_or(730, |hours| *hours.get_ref());
        if let Some(hours) = &file.hours_per_month
            && !(672..=744).contains(hours.get_ref())
        {
            problem(
                hours.span(),
                format!(
                    "hours_per_month is {}; a month has 672 to 744 hours (730 on average)",
                    hours.get_ref()
                ),
            );
        }

        let plans = plans_of(&file.plans, &mut problem);

        let custom = match &file.custom {
            None => None,
            Some(rates) => {
                let rates = rates.get_ref();
                let parsed = [&rates.vcpu, &rates.memory_gib, &rates.disk_gib].map(|rate| {
                    not_negative(rate).map_err(|(span, message)| problem(span, message))
                });
                match parsed {
                    [Ok(vcpu), Ok(memory_gib), Ok(disk_gib)] => Some(ResourceRates {
                        vcpu,
                        memory_gib,
                        disk_gib,
                    }),
                    _ => None,
                }
            }
        };
        let stopped_disk_gib = match &file.stopped {
            None => Money::from_micros(0),
            Some(stopped) => {
                not_negative(&stopped.get_ref().disk_gib).unwrap_or_else(|(span, message)| {
                    problem(span, message);
                    Money::from_micros(0)
                })
            }
        };

        if file.plans.is_empty() {
            problems.push(format!(
                "{origin}: no [[plans]]; customers need at least one plan to choose"
            ));
        }
        if problems.is_empty() {
            Ok(Self {
                hours_per_month,
                plans,
                custom,
                stopped_disk_gib,
            })
        } else {
            Err(ConfigError(problems))
        }
    }

    pub fn hours_per_month(&self) -> i64 {
        self.hours_per_month
    }

    pub fn plans(&self) -> &[Plan] {
        &self.plans
    }

    pub fn plan(&self, name: &str) -> Option<&Plan> {
        self.plans.iter().find(|plan| plan.name == name)
    }

    /// The price of a size, as the snapshot a new server stores.
    pub fn quote(&self, size: &Size) -> Result<Quote> {
        match size {
            Size::Plan(name) => {
                // Names are taken as typed, give or take surrounding spaces, at every door.
                let name = name.trim();
                let plan = self.plan(name).ok_or_else(|| {
                    Error::invalid(
                        "plan",
                        format!(
                            "There is no plan called {name:?}. The plans are: {}.",
                            self.plans
                                .iter()
                                .map(|plan| plan.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?;
                let disk = i64::try_from(plan.resources.disk_gib).unwrap_or(i64::MAX);
                let stopped_hourly = self.stopped_disk_gib.micros().saturating_mul(disk);
                Ok(match plan.price {
                    PlanPrice::Monthly(price) => Quote {
                        plan: plan.name.clone(),
                        resources: plan.resources,
                        running: price.micros(),
                        stopped: stopped_hourly.saturating_mul(self.hours_per_month),
                        rate_hours: self.hours_per_month,
                    },
                    PlanPrice::Hourly(price) => Quote {
                        plan: plan.name.clone(),
                        resources: plan.resources,
                        running: price.micros(),
                        stopped: stopped_hourly,
                        rate_hours: 1,
                    },
                })
            }
            Size::Custom(resources) => {
                let rates = self.custom.ok_or_else(|| {
                    Error::invalid("plan", "Custom sizes are not offered; choose a plan.")
                })?;
                resources.check()?;
                // Memory is priced per GiB but sized in MiB: the rate is kept per 1,024 hours
                // so that 1,536 MiB costs exactly 1.5 times the GiB rate.
                const PER: i64 = 1024;
                let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                let running = rates
                    .vcpu
                    .micros()
                    .saturating_mul(i64::from(resources.vcpus))
                    .saturating_mul(PER)
                    .saturating_add(
                        rates
                            .memory_gib
                            .micros()
                            .saturating_mul(count(resources.memory_mib)),
                    )
                    .saturating_add(
                        rates
                            .disk_gib
                            .micros()
                            .saturating_mul(count(resources.disk_gib))
                            .saturating_mul(PER),
                    );
                let stopped = self
                    .stopped_disk_gib
                    .micros()
                    .saturating_mul(count(resources.disk_gib))
                    .saturating_mul(PER);
                Ok(Quote {
                    plan: "custom".into(),
                    resources: *resources,
                    running,
                    stopped,
                    rate_hours: PER,
                })
            }
        }
    }

    /// What a month (`hours_per_month` hours) of running at `quote` costs: the monthly price
    /// every door shows.
    pub fn monthly_price(&self, quote: &Quote) -> Money {
        quote.running_for(self.hours_per_month)
    }
}

/// The plans of a price list, each checked; a plan with a problem is reported through
/// `problem` and left out.
fn plans_of(
    entries: &[Spanned<PlanEntry>],
    problem: &mut impl FnMut(std::ops::Range<usize>, String),
) -> Vec<Plan> {
    let mut plans = Vec::new();
    for entry in entries {
        let span = entry.span();
        let entry = entry.get_ref();
        let name = entry.name.get_ref().trim().to_owned();
        let name_ok = !name.is_empty()
            && name.len() <= 32
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok || name == "custom" {
            problem(
                entry.name.span(),
                format!(
                    "plan name {name:?}: use 1 to 32 lower-case letters, digits or hyphens \
                     (and not \"custom\", which names custom sizes)"
                ),
            );
            continue;
        }
        if plans.iter().any(|plan: &Plan| plan.name == name) {
            problem(entry.name.span(), format!("plan {name:?} is defined twice"));
            continue;
        }
        let resources = Resources {
            vcpus: entry.vcpus,
            memory_mib: entry.memory_mib,
            disk_gib: entry.disk_gib,
        };
        if let Err(error) = resources.check() {
            problem(span.clone(), format!("plan {name:?}: {error}"));
            continue;
        }
        let price = match (&entry.monthly, &entry.hourly) {
            (Some(monthly), None) => positive(monthly).map(PlanPrice::Monthly),
            (None, Some(hourly)) => positive(hourly).map(PlanPrice::Hourly),
            (Some(_), Some(_)) => Err((
                span.clone(),
                "give either monthly or hourly, not both".to_owned(),
            )),
            (None, None) => Err((
                span.clone(),
                "give a price: monthly = \"5.00\" or hourly = \"0.007\"".to_owned(),
            )),
        };
        match price {
            Ok(price) => plans.push(Plan {
                name,
                resources,
                price,
            }),
            Err((span, message)) => problem(span, format!("plan {name:?}: {message}")),
        }
    }
    plans
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .unwrap_or(text)
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

type Problem = (std::ops::Range<usize>, String);

fn money(text: &Spanned<String>) -> Result<Money, Problem> {
    Money::parse(text.get_ref()).map_err(|error| (text.span(), error.to_string()))
}

fn positive(text: &Spanned<String>) -> Result<Money, Problem> {
    let amount = money(text)?;
    if amount.is_positive() {
        Ok(amount)
    } else {
        Err((
            text.span(),
            format!("the price {:?} must be above zero", text.get_ref()),
        ))
    }
}

fn not_negative(text: &Spanned<String>) -> Result<Money, Problem> {
    let amount = money(text)?;
    if amount.is_negative() {
        Err((
            text.span(),
            format!("the rate {:?} must not be negative", text.get_ref()),
        ))
    } else {
        Ok(amount)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    hours_per_month: Option<Spanned<i64>>,
    #[serde(default)]
    plans: Vec<Spanned<PlanEntry>>,
    custom: Option<Spanned<RatesEntry>>,
    stopped: Option<Spanned<StoppedEntry>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanEntry {
    name: Spanned<String>,
    vcpus: u32,
    memory_mib: u64,
    disk_gib: u64,
    monthly: Option<Spanned<String>>,
    hourly: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RatesEntry {
    vcpu: Spanned<String>,
    memory_gib: Spanned<String>,
    disk_gib: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoppedEntry {
    disk_gib: Spanned<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing() -> Pricing {
        Pricing::default()
    }

    #[test]
    fn a_month_of_hours_costs_exactly_the_monthly_price() {
        let pricing = pricing();
        for plan in ["nano", "small", "medium", "large"] {
            let quote = pricing.quote(&Size::Plan(plan.into())).expect("quote");
            let month: i64 = (0..730).map(|k| quote.hour_cost(true, k).micros()).sum();
            assert_eq!(Money::from_micros(month), quote.running_for(730), "{plan}");
            let PlanPrice::Monthly(price) = pricing.plan(plan).expect("plan").price else {
                panic!("{plan} is monthly");
            };
            assert_eq!(month, price.micros(), "{plan}");
        }
    }

    #[test]
    fn small_plans_are_not_free_and_no_hour_is_rounded_up() {
        let quote = pricing().quote(&Size::Plan("nano".into())).expect("quote");
        // $2.00 / 730 h = 2,739.726... micro-units an hour.
        for k in 0..730 {
            let cost = quote.hour_cost(true, k).micros();
            assert!(cost == 2_739 || cost == 2_740, "hour {k}: {cost}");
        }
        assert_eq!(quote.first_hour().micros(), 2_739);
        let small = pricing().quote(&Size::Plan("small".into())).expect("quote");
        assert_eq!(small.running_for(730), Money::from_units(5).expect("5"));
    }

    #[test]
    fn hourly_plans_and_stopped_servers() {
        let pricing = pricing();
        let burst = pricing.quote(&Size::Plan("burst".into())).expect("burst");
        assert_eq!(burst.rate_hours, 1);
        assert_eq!(burst.first_hour().micros(), 120_000);
        // 100 GiB of disk at 0.0002 an hour.
        assert_eq!(burst.hour_cost(false, 5).micros(), 20_000);
        let small = pricing.quote(&Size::Plan("small".into())).expect("small");
        // 25 GiB at 0.0002 = 0.005 an hour, kept per 730 hours.
        assert_eq!(small.hour_cost(false, 0).micros(), 5_000);
        assert_eq!(small.hour_cost(false, 729).micros(), 5_000);
    }

    #[test]
    fn custom_sizes_price_each_resource_exactly() {
        let quote = pricing()
            .quote(&Size::Custom(Resources {
                vcpus: 2,
                memory_mib: 1536,
                disk_gib: 30,
            }))
            .expect("custom");
        // 2 x 0.004 + 1.5 x 0.002 + 30 x 0.0002 = 0.017 an hour.
        assert_eq!(quote.first_hour().micros(), 17_000);
        assert_eq!(quote.per_hour_text(), "0.017");
        let error = pricing()
            .quote(&Size::Custom(Resources {
                vcpus: 0,
                memory_mib: 1024,
                disk_gib: 10,
            }))
            .expect_err("no cpu");
        assert!(error.to_string().contains("vCPU"), "{error}");
    }

    #[test]
    fn an_unknown_plan_names_the_real_ones() {
        let error = pricing()
            .quote(&Size::Plan("huge".into()))
            .expect_err("unknown");
        assert!(error.to_string().contains("small"), "{error}");
    }

    #[test]
    fn a_plan_name_is_taken_without_the_spaces_around_it() {
        let quote = pricing()
            .quote(&Size::Plan("  nano \t".into()))
            .expect("the nano plan");
        assert_eq!(quote.plan, "nano");
    }

    #[test]
    fn problems_name_their_line() {
        let text = "hours_per_month = 730\n\n[[plans]]\nname = \"a\"\nvcpus = 1\nmemory_mib = 512\ndisk_gib = 10\nmonthly = \"1\"\n\n[[plans]]\nname = \"a\"\nvcpus = 1\nmemory_mib = 512\ndisk_gib = 10\nhourly = \"0.01\"\n\n[[plans]]\nname = \"b\"\nvcpus = 1\nmemory_mib = 512\ndisk_gib = 10\nmonthly = \"-1\"\n";
        let error = Pricing::parse(text, "pricing.toml").expect_err("invalid");
        let lines = error.0.join("\n");
        assert!(
            lines.contains("pricing.toml line 22: plan \"b\": the price"),
            "{lines}"
        );
        assert!(
            lines.contains("pricing.toml line 11: plan \"a\" is defined twice"),
            "{lines}"
        );

        let error =
            Pricing::parse("hours_per_month = 730\nplans = 3\n", "p.toml").expect_err("wrong type");
        assert!(error.0[0].starts_with("p.toml line 2:"), "{error:?}");
        let error = Pricing::parse("[[plans]]\nname = \"x\"\nvcpus = 1\nmemory_mib = 512\ndisk_gib = 1\nmonthly = \"1\"\nextra = 1\n", "p.toml")
            .expect_err("unknown key");
        assert!(error.0[0].contains("extra"), "{error:?}");
        let error = Pricing::parse("hours_per_month = 100\n[[plans]]\nname = \"x\"\nvcpus = 1\nmemory_mib = 512\ndisk_gib = 1\nhourly = \"1\"\nmonthly = \"1\"\n", "p.toml")
            .expect_err("two problems");
        assert_eq!(error.0.len(), 2, "{error:?}");
        assert!(
            error.0[0].starts_with("p.toml line 1: hours_per_month"),
            "{error:?}"
        );
    }

    #[test]
    fn hour_cost_never_loses_a_micro_unit() {
        for (rate, hours) in [
            (2_000_000, 730),
            (1, 730),
            (7, 3),
            (5_000_001, 1024),
            (99, 1),
        ] {
            let total: i64 = (0..hours * 3).map(|k| hour_cost(rate, hours, k)).sum();
            assert_eq!(total, rate * 3, "{rate}/{hours}");
        }
    }
}
