//! Hourly prepaid billing: the tick that meters servers, free credit, and what happens as a
//! balance runs low, goes below zero and comes back.
//!
//! **Which hours are billed.** Hours are whole UTC hours. A server's `billed_until` is the start
//! of its first hour not billed yet (creation charges the first hour up front and sets it to
//! the next hour). A tick at `now` bills, for every billable server, every complete hour from
//! `billed_until` up to the start of the current hour, each with the ledger key
//! `usage:{server}:{hour}` ([`meter::usage_key`]), and moves `billed_until` to the current
//! hour. Catch-up is bounded: hours more than `billing.max_catchup_hours` before the current
//! hour are not billed (the tick reports how many it skipped). A clock moved back bills nothing
//! until it passes `billed_until` again, so there is neither a gap nor a duplicate.
//!
//! **What an hour costs.** Hour `k` counted from the hour of `rate_since` costs
//! `floor((k+1)·rate/rate_hours) − floor(k·rate/rate_hours)` ([`meter::hour_cost`]), where the
//! rate is the running rate if the server was running at any moment of that hour, else the
//! stopped rate. "Running" is read from `server_events`: the state at the start of the hour
//! (the last event before it) or any `running` event inside it; a server with no event since
//! `billed_until` is taken to have been in its current state throughout. A suspended server
//! pays the stopped rate from the first hour that starts after `suspended_at`. Not billed:
//! servers in `creating` or `failed`, hours before the hour of `created_at`, and hours after
//! the hour of `deleted_at` (the hour it was deleted in is billed). Zero-cost hours post
//! nothing. [`meter::ServerHistory::charges`] is the same rule in Rust, and the tests hold the
//! SQL to it.
//!
//! **Resizes.** A resize changes a server's rate in one transaction that holds the tick's lock
//! and the server row (`BillingStore::change_rate`): the complete hours not billed yet are
//! billed at the old rate by the tick's own metering SQL; the UTC hour of the resize costs the
//! larger of the two rates. If the new rate is larger it starts at that hour (`rate_since` = its
//! start, left for the tick; if the hour was paid already, at creation or by an earlier
//! resize, the difference is posted now under `usage:{server}:{hour}+N`). Otherwise the hour is
//! billed now at the old rate under its usage key, `billed_until` moves past it, and the new
//! rate starts with the next hour (running or stopped as known at the resize: the tick's rule
//! applied to the hour so far). A resize and a tick batch never overlap, so no hour is billed
//! twice or skipped.
//!
//! **Exactly once.** Set-based SQL in bounded batches, each one transaction that moves its
//! servers' `billed_until` and posts their hours together (see `store/sql/billing/`): two
//! replicas ticking at once run their batches one after the other under the tick's lock, each
//! seeing what the other committed; a server changed outside that lock while a batch ran (a
//! create finishing) makes that batch start again; a tick that dies loses only its open batch; and the UNIQUE
//! idempotency key is the backstop. Wallet balances and each posting's balance-after
//! stay exact, so [`crate::ledger::Ledger::discrepancies`] stays empty.
//!
//! **Credit.** `billing.signup_credit` once when a customer verifies their email (key
//! `signup:{user}`), `billing.monthly_free_credit` once per verified customer per UTC month
//! (key `free:{user}:{YYYY-MM}`), both from the promotions account.
//!
//! **Balance rules** (each step taken once per crossing, audited, and told to the customer by
//! email, and by Discord DM when their account is linked): a notice when the balance falls under `billing.low_balance_hours` of the current
//! burn; below zero a warning at once and a reminder half-way through `billing.grace_hours`;
//! after the grace period the servers are suspended through their provider; a balance back at
//! zero or more unsuspends them.
//!
//! Not here: prices (`pricing`), charging the first hour at create and talking to providers
//! (`servers`), top-ups (`payments`).

pub mod config;
pub mod meter;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{Audit, AuditEntry};
use crate::burn_rate::{burn_rate_of, is_low};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ledger::{
    Attached, Overdraft, PostOutcome, PostingKind, PostingRequest, SystemAccount,
    require_billing_reader,
};
use crate::money::Money;
use crate::notify::{DISCORD_DM, DiscordMessage, EMAIL, EmailMessage};
use crate::policy::{Actor, Permission, Via};
use crate::records::users::User;
use crate::store::billing::{BalanceStep, BalanceWatch, TickPlan, TickTotals};
use crate::store::{NewOutboxMessage, Store};

/// How a run of the tick is cut into transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickLimits {
    /// Servers claimed per transaction.
    pub batch_servers: i64,
    /// Postings written per transaction, at most (a server's hours are never split).
    pub batch_rows: i64,
    /// Stop after this many transactions (`None`: until nothing is due).
    pub max_batches: Option<u64>,
}

impl Default for TickLimits {
    fn default() -> Self {
        Self {
            batch_servers: 5_000,
            batch_rows: 50_000,
            max_batches: None,
        }
    }
}

/// Suspends and unsuspends a customer's servers for an unpaid balance, through their
/// providers. The server service does it; tests may record the calls instead.
#[async_trait::async_trait]
pub trait BillingSuspension: Send + Sync {
    /// Suspends every server of `user`; returns how many were suspended now.
    async fn suspend_all_for_billing(&self, user: UserId) -> Result<usize>;
    /// Lifts the suspensions billing made; returns how many were lifted.
    async fn unsuspend_billing(&self, user: UserId) -> Result<usize>;
}

/// One balance step taken for a customer during a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTaken {
    pub user: UserId,
    pub step: &'static str,
    pub balance: Money,
}

/// What one run of the billing job did: hours billed, credit given, balance steps taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickReport {
    pub now: DateTime<Utc>,
    /// Every hour before this one is billed.
    pub billed_through: DateTime<Utc>,
    pub usage: TickTotals,
    /// Customers given this month's free credit by this run.
    pub monthly_credits: u64,
    pub steps: Vec<StepTaken>,
}

impl TickReport {
    /// A few lines for people (`hostdeck billing tick` prints them).
    pub fn describe(&self, currency: &crate::money::Currency) -> String {
        // A server's hours are counted only when they cost something (a free hour posts
        // nothing), while every server brought up to date counts, billed or not.
        let mut lines = vec![format!(
            "Billed {} server hour(s), {} in all, through {}; {} server(s) brought up to date in {} batch(es).",
            self.usage.postings,
            self.usage.amount.display(currency),
            self.billed_through.format("%Y-%m-%d %H:%M UTC"),
            self.usage.servers,
            self.usage.batches
        )];
        if self.usage.skipped_hours > 0 {
            lines.push(format!(
                "Left {} hour(s) older than billing.max_catchup_hours unbilled.",
                self.usage.skipped_hours
            ));
        }
        if self.monthly_credits > 0 {
            lines.push(format!(
                "Gave this month's free credit to {} customer(s).",
                self.monthly_credits
            ));
        }
        for step in &self.steps {
            lines.push(format!(
                "User {}: {} (balance {}).",
                step.user,
                step.step,
                step.balance.display(currency)
            ));
        }
        lines.join("\n")
    }
}

/// Where a customer stands with the balance rules, for the customer and billing staff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Standing {
    pub balance: Money,
    /// What the customer's servers cost an hour now, rounded up to a micro-unit for showing.
    pub burn_per_hour: Money,
    /// Whole hours the balance lasts at that pace; `None` when nothing is billed.
    pub hours_left: Option<i64>,
    pub low_balance: bool,
    pub negative_since: Option<DateTime<Utc>>,
    /// When the servers are (or were) suspended for the unpaid balance.
    pub suspend_at: Option<DateTime<Utc>>,
    pub suspended: bool,
}

/// The customer a step is taken for, their burn per hour as shown, and when.
#[derive(Clone, Copy)]
struct Step<'a> {
    watch: &'a BalanceWatch,
    burn: Money,
    now: DateTime<Utc>,
}

/// The setting that holds when [`Billing::run_once`] last finished (RFC 3339).
pub const LAST_RUN_SETTING: &str = "billing.last_run_at";

/// The billing service.
#[derive(Clone)]
pub struct Billing {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    config: Arc<Config>,
    /// What suspends and unsuspends servers for the balance rules (the server service).
    suspension: Arc<dyn BillingSuspension>,
}

impl Billing {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        config: Arc<Config>,
        suspension: Arc<dyn BillingSuspension>,
    ) -> Self {
        Self {
            store,
            clock,
            audit,
            config,
            suspension,
        }
    }

    /// The same service with servers suspended through `suspension` instead.
    pub fn with_suspension(&self, suspension: Arc<dyn BillingSuspension>) -> Self {
        Self {
            suspension,
            ..self.clone()
        }
    }

    /// The whole job, as `serve` runs it every `billing.tick_interval` and `hostdeck billing
    /// tick` runs it once: bill the hours that ended, give the monthly credit, then walk the
    /// balance rules. `now` defaults to the clock.
    pub async fn run_once(&self, actor: &Actor, now: Option<DateTime<Utc>>) -> Result<TickReport> {
        actor.require(Permission::PostLedger)?;
        let now = now.unwrap_or_else(|| self.clock.now());
        let usage = self.bill_hours(now, TickLimits::default()).await?;
        let monthly_credits = self.give_monthly_credit(now).await?;
        let steps = self.apply_balance_rules(now).await?;
        // When billing last ran to the end: the status report's billing check reads it.
        let finished = self.clock.now();
        self.store
            .settings()
            .put_setting(LAST_RUN_SETTING, &finished.to_rfc3339(), finished)
            .await?;
        Ok(TickReport {
            now,
            billed_through: meter::hour_of(now),
            usage,
            monthly_credits,
            steps,
        })
    }

    /// Bills every complete hour before `now` not billed yet, in transactions cut by `limits`.
    pub async fn bill_hours(&self, now: DateTime<Utc>, limits: TickLimits) -> Result<TickTotals> {
        let plan = TickPlan {
            now_hour: meter::hour_of(now),
            max_catchup_hours: i64::from(self.config.billing.max_catchup_hours),
            usage_account: self.store.ledger().system_account(SystemAccount::Usage),
            at: now,
            batch_servers: limits.batch_servers,
            batch_rows: limits.batch_rows,
            max_batches: limits.max_batches,
        };
        let totals = self.store.billing().bill_hours(&plan).await?;
        if totals.postings > 0 || totals.skipped_hours > 0 {
            tracing::info!(
                servers = totals.servers,
                postings = totals.postings,
                amount = %totals.amount.amount_text(),
                skipped_hours = totals.skipped_hours,
                "billed the hours that ended"
            );
            self.audit
                .record(AuditEntry::new(&Actor::system(), "billing.tick").detail(
                    serde_json::json!({
                        "billed_through": plan.now_hour,
                        "servers": totals.servers,
                        "postings": totals.postings,
                        "amount_micros": totals.amount.micros(),
                        "skipped_hours": totals.skipped_hours,
                    }),
                ))
                .await?;
        }
        Ok(totals)
    }

    /// This month's free credit for every verified customer who has not had it.
    pub async fn give_monthly_credit(&self, now: DateTime<Utc>) -> Result<u64> {
        let amount = self.config.billing.monthly_free_credit;
        if !amount.is_positive() {
            return Ok(0);
        }
        let month = now.format("%Y-%m").to_string();
        let given = self
            .store
            .billing()
            .grant_credit_to_all(
                self.store
                    .ledger()
                    .system_account(SystemAccount::Promotions),
                amount,
                PostingKind::FreeCredit,
                "free:",
                &format!(":{month}"),
                now,
            )
            .await?;
        if given > 0 {
            self.audit
                .record(
                    AuditEntry::new(&Actor::system(), "billing.monthly_credit").detail(
                        serde_json::json!({
                            "month": month,
                            "customers": given,
                            "amount_micros": amount.micros(),
                        }),
                    ),
                )
                .await?;
        }
        Ok(given)
    }

    /// Where `owner` stands: balance, burn, and the suspension clock if below zero.
    pub async fn standing(&self, actor: &Actor, owner: &User) -> Result<Standing> {
        require_billing_reader(actor, owner)?;
        let burn = burn_rate_of(self.store.as_ref(), owner.id).await?;
        let state = self.store.billing().billing_state_of(owner.id).await?;
        let balance = self.store.ledger().account_balance(owner.wallet).await?;
        let negative_since = state.negative_since;
        let suspended_at = state.suspended_at;
        Ok(Standing {
            balance,
            burn_per_hour: burn.per_hour(),
            hours_left: burn.hours_left(balance),
            low_balance: is_low(balance, &burn, self.low_balance_hours()),
            negative_since,
            suspend_at: suspended_at.or(negative_since.map(|since| since + self.grace())),
            suspended: suspended_at.is_some(),
        })
    }

    fn low_balance_hours(&self) -> i64 {
        i64::from(self.config.billing.low_balance_hours)
    }

    fn grace(&self) -> Duration {
        Duration::hours(i64::from(self.config.billing.grace_hours))
    }

    /// Walks every customer near or below zero through the balance rules.
    pub async fn apply_balance_rules(&self, now: DateTime<Utc>) -> Result<Vec<StepTaken>> {
        let mut steps = Vec::new();
        for watch in self
            .store
            .billing()
            .balances_to_watch(self.low_balance_hours())
            .await?
        {
            if let Err(error) = self.apply_rules_to(&watch, now, &mut steps).await {
                // One customer's provider trouble must not hold up everybody else's steps.
                tracing::warn!(user = %watch.user, %error, "a balance step failed; it is tried again next tick");
            }
        }
        Ok(steps)
    }

    async fn apply_rules_to(
        &self,
        watch: &BalanceWatch,
        now: DateTime<Utc>,
        steps: &mut Vec<StepTaken>,
    ) -> Result<()> {
        let currency = &self.config.billing.currency;
        let balance = watch.balance;
        let shown = balance.display(currency);
        let burn = burn_rate_of(self.store.as_ref(), watch.user).await?;
        let taking = Step {
            watch,
            burn: burn.per_hour(),
            now,
        };
        if !balance.is_negative() {
            if watch.negative_since.is_some() || watch.suspended_at.is_some() {
                let lifted = match watch.suspended_at {
                    Some(_) => self.suspension.unsuspend_billing(watch.user).await?,
                    None => 0,
                };
                let text = if watch.suspended_at.is_some() {
                    format!(
                        "Thank you: your balance is {shown} again, and your servers are no longer suspended ({lifted} resumed)."
                    )
                } else {
                    format!("Thank you: your balance is {shown} again. Nothing will be suspended.")
                };
                self.step(
                    &taking,
                    BalanceStep::Recovered,
                    "recovered",
                    "Your balance is back above zero",
                    &text,
                    steps,
                )
                .await?;
            }
            if is_low(balance, &burn, self.low_balance_hours()) {
                if watch.low_notice_at.is_none() {
                    let text = format!(
                        "Your balance is {shown}. Your servers use about {} an hour, so this lasts about {} more hour(s). \
                         Top up to keep them running.",
                        burn.per_hour().display_exact(currency),
                        burn.hours_left(balance).unwrap_or(0)
                    );
                    self.step(
                        &taking,
                        BalanceStep::LowNotice,
                        "low balance notice",
                        "Your balance is running low",
                        &text,
                        steps,
                    )
                    .await?;
                }
            } else if watch.low_notice_at.is_some() && watch.negative_since.is_none() {
                self.quiet_step(watch, BalanceStep::LowRearmed, now).await?;
            }
            return Ok(());
        }
        let grace = self.grace();
        match watch.negative_since {
            None => {
                let text = format!(
                    "Your balance is {shown}, below zero. Top up within {} hour(s) (by {}) or your servers will be suspended.",
                    self.config.billing.grace_hours,
                    (now + grace).format("%Y-%m-%d %H:%M UTC")
                );
                self.step(
                    &taking,
                    BalanceStep::WentNegative,
                    "below zero warning",
                    "Your balance is below zero",
                    &text,
                    steps,
                )
                .await
            }
            Some(since) if watch.suspended_at.is_none() && now >= since + grace => {
                let suspended = self.suspension.suspend_all_for_billing(watch.user).await?;
                let text = format!(
                    "Your balance has been below zero since {}; it is {shown}. Your servers are suspended ({suspended}). \
                     A top-up that brings the balance to zero or more resumes them.",
                    since.format("%Y-%m-%d %H:%M UTC")
                );
                self.step(
                    &taking,
                    BalanceStep::Suspended,
                    "servers suspended",
                    "Your servers are suspended",
                    &text,
                    steps,
                )
                .await
            }
            Some(since)
                if watch.suspended_at.is_none()
                    && watch.reminder_at.is_none()
                    && now >= since + grace / 2 =>
            {
                let text = format!(
                    "Reminder: your balance is {shown}, below zero. Your servers will be suspended at {} unless you top up.",
                    (since + grace).format("%Y-%m-%d %H:%M UTC")
                );
                self.step(
                    &taking,
                    BalanceStep::Reminder,
                    "below zero reminder",
                    "Your servers will be suspended soon",
                    &text,
                    steps,
                )
                .await
            }
            Some(_) => Ok(()),
        }
    }

    /// Takes a step with a notice to the customer, audited; nothing if another run took it.
    async fn step(
        &self,
        taking: &Step<'_>,
        step: BalanceStep,
        name: &'static str,
        subject: &str,
        text: &str,
        steps: &mut Vec<StepTaken>,
    ) -> Result<()> {
        let Step { watch, burn, now } = *taking;
        let email = EmailMessage {
            subject: format!("{}: {subject}", self.config.company.name),
            text: text.to_owned(),
        };
        let mut notices = vec![NewOutboxMessage {
            channel: EMAIL.into(),
            recipient: watch.email.clone(),
            payload: serde_json::to_value(&email)
                .map_err(|error| Error::internal("writing a billing notice", error))?,
        }];
        if let Some(link) = self.store.discord().link_of_account(watch.user).await? {
            let dm = DiscordMessage {
                content: format!("**{subject}**\n{text}"),
            };
            notices.push(NewOutboxMessage {
                channel: DISCORD_DM.into(),
                recipient: link.discord_user_id.to_string(),
                payload: serde_json::to_value(&dm)
                    .map_err(|error| Error::internal("writing a billing notice", error))?,
            });
        }
        // The step, its notices and its audit entry are one transaction: a step is never
        // taken without its record.
        let entry = AuditEntry::new(
            &Actor::system(),
            format!("billing.{}", name.replace(' ', "_")),
        )
        .target(format!("user:{}", watch.user))
        .detail(serde_json::json!({
            "balance_micros": watch.balance.micros(),
            "burn_per_hour_micros": burn.micros(),
        }));
        if self
            .store
            .billing()
            .take_balance_step(watch.user, step, now, &notices, Some(&entry))
            .await?
        {
            steps.push(StepTaken {
                user: watch.user,
                step: name,
                balance: watch.balance,
            });
        }
        Ok(())
    }

    async fn quiet_step(
        &self,
        watch: &BalanceWatch,
        step: BalanceStep,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.store
            .billing()
            .take_balance_step(watch.user, step, now, &[], None)
            .await
            .map(|_| ())
    }
}

/// The sign-up credit for `user`, once (`signup:{user}`), from the promotions account. Only
/// customers get it; `None` for staff and when none is configured.
pub async fn grant_signup_credit(
    store: &dyn Store,
    config: &Config,
    user: &User,
    at: DateTime<Utc>,
) -> Result<Option<PostOutcome>> {
    let amount = config.billing.signup_credit;
    if user.role != crate::Role::Customer || !amount.is_positive() {
        return Ok(None);
    }
    let request = PostingRequest {
        debit: store.ledger().system_account(SystemAccount::Promotions),
        credit: user.wallet,
        amount,
        kind: PostingKind::SignupCredit,
        key: format!("signup:{}", user.id),
        reference: None,
        memo: None,
        actor_user: None,
        actor_via: Via::System,
        overdraft: Overdraft::Allow,
    };
    // The audit entry commits with the credit (and gains its id as `posting`).
    let audit = AuditEntry::new(&Actor::system(), "billing.signup_credit")
        .target(format!("user:{}", user.id))
        .detail(serde_json::json!({ "amount_micros": amount.micros() }));
    let posted = store
        .ledger()
        .post_with(&request, at, &Attached::nothing().audit(audit))
        .await?;
    Ok(Some(posted.outcome))
}
