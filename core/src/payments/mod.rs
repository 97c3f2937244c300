//! Payments: PayPal top-ups, webhooks and refunds.
//!
//! The server alone decides what a customer pays: it creates a PayPal order (Orders v2) for an
//! amount within `paypal.min_topup..=max_topup`, sends the customer to PayPal's approve link,
//! and when they come back captures the order itself. Only a COMPLETED capture whose amount and
//! currency are the stored order's, for the order's own customer, credits the wallet, with key
//! `paypal:capture:{capture_id}`.
//!
//! The webhook is a second road to the same posting: a delivery is verified ([`webhook`]),
//! stored by event id and answered at once; a worker processes stored events. A refund or
//! reversal debits with `paypal:refund:{refund_id}`; one that arrives before its capture waits
//! for it. Anything that would credit the wrong wallet or the wrong amount credits nobody and
//! alerts billing staff on Discord. Replays, duplicates and both roads at once post once: the
//! ledger's keys make every posting here idempotent.
//!
//! A credit or a debit commits in one transaction with its audit entry (`paypal.credit`,
//! `paypal.refund`) and, when a webhook event carried it, with the event's `done` and its
//! order's status ([`crate::ledger::Attached`]): no crash between them can leave money moved
//! without its audit entry. An event whose key was posted before (`credited before`) is
//! finished on its own, as is every event that posts nothing.
//!
//! Commits are what a delivery costs (SQLite has one writer and fsyncs each), so both are
//! shared (group commit, [`group`]): deliveries that arrive together are stored by one
//! statement and one commit, each answered only after it; and the postings of the events the
//! worker processes side by side (up to a claim's worth) commit together, one statement per
//! table for the group. A key used before or any error rolls the group back and posts its
//! events one transaction each, so one event's refusal or failure leaves the others be
//! ([`crate::store::Store::post_group`]). SQLite commits one group at a time; PostgreSQL a few
//! side by side.
//!
//! Not here: HTTP (the web crate reads requests and renders pages), statements
//! ([`crate::statements`]).

pub mod config;
mod group;
pub mod paypal;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ledger::{
    Attached, Cap, Ledger, Overdraft, Posted, PostingKind, PostingRequest, SystemAccount,
};
use crate::money::Money;
use crate::notify::{DiscordMessage, Outbox};
use crate::policy::{Actor, Permission, Via};
use crate::store::payments::{
    EventStatus, FinishedEvent, NewEvent, OrderStatus, StoredEvent, StoredOrder,
};
use crate::store::{EngineKind, Store};
use crate::users::User;

pub use config::{PaypalConfig, WebhookVerification};
pub use paypal::{PaypalClient, PaypalError};
pub use webhook::{Rejection, Verifier, WebhookHeaders};

/// The idempotency key of a capture's credit, on both roads.
pub fn capture_key(capture_id: &str) -> String {
    format!("paypal:capture:{capture_id}")
}

/// The idempotency key of a refund's or reversal's debit.
pub fn refund_key(refund_id: &str) -> String {
    format!("paypal:refund:{refund_id}")
}

/// What hostdeck writes in an order's `custom_id`: whose top-up it is.
pub fn custom_id(user: UserId) -> String {
    format!("user:{user}")
}

/// Events leased at a time, and how long a lease lasts.
const EVENT_BATCH: u32 = 64;
const EVENT_LEASE: Duration = Duration::from_secs(60);
/// Deliveries stored with one commit at most, and how many may wait for theirs.
const DELIVERY_GROUP: usize = 128;
const DELIVERY_QUEUE: usize = 1024;
/// Events' postings committed together at most (the events in hand), and how many may wait.
const POSTING_GROUP: usize = EVENT_BATCH as usize;
const POSTING_QUEUE: usize = 256;
/// How many deliveries or credits each group commit held (a histogram, `writes` saying which).
const GROUP_SIZE_METRIC: &str = "paypal_commit_group_size";
/// Groups committed at once where the engine has several writers (PostgreSQL).
const PARALLEL_GROUPS: usize = 4;
/// Tries of an event whose processing fails before it is given up and billing staff alerted.
pub const EVENT_ATTEMPTS: i64 = 10;

/// An order's new status and its capture, recorded after a settlement.
type OrderUpdate = (String, OrderStatus, String);

/// What came of a settlement: the order's new status, and whether it (with the event's outcome,
/// for a webhook) was already recorded in the credit's own transaction.
struct Settled {
    settlement: Settlement,
    update: Option<OrderUpdate>,
    recorded: bool,
}

impl Settled {
    fn unrecorded(settlement: Settlement, update: Option<OrderUpdate>) -> Self {
        Self {
            settlement,
            update,
            recorded: false,
        }
    }
}

/// What becomes of an event: its status, the capture it waits for, its outcome, and whether
/// that was already recorded in its posting's transaction.
struct EventEnd {
    status: EventStatus,
    waiting_for: Option<String>,
    outcome: String,
    recorded: bool,
}

impl EventEnd {
    fn unrecorded(status: EventStatus, waiting_for: Option<String>, outcome: String) -> Self {
        Self {
            status,
            waiting_for,
            outcome,
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
struct CaptureFacts {
    id: String,
    status: String,
    currency: String,
    value: String,
    custom_id: Option<String>,
}

impl CaptureFacts {
    fn from_json(capture: &Value) -> Option<Self> {
        Some(Self {
            id: capture["id"].as_str()?.to_owned(),
            status: capture["status"].as_str().unwrap_or_default().to_owned(),
            currency: capture["amount"]["currency_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            value: capture["amount"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            custom_id: capture["custom_id"].as_str().map(str::to_owned),
        })
    }
}

/// A refund that reached hostdeck, from the refund API or a webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RefundFacts {
    id: String,
    status: String,
    capture_id: String,
    currency: String,
    value: String,
}

impl RefundFacts {
    fn from_json(refund: &Value, capture_id: Option<&str>) -> Option<Self> {
        // A refund names its capture in the link `rel: up` (`.../v2/payments/captures/{id}`).
        let linked = refund["links"].as_array().and_then(|links| {
            links
                .iter()
                .find(|link| link["rel"] == "up")
                .and_then(|link| link["href"].as_str())
                .and_then(|href| href.trim_end_matches('/').rsplit('/').next())
                .map(str::to_owned)
        });
        Some(Self {
            id: refund["id"].as_str()?.to_owned(),
            status: refund["status"].as_str().unwrap_or_default().to_owned(),
            capture_id: capture_id.map(str::to_owned).or(linked)?,
            currency: refund["amount"]["currency_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            value: refund["amount"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

/// A received webhook: stored (or known already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    pub new: bool,
}

/// A refund made from hostdeck.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// PayPal completed it and the wallet was debited.
    Debited { refund_id: String, amount: Money },
    /// PayPal accepted it but has not completed it; the webhook debits when it does.
    Pending { refund_id: String },
}

/// Decimal places PayPal takes for a currency.
fn decimals(currency: &str) -> u32 {
    crate::money::decimals_of(currency)
}

/// An amount as PayPal writes it: exactly the currency's decimals.
fn paypal_value(amount: Money, currency: &str) -> Result<String> {
    let places = decimals(currency);
    let unit = 10i64.pow(6 - places);
    if amount.micros() % unit != 0 {
        return Err(Error::invalid(
            "amount",
            format!("{currency} amounts have at most {places} decimal places"),
        ));
    }
    let mut value = amount.to_decimal();
    value.rescale(places);
    Ok(value.to_string())
}

#[derive(Clone)]
pub struct Payments {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    ledger: Ledger,
    audit: Audit,
    outbox: Outbox,
    client: Option<Arc<PaypalClient>>,
    verifier: Arc<Verifier>,
    wake: Arc<Notify>,
    /// Stores verified deliveries, those that arrive together with one commit.
    deliveries: Arc<group::Group<NewEvent, std::result::Result<bool, String>>>,
    /// Posts the credits and debits of events processed side by side with one commit, each
    /// with its own records.
    postings: Arc<group::Group<(PostingRequest, Attached), Result<Posted>>>,
}

impl Payments {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: Arc<Config>,
        ledger: Ledger,
        audit: Audit,
        outbox: Outbox,
    ) -> Result<Self> {
        let client = PaypalClient::from_config(&config.paypal)?.map(Arc::new);
        let verifier = Arc::new(Verifier::new(&config.paypal, clock.clone())?);
        // SQLite has one writer connection; PostgreSQL commits several groups side by side.
        let writers = match store.engine() {
            EngineKind::Sqlite => 1,
            EngineKind::Postgres => PARALLEL_GROUPS,
        };
        let writer = store.clone();
        let deliveries = Arc::new(group::Group::new(
            DELIVERY_QUEUE,
            DELIVERY_GROUP,
            writers,
            move |events: Vec<NewEvent>| {
                let store = writer.clone();
                async move {
                    metrics::histogram!(GROUP_SIZE_METRIC, "writes" => "deliveries")
                        .record(events.len() as f64);
                    match store.payments().insert_events(&events).await {
                        Ok(new) => new.into_iter().map(Ok).collect(),
                        // Nothing of the group was stored: every caller hears so.
                        Err(error) => {
                            let why = error.to_string();
                            events.iter().map(|_| Err(why.clone())).collect()
                        }
                    }
                }
            },
        ));
        let poster = ledger.clone();
        let postings = Arc::new(group::Group::new(
            POSTING_QUEUE,
            POSTING_GROUP,
            writers,
            move |items: Vec<(PostingRequest, Attached)>| {
                let ledger = poster.clone();
                async move {
                    let count = items.len();
                    metrics::histogram!(GROUP_SIZE_METRIC, "writes" => "credits")
                        .record(count as f64);
                    match ledger.post_group(&Actor::system(), items).await {
                        Ok(results) => results,
                        Err(error) => {
                            let why = error.to_string();
                            (0..count)
                                .map(|_| Err(Error::internal("posting a group", why.clone())))
                                .collect()
                        }
                    }
                }
            },
        ));
        Ok(Self {
            store,
            clock,
            config,
            ledger,
            audit,
            outbox,
            client,
            verifier,
            wake: Arc::new(Notify::new()),
            deliveries,
            postings,
        })
    }

    /// Whether PayPal is configured ([`PaypalConfig::enabled`]).
    pub fn enabled(&self) -> bool {
        self.client.is_some()
    }

    pub fn settings(&self) -> &PaypalConfig {
        &self.config.paypal
    }

    fn client(&self) -> Result<&PaypalClient> {
        self.client.as_deref().ok_or_else(|| {
            // Customers read this: what is missing in the config is for `config check` and the
            // log at start, not for them.
            Error::Unavailable(
                "Top-ups are not available yet; contact support if you need to add credit now."
                    .into(),
            )
        })
    }

    fn currency(&self) -> &str {
        self.config.billing.currency.code()
    }

    /// Checks a top-up amount against the configured limits.
    fn check_amount(&self, amount: Money) -> Result<()> {
        let limits = &self.config.paypal;
        let currency = &self.config.billing.currency;
        if amount < limits.min_topup || amount > limits.max_topup {
            return Err(Error::invalid(
                "amount",
                format!(
                    "top up between {} and {}",
                    limits.min_topup.display(currency),
                    limits.max_topup.display(currency)
                ),
            ));
        }
        paypal_value(amount, currency.code()).map(|_| ())
    }

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
        crate::ledger::require_own_or_any(
            actor,
            customer,
            Permission::ReadOwnBilling,
            Permission::ReadAnyBilling,
        )?;
        match self.store.payments().order(id).await? {
            Some(order) if order.user == customer.id => Ok(order),
            _ => Err(Error::NotFound(format!("There is no order {id}."))),
        }
    }

    /// A customer's recent orders, newest first.
    pub async fn orders(&self, actor: &Actor, customer: &User) -> Result<Vec<StoredOrder>> {
        crate::ledger::require_own_or_any(
            actor,
            customer,
            Permission::ReadOwnBilling,
            Permission::ReadAnyBilling,
        )?;
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
    async fn settle_now(
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
    async fn settle(
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
        // Judged before (a reload of the return page, another event for the same capture):
        // the stored outcome stands, and billing staff were alerted the first time.
        if order.status == OrderStatus::Failed
            && order.capture_id.as_deref() == Some(capture.id.as_str())
        {
            return Ok(Settled::unrecorded(
                Settlement::Rejected(format!(
                    "PayPal capture {} of order {} did not match its order; nobody was credited.",
                    capture.id, order.id
                )),
                None,
            ));
        }
        // An order credits at most its amount: once credited, another capture of it (a second
        // capture, or one PayPal never made) credits nothing, and the order stays credited.
        // Its own capture again is a replay, answered below by the ledger. The cap on the
        // posting holds this against captures credited side by side.
        if order.status == OrderStatus::Completed
            && self
                .store
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
                .await;
        }
        let failed = Some((order.id.clone(), OrderStatus::Failed, capture.id.clone()));
        if capture.custom_id.as_deref() != Some(custom_id(order.user).as_str()) {
            return self
                .reject_with(failed, format!(
                    "PayPal capture {} of order {} names customer {:?}, but the order is user {}'s; nobody was credited.",
                    capture.id, order.id, capture.custom_id.as_deref().unwrap_or("nobody"), order.user
                ))
                .await;
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
                .await;
        }
        match capture.status.as_str() {
            // A capture read after a refund says so, but it completed all the same; the
            // refund's own event debits what went back.
            "COMPLETED" | "PARTIALLY_REFUNDED" | "REFUNDED" => {}
            "PENDING" => {
                return Ok(Settled::unrecorded(
                    Settlement::Pending,
                    Some((order.id.clone(), OrderStatus::Pending, capture.id.clone())),
                ));
            }
            _ => {
                return Ok(Settled::unrecorded(
                    Settlement::Declined,
                    Some((order.id.clone(), OrderStatus::Declined, capture.id.clone())),
                ));
            }
        }
        let customer = self
            .store
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
                        if credited { None } else { failed },
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

    /// Posts for the platform. A webhook event's posting joins those of the events processed
    /// beside it, in one commit (each with its own records, on its own); the rest is posted at
    /// once.
    async fn post_for(
        &self,
        event: Option<&StoredEvent>,
        request: PostingRequest,
        attached: Attached,
    ) -> Result<Posted> {
        if event.is_none() {
            return self
                .ledger
                .post_with(&Actor::system(), request, &attached)
                .await;
        }
        self.postings
            .submit((request, attached))
            .await
            .unwrap_or_else(|| {
                Err(Error::Unavailable(
                    "The PayPal posting writer stopped.".into(),
                ))
            })
    }

    /// Credits nobody, and tells billing staff why.
    async fn reject(&self, why: String) -> Result<Settled> {
        self.reject_with(None, why).await
    }

    async fn reject_with(&self, update: Option<OrderUpdate>, why: String) -> Result<Settled> {
        self.alert(&why).await?;
        Ok(Settled::unrecorded(Settlement::Rejected(why), update))
    }

    /// Alerts billing staff in their Discord channel (when configured) and the audit log.
    async fn alert(&self, text: &str) -> Result<()> {
        tracing::warn!(alert = %text, "payment alert for billing staff");
        metrics::counter!("paypal_alerts_total").increment(1);
        if self.config.discord.billing_webhook.is_some() {
            let content: String = format!("Payment alert: {text}")
                .chars()
                .take(1900)
                .collect();
            self.outbox
                .to_billing_staff(DiscordMessage { content })
                .await?;
        }
        self.audit
            .record(
                AuditEntry::new(&Actor::system(), "paypal.alert").detail(json!({"alert": text})),
            )
            .await
    }

    /// A webhook delivery: verified, then stored once by event id. Processing happens later,
    /// from the store ([`Self::process_pending`]).
    pub async fn receive_webhook(
        &self,
        headers: &WebhookHeaders,
        body: &[u8],
    ) -> std::result::Result<Received, Rejection> {
        self.verifier
            .verify(self.client.as_deref(), headers, body)
            .await?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|_| Rejection::Forged("the body is not a JSON event".into()))?;
        let (Some(id), Some(event_type)) = (event["id"].as_str(), event["event_type"].as_str())
        else {
            return Err(Rejection::Forged("the event has no id or type".into()));
        };
        if id.is_empty() || id.len() > 128 || event_type.len() > 128 {
            return Err(Rejection::Forged(
                "the event id or type is malformed".into(),
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| Rejection::Forged("the body is not UTF-8".into()))?;
        // Stored with the deliveries that arrive with it, in one commit; answered only once
        // that commit is durable.
        let new = self
            .deliveries
            .submit(NewEvent {
                id: id.to_owned(),
                event_type: event_type.to_owned(),
                body: text.to_owned(),
                received_at: self.clock.now(),
            })
            .await
            .unwrap_or_else(|| Err("the delivery writer stopped".to_owned()))
            .map_err(Rejection::Unavailable)?;
        if new {
            self.wake.notify_one();
        }
        Ok(Received {
            event_id: id.to_owned(),
            new,
        })
    }

    /// Processes every pending event; returns how many were processed.
    pub async fn process_pending(&self) -> Result<usize> {
        let mut processed = 0;
        // The events in hand are processed side by side: each posts under its own key, and a
        // refund that decides to wait while its capture is being credited is woken again (see
        // `process`), so their order does not matter. More are claimed whenever half of them
        // are done, so that one slow event does not hold up the rest of its batch.
        let mut running = tokio::task::JoinSet::new();
        let mut drained = false;
        // A failed claim (or a failure to set an event aside) ends the round, but only once
        // the events in hand are done.
        let mut failure = None;
        loop {
            if !drained && running.len() <= EVENT_BATCH as usize / 2 {
                let room = EVENT_BATCH - u32::try_from(running.len()).unwrap_or(EVENT_BATCH);
                let now = self.clock.now();
                let lease = chrono::Duration::from_std(EVENT_LEASE).unwrap_or_default();
                match self
                    .store
                    .payments()
                    .claim_events(now, now + lease, room)
                    .await
                {
                    Ok(batch) => {
                        drained = batch.is_empty();
                        for event in batch {
                            let payments = self.clone();
                            running.spawn(async move {
                                let outcome = payments.process(&event).await;
                                (event, outcome)
                            });
                        }
                    }
                    Err(error) => {
                        drained = true;
                        failure = Some(error);
                    }
                }
            }
            let Some(joined) = running.join_next().await else {
                if drained {
                    return failure.map_or(Ok(processed), Err);
                }
                continue;
            };
            match joined {
                Ok((_, Ok(()))) => processed += 1,
                Ok((event, Err(error))) => {
                    tracing::error!(event = %event.id, attempts = event.attempts, %error, "a PayPal event could not be processed");
                    if event.attempts >= EVENT_ATTEMPTS {
                        match self.give_up(&event, &error).await {
                            Ok(()) => processed += 1,
                            // Reported once the events in hand are done, like a failed claim;
                            // the event stays leased and comes back after its lease.
                            Err(error) => {
                                drained = true;
                                failure = Some(error);
                            }
                        }
                    }
                    // Otherwise left leased: it is tried again when the lease runs out.
                }
                Err(error) => tracing::error!(%error, "processing a PayPal event panicked"),
            }
        }
    }

    async fn process(&self, event: &StoredEvent) -> Result<()> {
        let body: Value = serde_json::from_str(&event.body)
            .map_err(|error| Error::internal("reading a stored PayPal event", error))?;
        let resource = &body["resource"];
        let mut order_update = None;
        let end = match event.event_type.as_str() {
            "PAYMENT.CAPTURE.COMPLETED" => {
                let Some(facts) = CaptureFacts::from_json(resource) else {
                    return self
                        .finish(event, EventStatus::Rejected, None, "no capture")
                        .await;
                };
                let order_id = resource["supplementary_data"]["related_ids"]["order_id"]
                    .as_str()
                    .unwrap_or_default();
                let order = match self.store.payments().order(order_id).await? {
                    Some(order) => Some(order),
                    None => self.store.payments().order_by_capture(&facts.id).await?,
                };
                let settled = self.settle(order, &facts, Some(event)).await?;
                order_update = settled.update;
                let (status, outcome) = match settled.settlement {
                    Settlement::Credited { new, .. } => (
                        EventStatus::Done,
                        if new { "credited" } else { "credited before" }.to_owned(),
                    ),
                    Settlement::Pending => (EventStatus::Done, "pending".to_owned()),
                    Settlement::Declined => (EventStatus::Done, "declined".to_owned()),
                    Settlement::Rejected(why) => (EventStatus::Rejected, why),
                };
                EventEnd {
                    recorded: settled.recorded,
                    ..EventEnd::unrecorded(status, None, outcome)
                }
            }
            "PAYMENT.CAPTURE.REFUNDED" | "PAYMENT.CAPTURE.REVERSED" => {
                let kind = if event.event_type.ends_with("REVERSED") {
                    PostingKind::Reversal
                } else {
                    PostingKind::Refund
                };
                let Some(refund) = RefundFacts::from_json(resource, None) else {
                    return self
                        .finish(event, EventStatus::Rejected, None, "no refund")
                        .await;
                };
                self.apply_refund(&refund, kind, None, Some(event)).await?
            }
            _ => EventEnd::unrecorded(EventStatus::Ignored, None, "not acted on".to_owned()),
        };
        if end.recorded {
            // Finished in the transaction of the posting it carried.
            return Ok(());
        }
        self.store
            .payments()
            .finish_event(
                &event.id,
                end.status,
                end.waiting_for.as_deref(),
                &end.outcome,
                order_update
                    .as_ref()
                    .map(|(id, status, capture)| (id.as_str(), *status, capture.as_str())),
                self.clock.now(),
            )
            .await?;
        if let Some(capture_id) = end.waiting_for {
            // The capture may have been credited while this refund was deciding to wait.
            if self
                .store
                .posting_by_key(&capture_key(&capture_id))
                .await?
                .is_some()
            {
                self.store.payments().wake_waiting(&capture_id).await?;
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// An event that failed every try: it is set aside as rejected and billing staff are told,
    /// so that what it carried (a credit, a refund) is seen to by hand.
    async fn give_up(&self, event: &StoredEvent, error: &Error) -> Result<()> {
        let why = format!(
            "PayPal event {} ({}) could not be processed after {} attempts and is no longer \
             retried; nothing it carries was applied. Last error: {error}",
            event.id, event.event_type, event.attempts,
        );
        self.alert(&why).await?;
        self.finish(event, EventStatus::Rejected, None, &why).await
    }

    async fn finish(
        &self,
        event: &StoredEvent,
        status: EventStatus,
        waiting_for: Option<&str>,
        outcome: &str,
    ) -> Result<()> {
        self.store
            .payments()
            .finish_event(
                &event.id,
                status,
                waiting_for,
                outcome,
                None,
                self.clock.now(),
            )
            .await
    }

    /// Debits a refund or reversal from the wallet its capture credited. Before the capture's
    /// credit exists, the refund waits for it. A new debit records its audit entry and the
    /// outcome of `event` (the webhook event that carried the refund, if any) in its own
    /// transaction.
    async fn apply_refund(
        &self,
        refund: &RefundFacts,
        kind: PostingKind,
        staff: Option<(&Actor, &str)>,
        event: Option<&StoredEvent>,
    ) -> Result<EventEnd> {
        let Some(credit) = self
            .store
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
            && let Some((credited, refunded)) =
                self.store.payments().capture_refunds(capture_id).await?
        {
            let left = credited.checked_sub(refunded).unwrap_or(Money::ZERO);
            let refused = if !left.is_positive() {
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
                        order.currency
                    ),
                ))
            } else {
                None
            };
            if let Some(refused) = refused {
                crate::idempotency::forget(self.store.as_ref(), "paypal.refund", key, &fingerprint)
                    .await?;
                return Err(refused);
            }
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

    /// Processes events as they arrive (and every few seconds, for other replicas' and for
    /// leases that ran out) until `stop` turns true.
    pub async fn run_worker(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.process_pending().await {
                tracing::error!(%error, "the PayPal event worker could not read its events");
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paypal_values_have_the_currencys_decimals() {
        assert_eq!(
            paypal_value(Money::from_micros(10_000_000), "USD").ok(),
            Some("10.00".to_owned())
        );
        assert_eq!(
            paypal_value(Money::from_micros(12_340_000), "EUR").ok(),
            Some("12.34".to_owned())
        );
        assert_eq!(
            paypal_value(Money::from_micros(1_000_000_000), "JPY").ok(),
            Some("1000".to_owned())
        );
        assert!(paypal_value(Money::from_micros(10_001_000), "USD").is_err());
    }

    #[test]
    fn a_refund_finds_its_capture_by_the_up_link() {
        let refund = json!({
            "id": "1JU08902781691411",
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "10.00"},
            "links": [
                {"rel": "self", "href": "https://api-m.paypal.com/v2/payments/refunds/1JU08902781691411"},
                {"rel": "up", "href": "https://api-m.paypal.com/v2/payments/captures/2GG279541U471931P"}
            ]
        });
        let facts = RefundFacts::from_json(&refund, None).expect("a refund");
        assert_eq!(facts.capture_id, "2GG279541U471931P");
        assert_eq!(facts.value, "10.00");
    }
}
