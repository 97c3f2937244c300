//! Refunds: staff refunding a capture through PayPal, and refunds or reversals PayPal reports,
//! each debiting at most what its capture credited.

use reqwest::Method;
use serde_json::{Value, json};

use super::amounts::{paypal_value, read_amount};
use super::{EventEnd, Payments, capture_key, refund_key};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::ledger::{Attached, Cap, Overdraft, PostingKind, PostingRequest, SystemAccount};
use crate::money::Money;
use crate::policy::{Actor, Permission, Via};
use crate::records::users::User;
use crate::store::payments::{EventStatus, FinishedEvent, OrderStatus, StoredEvent};

/// A refund that reached hostdeck, from the refund API or a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RefundFacts {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) capture_id: String,
    pub(super) currency: String,
    pub(super) value: String,
}

impl RefundFacts {
    pub(super) fn from_json(refund: &Value, capture_id: Option<&str>) -> Option<Self> {
        // A refund names its capture in the link `rel: up` (`.../v2/payments/captures/{id}`).
        let linked = refund["links"].as_array().and_then(|links| {
            links
                .iter()
                .find(|link| link["rel"] == "up")
                .and_then(|link| link["href"].as_str())
                .and_then(|href| href.trim_end_matches('/').rsplit('/').next())
                .map(str::to_owned)
        });
        let (currency, value) = read_amount(&refund["amount"]);
        Some(Self {
            id: refund["id"].as_str()?.to_owned(),
            status: refund["status"].as_str().unwrap_or_default().to_owned(),
            capture_id: capture_id.map(str::to_owned).or(linked)?,
            currency,
            value,
        })
    }
}

/// A refund made from hostdeck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// PayPal completed it and the wallet was debited.
    Debited { refund_id: String, amount: Money },
    /// PayPal accepted it but has not completed it; the webhook debits when it does.
    Pending { refund_id: String },
}

impl Payments {
    /// Debits a refund or reversal from the wallet its capture credited. Before the capture's
    /// credit exists, the refund waits for it. A new debit records its audit entry and the
    /// outcome of `event` (the webhook event that carried the refund, if any) in its own
    /// transaction.
    pub(super) async fn apply_refund(
        &self,
        refund: &RefundFacts,
        kind: PostingKind,
        staff: Option<(&Actor, &str)>,
        event: Option<&StoredEvent>,
    ) -> Result<EventEnd> {
        let Some(credit) = self
            .store
            .ledger()
            .posting_by_key(&capture_key(&refund.capture_id))
            .await?
        else {
            // A capture PayPal has yet to report waits quietly; one hostdeck rejected or never
            // knew may never be credited, so billing staff hear of the refund waiting on it.
            let order = self
                .store
                .payments()
                .order_by_capture(&refund.capture_id)
                .await?;
            let stuck = match &order {
                None => Some("hostdeck has no order for"),
                Some(order) if order.status == OrderStatus::Failed => Some("hostdeck rejected"),
                Some(_) => None,
            };
            if let Some(stuck) = stuck {
                self.alert(&format!(
                    "PayPal refund {} ({} {}) waits for capture {}, which {stuck}; it is debited \
                     only if that capture is credited.",
                    refund.id, refund.value, refund.currency, refund.capture_id
                ))
                .await?;
            }
            return Ok(EventEnd::unrecorded(
                EventStatus::Waiting,
                Some(refund.capture_id.clone()),
                "waiting for its capture".to_owned(),
            ));
        };
        let amount = Money::parse(&refund.value).ok().filter(|m| m.is_positive());
        let Some(amount) = amount.filter(|_| refund.currency == self.currency()) else {
            let why = format!(
                "PayPal refund {} of capture {} is {} {}, which hostdeck cannot debit; nobody was debited.",
                refund.id, refund.capture_id, refund.value, refund.currency
            );
            self.alert(&why).await?;
            return Ok(EventEnd::unrecorded(EventStatus::Rejected, None, why));
        };
        if amount > credit.amount {
            let why = format!(
                "PayPal refund {} ({} {}) is more than capture {} credited; nobody was debited.",
                refund.id, refund.value, refund.currency, refund.capture_id
            );
            self.alert(&why).await?;
            return Ok(EventEnd::unrecorded(EventStatus::Rejected, None, why));
        }
        let request = PostingRequest {
            debit: credit.credit,
            credit: self.ledger.system_account(SystemAccount::Paypal),
            amount,
            kind,
            key: refund_key(&refund.id),
            reference: Some(format!("PayPal {}", refund.capture_id)),
            memo: staff.map(|(_, reason)| reason.to_owned()),
            actor_user: staff.and_then(|(actor, _)| actor.user),
            actor_via: staff.map_or(Via::System, |(actor, _)| actor.via),
            // The customer may have spent the credit already; the debit stands regardless.
            overdraft: Overdraft::Allow,
        };
        // The debit, its audit entry and its event's outcome commit together.
        let attached = Attached {
            audit: Some(
                AuditEntry::new(staff.map_or(&Actor::system(), |(actor, _)| actor), "paypal.refund")
                    .target(format!("account:{}", credit.credit))
                    .detail(json!({"refund": refund.id, "capture": refund.capture_id, "amount_micros": amount.micros(), "kind": kind.as_str()})),
            ),
            event: event.map(|event| FinishedEvent {
                id: event.id.clone(),
                status: EventStatus::Done,
                outcome: "debited".to_owned(),
            }),
            // The capture's refunds together stay within what it credited.
            cap: Some(Cap::CaptureRefund {
                capture: refund.capture_id.clone(),
            }),
            ..Attached::nothing()
        };
        let posted = match self.post_for(event, request, attached).await {
            Ok(posted) => posted,
            Err(Error::Conflict(why)) => {
                let why = format!(
                    "PayPal refund {} ({} {}) of capture {} was not debited: {why}",
                    refund.id, refund.value, refund.currency, refund.capture_id
                );
                self.alert(&why).await?;
                return Ok(EventEnd::unrecorded(EventStatus::Rejected, None, why));
            }
            Err(error) => return Err(error),
        };
        let new = posted.outcome.is_new();
        Ok(EventEnd {
            recorded: new && event.is_some(),
            ..EventEnd::unrecorded(
                EventStatus::Done,
                None,
                if new { "debited" } else { "debited before" }.to_owned(),
            )
        })
    }

    /// Billing staff refund (part of) one of `customer`'s captured top-ups through PayPal; the
    /// wallet is debited when PayPal completes the refund. `key` makes a double submit one
    /// refund. Another customer's capture is not found.
    pub async fn refund(
        &self,
        actor: &Actor,
        customer: &User,
        capture_id: &str,
        amount: Option<Money>,
        reason: &str,
        key: &str,
    ) -> Result<RefundOutcome> {
        actor.require(Permission::RefundPayments)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 255 {
            return Err(Error::invalid(
                "reason",
                "say why the payment is refunded (up to 255 characters)",
            ));
        }
        crate::text::note("reason", "the reason", reason, 255)?;
        let client = self.client()?;
        let order = self
            .store
            .payments()
            .order_by_capture(capture_id)
            .await?
            .filter(|order| order.status == OrderStatus::Completed && order.user == customer.id)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "{} has no credited PayPal capture {capture_id}.",
                    customer.email
                ))
            })?;
        let mut body = json!({"note_to_payer": reason});
        if let Some(amount) = amount {
            if !amount.is_positive() || amount > order.amount {
                return Err(Error::invalid(
                    "amount",
                    format!(
                        "refund more than zero and at most {} {}",
                        order.amount.amount_text(),
                        order.currency
                    ),
                ));
            }
            body["amount"] = json!({"currency_code": order.currency, "value": paypal_value(amount, &order.currency)?});
        }
        // The key names one refund: sent again with another capture, amount or reason it is
        // refused here, before PayPal, which would answer with the first refund.
        let fingerprint = crate::idempotency::Fingerprint::of(&[
            &customer.id.to_string(),
            capture_id,
            &amount.map_or_else(|| "all".to_owned(), |amount| amount.micros().to_string()),
            reason,
        ]);
        let first = crate::idempotency::remember(
            self.store.as_ref(),
            "paypal.refund",
            key,
            &fingerprint,
            self.clock.now(),
        )
        .await?;
        // What is left to refund (a retry of the same refund is PayPal's to answer). A refund
        // refused here leaves its key free again for a corrected one.
        if first
            && let Some(refused) = self
                .beyond_what_is_left(capture_id, amount, &order.currency)
                .await?
        {
            crate::idempotency::forget(self.store.as_ref(), "paypal.refund", key, &fingerprint)
                .await?;
            return Err(refused);
        }
        let answer = client
            .call(
                Method::POST,
                &format!("/v2/payments/captures/{capture_id}/refund"),
                Some(&body),
                Some(&format!(
                    "refund-{}",
                    key.chars().take(80).collect::<String>()
                )),
            )
            .await?;
        let refund = RefundFacts::from_json(&answer, Some(capture_id))
            .ok_or_else(|| Error::Unavailable("PayPal answered without a refund id.".into()))?;
        if refund.status != "COMPLETED" {
            self.audit
                .record(
                    AuditEntry::new(actor, "paypal.refund.requested")
                        .target(format!("user:{}", order.user))
                        .detail(json!({"refund": refund.id, "capture": capture_id, "status": refund.status})),
                )
                .await?;
            return Ok(RefundOutcome::Pending {
                refund_id: refund.id,
            });
        }
        match self
            .apply_refund(&refund, PostingKind::Refund, Some((actor, reason)), None)
            .await?
        {
            EventEnd {
                status: EventStatus::Done,
                ..
            } => Ok(RefundOutcome::Debited {
                amount: Money::parse(&refund.value)?,
                refund_id: refund.id,
            }),
            EventEnd { outcome: why, .. } => Err(Error::Conflict(why)),
        }
    }

    /// Why a refund of `amount` (all when `None`) of a capture is refused by what is left of
    /// it: refunded in full already, or more than the rest. `None` when it may go to PayPal, or
    /// when the capture was never credited (PayPal answers that).
    async fn beyond_what_is_left(
        &self,
        capture_id: &str,
        amount: Option<Money>,
        currency: &str,
    ) -> Result<Option<Error>> {
        let Some((credited, refunded)) = self.store.payments().capture_refunds(capture_id).await?
        else {
            return Ok(None);
        };
        let left = credited.checked_sub(refunded).unwrap_or(Money::ZERO);
        Ok(if !left.is_positive() {
            Some(Error::Conflict(format!(
                "Capture {capture_id} has been refunded in full already."
            )))
        } else if let Some(amount) = amount
            && amount > left
        {
            Some(Error::invalid(
                "amount",
                format!(
                    "refund at most {} {}: the rest of capture {capture_id} was refunded \
                     already",
                    left.amount_text(),
                    currency
                ),
            ))
        } else {
            None
        })
    }
}
