//! The ledger's records: a posting to make, a posting as stored, what is attached to it, and a
//! wallet's statement line. How money moves is [`crate::ledger`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{AccountId, PostingId, UserId};
use crate::money::Money;
use crate::policy::Via;
use crate::records::audit::AuditEntry;
use crate::records::payments::{FinishedEvent, OrderStatus};

/// The largest single posting accepted: far above any real top-up, far below overflow.
pub const MAX_POSTING: Money = Money::from_micros(1_000_000_000 * crate::money::MICROS_PER_UNIT);

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
    /// The posting this request became: stored as `id` at `at`, with the wallets' balances
    /// right after it in micro-units (`None` for a system account).
    pub fn posted(
        &self,
        id: PostingId,
        debit_after: Option<i64>,
        credit_after: Option<i64>,
        at: DateTime<Utc>,
    ) -> Posting {
        Posting {
            id,
            debit: self.debit,
            credit: self.credit,
            amount: self.amount,
            kind: self.kind,
            key: self.key.clone(),
            reference: self.reference.clone(),
            memo: self.memo.clone(),
            actor_user: self.actor_user,
            actor_via: self.actor_via.as_str().to_owned(),
            debit_balance_after: debit_after.map(Money::from_micros),
            credit_balance_after: credit_after.map(Money::from_micros),
            created_at: at,
        }
    }

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
    /// ([`crate::error::Error::Conflict`]) and nothing of it is written.
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
