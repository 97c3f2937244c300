//! A fake PayPal REST API on 127.0.0.1, for hostdeck's top-ups end to end.
//!
//! It speaks Orders v2, Payments v2 and Webhooks v1 as `../shared/wire/paypal/*.json` publish
//! them: OAuth client-credentials tokens, orders with `PayPal-Request-Id` idempotency, an approve
//! page a browser can click, capture (one per order, as PayPal allows), capture reads, refunds,
//! `verify-webhook-signature`, and the certificate endpoint. It signs webhook deliveries with
//! its own RSA key the way PayPal does, and forges them the ways an attacker would.
//!
//! Every request body is checked against the spec and every JSON answer too; what does not
//! match lands in [`FakePaypal::recorder`]`().problems()`, which a test asserts is empty.
//!
//! Layout: `books` holds the state and renders resources, `api` answers the REST calls,
//! `checkout` is the buyer's approve page, `webhooks` holds the keys, signatures and events.
//! Not here: disputes, payouts, vaulting, authorizations (hostdeck captures at once).

mod api;
mod books;
mod checkout;
mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::http::Method;
use serde_json::Value;

use crate::server::{self, Recorder, Running};
use crate::spec::Spec;

use books::Books;
pub use webhooks::{Delivery, Forgery};

/// An amount as PayPal writes it: a currency code and a decimal string, never a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub currency_code: String,
    pub value: String,
}

impl Money {
    pub fn new(currency_code: &str, value: &str) -> Self {
        Self {
            currency_code: currency_code.to_owned(),
            value: value.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Created by the merchant, not yet approved by the buyer.
    Created,
    /// The buyer clicked "Pay"; the merchant may capture.
    Approved,
    /// Captured (whatever became of the capture).
    Completed,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Approved => "APPROVED",
            Self::Completed => "COMPLETED",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureStatus {
    Completed,
    Pending,
    Declined,
    PartiallyRefunded,
    Refunded,
    Failed,
}

impl CaptureStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "COMPLETED",
            Self::Pending => "PENDING",
            Self::Declined => "DECLINED",
            Self::PartiallyRefunded => "PARTIALLY_REFUNDED",
            Self::Refunded => "REFUNDED",
            Self::Failed => "FAILED",
        }
    }
}

/// What the next capture turns out to be. hostdeck must credit only a COMPLETED capture of the
/// order's own amount and currency; these make the other cases happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptureOutcome {
    Completed,
    /// Captured but held for review (`status_details.reason: PENDING_REVIEW`); a later
    /// PAYMENT.CAPTURE.COMPLETED webhook (after [`FakePaypal::complete_capture`]) settles it.
    Pending,
    /// The capture exists with status DECLINED; the order is COMPLETED all the same.
    Declined,
    /// No capture: 422 INSTRUMENT_DECLINED, the order stays APPROVED.
    InstrumentDeclined,
    /// A COMPLETED capture whose amount or currency is not the order's.
    DifferentAmount(Money),
}

/// An order as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub status: OrderStatus,
    pub amount: Money,
    pub reference_id: Option<String>,
    /// hostdeck's own reference, echoed on the capture: how a capture finds its top-up.
    pub custom_id: Option<String>,
    pub invoice_id: Option<String>,
    /// From `payment_source.paypal.experience_context`, or the legacy `application_context`.
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    /// The `PayPal-Request-Id` it was created with.
    pub request_id: Option<String>,
    pub capture_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    pub id: String,
    pub order_id: String,
    pub status: CaptureStatus,
    pub amount: Money,
    pub custom_id: Option<String>,
    pub invoice_id: Option<String>,
    pub refund_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub capture_id: String,
    pub amount: Money,
}

/// The fake PayPal. Dropping it stops its servers.
pub struct FakePaypal {
    shared: Arc<Shared>,
    http: reqwest::Client,
    _server: Running,
    _foreign: Running,
}

/// What the request handlers and the test's handle share.
struct Shared {
    recorder: Recorder,
    /// Calls to the "other host" that serves an attacker's certificate.
    foreign_recorder: Recorder,
    client_id: String,
    secret: String,
    cert_id: String,
    base_url: OnceLock<String>,
    foreign_url: OnceLock<String>,
    keys: &'static webhooks::Keys,
    books: Mutex<Books>,
}

impl Shared {
    fn base_url(&self) -> &str {
        self.base_url.get().map_or("", String::as_str)
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cert_url(&self) -> String {
        self.served_url(webhooks::Served::Genuine)
    }

    /// Where the fake serves `served` on its own host.
    fn served_url(&self, served: webhooks::Served) -> String {
        format!(
            "{}/v1/notifications/certs/{}",
            self.base_url(),
            served.id(&self.cert_id)
        )
    }
}

/// The three published specs, loaded once per test process: they are large, and their compiled
/// validators are worth sharing between fakes.
struct Specs {
    orders: Spec,
    payments: Spec,
    webhooks: Spec,
}

fn specs() -> &'static Specs {
    static SPECS: OnceLock<Specs> = OnceLock::new();
    SPECS.get_or_init(|| Specs {
        orders: Spec::load("paypal/checkout_orders_v2.json", ""),
        payments: Spec::load("paypal/payments_payment_v2.json", ""),
        webhooks: Spec::load("paypal/notifications_webhooks_v1.json", ""),
    })
}

/// The spec that documents `path`; `None` for the OAuth token, the certificates and the approve
/// page, which no published spec covers.
fn spec_for(path: &str) -> Option<&'static Spec> {
    let specs = specs();
    if path.starts_with("/v2/checkout/") {
        Some(&specs.orders)
    } else if path.starts_with("/v2/payments/") {
        Some(&specs.payments)
    } else if path.starts_with("/v1/notifications/") && !path.starts_with("/v1/notifications/certs")
    {
        Some(&specs.webhooks)
    } else {
        None
    }
}

impl FakePaypal {
    /// Starts the fake on a free loopback port, with fresh credentials and no webhooks.
    pub async fn start() -> Self {
        let keys = webhooks::keys().await;
        let recorder = Recorder::default();
        let shared = Arc::new(Shared {
            recorder: recorder.clone(),
            foreign_recorder: Recorder::default(),
            client_id: format!("A{}", books::token_text(79)),
            secret: format!("E{}", books::token_text(79)),
            cert_id: format!("CERT-360caa42-fca2a594-{}", books::hex(8)),
            base_url: OnceLock::new(),
            foreign_url: OnceLock::new(),
            keys,
            books: Mutex::new(Books::new()),
        });
        let router = Router::new()
            .fallback(api::handle)
            .with_state(shared.clone());
        let server = server::spawn(router, &recorder).await;
        let _ = shared.base_url.set(server.base_url());
        let foreign = webhooks::spawn_foreign_host(&shared).await;
        let _ = shared
            .foreign_url
            .set(format!("http://localhost:{}", foreign.addr.port()));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("build the fake PayPal's HTTP client");
        Self {
            shared,
            http,
            _server: server,
            _foreign: foreign,
        }
    }

    /// `http://127.0.0.1:PORT`: hostdeck's `paypal.base_url`.
    pub fn base_url(&self) -> String {
        self.shared.base_url().to_owned()
    }

    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    pub fn secret(&self) -> &str {
        &self.shared.secret
    }

    /// Every call received, and every problem found in them.
    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// How many times hostdeck asked for a token: proves it caches one.
    pub fn token_requests(&self) -> usize {
        self.recorder()
            .calls_to(&Method::POST, "/v1/oauth2/token")
            .len()
    }

    /// Makes every token issued so far unknown, as after expiry: the next API call gets a 401,
    /// and hostdeck must fetch a new token and retry.
    pub fn expire_tokens(&self) {
        self.shared.books().tokens.clear();
    }

    /// How long tokens issued from now on live (`expires_in`).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.books().token_lifetime = lifetime;
    }

    /// Whether `token` would be accepted now.
    pub fn token_is_valid(&self, token: &str) -> bool {
        self.shared.books().token_is_valid(token)
    }

    /// A webhook configured in the merchant's account: the verify API answers SUCCESS only for
    /// these. PayPal's webhook ids are letters and digits (`1JE4291016473214C`); the spec
    /// refuses others in a verify request.
    pub fn register_webhook(&self, webhook_id: &str) {
        self.shared.books().webhooks.insert(webhook_id.to_owned());
    }

    /// Where the fake serves its certificate, as sent in `PAYPAL-CERT-URL`.
    pub fn cert_url(&self) -> String {
        self.shared.cert_url()
    }

    /// The fake's certificate chain as served (PEM: the leaf, then the intermediate), to
    /// compare with what hostdeck fetched.
    pub fn cert_pem(&self) -> &str {
        &self.shared.keys.paypal_cert
    }

    /// The root of the fake's CA (PEM), which issued its certificate through the intermediate:
    /// what a receiver trusts (hostdeck's `paypal.cert_roots`). The same in every fake of the
    /// process.
    pub fn root_pem(&self) -> &str {
        &self.shared.keys.root_cert
    }

    /// How many times the genuine certificate was fetched: hostdeck should cache it.
    pub fn cert_fetches(&self) -> usize {
        let path = format!("/v1/notifications/certs/{}", self.shared.cert_id);
        self.recorder()
            .calls_to(&Method::GET, &path)
            .iter()
            .filter(|call| call.path() == path)
            .count()
    }

    /// How many requests reached the "other host" of [`Forgery::ForeignCertUrl`]: hostdeck must
    /// never fetch a certificate from a host outside its allow-list.
    pub fn foreign_cert_fetches(&self) -> usize {
        self.shared.foreign_recorder.calls().len()
    }

    /// The approve link of an order, which a browser opens.
    pub fn approve_url(&self, order_id: &str) -> String {
        format!("{}/checkoutnow?token={order_id}", self.base_url())
    }

    /// Clicks "Pay" on the approve page, as the buyer's browser would, and returns where PayPal
    /// sends the buyer back: the order's return URL with `token` and `PayerID`.
    pub async fn approve(&self, order_id: &str) -> String {
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", order_id)
            .finish();
        let response = self
            .http
            .post(format!("{}/checkoutnow/approve", self.base_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("post the approve form");
        redirect_target(response, "approve").await
    }

    /// Follows the "Cancel" link of the approve page; returns the order's cancel URL with
    /// `token`.
    pub async fn cancel(&self, order_id: &str) -> String {
        let response = self
            .http
            .get(format!(
                "{}/checkoutnow/cancel?token={order_id}",
                self.base_url()
            ))
            .send()
            .await
            .expect("follow the cancel link");
        redirect_target(response, "cancel").await
    }

    /// Queues what the next capture becomes; captures past the queue complete normally.
    pub fn next_capture(&self, outcome: CaptureOutcome) {
        self.shared.books().next_captures.push_back(outcome);
    }

    pub fn order(&self, order_id: &str) -> Option<Order> {
        self.shared
            .books()
            .orders
            .get(order_id)
            .map(books::OrderRecord::snapshot)
    }

    /// Every order, oldest first.
    pub fn orders(&self) -> Vec<Order> {
        let books = self.shared.books();
        books
            .order_ids
            .iter()
            .filter_map(|id| books.orders.get(id))
            .map(books::OrderRecord::snapshot)
            .collect()
    }

    pub fn capture(&self, capture_id: &str) -> Option<Capture> {
        self.shared
            .books()
            .captures
            .get(capture_id)
            .map(books::CaptureRecord::snapshot)
    }

    pub fn refund(&self, refund_id: &str) -> Option<Refund> {
        self.shared
            .books()
            .refunds
            .get(refund_id)
            .map(books::RefundRecord::snapshot)
    }

    /// Settles a PENDING capture as PayPal does after review: it becomes COMPLETED. Send
    /// [`Self::capture_completed_event`] after it, as PayPal would.
    pub fn complete_capture(&self, capture_id: &str) {
        let mut books = self.shared.books();
        let capture = books
            .captures
            .get_mut(capture_id)
            .unwrap_or_else(|| panic!("the fake PayPal has no capture {capture_id}"));
        capture.status = CaptureStatus::Completed;
        capture.updated = books::now();
    }

    /// A refund the merchant makes in PayPal's own dashboard, not through hostdeck: hostdeck
    /// learns of it only by PAYMENT.CAPTURE.REFUNDED. `None` refunds what is left.
    pub fn refund_in_dashboard(&self, capture_id: &str, amount: Option<Money>) -> Refund {
        let mut books = self.shared.books();
        let capture = books
            .captures
            .get(capture_id)
            .unwrap_or_else(|| panic!("the fake PayPal has no capture {capture_id}"));
        let left = capture.amount.minor_units().unwrap_or(0) - books.refunded_minor(capture);
        assert!(left > 0, "capture {capture_id} has nothing left to refund");
        let amount = amount.unwrap_or_else(|| capture.amount.with_minor(left));
        let id = books.add_refund(capture_id, amount, None, None, None);
        books.refunds[&id].snapshot()
    }

    /// A chargeback: the buyer's bank takes back what is left of the payment. hostdeck learns
    /// of it only by PAYMENT.CAPTURE.REVERSED, whose resource is a refund of that amount.
    pub fn reverse(&self, capture_id: &str) -> Refund {
        self.refund_in_dashboard(capture_id, None)
    }

    /// A PAYMENT.CAPTURE.COMPLETED event for a capture as it stands now.
    pub fn capture_completed_event(&self, capture_id: &str) -> Value {
        webhooks::capture_event(&self.shared, "PAYMENT.CAPTURE.COMPLETED", capture_id)
    }

    /// A PAYMENT.CAPTURE.REFUNDED event; its resource is the refund, whose `up` link names the
    /// capture.
    pub fn capture_refunded_event(&self, refund_id: &str) -> Value {
        webhooks::refund_event(&self.shared, "PAYMENT.CAPTURE.REFUNDED", refund_id)
    }

    /// A PAYMENT.CAPTURE.REVERSED event for the refund [`Self::reverse`] made.
    pub fn capture_reversed_event(&self, refund_id: &str) -> Value {
        webhooks::refund_event(&self.shared, "PAYMENT.CAPTURE.REVERSED", refund_id)
    }

    /// A CHECKOUT.ORDER.APPROVED event; its resource is the order.
    pub fn order_approved_event(&self, order_id: &str) -> Value {
        webhooks::order_event(&self.shared, "CHECKOUT.ORDER.APPROVED", order_id)
    }

    /// Any other event around `resource`, for event types hostdeck should ignore.
    pub fn event(&self, event_type: &str, resource_type: &str, resource: Value) -> Value {
        webhooks::event(&self.shared, event_type, resource_type, resource)
    }

    /// POSTs `event` to `url` signed as PayPal signs it for `webhook_id`.
    pub async fn deliver(&self, event: &Value, url: &str, webhook_id: &str) -> Delivery {
        let signed = webhooks::sign(&self.shared, event, webhook_id);
        webhooks::send(&self.shared, &self.http, url, signed).await
    }

    /// POSTs `event` to `url` with one thing wrong, as an attacker would send it.
    pub async fn deliver_forged(
        &self,
        forgery: Forgery,
        event: &Value,
        url: &str,
        webhook_id: &str,
    ) -> Delivery {
        let signed = webhooks::forge(&self.shared, forgery, event, webhook_id);
        webhooks::send(&self.shared, &self.http, url, signed).await
    }

    /// Sends a delivery again, byte for byte: a replay, or PayPal's duplicate delivery.
    pub async fn replay(&self, delivery: &Delivery) -> Delivery {
        webhooks::resend(&self.http, delivery).await
    }

    /// Delivers as PayPal retries: again after every non-2xx answer, each attempt a fresh
    /// transmission, up to `attempts` times (PayPal's own limit is 25, over three days).
    pub async fn deliver_until_accepted(
        &self,
        event: &Value,
        url: &str,
        webhook_id: &str,
        attempts: usize,
    ) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        for _ in 0..attempts {
            let delivery = self.deliver(event, url, webhook_id).await;
            let accepted = delivery.accepted();
            deliveries.push(delivery);
            if accepted {
                break;
            }
        }
        deliveries
    }
}

async fn redirect_target(response: reqwest::Response, what: &str) -> String {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) if status == reqwest::StatusCode::SEE_OTHER => location,
        _ => {
            let body = response.text().await.unwrap_or_default();
            panic!("the fake PayPal's {what} page answered {status}, not a redirect: {body}")
        }
    }
}
