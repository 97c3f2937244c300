//! A posting and the records that belong to it commit together or not at all: a PayPal credit
//! with its `paypal.credit` audit entry and its webhook event's outcome, a refund's debit with
//! its `paypal.refund` entry, a staff adjustment with its `credits.adjust` entry, a sign-up
//! credit with its `billing.signup_credit` entry. The test
//! makes the database refuse one of those records (a trigger added to the test database only)
//! and finds no posting either; once the database accepts again, the retry posts once, with
//! its records.

use std::sync::Arc;

use hostdeck_core::Core;
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::config::Config;
use hostdeck_core::email::Email;
use hostdeck_core::money::Money;
use hostdeck_core::payments::{capture_key, refund_key};
use hostdeck_core::policy::{Actor, Role};
use hostdeck_core::store::payments::{EventStatus, OrderStatus};
use hostdeck_core::users::{NewAccount, User};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::paypal::{capture_completed, insert_order};
use secrecy::SecretString;
use serde_json::{Value, json};

hostdeck_e2e::on_both_engines!(
    a_credit_whose_audit_entry_fails_is_not_posted_and_its_retry_credits_once,
    a_credit_whose_event_cannot_be_finished_is_not_posted,
    a_refund_whose_audit_entry_fails_is_not_debited,
    an_adjustment_whose_audit_entry_fails_is_not_posted,
    a_signup_credit_whose_audit_entry_fails_is_not_posted,
);

/// A customer, and orders with stored capture events that the worker processes.
pub(crate) struct Bench {
    pub(crate) core: Core,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) customer: User,
}

pub(crate) async fn open(db: &TestDb) -> Bench {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let core = db.core_with(Config::default(), clock.clone()).await;
    let customer = core
        .users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse("atomic@example.test").expect("an email"),
                role: Role::Customer,
                password: SecretString::from("violet kettle orbit 42"),
                email_verified: true,
            },
        )
        .await
        .expect("a customer");
    Bench {
        core,
        clock,
        customer,
    }
}

impl Bench {
    /// An order of 10.00 and the stored event of its completed capture `capture`.
    async fn captured(&self, order: &str, capture: &str, event: &str) {
        self.order(order).await;
        self.capture_event(event, order, capture, "10.00").await;
    }

    /// An order of 10.00.
    pub(crate) async fn order(&self, order: &str) {
        insert_order(&self.core, self.customer.id, order, self.clock.now()).await;
    }

    /// A stored event: a completed capture of `value` USD for `order`.
    pub(crate) async fn capture_event(&self, event: &str, order: &str, capture: &str, value: &str) {
        let body = capture_completed(event, order, capture, value, self.customer.id);
        self.store_event(event, "PAYMENT.CAPTURE.COMPLETED", &body)
            .await;
    }

    async fn store_event(&self, id: &str, event_type: &str, body: &Value) {
        let new = self
            .core
            .store()
            .payments()
            .insert_event(id, event_type, &body.to_string(), self.clock.now())
            .await
            .expect("an event stored");
        assert!(new);
    }

    /// One pass of the worker, then past the lease of whatever failed.
    pub(crate) async fn process(&self) -> usize {
        let done = self
            .core
            .payments
            .process_pending()
            .await
            .expect("the worker runs");
        self.clock.advance(chrono::Duration::seconds(61));
        done
    }

    pub(crate) async fn balance(&self) -> Money {
        self.core
            .store()
            .ledger()
            .account_balance(self.customer.wallet)
            .await
            .expect("a balance")
    }

    async fn postings(&self) -> u64 {
        self.core
            .store()
            .ledger()
            .count_postings()
            .await
            .expect("a count")
    }

    pub(crate) async fn events(&self, status: EventStatus) -> u64 {
        self.core
            .store()
            .payments()
            .count_events(status)
            .await
            .expect("a count")
    }

    /// The audit entries of `action`: their details.
    pub(crate) async fn audited(&self, action: &str) -> Vec<Value> {
        hostdeck_e2e::db::audit_details(self.core.store().as_ref(), action).await
    }

    /// A pass of the worker in which the credit of `order`'s capture failed: nothing of it
    /// stays, neither the posting nor its audit entry nor the order's status.
    async fn assert_credit_failed(&self, order: &str) {
        assert_eq!(self.process().await, 0, "the event failed");
        assert_eq!(self.postings().await, 0);
        assert_eq!(self.balance().await, Money::ZERO);
        assert!(self.audited("paypal.credit").await.is_empty());
        assert_eq!(self.order_status(order).await, OrderStatus::Created);
    }

    async fn order_status(&self, order: &str) -> OrderStatus {
        self.core
            .store()
            .payments()
            .order(order)
            .await
            .expect("an order read")
            .expect("the order")
            .status
    }
}

fn usd(units: i64) -> Money {
    Money::from_micros(units * 1_000_000)
}

async fn a_credit_whose_audit_entry_fails_is_not_posted_and_its_retry_credits_once(db: TestDb) {
    let bench = open(&db).await;
    bench.captured("ORDER-A1", "CAPTURE-A1", "WH-A1").await;
    db.refuse("INSERT", "audit_log", "NEW.action = 'paypal.credit'")
        .await;

    // The audit entry is refused inside the credit's transaction: nothing of it stays.
    bench.assert_credit_failed("ORDER-A1").await;
    assert_eq!(bench.events(EventStatus::Pending).await, 1);
    assert!(
        bench
            .core
            .store()
            .ledger()
            .posting_by_key(&capture_key("CAPTURE-A1"))
            .await
            .expect("a read")
            .is_none()
    );

    // The retry, once the database accepts: one credit, with its entry and its event done.
    db.allow("audit_log").await;
    assert_eq!(bench.process().await, 1);
    assert_eq!(bench.postings().await, 1);
    assert_eq!(bench.balance().await, usd(10));
    let posting = bench
        .core
        .store()
        .ledger()
        .posting_by_key(&capture_key("CAPTURE-A1"))
        .await
        .expect("a read")
        .expect("the credit");
    let audited = bench.audited("paypal.credit").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["capture"], json!("CAPTURE-A1"));
    assert_eq!(audited[0]["posting"], json!(posting.id));
    assert_eq!(bench.events(EventStatus::Done).await, 1);
    assert_eq!(bench.events(EventStatus::Pending).await, 0);
    assert_eq!(bench.order_status("ORDER-A1").await, OrderStatus::Completed);

    // The same capture again (another event): credited before, the event still finished.
    bench
        .capture_event("WH-A1-AGAIN", "ORDER-A1", "CAPTURE-A1", "10.00")
        .await;
    assert_eq!(bench.process().await, 1);
    assert_eq!(bench.postings().await, 1);
    assert_eq!(bench.balance().await, usd(10));
    assert_eq!(bench.audited("paypal.credit").await.len(), 1);
    assert_eq!(bench.events(EventStatus::Done).await, 2);
    assert_eq!(
        bench.core.ledger.discrepancies(&Actor::cli()).await.ok(),
        Some(Vec::new())
    );
}

async fn a_credit_whose_event_cannot_be_finished_is_not_posted(db: TestDb) {
    let bench = open(&db).await;
    bench.captured("ORDER-B1", "CAPTURE-B1", "WH-B1").await;
    // The event's `done` is refused: the credit and its audit entry go with it.
    db.refuse("UPDATE", "paypal_events", "NEW.status = 'done'")
        .await;
    bench.assert_credit_failed("ORDER-B1").await;

    db.allow("paypal_events").await;
    assert_eq!(bench.process().await, 1);
    assert_eq!(bench.postings().await, 1);
    assert_eq!(bench.balance().await, usd(10));
    assert_eq!(bench.audited("paypal.credit").await.len(), 1);
    assert_eq!(bench.events(EventStatus::Done).await, 1);
    assert_eq!(bench.order_status("ORDER-B1").await, OrderStatus::Completed);
}

async fn a_refund_whose_audit_entry_fails_is_not_debited(db: TestDb) {
    let bench = open(&db).await;
    // The refund comes first and waits; its capture's credit wakes it in the same transaction.
    let refund = json!({
        "id": "WH-R1",
        "event_type": "PAYMENT.CAPTURE.REFUNDED",
        "resource": {
            "id": "REFUND-R1",
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "4.00"},
            "links": [{"rel": "up", "href": "https://api-m.paypal.test/v2/payments/captures/CAPTURE-R1"}],
        },
    });
    bench
        .store_event("WH-R1", "PAYMENT.CAPTURE.REFUNDED", &refund)
        .await;
    assert_eq!(bench.process().await, 1);
    assert_eq!(bench.events(EventStatus::Waiting).await, 1);

    bench
        .captured("ORDER-R1", "CAPTURE-R1", "WH-R1-CAPTURE")
        .await;
    db.refuse("INSERT", "audit_log", "NEW.action = 'paypal.refund'")
        .await;
    // The capture is credited and wakes the refund; the refund's debit fails with its entry.
    let mut rounds = 0;
    while bench.events(EventStatus::Done).await < 1 {
        bench.process().await;
        rounds += 1;
        assert!(rounds < 5, "the capture is credited");
    }
    bench.process().await;
    assert_eq!(bench.balance().await, usd(10));
    assert_eq!(bench.postings().await, 1, "only the credit");
    assert!(bench.audited("paypal.refund").await.is_empty());
    assert!(
        bench
            .core
            .store()
            .ledger()
            .posting_by_key(&refund_key("REFUND-R1"))
            .await
            .expect("a read")
            .is_none()
    );
    assert_eq!(bench.events(EventStatus::Pending).await, 1, "the refund");

    db.allow("audit_log").await;
    assert_eq!(bench.process().await, 1);
    assert_eq!(bench.balance().await, usd(6));
    assert_eq!(bench.postings().await, 2);
    let audited = bench.audited("paypal.refund").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["refund"], json!("REFUND-R1"));
    assert_eq!(bench.events(EventStatus::Done).await, 2);
    assert_eq!(bench.events(EventStatus::Pending).await, 0);
    assert_eq!(bench.events(EventStatus::Waiting).await, 0);
}

async fn an_adjustment_whose_audit_entry_fails_is_not_posted(db: TestDb) {
    let bench = open(&db).await;
    db.refuse("INSERT", "audit_log", "NEW.action = 'credits.adjust'")
        .await;
    let adjusted = bench
        .core
        .ledger
        .adjust(
            &Actor::cli(),
            &bench.customer,
            usd(25),
            "goodwill",
            "atomic-1",
        )
        .await;
    assert!(adjusted.is_err(), "{adjusted:?}");
    assert_eq!(bench.postings().await, 0);
    assert_eq!(bench.balance().await, Money::ZERO);

    db.allow("audit_log").await;
    for _ in 0..2 {
        bench
            .core
            .ledger
            .adjust(
                &Actor::cli(),
                &bench.customer,
                usd(25),
                "goodwill",
                "atomic-1",
            )
            .await
            .expect("adjusted");
    }
    assert_eq!(bench.postings().await, 1);
    assert_eq!(bench.balance().await, usd(25));
    let audited = bench.audited("credits.adjust").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    let posting = bench
        .core
        .store()
        .ledger()
        .posting_by_key("adjust:atomic-1")
        .await
        .expect("a read")
        .expect("the adjustment");
    assert_eq!(audited[0]["posting"], json!(posting.id));
    assert_eq!(audited[0]["reason"], json!("goodwill"));
}

async fn a_signup_credit_whose_audit_entry_fails_is_not_posted(db: TestDb) {
    let bench = open(&db).await;
    let mut config = Config::default();
    config.billing.signup_credit = usd(3);
    db.refuse(
        "INSERT",
        "audit_log",
        "NEW.action = 'billing.signup_credit'",
    )
    .await;
    let granted = hostdeck_core::billing::grant_signup_credit(
        bench.core.store().as_ref(),
        &config,
        &bench.customer,
        bench.clock.now(),
    )
    .await;
    assert!(granted.is_err(), "{granted:?}");
    assert_eq!(bench.postings().await, 0);
    assert_eq!(bench.balance().await, Money::ZERO);

    db.allow("audit_log").await;
    for _ in 0..2 {
        hostdeck_core::billing::grant_signup_credit(
            bench.core.store().as_ref(),
            &config,
            &bench.customer,
            bench.clock.now(),
        )
        .await
        .expect("granted");
    }
    assert_eq!(bench.postings().await, 1);
    assert_eq!(bench.balance().await, usd(3));
    let audited = bench.audited("billing.signup_credit").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    let posting = bench
        .core
        .store()
        .ledger()
        .posting_by_key(&format!("signup:{}", bench.customer.id))
        .await
        .expect("a read")
        .expect("the sign-up credit");
    assert_eq!(audited[0]["posting"], json!(posting.id));
}
