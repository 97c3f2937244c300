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

mod amounts;
pub mod config;
mod group;
pub mod paypal;
pub mod webhook;

mod events;
mod orders;
mod refunds;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::Notify;

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ledger::{Attached, Ledger, Posted, PostingRequest};
use crate::money::Money;
use crate::notify::{DiscordMessage, Outbox};
use crate::policy::Actor;
use crate::store::payments::{EventStatus, NewEvent, StoredEvent};
use crate::store::{EngineKind, Store};
use amounts::paypal_value;

pub use config::{PaypalConfig, WebhookVerification};
pub use events::Received;
pub use orders::{CreatedOrder, Settlement};
pub use paypal::{PaypalClient, PaypalError};
pub use refunds::RefundOutcome;
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

    /// Whether PayPal answers and accepts the credentials now; `None` while payments are off.
    pub async fn reachable(&self) -> Option<bool> {
        match &self.client {
            Some(client) => Some(client.reachable().await),
            None => None,
        }
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
}

#[cfg(test)]
mod tests;
