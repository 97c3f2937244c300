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

use crate::audit::AuditEntry;
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::money::Money;
use crate::policy::{Actor, Permission};
pub use crate::records::ledger::{
    Attached, Cap, Discrepancy, MAX_POSTING, Overdraft, PostOutcome, Posted, Posting, PostingKind,
    PostingRequest, StatementLine, SystemAccount, UsageHour,
};
use crate::records::users::User;
use crate::store::{Page, Paginated, Store};

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
        self.store.ledger().system_account(which)
    }

    /// Posts a raw entry. Only the platform does this directly; people move money through the
    /// services that know why (adjustments, top-ups, billing).
    pub async fn post(&self, actor: &Actor, request: PostingRequest) -> Result<PostOutcome> {
        actor.require(Permission::PostLedger)?;
        request.validate()?;
        self.store.ledger().post(&request, self.clock.now()).await
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
            .ledger()
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
        Ok(self
            .store
            .ledger()
            .post_group(&items, self.clock.now())
            .await)
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
        let adjustments = self
            .store
            .ledger()
            .system_account(SystemAccount::Adjustments);
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
            .ledger()
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
        require_billing_reader(actor, owner)?;
        self.store.ledger().account_balance(owner.wallet).await
    }

    /// A wallet's postings, newest first, each with the balance after it.
    pub async fn statement(
        &self,
        actor: &Actor,
        owner: &User,
        page: Page,
    ) -> Result<Paginated<StatementLine>> {
        require_billing_reader(actor, owner)?;
        self.store.ledger().statement(owner.wallet, page).await
    }

    /// Wallets whose stored balance disagrees with their postings (should be none).
    pub async fn discrepancies(&self, actor: &Actor) -> Result<Vec<Discrepancy>> {
        actor.require(Permission::ReadAnyBilling)?;
        self.store.ledger().ledger_discrepancies().await
    }
}

/// The owner may use `own`; anybody else needs `any`.
/// Who may read a wallet's money (its balance, postings, statements, usage): its owner with
/// `ReadOwnBilling`, or anyone with `ReadAnyBilling`.
pub(crate) fn require_billing_reader(actor: &Actor, owner: &User) -> Result<()> {
    if actor.user == Some(owner.id) && actor.can(Permission::ReadOwnBilling) {
        return Ok(());
    }
    actor.require(Permission::ReadAnyBilling)
}
