//! Prepaid credit as a double-entry ledger.
//!
//! Every movement of money is one append-only [`Posting`] from a debit account to a credit
//! account. Each user has a wallet account whose stored balance is updated in the same
//! transaction as the posting; the system accounts (PayPal, usage revenue, promotions,
//! adjustments) keep no stored balance, so there is no hot row every posting must lock.
//!
//! Invariants (tested on both engines): a wallet's balance equals its credits minus its debits;
//! an idempotency key posts at most once; the same key again with the same accounts and amount
//! returns the first posting; with anything different it is a `conflict`, never a second posting.
//!
//! What belongs to a posting is written in its transaction ([`Attached`], through
//! [`Store::post_with`]): its audit entry and, for PayPal, its webhook event's outcome, its
//! order's status and the wake-up of refunds waiting for it. A crash leaves either all of them
//! or none, never money moved without its audit entry; a retry of the same key then finds the
//! first posting and writes nothing again. [`Store::post`] is the same with nothing attached.
//!
//! What does not live here: why money moves (billing, payments, staff adjustments each build
//! their own requests and keys) and who may see it (the services check the actor first).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::audit::AuditEntry;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::{AccountId, PostingId, UserId};
use crate::money::Money;
use crate::policy::{Actor, Permission, Via};
use crate::store::payments::{FinishedEvent, OrderStatus};
use crate::store::{Page, Paginated, Store};
use crate::users::User;

/// The largest single posting accepted: far above any real top-up, far below overflow.
pub const MAX_POSTING: Money = Money::from_micros(1_000_000_000 * crate::money::MICROS_PER_UNIT);

/// The most characters a credit adjustment's reason may have.
pub const MAX_REASON_CHARS: usize = 500;

/// The amount of a credit adjustment: not zero, and no larger than [`MAX_POSTING`] either way.
pub fn check_adjustment_amount(amount: Money) -> Result<()> {
    if amount == Money::ZERO {
        return Err(Error::invalid("amount", "the amount must not be zero"));
    }
    match amount.checked_abs() {
        Some(size) if size <= MAX_POSTING => Ok(()),
        _ => Err(Error::invalid("amount", "the amount is too large")),
    }
}

/// The reason of a credit adjustment, trimmed: 1 to [`MAX_REASON_CHARS`] characters.
pub fn check_adjustment_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(Error::invalid("reason", "say why the credit is adjusted"));
    }
    crate::text::note("reason", "the reason", reason, MAX_REASON_CHARS)?;
    Ok(reason)
}

/// Checks a credit adjustment as [`Ledger::adjust`] does before posting it; the trimmed reason.
pub fn check_adjustment(amount: Money, reason: &str) -> Result<&str> {
    check_adjustment_amount(amount)?;
    check_adjustment_reason(reason)
}

/// The platform's own accounts. They hold no stored balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SystemAccount {
    /// Money received through PayPal (top-ups in, refunds out).
    Paypal,
    /// Revenue from metered server usage.
    Usage,
    /// Free credit: sign-up and monthly credit.
    Promotions,
    /// Manual corrections by billing staff.
    Adjustments,
}

impl SystemAccount {
    pub const ALL: [SystemAccount; 4] = [
        Self::Paypal,
        Self::Usage,
        Self::Promotions,
        Self::Adjustments,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Self::Paypal => "paypal",
            Self::Usage => "usage",
            Self::Promotions => "promotions",
            Self::Adjustments => "adjustments",
        }
    }
}

/// Why money moved. Stored as text; shown on statements and used as a filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostingKind {
    TopUp,
    Usage,
    Refund,
    Reversal,
    Adjustment,
    SignupCredit,
    FreeCredit,
    Transfer,
    /// The first hour of a server (or a resize's top-up of its hour) given back because the
    /// provider never made it: key `usage-refund:` and the rest of the usage key it refunds.
    UsageRefund,
}

impl PostingKind {
    pub const ALL: [PostingKind; 9] = [
        Self::TopUp,
        Self::Usage,
        Self::Refund,
        Self::Reversal,
        Self::Adjustment,
        Self::SignupCredit,
        Self::FreeCredit,
        Self::Transfer,
        Self::UsageRefund,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::TopUp => "top_up",
            Self::Usage => "usage",
            Self::Refund => "refund",
            Self::Reversal => "reversal",
            Self::Adjustment => "adjustment",
            Self::SignupCredit => "signup_credit",
            Self::FreeCredit => "free_credit",
            Self::Transfer => "transfer",
            Self::UsageRefund => "usage_refund",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| Error::invalid("kind", format!("{text:?} is not a kind of transaction")))
    }
}

/// May the debit side go below zero? Usage may (the customer is warned, then suspended);
/// a staff debit or a transfer may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdraft {
    Forbid,
    Allow,
}

/// A request to move `amount` from `debit` to `credit`, exactly once per `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRequest {
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Money,
    pub kind: PostingKind,
    /// The idempotency key: `usage:{server}:{hour}`, `paypal:capture:{id}`, ...
    pub key: String,
    /// What the money is for, e.g. a server id or a PayPal capture id.
    pub reference: Option<String>,
    /// A person's reason (staff adjustments).
    pub memo: Option<String>,
    pub actor_user: Option<UserId>,
    pub actor_via: Via,
    pub overdraft: Overdraft,
}

impl PostingRequest {
    pub fn validate(&self) -> Result<()> {
        if !self.amount.is_positive() {
            return Err(Error::invalid(
                "amount",
                "the amount must be more than zero",
            ));
        }
        if self.amount > MAX_POSTING {
            return Err(Error::invalid("amount", "the amount is too large"));
        }
        if self.debit == self.credit {
            return Err(Error::invalid(
                "credit",
                "money cannot move from an account to itself",
            ));
        }
        if self.key.trim().is_empty() || self.key.len() > 200 {
            return Err(Error::invalid(
                "key",
                "an idempotency key has 1 to 200 characters",
            ));
        }
        Ok(())
    }

    /// Whether `posting` is what this request would have posted (same key, accounts, amount).
    pub fn matches(&self, posting: &Posting) -> bool {
        posting.key == self.key
            && posting.debit == self.debit
            && posting.credit == self.credit
            && posting.amount == self.amount
    }
}

/// One row of the ledger, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Posting {
    pub id: PostingId,
    pub debit: AccountId,
    pub credit: AccountId,
    pub amount: Money,
    pub kind: PostingKind,
    pub key: String,
    pub reference: Option<String>,
    pub memo: Option<String>,
    pub actor_user: Option<UserId>,
    pub actor_via: String,
    /// The debit wallet's balance right after this posting (`None` for a system account).
    pub debit_balance_after: Option<Money>,
    pub credit_balance_after: Option<Money>,
    pub created_at: DateTime<Utc>,
}

/// The result of a post: new, or the first posting of a key seen before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    Posted(Posting),
    Replayed(Posting),
}

impl PostOutcome {
    pub fn posting(&self) -> &Posting {
        match self {
            Self::Posted(posting) | Self::Replayed(posting) => posting,
        }
    }

    pub fn into_posting(self) -> Posting {
        match self {
            Self::Posted(posting) | Self::Replayed(posting) => posting,
        }
    }

    pub fn is_new(&self) -> bool {
        matches!(self, Self::Posted(_))
    }
}

/// Records that belong to a posting and are written in the posting's own transaction, only when
/// the posting is new: either the posting and all of these commit, or none of them does. On a
/// replay ([`PostOutcome::Replayed`]) or a refusal nothing attached is written; the caller
/// records what a replay means itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attached {
    /// The posting's audit entry. Its `detail`, when an object, gains `"posting": id`.
    pub audit: Option<AuditEntry>,
    /// The outcome of the stored webhook event that carried the posting.
    pub event: Option<FinishedEvent>,
    /// What became of a PayPal order: (order id, status, capture id). A capture id, once set,
    /// is kept.
    pub order: Option<(String, OrderStatus, String)>,
    /// Puts the events waiting for this capture back in the queue (refunds that came first).
    pub wake_waiting_for: Option<String>,
    /// A limit the posting must stay within, checked and counted in its own transaction, so
    /// that postings side by side cannot pass it together. A posting over it is refused
    /// ([`crate::Error::Conflict`]) and nothing of it is written.
    pub cap: Option<Cap>,
}

/// A limit on what PayPal's postings add up to ([`Attached::cap`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cap {
    /// The credit of capture `capture` of order `order`: the order's credits stay within its
    /// amount, whatever captures arrive for it. The capture is recorded with what it credited,
    /// the limit of its refunds.
    OrderCredit { order: String, capture: String },
    /// A refund or reversal of capture `capture`: its refunds stay within what it credited.
    CaptureRefund { capture: String },
}

impl Cap {
    /// What the limit is on (an order or a capture id): two postings of one group must not
    /// share it.
    pub fn target(&self) -> &str {
        match self {
            Self::OrderCredit { order, .. } => order,
            Self::CaptureRefund { capture } => capture,
        }
    }

    /// Why a posting over the limit was refused.
    pub fn refusal(&self) -> String {
        match self {
            Self::OrderCredit { order, capture } => format!(
                "PayPal order {order} was already credited its full amount; capture {capture} \
                 credits nothing more."
            ),
            Self::CaptureRefund { capture } => format!(
                "Refunds of PayPal capture {capture} would add up to more than it credited; \
                 nothing was debited."
            ),
        }
    }
}

impl Attached {
    /// Nothing attached: a plain posting.
    pub fn nothing() -> Self {
        Self::default()
    }

    pub fn audit(mut self, entry: AuditEntry) -> Self {
        self.audit = Some(entry);
        self
    }
}

/// What a post with [`Attached`] records did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub outcome: PostOutcome,
    /// Events [`Attached::wake_waiting_for`] put back in the queue (0 on a replay).
    pub woken: u64,
}

/// A posting as seen from one account: signed amount and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    pub id: PostingId,
    pub kind: PostingKind,
    /// Positive when money came in.
    pub amount: Money,
    pub balance_after: Option<Money>,
    pub reference: Option<String>,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The posting's idempotency key (for a usage line, `usage:{server}:{hour}`).
    pub key: String,
    /// For a usage line: the server and the hour billed, filled in by [`crate::statements`]
    /// (which reads the servers' names).
    pub usage: Option<UsageHour>,
}

/// The server hour a usage line charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageHour {
    pub server: crate::ids::ServerId,
    /// The server's name (`#id` when it cannot be read).
    pub name: String,
    /// The start of the UTC hour.
    pub hour: DateTime<Utc>,
}

impl UsageHour {
    /// `server web-1, 2026-12-07 10:00–11:00 UTC`, the name cut to `max_name` characters.
    pub fn describe(&self, max_name: usize) -> String {
        let name = if self.name.chars().count() > max_name {
            let mut cut: String = self.name.chars().take(max_name.saturating_sub(1)).collect();
            cut.push('…');
            cut
        } else {
            self.name.clone()
        };
        let end = self.hour + chrono::Duration::hours(1);
        format!(
            "server {name}, {}–{} UTC",
            self.hour.format("%Y-%m-%d %H:%M"),
            end.format("%H:%M")
        )
    }
}

impl StatementLine {
    /// What the line was for, for people: a usage line names the server and the hour.
    pub fn description(&self) -> Option<String> {
        self.usage.as_ref().map(|usage| usage.describe(usize::MAX))
    }

    pub fn for_account(posting: &Posting, account: AccountId) -> Self {
        let incoming = posting.credit == account;
        Self {
            key: posting.key.clone(),
            usage: None,
            id: posting.id,
            kind: posting.kind,
            amount: if incoming {
                posting.amount
            } else {
                Money::from_micros(-posting.amount.micros())
            },
            balance_after: if incoming {
                posting.credit_balance_after
            } else {
                posting.debit_balance_after
            },
            reference: posting.reference.clone(),
            memo: posting.memo.clone(),
            created_at: posting.created_at,
        }
    }
}

/// A wallet whose stored balance differs from its postings. There should never be one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub account: AccountId,
    pub stored: Money,
    pub from_postings: Money,
}

/// The ledger service: the one way money moves.
#[derive(Clone)]
pub struct Ledger {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Ledger {
    /// Audit entries of postings are written by the store, in the posting's transaction.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub fn system_account(&self, which: SystemAccount) -> AccountId {
        self.store.system_account(which)
    }

    /// Posts a raw entry. Only the platform does this directly; people move money through the
    /// services that know why (adjustments, top-ups, billing).
    pub async fn post(&self, actor: &Actor, request: PostingRequest) -> Result<PostOutcome> {
        actor.require(Permission::PostLedger)?;
        request.validate()?;
        self.store.post(&request, self.clock.now()).await
    }

    /// Posts a raw entry with the records that belong to it, all in one transaction (see
    /// [`Attached`]). Only the platform does this directly, as [`Self::post`].
    pub async fn post_with(
        &self,
        actor: &Actor,
        request: PostingRequest,
        attached: &Attached,
    ) -> Result<Posted> {
        actor.require(Permission::PostLedger)?;
        request.validate()?;
        self.store
            .post_with(&request, self.clock.now(), attached)
            .await
    }

    /// Several raw entries, each with the records that belong to it, as [`Self::post_with`]
    /// each, sharing one commit where the store can ([`Store::post_group`]). One answer per
    /// entry, in order; one entry's refusal or failure leaves the others be.
    pub async fn post_group(
        &self,
        actor: &Actor,
        items: Vec<(PostingRequest, Attached)>,
    ) -> Result<Vec<Result<Posted>>> {
        actor.require(Permission::PostLedger)?;
        Ok(self.store.post_group(&items, self.clock.now()).await)
    }

    /// A billing staff correction of a customer's credit, with a reason, once per `key`.
    /// A positive amount adds credit, a negative one takes it away (never below zero).
    pub async fn adjust(
        &self,
        actor: &Actor,
        customer: &User,
        amount: Money,
        reason: &str,
        key: &str,
    ) -> Result<PostOutcome> {
        actor.require(Permission::AdjustCredits)?;
        let reason = check_adjustment(amount, reason)?;
        // A key names one adjustment: the same key for another customer, amount or reason is
        // refused, not answered with the first adjustment.
        crate::idempotency::remember(
            self.store.as_ref(),
            "credits.adjust",
            key,
            &crate::idempotency::Fingerprint::of(&[
                &customer.id.to_string(),
                &amount.micros().to_string(),
                reason,
            ]),
            self.clock.now(),
        )
        .await?;
        let adjustments = self.store.system_account(SystemAccount::Adjustments);
        let (debit, credit) = if amount.is_positive() {
            (adjustments, customer.wallet)
        } else {
            (customer.wallet, adjustments)
        };
        let request = PostingRequest {
            debit,
            credit,
            amount: amount
                .checked_abs()
                .ok_or_else(|| Error::invalid("amount", "the amount is too large"))?,
            kind: PostingKind::Adjustment,
            key: format!("adjust:{key}"),
            reference: None,
            memo: Some(reason.to_owned()),
            actor_user: actor.user,
            actor_via: actor.via,
            overdraft: Overdraft::Forbid,
        };
        request.validate()?;
        // The audit entry commits with the posting (and gains its id as `posting`).
        let audit = AuditEntry::new(actor, "credits.adjust")
            .target(format!("user:{}", customer.id))
            .detail(serde_json::json!({
                "amount_micros": amount.micros(),
                "reason": reason,
            }));
        let posted = self
            .store
            .post_with(
                &request,
                self.clock.now(),
                &Attached::nothing().audit(audit),
            )
            .await?;
        Ok(posted.outcome)
    }

    /// A wallet's balance, for its owner or billing staff.
    pub async fn balance(&self, actor: &Actor, owner: &User) -> Result<Money> {
        require_own_or_any(
            actor,
            owner,
            Permission::ReadOwnBilling,
            Permission::ReadAnyBilling,
        )?;
        self.store.account_balance(owner.wallet).await
    }

    /// A wallet's postings, newest first, each with the balance after it.
    pub async fn statement(
        &self,
        actor: &Actor,
        owner: &User,
        page: Page,
    ) -> Result<Paginated<StatementLine>> {
        require_own_or_any(
            actor,
            owner,
            Permission::ReadOwnBilling,
            Permission::ReadAnyBilling,
        )?;
        self.store.statement(owner.wallet, page).await
    }

    /// Wallets whose stored balance disagrees with their postings (should be none).
    pub async fn discrepancies(&self, actor: &Actor) -> Result<Vec<Discrepancy>> {
        actor.require(Permission::ReadAnyBilling)?;
        self.store.ledger_discrepancies().await
    }
}

/// The owner may use `own`; anybody else needs `any`.
pub(crate) fn require_own_or_any(
    actor: &Actor,
    owner: &User,
    own: Permission,
    any: Permission,
) -> Result<()> {
    if actor.user == Some(owner.id) && actor.can(own) {
        return Ok(());
    }
    actor.require(any)
}
