//! The rows hourly billing reads and writes: the set-based tick over `servers`, the monthly
//! free credit, and each customer's place in the low-balance / below-zero / suspended steps
//! (`billing_states`). Kept as a trait of its own, a supertrait of [`Store`](super::Store), so
//! billing's SQL lives beside its rules. The rules themselves are in [`crate::billing`].

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{AccountId, ServerId, UserId};
use crate::money::Money;
use crate::records::ledger::PostingKind;
use crate::records::providers::Resources;
use crate::store::NewOutboxMessage;

/// How one run of the tick is cut up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TickPlan {
    /// The start of the current UTC hour: every hour before it is complete and billable.
    pub now_hour: DateTime<Utc>,
    /// Hours further back than this are not billed any more (see `billing.max_catchup_hours`).
    pub max_catchup_hours: i64,
    /// The revenue account usage is credited to.
    pub usage_account: AccountId,
    /// The time written on the postings.
    pub at: DateTime<Utc>,
    /// Servers claimed per transaction, at most.
    pub batch_servers: i64,
    /// Hour-rows (postings) per transaction, at most (a server is never split).
    pub batch_rows: i64,
    /// Stop after this many batches (tests stop a tick half-way with it).
    pub max_batches: Option<u64>,
}

/// What one run of the tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickTotals {
    /// Servers whose `billed_until` moved.
    pub servers: u64,
    /// Usage postings written.
    pub postings: u64,
    /// What they add up to.
    pub amount: Money,
    /// Hours older than the catch-up limit that were left unbilled.
    pub skipped_hours: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// A customer whose balance may need a look: possibly below the low-balance line, below zero,
/// or with a step taken earlier that may need undoing. Whether the balance is low is decided
/// in Rust ([`crate::burn_rate::is_low`]); the store only picks candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceWatch {
    pub user: UserId,
    pub email: String,
    pub balance: Money,
    pub low_notice_at: Option<DateTime<Utc>>,
    pub negative_since: Option<DateTime<Utc>>,
    pub reminder_at: Option<DateTime<Utc>>,
    pub suspended_at: Option<DateTime<Utc>>,
}

/// The below-zero steps a customer is in (none when they have no `billing_states` row).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BillingState {
    pub negative_since: Option<DateTime<Utc>>,
    pub suspended_at: Option<DateTime<Utc>>,
}

/// One step of the balance rules. Each is taken once: the store sets its column only if it
/// is not set yet (or, for the clearing steps, only if it is), and says whether it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BalanceStep {
    /// The balance fell under the low-balance line: notice sent.
    LowNotice,
    /// The balance is back over the line: the next crossing gets a notice again.
    LowRearmed,
    /// The balance went below zero at this time.
    WentNegative,
    /// The reminder half-way through the grace period.
    Reminder,
    /// The servers were suspended.
    Suspended,
    /// The balance is zero or more again: every step is cleared.
    Recovered,
}

/// A server's new size and price at a resize, and what billing needs to bill the switch (the
/// rule is in [`crate::billing`], "Resizes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateChange {
    pub server: ServerId,
    /// The plan's name, or `custom`.
    pub plan: String,
    pub resources: Resources,
    pub rate_running: i64,
    pub rate_stopped: i64,
    pub rate_hours: i64,
    /// Whether the new rate is larger than the old: then the current hour costs the new rate
    /// (billed by the tick later, or topped up now if it was billed already); otherwise it is
    /// billed now at the old rate and the new one starts with the next hour.
    pub larger: bool,
    /// When the resize happened: its UTC hour is "the current hour", and the postings carry it.
    pub at: DateTime<Utc>,
    pub max_catchup_hours: i64,
    /// The revenue account usage is credited to.
    pub usage_account: AccountId,
}

/// What a resize billed while it switched the rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateChanged {
    pub postings: u64,
    pub amount: Money,
}

#[async_trait::async_trait]
pub trait BillingStore: Send + Sync {
    /// Records a resize in one transaction: bills the server's unbilled hours at its old rate
    /// (the tick's own metering, the current hour too when the new rate is not larger), tops
    /// up a current hour billed already when the new rate is larger, then stores the new size
    /// and rate. Takes the tick's lock, so it waits for a running tick batch and the next batch
    /// waits for it.
    async fn change_rate(&self, change: &RateChange) -> Result<RateChanged>;

    /// Bills every complete hour not yet billed of every billable server, in batches, each its
    /// own transaction (see [`crate::billing`] for the rules).
    async fn bill_hours(&self, plan: &TickPlan) -> Result<TickTotals>;

    /// Credits `amount` from `from` to the wallet of every verified, active customer who has no
    /// posting with key `{key_prefix}{user}{key_suffix}` yet; returns how many were credited.
    async fn grant_credit_to_all(
        &self,
        from: AccountId,
        amount: Money,
        kind: PostingKind,
        key_prefix: &str,
        key_suffix: &str,
        at: DateTime<Utc>,
    ) -> Result<u64>;

    /// Customers who may be under `low_balance_hours` of their burn (an upper bound: each
    /// server's hourly price is rounded up, so nobody low is missed), below zero, or with a
    /// step to undo.
    async fn balances_to_watch(&self, low_balance_hours: i64) -> Result<Vec<BalanceWatch>>;

    /// One customer's below-zero steps.
    async fn billing_state_of(&self, user: UserId) -> Result<BillingState>;

    /// Takes `step` for `user` if it was not taken yet, writing `notices` to the outbox and
    /// `audit` to the audit log in the same transaction. `false` if another run took it first
    /// (nothing is written then).
    async fn take_balance_step(
        &self,
        user: UserId,
        step: BalanceStep,
        at: DateTime<Utc>,
        notices: &[NewOutboxMessage],
        audit: Option<&crate::records::audit::AuditEntry>,
    ) -> Result<bool>;
}
