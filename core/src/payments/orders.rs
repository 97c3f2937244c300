//! Top-ups: a PayPal order created for an amount the server sets, captured by the server when
//! the customer comes back, and settled (credited once, to the order's own customer, or refused
//! and billing staff alerted).

use reqwest::Method;
use serde_json::{Value, json};

use super::amounts::{paypal_value, read_amount};
use super::{Payments, capture_key, custom_id};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::ledger::{Attached, Cap, Overdraft, PostingKind, PostingRequest, SystemAccount};
use crate::money::Money;
use crate::policy::{Actor, Permission, Via};
use crate::records::users::User;
use crate::store::payments::{EventStatus, FinishedEvent, OrderStatus, StoredEvent, StoredOrder};

/// An order's new status and its capture, recorded after a settlement.
pub(super) type OrderUpdate = (String, OrderStatus, String);

/// What came of a settlement: the order's new status, and whether it (with the event's outcome,
/// for a webhook) was already recorded in the credit's own transaction.
pub(super) struct Settled {
    pub(super) settlement: Settlement,
    pub(super) update: Option<OrderUpdate>,
    pub(super) recorded: bool,
}

impl Settled {
    pub(super) fn unrecorded(settlement: Settlement, update: Option<OrderUpdate>) -> Self {
        Self {
            settlement,
            update,
            recorded: false,
        }
    }
}

/// A new order, for sending the customer to PayPal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    pub id: String,
    pub approve_url: String,
    pub amount: Money,
}

/// What came of a capture (on return, or by webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The wallet was credited (now or before: `new` says which).
    Credited {
        amount: Money,
        capture_id: String,
        new: bool,
    },
    /// PayPal holds the payment for review; the credit follows by webhook.
    Pending,
    /// The payment was declined; nothing was credited.
    Declined,
    /// Something did not match; nothing was credited and billing staff were alerted.
    Rejected(String),
}

/// The facts of a capture as PayPal reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct CaptureFacts {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) currency: String,
    pub(super) value: String,
    pub(super) custom_id: Option<String>,
}

impl CaptureFacts {
    pub(super) fn from_json(capture: &Value) -> Option<Self> {
        let (currency, value) = read_amount(&capture["amount"]);
        Some(Self {
            id: capture["id"].as_str()?.to_owned(),
            status: capture["status"].as_str().unwrap_or_default().to_owned(),
            currency,
            value,
            custom_id: capture["custom_id"].as_str().map(str::to_owned),
        })
    }
}

impl Payments {
    /// Creates a PayPal order for `customer` to top up `amount`. PayPal sends them back to
    /// `return_url` (with `token` = the order id) or `cancel_url`.
    pub async fn create_order(
        &self,
        actor: &Actor,
        customer: &User,
        amount: Money,
        return_url: &str,
        cancel_url: &str,
    ) -> Result<CreatedOrder> {
        actor.require(Permission::TopUp)?;
        if actor.user != Some(customer.id) {
            return Err(Error::Forbidden(
                "You can only top up your own credit.".into(),
            ));
        }
        let client = self.client()?;
        self.check_amount(amount)?;
        let currency = self.currency().to_owned();
        let request_id = crate::auth::sessions::random_id();
        let body = json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": "topup",
                "custom_id": custom_id(customer.id),
                "description": format!("Credit top-up, {}", self.config.company.name.chars().take(80).collect::<String>()),
                "amount": {"currency_code": currency, "value": paypal_value(amount, &currency)?},
            }],
            "payment_source": {"paypal": {"experience_context": {
                "return_url": return_url,
                "cancel_url": cancel_url,
                "user_action": "PAY_NOW",
                "shipping_preference": "NO_SHIPPING",
                "brand_name": self.config.company.name.chars().take(127).collect::<String>(),
            }}},
        });
        let answer = client
            .call(
                Method::POST,
                "/v2/checkout/orders",
                Some(&body),
                Some(&request_id),
            )
            .await?;
        let id = answer["id"]
            .as_str()
            .filter(|id| !id.is_empty() && id.len() <= 64)
            .ok_or_else(|| Error::Unavailable("PayPal answered without an order id.".into()))?
            .to_owned();
        let approve_url = answer["links"]
            .as_array()
            .and_then(|links| {
                links
                    .iter()
                    .find(|link| link["rel"] == "approve" || link["rel"] == "payer-action")
            })
            .and_then(|link| link["href"].as_str())
            .ok_or_else(|| Error::Unavailable("PayPal answered without an approve link.".into()))?
            .to_owned();
        let now = self.clock.now();
        self.store
            .payments()
            .insert_order(&StoredOrder {
                id: id.clone(),
                user: customer.id,
                amount,
                currency,
                request_id,
                status: OrderStatus::Created,
                capture_id: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "paypal.order")
                    .target(format!("user:{}", customer.id))
                    .detail(json!({"order": id, "amount_micros": amount.micros()})),
            )
            .await?;
        Ok(CreatedOrder {
            id,
            approve_url,
            amount,
        })
    }

    /// One of `customer`'s orders; another's is not found.
    pub async fn order(&self, actor: &Actor, customer: &User, id: &str) -> Result<StoredOrder> {
        crate::ledger::require_billing_reader(actor, customer)?;
        match self.store.payments().order(id).await? {
            Some(order) if order.user == customer.id => Ok(order),
            _ => Err(Error::NotFound(format!("There is no order {id}."))),
        }
    }

    /// A customer's recent orders, newest first.
    pub async fn orders(&self, actor: &Actor, customer: &User) -> Result<Vec<StoredOrder>> {
        crate::ledger::require_billing_reader(actor, customer)?;
        self.store.payments().orders_of(customer.id, 50).await
    }

    /// The customer is back from PayPal having approved `order_id`: capture it and credit what
    /// was captured. Safe to repeat (a reload, a second tab): the second time reads the order.
    pub async fn capture(
        &self,
        actor: &Actor,
        customer: &User,
        order_id: &str,
    ) -> Result<Settlement> {
        actor.require(Permission::TopUp)?;
        if actor.user != Some(customer.id) {
            return Err(Error::NotFound(format!("There is no order {order_id}.")));
        }
        let client = self.client()?;
        let order = self.order(actor, customer, order_id).await?;
        let path = format!("/v2/checkout/orders/{}/capture", order.id);
        let answer = match client
            .call(
                Method::POST,
                &path,
                None,
                Some(&format!("capture-{}", order.request_id)),
            )
            .await
        {
            Ok(answer) => answer,
            Err(error) if error.issue() == Some("ORDER_ALREADY_CAPTURED") => {
                client
                    .call(
                        Method::GET,
                        &format!("/v2/checkout/orders/{}", order.id),
                        None,
                        None,
                    )
                    .await?
            }
            Err(error) if error.issue() == Some("INSTRUMENT_DECLINED") => {
                return Ok(Settlement::Declined);
            }
            Err(error) => return Err(error.into()),
        };
        let capture = &answer["purchase_units"][0]["payments"]["captures"][0];
        let Some(facts) = CaptureFacts::from_json(capture) else {
            return Ok(Settlement::Declined);
        };
        self.settle_now(Some(order), &facts).await
    }

    /// The customer cancelled at PayPal: an order not yet captured is marked cancelled.
    pub async fn cancelled(&self, actor: &Actor, customer: &User, order_id: &str) -> Result<()> {
        actor.require(Permission::TopUp)?;
        if actor.user != Some(customer.id) {
            return Err(Error::NotFound(format!("There is no order {order_id}.")));
        }
        let order = self.order(actor, customer, order_id).await?;
        // Only from `created`: a capture that raced the cancel keeps its status.
        if self
            .store
            .payments()
            .cancel_order(&order.id, self.clock.now())
            .await?
        {
            self.audit
                .record(
                    AuditEntry::new(actor, "paypal.order.cancelled")
                        .target(format!("user:{}", customer.id))
                        .detail(json!({"order": order.id})),
                )
                .await?;
        }
        Ok(())
    }

    /// Settles a capture and records its order's new status at once (the road back from
    /// PayPal).
    pub(super) async fn settle_now(
        &self,
        order: Option<StoredOrder>,
        capture: &CaptureFacts,
    ) -> Result<Settlement> {
        let settled = self.settle(order, capture, None).await?;
        if let (Some(update), false) = (&settled.update, settled.recorded) {
            self.store
                .payments()
                .set_order_status(&update.0, update.1, Some(&update.2), self.clock.now())
                .await?;
        }
        Ok(settled.settlement)
    }

    /// Credits a capture if and only if it matches its order: same customer, amount and
    /// currency, and COMPLETED. Returns what the order's status becomes. A new credit records
    /// it in its own transaction, with its audit entry and the outcome of `event` (the webhook
    /// event that carried the capture, if any); otherwise the caller records it (a webhook
    /// with the event's outcome, in one transaction).
    pub(super) async fn settle(
        &self,
        order: Option<StoredOrder>,
        capture: &CaptureFacts,
        event: Option<&StoredEvent>,
    ) -> Result<Settled> {
        let Some(order) = order else {
            return self
                .reject(format!(
                    "PayPal capture {} ({} {}) belongs to no order hostdeck created; nobody was credited.",
                    capture.id, capture.value, capture.currency
                ))
                .await;
        };
        if let Some(settled) = self.settled_without_credit(&order, capture).await? {
            return Ok(settled);
        }
        self.credit(&order, capture, event).await
    }

    /// The settlement of a capture that credits nobody: refused (no match with its order, or
    /// its order already credited), judged before, pending or declined; `None` when it is to
    /// be credited.
    async fn settled_without_credit(
        &self,
        order: &StoredOrder,
        capture: &CaptureFacts,
    ) -> Result<Option<Settled>> {
        // Judged before (a reload of the return page, another event for the same capture):
        // the stored outcome stands, and billing staff were alerted the first time.
        if order.status == OrderStatus::Failed
            && order.capture_id.as_deref() == Some(capture.id.as_str())
        {
            return Ok(Some(Settled::unrecorded(
                Settlement::Rejected(format!(
                    "PayPal capture {} of order {} did not match its order; nobody was credited.",
                    capture.id, order.id
                )),
                None,
            )));
        }
        // An order credits at most its amount: once credited, another capture of it (a second
        // capture, or one PayPal never made) credits nothing, and the order stays credited.
        // Its own capture again is a replay, answered by the ledger when it is credited. The
        // cap on the posting holds this against captures credited side by side.
        if order.status == OrderStatus::Completed
            && self
                .store
                .ledger()
                .posting_by_key(&capture_key(&capture.id))
                .await?
                .is_none()
        {
            return self
                .reject(format!(
                    "PayPal capture {} ({} {}) is for order {}, which was already credited its \
                     {} {}; nobody was credited again.",
                    capture.id,
                    capture.value,
                    capture.currency,
                    order.id,
                    order.amount.amount_text(),
                    order.currency
                ))
                .await
                .map(Some);
        }
        let failed = Some((order.id.clone(), OrderStatus::Failed, capture.id.clone()));
        if capture.custom_id.as_deref() != Some(custom_id(order.user).as_str()) {
            return self
                .reject_with(failed, format!(
                    "PayPal capture {} of order {} names customer {:?}, but the order is user {}'s; nobody was credited.",
                    capture.id, order.id, capture.custom_id.as_deref().unwrap_or("nobody"), order.user
                ))
                .await
                .map(Some);
        }
        let captured = Money::parse(&capture.value).ok();
        if capture.currency != order.currency || captured != Some(order.amount) {
            return self
                .reject_with(failed, format!(
                    "PayPal capture {} of order {} is {} {}, but the order was for {} {}; nobody was credited.",
                    capture.id,
                    order.id,
                    capture.value,
                    capture.currency,
                    order.amount.amount_text(),
                    order.currency
                ))
                .await
                .map(Some);
        }
        match capture.status.as_str() {
            // A capture read after a refund says so, but it completed all the same; the
            // refund's own event debits what went back.
            "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED" => Ok(None),
            "PENDING" => Ok(Some(Settled::unrecorded(
                Settlement::Pending,
                Some((order.id.clone(), OrderStatus::Pending, capture.id.clone())),
            ))),
            _ => Ok(Some(Settled::unrecorded(
                Settlement::Declined,
                Some((order.id.clone(), OrderStatus::Declined, capture.id.clone())),
            ))),
        }
    }

    /// Credits a capture that matched its order: the posting, its audit entry, the order's and
    /// the event's outcome in one transaction, capped at the order's amount.
    async fn credit(
        &self,
        order: &StoredOrder,
        capture: &CaptureFacts,
        event: Option<&StoredEvent>,
    ) -> Result<Settled> {
        let failed = (order.id.clone(), OrderStatus::Failed, capture.id.clone());
        let customer = self
            .store
            .users()
            .user(order.user)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no user {}.", order.user)))?;
        let request = PostingRequest {
            debit: self.ledger.system_account(SystemAccount::Paypal),
            credit: customer.wallet,
            amount: order.amount,
            kind: PostingKind::TopUp,
            key: capture_key(&capture.id),
            reference: Some(format!("PayPal {}", capture.id)),
            memo: None,
            actor_user: None,
            actor_via: Via::System,
            overdraft: Overdraft::Allow,
        };
        let completed = (order.id.clone(), OrderStatus::Completed, capture.id.clone());
        // The credit, its audit entry, the order's and the event's outcome and the wake-up of
        // refunds that came first commit together, or not at all.
        let attached = Attached {
            audit: Some(
                AuditEntry::new(&Actor::system(), "paypal.credit")
                    .target(format!("user:{}", order.user))
                    .detail(json!({"capture": capture.id, "order": order.id, "amount_micros": order.amount.micros()})),
            ),
            event: event.map(|event| FinishedEvent {
                id: event.id.clone(),
                status: EventStatus::Done,
                outcome: "credited".to_owned(),
            }),
            order: Some(completed.clone()),
            wake_waiting_for: Some(capture.id.clone()),
            cap: Some(Cap::OrderCredit {
                order: order.id.clone(),
                capture: capture.id.clone(),
            }),
        };
        let posted = match self.post_for(event, request, attached).await {
            Ok(posted) => posted,
            Err(Error::Conflict(why)) => {
                // Over the order's cap, another capture of it was credited meanwhile: the
                // order stays as that credit left it.
                let credited = self
                    .store
                    .payments()
                    .order(&order.id)
                    .await?
                    .is_some_and(|order| order.status == OrderStatus::Completed);
                return self
                    .reject_with(
                        if credited { None } else { Some(failed) },
                        format!("PayPal capture {} could not be credited: {why}", capture.id),
                    )
                    .await;
            }
            Err(error) => return Err(error),
        };
        let new = posted.outcome.is_new();
        let woken = if new {
            metrics::counter!("paypal_topups_total").increment(1);
            posted.woken
        } else {
            // Credited before: whatever was attached then stands. Refunds of this capture that
            // arrived since can go now.
            self.store.payments().wake_waiting(&capture.id).await?
        };
        if woken > 0 {
            self.wake.notify_one();
        }
        Ok(Settled {
            settlement: Settlement::Credited {
                amount: order.amount,
                capture_id: capture.id.clone(),
                new,
            },
            update: Some(completed),
            recorded: new,
        })
    }

    /// Credits nobody, and tells billing staff why.
    pub(super) async fn reject(&self, why: String) -> Result<Settled> {
        self.reject_with(None, why).await
    }

    pub(super) async fn reject_with(
        &self,
        update: Option<OrderUpdate>,
        why: String,
    ) -> Result<Settled> {
        self.alert(&why).await?;
        Ok(Settled::unrecorded(Settlement::Rejected(why), update))
    }
}
