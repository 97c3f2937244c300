//! PayPal webhooks under attack and under load, against the fake PayPal: forged, unsigned,
//! truncated and tampered deliveries, certificates from another host, and certificates on
//! PayPal's host that are expired, not yet valid or from an unknown CA credit nothing; one
//! event delivered 1,000 times (50 at once) credits once; two events for one capture credit
//! once; a capture for an unknown order, of another amount or for another customer credits
//! nobody and alerts billing staff; a refund that arrives before its capture is applied once,
//! after it. Also the road back from PayPal (capture on return), token caching and retries.

use std::sync::Arc;

use axum::http::StatusCode;
use hostdeck_core::clock::{Clock, ManualClock, SystemClock};
use hostdeck_core::config::Config;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::money::Money;
use hostdeck_core::payments::{
    EVENT_ATTEMPTS, Rejection, Settlement, Verifier, WebhookHeaders, WebhookVerification,
    capture_key, refund_key,
};
use hostdeck_core::policy::{Actor, Role, Scope, Scopes, Via};
use hostdeck_core::store::Page;
use hostdeck_core::store::payments::{EventStatus, OrderStatus, StoredOrder};
use hostdeck_e2e::app::{SignedIn, TestApp};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::paypal::CertRoots;
use hostdeck_fakes::paypal::{CaptureOutcome, Delivery, FakePaypal, Forgery};
use hostdeck_fakes::server::Fault;
use secrecy::SecretString;
use serde_json::{Value, json};

/// Where billing staff are alerted in these tests.
pub const BILLING_WEBHOOK: &str = "https://discord.test/api/webhooks/1/billing-token";

/// The platform wired to a fake PayPal, with its webhook registered there.
pub struct Shop {
    pub paypal: FakePaypal,
    pub app: TestApp,
    pub webhook_id: String,
    pub db: TestDb,
    _cert_roots: CertRoots,
}

impl Shop {
    pub async fn open(db: TestDb, verification: WebhookVerification) -> Self {
        Self::open_at(db, verification, Arc::new(SystemClock)).await
    }

    /// As [`Self::open`], with the platform's clock `clock`.
    pub async fn open_at(
        db: TestDb,
        verification: WebhookVerification,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let paypal = FakePaypal::start().await;
        let webhook_id = format!("7WH{}", rand::random::<u32>());
        paypal.register_webhook(&webhook_id);
        let mut config = Config::default();
        config.company.name = "Example Hosting".into();
        config.paypal.base_url = paypal.base_url().parse().expect("a URL");
        config.paypal.client_id = Some(paypal.client_id().to_owned());
        config.paypal.client_secret = Some(SecretString::from(paypal.secret().to_owned()));
        config.paypal.webhook_id = Some(webhook_id.clone());
        config.paypal.webhook_verification = verification;
        config.paypal.cert_hosts = vec!["127.0.0.1".into()];
        let cert_roots = CertRoots::of(&paypal);
        config.paypal.cert_roots = Some(cert_roots.path().to_owned());
        config.discord.billing_webhook = Some(SecretString::from(BILLING_WEBHOOK));
        let core = db.core_with(config, clock).await;
        let app = TestApp::start(core).await;
        Self {
            paypal,
            app,
            webhook_id,
            db,
            _cert_roots: cert_roots,
        }
    }

    /// `delivery` was refused by the webhook route (400), and core, handed it as that route
    /// hands it, refuses it as forged for a reason containing `reason`; `case` names the try.
    pub async fn assert_refused_as_forged(&self, delivery: &Delivery, reason: &str, case: &str) {
        assert_eq!(delivery.status, 400, "{case}: {}", delivery.answer);
        let outcome = self
            .app
            .core()
            .payments
            .receive_webhook(&headers_of(delivery), &delivery.body)
            .await;
        match outcome {
            Err(Rejection::Forged(why)) => assert!(why.contains(reason), "{case}: {why}"),
            other => panic!("{case} must be refused as forged: {other:?}"),
        }
    }

    pub fn webhook_url(&self) -> String {
        self.app.url("/webhooks/paypal")
    }

    pub async fn customer(&self, email: &str) -> SignedIn {
        self.app.user(email, Role::Customer).await
    }

    /// An order for `customer`, approved by the buyer at PayPal, not yet captured.
    pub async fn approved_order(&self, customer: &SignedIn, amount: i64) -> String {
        let actor = Actor::user(customer.user.id, Role::Customer, Via::Portal);
        let order = self
            .app
            .core()
            .payments
            .create_order(
                &actor,
                &customer.user,
                Money::from_micros(amount * 1_000_000),
                &self.app.url("/billing/paypal/return"),
                &self.app.url("/billing/paypal/cancel"),
            )
            .await
            .expect("an order");
        let back = self.paypal.approve(&order.id).await;
        assert!(back.contains(&order.id), "{back}");
        order.id
    }

    /// Captures `order` as the return page does.
    pub async fn capture(&self, customer: &SignedIn, order: &str) -> Settlement {
        let actor = Actor::user(customer.user.id, Role::Customer, Via::Portal);
        self.app
            .core()
            .payments
            .capture(&actor, &customer.user, order)
            .await
            .expect("a capture")
    }

    /// An order captured at PayPal but held for review there, so that only the webhook can
    /// credit it: its capture id.
    pub async fn pending_capture(&self, customer: &SignedIn, amount: i64) -> String {
        let order = self.approved_order(customer, amount).await;
        self.paypal.next_capture(CaptureOutcome::Pending);
        assert_eq!(self.capture(customer, &order).await, Settlement::Pending);
        let capture = self
            .paypal
            .order(&order)
            .and_then(|order| order.capture_id)
            .expect("a capture at PayPal");
        self.paypal.complete_capture(&capture);
        capture
    }

    /// Processes what is stored, and waits for what the platform's own worker has leased.
    pub async fn process(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            self.app
                .core()
                .payments
                .process_pending()
                .await
                .expect("events processed");
            if self.stored_events(EventStatus::Pending).await == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stored events stay unprocessed"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn balance(&self, customer: &SignedIn) -> Money {
        self.app
            .core()
            .store()
            .ledger()
            .account_balance(customer.user.wallet)
            .await
            .expect("a balance")
    }

    pub async fn postings(&self) -> u64 {
        self.app
            .core()
            .store()
            .ledger()
            .count_postings()
            .await
            .expect("a count")
    }

    /// The alerts billing staff got: the audit log's, each also queued for their channel.
    pub async fn alerts(&self) -> Vec<String> {
        let log = self
            .app
            .core()
            .store()
            .audit()
            .audit_log(Page::first(200))
            .await
            .expect("the audit log");
        let alerts: Vec<String> = log
            .items
            .iter()
            .filter(|record| record.action == "paypal.alert")
            .map(|record| format!("{:?}", record.detail))
            .collect();
        assert_eq!(
            self.outbox_to_billing().await,
            alerts.len(),
            "every alert is queued for the billing channel"
        );
        alerts
    }

    async fn outbox_to_billing(&self) -> usize {
        let sql = format!(
            "SELECT COUNT(*) FROM outbox WHERE channel = 'discord_webhook' AND recipient = '{}'",
            hostdeck_core::notify::BILLING_STAFF
        );
        let count: i64 = if self.db.url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(&self.db.url)
                .await
                .expect("sqlite");
            sqlx::query_scalar(&sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        } else {
            let pool = sqlx::PgPool::connect(&self.db.url).await.expect("postgres");
            sqlx::query_scalar(&sql)
                .fetch_one(&pool)
                .await
                .expect("count")
        };
        usize::try_from(count).expect("a count")
    }

    pub async fn stored_events(&self, status: EventStatus) -> u64 {
        self.app
            .core()
            .store()
            .payments()
            .count_events(status)
            .await
            .expect("a count")
    }

    pub fn assert_paypal_clean(&self) {
        let problems = self.paypal.recorder().problems();
        assert!(
            problems.is_empty(),
            "the fake PayPal saw problems: {problems:?}"
        );
    }
}

/// `units` whole dollars.
pub fn usd(units: i64) -> Money {
    Money::from_micros(units * 1_000_000)
}

hostdeck_e2e::on_both_engines!(
    forged_deliveries_credit_nothing,
    one_event_a_thousand_times_credits_once,
    two_events_and_the_return_for_one_capture_credit_once,
    captures_that_do_not_match_credit_nobody_and_alert_staff,
    a_refund_before_its_capture_waits_and_applies_once,
    an_event_that_keeps_failing_is_given_up_and_staff_alerted,
    a_refund_waiting_on_a_rejected_or_unknown_capture_alerts_staff,
);

async fn forged_deliveries_credit_nothing(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("forged@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);
    for forgery in Forgery::ALL {
        let delivery = shop
            .paypal
            .deliver_forged(forgery, &event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(
            delivery.status, 400,
            "{forgery:?} must be refused: {}",
            delivery.answer
        );
    }
    assert_eq!(
        shop.paypal.foreign_cert_fetches(),
        0,
        "no certificate is fetched from a host outside paypal.cert_hosts"
    );
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Pending).await, 0);
    assert_eq!(shop.stored_events(EventStatus::Done).await, 0);
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.postings().await, 0);

    // The genuine delivery of the same event is accepted; the certificate was fetched once.
    let genuine = shop
        .paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(genuine.status, 200, "{}", genuine.answer);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.paypal.cert_fetches(), 1, "the certificate is cached");
    shop.assert_paypal_clean();
}

/// The headers of `delivery` as the webhook route hands them to core.
pub fn headers_of(delivery: &Delivery) -> WebhookHeaders {
    let header = |name: &str| delivery.header(name).map(str::to_owned);
    WebhookHeaders {
        transmission_id: header("PAYPAL-TRANSMISSION-ID"),
        transmission_time: header("PAYPAL-TRANSMISSION-TIME"),
        transmission_sig: header("PAYPAL-TRANSMISSION-SIG"),
        cert_url: header("PAYPAL-CERT-URL"),
        auth_algo: header("PAYPAL-AUTH-ALGO"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_current_certificate_from_a_trusted_ca_vouches_for_a_delivery() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("chain@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);
    // Each is signed by the key of the certificate it names, on PayPal's own host: only the
    // certificate's chain or dates give it away.
    let cases = [
        (Forgery::UnknownCaCert, "does not chain to a trusted root"),
        (Forgery::SelfSignedCert, "does not chain to a trusted root"),
        (Forgery::LookalikeChain, "is not trusted"),
        (Forgery::ExpiredCert, "expired at"),
        (Forgery::NotYetValidCert, "is not valid before"),
    ];
    for (forgery, reason) in cases {
        assert!(forgery.needs_a_trusted_certificate());
        let delivery = shop
            .paypal
            .deliver_forged(forgery, &event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        shop.assert_refused_as_forged(&delivery, reason, &format!("{forgery:?}"))
            .await;
    }
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Pending).await, 0);
    assert_eq!(shop.stored_events(EventStatus::Done).await, 0);
    assert_eq!(shop.balance(&customer).await, Money::ZERO);

    // The genuine chain (leaf, then intermediate) to the configured root is accepted.
    let genuine = shop
        .paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(genuine.status, 200, "{}", genuine.answer);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.paypal.cert_fetches(), 1, "the certificate is cached");

    // Without paypal.cert_roots only the Mozilla roots are trusted, and the fake's CA is not
    // one of them: the same genuine delivery is refused.
    let mut config = Config::default();
    config.paypal.webhook_id = Some(shop.webhook_id.clone());
    config.paypal.webhook_verification = WebhookVerification::Offline;
    config.paypal.cert_hosts = vec!["127.0.0.1".into()];
    let mozilla = Verifier::new(&config.paypal, Arc::new(SystemClock)).expect("a verifier");
    let outcome = mozilla
        .verify(None, &headers_of(&genuine), &genuine.body)
        .await;
    match outcome {
        Err(Rejection::Forged(why)) => {
            assert!(why.contains("does not chain to a trusted root"), "{why}");
        }
        other => panic!("the fake's CA is not a Mozilla root: {other:?}"),
    }
    shop.assert_paypal_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_deliveries_are_refused_by_the_verify_api_too() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Api).await;
    let customer = shop.customer("forged-api@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);
    for forgery in Forgery::ALL {
        let delivery = shop
            .paypal
            .deliver_forged(forgery, &event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(delivery.status, 400, "{forgery:?}: {}", delivery.answer);
    }
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    let genuine = shop
        .paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(genuine.status, 200, "{}", genuine.answer);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.paypal.foreign_cert_fetches(), 0);
    assert_eq!(
        shop.paypal.token_requests(),
        1,
        "one token serves every call"
    );
    shop.assert_paypal_clean();

    // PayPal's verify API down: 503 so that PayPal delivers again, in the API's error shape
    // and without PayPal's or the store's own words.
    shop.paypal.recorder().fail_always(
        "verify-webhook-signature",
        Fault::Status(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"name": "INTERNAL_SERVICE_ERROR", "message": "verifier-detail-7731", "debug_id": "dbg7731"}),
        ),
    );
    let again = shop.paypal.capture_completed_event(&capture);
    let down = shop
        .paypal
        .deliver(&again, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(down.status, 503, "{}", down.answer);
    let answer: Value = serde_json::from_str(&down.answer).expect("a JSON answer");
    assert_eq!(answer["error"]["code"], "unavailable", "{answer}");
    let message = answer["error"]["message"].as_str().expect("a message");
    assert!(
        !message.contains("7731")
            && !message.contains("INTERNAL_SERVICE_ERROR")
            && !message.contains("could not verify the signature"),
        "{message}"
    );
}

async fn one_event_a_thousand_times_credits_once(db: TestDb) {
    let shop = Arc::new(Shop::open(db, WebhookVerification::Offline).await);
    let customer = shop.customer("replay@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);
    let first = shop
        .paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(first.status, 200, "{}", first.answer);
    // 999 more, 50 at a time, while the worker processes what is stored.
    let mut accepted = 1;
    for _round in 0..20 {
        let mut wave = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let shop = shop.clone();
            let first = first.clone();
            wave.spawn(async move { shop.paypal.replay(&first).await.status });
        }
        while let Some(status) = wave.join_next().await {
            if status.expect("a delivery") == 200 {
                accepted += 1;
            }
        }
        if accepted >= 1_000 {
            break;
        }
    }
    assert!(accepted >= 1_000, "duplicates are answered 2xx: {accepted}");
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.postings().await, 1);
    assert_eq!(shop.stored_events(EventStatus::Done).await, 1);
    let posting = shop
        .app
        .core()
        .store()
        .ledger()
        .posting_by_key(&capture_key(&capture))
        .await
        .expect("a read")
        .expect("the credit");
    assert_eq!(posting.kind, PostingKind::TopUp);
    assert!(shop.alerts().await.is_empty());
}

async fn two_events_and_the_return_for_one_capture_credit_once(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("twice@example.test").await;

    // A capture completed at once on return: the return credits it, the webhooks do not again.
    let order = shop.approved_order(&customer, 10).await;
    let settled = shop.capture(&customer, &order).await;
    let Settlement::Credited {
        capture_id, new, ..
    } = settled
    else {
        panic!("the return credits a completed capture: {settled:?}");
    };
    assert!(new);
    // A reload of the return page captures nothing new.
    assert!(matches!(
        shop.capture(&customer, &order).await,
        Settlement::Credited { new: false, .. }
    ));
    for _ in 0..2 {
        let event = shop.paypal.capture_completed_event(&capture_id);
        let delivery = shop
            .paypal
            .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(delivery.status, 200, "{}", delivery.answer);
    }
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Done).await, 2);
    assert_eq!(shop.balance(&customer).await, usd(10));

    // A capture only the webhooks credit: two different events for it, one credit.
    let pending = shop.pending_capture(&customer, 25).await;
    for _ in 0..2 {
        let event = shop.paypal.capture_completed_event(&pending);
        assert_eq!(
            shop.paypal
                .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
                .await
                .status,
            200
        );
    }
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(35));
    assert_eq!(shop.postings().await, 2);
    shop.assert_paypal_clean();
}

/// A genuine capture event whose resource is changed by `change`, signed anew as PayPal would.
pub fn altered(shop: &Shop, capture: &str, change: impl FnOnce(&mut Value)) -> Value {
    let event = shop.paypal.capture_completed_event(capture);
    let mut resource = event["resource"].clone();
    change(&mut resource);
    shop.paypal
        .event("PAYMENT.CAPTURE.COMPLETED", "capture", resource)
}

async fn captures_that_do_not_match_credit_nobody_and_alert_staff(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("mismatch@example.test").await;
    let other = shop.customer("other@example.test").await;

    let capture = shop.pending_capture(&customer, 10).await;
    let cases = [
        // Another amount.
        altered(&shop, &capture, |resource| {
            resource["amount"]["value"] = json!("99.00");
            resource["id"] = json!("AMOUNT0000000001");
        }),
        // Another currency.
        altered(&shop, &capture, |resource| {
            resource["amount"]["currency_code"] = json!("EUR");
            resource["id"] = json!("CURRENCY00000001");
        }),
        // An order hostdeck never made.
        altered(&shop, &capture, |resource| {
            resource["supplementary_data"]["related_ids"]["order_id"] = json!("UNKNOWNORDER0001");
            resource["id"] = json!("UNKNOWN000000001");
        }),
        // The order of one customer, naming another.
        altered(&shop, &capture, |resource| {
            resource["custom_id"] = json!(format!("user:{}", other.user.id));
            resource["id"] = json!("OTHERUSER0000001");
        }),
    ];
    for event in &cases {
        let delivery = shop
            .paypal
            .deliver(event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(
            delivery.status, 200,
            "stored, then judged: {}",
            delivery.answer
        );
    }
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.balance(&other).await, Money::ZERO);
    assert_eq!(shop.postings().await, 0);
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 4);
    let alerts = shop.alerts().await;
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    for what in [
        "is 99.00 USD",
        "is 10.00 EUR",
        "belongs to no order",
        "names customer",
    ] {
        assert!(
            alerts.iter().filter(|alert| alert.contains(what)).count() == 1,
            "one alert says {what}: {alerts:?}"
        );
    }

    // The return road refuses a capture of another amount the same way.
    let order = shop.approved_order(&customer, 20).await;
    shop.paypal.next_capture(CaptureOutcome::DifferentAmount(
        hostdeck_fakes::paypal::Money::new("USD", "2.00"),
    ));
    let settled = shop.capture(&customer, &order).await;
    assert!(matches!(settled, Settlement::Rejected(_)), "{settled:?}");
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.alerts().await.len(), 5);

    // Reloading its return page, twice, tells the customer the same and staff nothing new;
    // nor does PayPal's webhook for the same capture.
    for _ in 0..2 {
        let page = shop
            .app
            .http
            .get(
                shop.app
                    .url(&format!("/billing/paypal/return?token={order}")),
            )
            .header("cookie", format!("hd_session={}", customer.token))
            .send()
            .await
            .expect("the return page");
        assert_eq!(page.status(), StatusCode::CONFLICT);
        let text = page.text().await.expect("a page");
        assert!(text.contains("did not match its order"), "{text}");
    }
    let capture_id = shop
        .paypal
        .order(&order)
        .and_then(|order| order.capture_id)
        .expect("a capture at PayPal");
    let event = shop.paypal.capture_completed_event(&capture_id);
    shop.paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 5);
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.alerts().await.len(), 5);
    shop.assert_paypal_clean();
}

async fn a_refund_before_its_capture_waits_and_applies_once(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("refund@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let refund = shop.paypal.refund_in_dashboard(&capture, None);
    let refunded = shop.paypal.capture_refunded_event(&refund.id);
    let completed = shop.paypal.capture_completed_event(&capture);

    // The refund arrives first (order is not guaranteed): it waits.
    let delivery = shop
        .paypal
        .deliver(&refunded, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(delivery.status, 200, "{}", delivery.answer);
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Waiting).await, 1);
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.postings().await, 0);

    // The capture comes: credited, then the waiting refund is applied.
    shop.paypal
        .deliver(&completed, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Waiting).await, 0);
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.postings().await, 2);

    // The refund again, replayed and as a fresh event: no second debit.
    shop.paypal.replay(&delivery).await;
    let again = shop.paypal.capture_refunded_event(&refund.id);
    shop.paypal
        .deliver(&again, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.postings().await, 2);
    let debit = shop
        .app
        .core()
        .store()
        .ledger()
        .posting_by_key(&refund_key(&refund.id))
        .await
        .expect("a read")
        .expect("the refund's debit");
    assert_eq!(debit.kind, PostingKind::Refund);
    assert_eq!(debit.amount, usd(10));
    assert!(shop.alerts().await.is_empty());
    shop.assert_paypal_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chargeback_debits_and_staff_refunds_debit_once() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("chargeback@example.test").await;
    let order = shop.approved_order(&customer, 30).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };

    // Billing staff refund 5.00 from hostdeck: PayPal completes it, the wallet is debited,
    // and PayPal's webhook for the same refund debits nothing more.
    let staff = shop.app.user("billing@example.test", Role::Billing).await;
    let actor = Actor::user(staff.user.id, Role::Billing, Via::Portal).with_two_factor();
    let outcome = shop
        .app
        .core()
        .payments
        .refund(
            &actor,
            &customer.user,
            &capture_id,
            Some(usd(5)),
            "goodwill",
            "k1",
        )
        .await
        .expect("a refund");
    let hostdeck_core::payments::RefundOutcome::Debited { refund_id, amount } = outcome else {
        panic!("a completed refund is debited: {outcome:?}");
    };
    assert_eq!(amount, usd(5));
    assert_eq!(shop.balance(&customer).await, usd(25));
    let event = shop.paypal.capture_refunded_event(&refund_id);
    shop.paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(25));

    // A customer may not refund.
    let customer_actor = Actor::user(customer.user.id, Role::Customer, Via::Portal);
    let refused = shop
        .app
        .core()
        .payments
        .refund(
            &customer_actor,
            &customer.user,
            &capture_id,
            None,
            "mine",
            "k2",
        )
        .await
        .expect_err("customers cannot refund");
    assert_eq!(refused.code(), hostdeck_core::ErrorCode::Forbidden);

    // The bank takes the rest back: a reversal debits it.
    let reversal = shop.paypal.reverse(&capture_id);
    let event = shop.paypal.capture_reversed_event(&reversal.id);
    shop.paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    let debit = shop
        .app
        .core()
        .store()
        .ledger()
        .posting_by_key(&refund_key(&reversal.id))
        .await
        .expect("a read")
        .expect("the reversal");
    assert_eq!(debit.kind, PostingKind::Reversal);
    shop.assert_paypal_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_refund_an_old_capture_of_the_customer_and_no_other() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("loyal@example.test").await;
    let other = shop.customer("other@example.test").await;
    let order = shop.approved_order(&customer, 20).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };
    // Sixty newer orders: the capture is no longer among the customer's recent ones.
    let start = chrono::Utc::now();
    for n in 0..60 {
        let at = start + chrono::Duration::seconds(n + 1);
        shop.app
            .core()
            .store()
            .payments()
            .insert_order(&StoredOrder {
                id: format!("NEWER{n}"),
                user: customer.user.id,
                amount: usd(5),
                currency: "USD".into(),
                request_id: format!("request-{n}"),
                status: OrderStatus::Cancelled,
                capture_id: None,
                created_at: at,
                updated_at: at,
            })
            .await
            .expect("an order");
    }
    let staff = shop.app.user("refunds@example.test", Role::Billing).await;
    let actor = Actor::user(staff.user.id, Role::Billing, Via::Portal).with_two_factor();
    let recent = shop
        .app
        .core()
        .payments
        .orders(&actor, &customer.user)
        .await
        .expect("orders");
    assert!(
        recent
            .iter()
            .all(|o| o.capture_id.as_deref() != Some(capture_id.as_str())),
        "the capture is older than the recent orders"
    );

    // Named with another customer, the capture is not found and nothing is refunded.
    let refused = shop
        .app
        .core()
        .payments
        .refund(
            &actor,
            &other.user,
            &capture_id,
            None,
            "wrong customer",
            "k1",
        )
        .await
        .expect_err("another customer's capture");
    assert_eq!(refused.code(), hostdeck_core::ErrorCode::NotFound);
    assert_eq!(shop.balance(&customer).await, usd(20));
    let at_paypal = shop
        .paypal
        .capture(&capture_id)
        .expect("the capture at PayPal");
    assert!(at_paypal.refund_ids.is_empty(), "{at_paypal:?}");

    // With its own customer, the old capture refunds.
    let outcome = shop
        .app
        .core()
        .payments
        .refund(&actor, &customer.user, &capture_id, None, "goodwill", "k2")
        .await
        .expect("a refund");
    assert!(
        matches!(outcome, hostdeck_core::payments::RefundOutcome::Debited { amount, .. } if amount == usd(20)),
        "{outcome:?}"
    );
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    shop.assert_paypal_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paypal_calls_cache_the_token_retry_5xx_and_explain_4xx() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("client@example.test").await;

    // Two 503s, then the order is created: the retries carry the same PayPal-Request-Id.
    shop.paypal.recorder().fail_next(
        "/v2/checkout/orders",
        2,
        Fault::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"name": "SERVICE_UNAVAILABLE", "message": "Try later", "debug_id": "abc"}),
        ),
    );
    let order = shop.approved_order(&customer, 10).await;
    assert_eq!(
        shop.paypal.orders().len(),
        1,
        "one order despite the retries"
    );

    // The token expires: one 401, a new token, and the capture goes through.
    shop.paypal.expire_tokens();
    assert!(matches!(
        shop.capture(&customer, &order).await,
        Settlement::Credited { .. }
    ));
    assert_eq!(shop.paypal.token_requests(), 2);

    // A declined card is a declined payment, not an error.
    let declined = shop.approved_order(&customer, 10).await;
    shop.paypal.next_capture(CaptureOutcome::InstrumentDeclined);
    assert_eq!(
        shop.capture(&customer, &declined).await,
        Settlement::Declined
    );

    // Amounts outside the limits never reach PayPal.
    let actor = Actor::user(customer.user.id, Role::Customer, Via::Portal);
    for amount in [
        Money::from_micros(1_000_000),
        usd(10_000),
        Money::from_micros(10_001_000),
    ] {
        let error = shop
            .app
            .core()
            .payments
            .create_order(&actor, &customer.user, amount, "http://x/r", "http://x/c")
            .await
            .expect_err("out of limits");
        assert_eq!(error.code(), hostdeck_core::ErrorCode::Invalid, "{error}");
    }
    assert_eq!(shop.paypal.orders().len(), 2);

    // PayPal down for good: a clear "unavailable".
    shop.paypal.recorder().fail_always(
        "/v2/checkout/orders",
        Fault::Status(StatusCode::BAD_GATEWAY, json!({"name": "BAD_GATEWAY"})),
    );
    let error = shop
        .app
        .core()
        .payments
        .create_order(&actor, &customer.user, usd(10), "http://x/r", "http://x/c")
        .await
        .expect_err("PayPal is down");
    assert_eq!(
        error.code(),
        hostdeck_core::ErrorCode::Unavailable,
        "{error}"
    );
    assert!(error.to_string().contains("PayPal"), "{error}");
    shop.paypal.recorder().heal();
    shop.assert_paypal_clean();
}

async fn an_event_that_keeps_failing_is_given_up_and_staff_alerted(db: TestDb) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut config = Config::default();
    config.discord.billing_webhook = Some(SecretString::from(BILLING_WEBHOOK));
    let core = db.core_with(config, clock.clone()).await;
    let paypal = FakePaypal::start().await;
    let shop = Shop {
        _cert_roots: CertRoots::of(&paypal),
        paypal,
        app: TestApp::start(core).await,
        webhook_id: String::new(),
        db,
    };
    // Stored as received, but unreadable: every try fails.
    let new = shop
        .app
        .core()
        .store()
        .payments()
        .insert_event(
            "WH-BROKEN",
            "PAYMENT.CAPTURE.COMPLETED",
            "{not json",
            clock.now(),
        )
        .await
        .expect("stored");
    assert!(new);
    let payments = &shop.app.core().payments;
    for _ in 1..EVENT_ATTEMPTS {
        payments.process_pending().await.expect("the worker runs");
        // Still leased: not tried again before the lease runs out.
        payments.process_pending().await.expect("the worker runs");
        clock.advance(chrono::Duration::seconds(61));
    }
    assert_eq!(shop.stored_events(EventStatus::Pending).await, 1);
    assert!(shop.alerts().await.is_empty());

    // The last try fails too: the event is set aside and billing staff are told, once.
    assert_eq!(
        payments.process_pending().await.expect("the worker runs"),
        1
    );
    assert_eq!(shop.stored_events(EventStatus::Pending).await, 0);
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 1);
    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        payments.process_pending().await.expect("the worker runs"),
        0
    );
    let alerts = shop.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains("WH-BROKEN") && alerts[0].contains("no longer retried"),
        "{alerts:?}"
    );
}

async fn a_refund_waiting_on_a_rejected_or_unknown_capture_alerts_staff(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("stuck@example.test").await;

    // A capture of another amount is rejected (one alert); PayPal then refunds it.
    let order = shop.approved_order(&customer, 20).await;
    shop.paypal.next_capture(CaptureOutcome::DifferentAmount(
        hostdeck_fakes::paypal::Money::new("USD", "2.00"),
    ));
    let settled = shop.capture(&customer, &order).await;
    assert!(matches!(settled, Settlement::Rejected(_)), "{settled:?}");
    assert_eq!(shop.alerts().await.len(), 1);
    let capture = shop
        .paypal
        .order(&order)
        .and_then(|order| order.capture_id)
        .expect("a capture at PayPal");
    let refund = shop.paypal.refund_in_dashboard(&capture, None);
    let event = shop.paypal.capture_refunded_event(&refund.id);
    shop.paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Waiting).await, 1);
    let alerts = shop.alerts().await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts
            .iter()
            .any(|a| a.contains(&refund.id) && a.contains("hostdeck rejected")),
        "{alerts:?}"
    );

    // A refund of a capture hostdeck never knew waits too, and staff hear of it.
    let mut resource = event["resource"].clone();
    resource["id"] = json!("UNKNOWNREFUND001");
    resource["links"] = json!([{"rel": "up", "href": format!("{}/v2/payments/captures/NOSUCHCAPTURE01", shop.paypal.base_url())}]);
    let unknown = shop
        .paypal
        .event("PAYMENT.CAPTURE.REFUNDED", "refund", resource);
    shop.paypal
        .deliver(&unknown, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Waiting).await, 2);
    let alerts = shop.alerts().await;
    assert_eq!(alerts.len(), 3, "{alerts:?}");
    assert!(
        alerts
            .iter()
            .any(|a| a.contains("NOSUCHCAPTURE01") && a.contains("has no order")),
        "{alerts:?}"
    );
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.postings().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_order_is_marked_once_audited_and_only_while_created() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("changed-mind@example.test").await;
    let actor = Actor::user(customer.user.id, Role::Customer, Via::Portal);
    let payments = &shop.app.core().payments;
    let shop = &shop;
    let status = |id: String| async move {
        shop.app
            .core()
            .store()
            .payments()
            .order(&id)
            .await
            .expect("a read")
            .expect("the order")
            .status
    };
    let cancels = || async {
        shop.app
            .core()
            .store()
            .audit()
            .audit_log(Page::first(200))
            .await
            .expect("the audit log")
            .items
            .iter()
            .filter(|record| record.action == "paypal.order.cancelled")
            .count()
    };

    // An API key that may read billing may not cancel an order.
    let order = shop.approved_order(&customer, 10).await;
    let mut key = Actor::user(customer.user.id, Role::Customer, Via::Api);
    key.scopes = Some(Scopes::of(&[Scope::ReadBilling]));
    let refused = payments
        .cancelled(&key, &customer.user, &order)
        .await
        .expect_err("read-only keys cannot cancel");
    assert_eq!(refused.code(), hostdeck_core::ErrorCode::Forbidden);
    assert_eq!(status(order.clone()).await, OrderStatus::Created);

    // Cancelled twice (a reload): marked and audited once.
    for _ in 0..2 {
        payments
            .cancelled(&actor, &customer.user, &order)
            .await
            .expect("cancelled");
    }
    assert_eq!(status(order.clone()).await, OrderStatus::Cancelled);
    assert_eq!(cancels().await, 1);

    // A captured order stays credited.
    let paid = shop.approved_order(&customer, 10).await;
    assert!(matches!(
        shop.capture(&customer, &paid).await,
        Settlement::Credited { .. }
    ));
    payments
        .cancelled(&actor, &customer.user, &paid)
        .await
        .expect("nothing to cancel");
    assert_eq!(status(paid).await, OrderStatus::Completed);
    assert_eq!(cancels().await, 1);
}
