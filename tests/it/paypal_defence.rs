//! PayPal, defence in depth, as an attacker with genuinely signed deliveries would try it: a
//! second capture of an order already credited (by webhook, and on the road back from
//! PayPal), several captures of one order at once, refunds that add up to more than the
//! capture (one after another and all at once, by webhook and by staff), and transmissions
//! replayed later or dated ahead. Every one of them moves no money it should not.

use std::sync::Arc;

use hostdeck_core::clock::ManualClock;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::money::Money;
use hostdeck_core::payments::{Settlement, WebhookVerification, custom_id};
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_core::store::payments::{EventStatus, OrderStatus};
use hostdeck_e2e::db::TestDb;
use serde_json::{Value, json};

use crate::paypal_webhooks::{Shop, altered, usd};

hostdeck_e2e::on_both_engines!(
    a_second_capture_of_a_credited_order_credits_nothing_more,
    captures_of_one_order_at_once_credit_it_once,
    refunds_add_up_to_at_most_the_capture,
    stale_and_future_transmissions_are_refused,
);

/// A capture event PayPal never sent but signed all the same: capture `capture` of `order`
/// for `value` USD, paid by `user`.
fn signed_capture(
    shop: &Shop,
    order: &str,
    capture: &str,
    value: &str,
    user: hostdeck_core::ids::UserId,
) -> Value {
    shop.paypal.event(
        "PAYMENT.CAPTURE.COMPLETED",
        "capture",
        json!({
            "id": capture,
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": value},
            "custom_id": custom_id(user),
            "supplementary_data": {"related_ids": {"order_id": order}},
        }),
    )
}

async fn order_status(shop: &Shop, order: &str) -> OrderStatus {
    shop.app
        .core()
        .store()
        .payments()
        .order(order)
        .await
        .expect("a read")
        .expect("the order")
        .status
}

async fn a_second_capture_of_a_credited_order_credits_nothing_more(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("twice-paid@example.test").await;

    // Credited on the road back from PayPal; then a second capture of the same order, for
    // the same amount, arrives by webhook.
    let order = shop.approved_order(&customer, 10).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };
    let second = altered(&shop, &capture_id, |resource| {
        resource["id"] = json!("SECONDCAPTURE001");
    });
    let delivery = shop
        .paypal
        .deliver(&second, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(delivery.status, 200, "{}", delivery.answer);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.postings().await, 1);
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 1);
    assert_eq!(order_status(&shop, &order).await, OrderStatus::Completed);
    let alerts = shop.alerts().await;
    assert!(
        alerts.len() == 1 && alerts[0].contains("already credited"),
        "{alerts:?}"
    );

    // The other way round: a capture of the next order credited by webhook first, then the
    // customer comes back and PayPal's own capture of it credits nothing more.
    let next = shop.approved_order(&customer, 20).await;
    let early = signed_capture(&shop, &next, "EARLYCAPTURE0001", "20.00", customer.user.id);
    shop.paypal
        .deliver(&early, &shop.webhook_url(), &shop.webhook_id)
        .await;
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(30));
    let settled = shop.capture(&customer, &next).await;
    assert!(matches!(settled, Settlement::Rejected(_)), "{settled:?}");
    assert_eq!(shop.balance(&customer).await, usd(30));
    assert_eq!(order_status(&shop, &next).await, OrderStatus::Completed);
    // The capture credited first is still its order's own: a reload finds it credited.
    let again = shop.capture(&customer, &order).await;
    assert!(
        matches!(again, Settlement::Credited { new: false, .. }),
        "{again:?}"
    );
    assert_eq!(shop.postings().await, 2);
    hostdeck_e2e::db::assert_ledger_exact(shop.app.core().store().as_ref()).await;
    shop.assert_paypal_clean();
}

async fn captures_of_one_order_at_once_credit_it_once(db: TestDb) {
    let shop = Arc::new(Shop::open(db, WebhookVerification::Offline).await);
    let customer = shop.customer("many-captures@example.test").await;
    let order = "RACEDORDER000001";
    hostdeck_e2e::paypal::insert_order(
        shop.app.core(),
        customer.user.id,
        order,
        chrono::Utc::now(),
    )
    .await;
    // Eight different captures of one 10.00 order, delivered at once and processed side by
    // side (in one group, or in groups committed in parallel on PostgreSQL).
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..8 {
        let shop = shop.clone();
        let user = customer.user.id;
        deliveries.spawn(async move {
            let event = signed_capture(&shop, order, &format!("RACEDCAPTURE000{n}"), "10.00", user);
            shop.paypal
                .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
                .await
                .status
        });
    }
    while let Some(status) = deliveries.join_next().await {
        assert_eq!(status.expect("a delivery"), 200);
    }
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
    assert_eq!(shop.postings().await, 1);
    assert_eq!(shop.stored_events(EventStatus::Done).await, 1);
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 7);
    assert_eq!(order_status(&shop, order).await, OrderStatus::Completed);
    hostdeck_e2e::db::assert_ledger_exact(shop.app.core().store().as_ref()).await;
}

/// A refund event of `capture` PayPal never made, signed all the same: `value` USD.
fn signed_refund(shop: &Shop, model: &Value, refund: &str, value: &str) -> Value {
    let mut resource = model["resource"].clone();
    resource["id"] = json!(refund);
    resource["amount"]["value"] = json!(value);
    shop.paypal
        .event("PAYMENT.CAPTURE.REFUNDED", "refund", resource)
}

async fn debited(shop: &Shop) -> Money {
    let statement = shop
        .app
        .core()
        .store()
        .ledger()
        .statement(
            shop.app
                .core()
                .store()
                .ledger()
                .system_account(hostdeck_core::ledger::SystemAccount::Paypal),
            hostdeck_core::store::Page::first(200),
        )
        .await
        .expect("the statement");
    statement
        .items
        .iter()
        .filter(|line| matches!(line.kind, PostingKind::Refund | PostingKind::Reversal))
        .fold(Money::ZERO, |sum, line| {
            sum.checked_add(line.amount).expect("a sum")
        })
}

async fn refunds_add_up_to_at_most_the_capture(db: TestDb) {
    let shop = Arc::new(Shop::open(db, WebhookVerification::Offline).await);
    let customer = shop.customer("refunded@example.test").await;
    let order = shop.approved_order(&customer, 10).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };

    // A genuine partial refund of 4.00, then two more of 4.00 one after the other: the
    // second of those would take 12.00 of a 10.00 capture.
    let genuine = shop.paypal.refund_in_dashboard(
        &capture_id,
        Some(hostdeck_fakes::paypal::Money::new("USD", "4.00")),
    );
    let model = shop.paypal.capture_refunded_event(&genuine.id);
    for event in [
        model.clone(),
        signed_refund(&shop, &model, "EXTRAREFUND00001", "4.00"),
        signed_refund(&shop, &model, "EXTRAREFUND00002", "4.00"),
    ] {
        let delivery = shop
            .paypal
            .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(delivery.status, 200, "{}", delivery.answer);
        shop.process().await;
    }
    assert_eq!(debited(&shop).await, usd(8));
    assert_eq!(shop.balance(&customer).await, usd(2));
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 1);
    let alerts = shop.alerts().await;
    assert!(
        alerts.len() == 1 && alerts[0].contains("more than it credited"),
        "{alerts:?}"
    );

    // Ten refunds of 1.00 at once: two fit, the rest are refused, whichever come first.
    let mut deliveries = tokio::task::JoinSet::new();
    for n in 0..10 {
        let shop = shop.clone();
        let event = signed_refund(&shop, &model, &format!("RACEDREFUND0000{n}"), "1.00");
        deliveries.spawn(async move {
            shop.paypal
                .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
                .await
                .status
        });
    }
    while let Some(status) = deliveries.join_next().await {
        assert_eq!(status.expect("a delivery"), 200);
    }
    shop.process().await;
    assert_eq!(debited(&shop).await, usd(10));
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.stored_events(EventStatus::Rejected).await, 9);

    // Staff cannot refund from hostdeck what is gone either: PayPal is not even asked.
    let staff = shop.app.user("refunds@example.test", Role::Billing).await;
    let actor = Actor::user(staff.user.id, Role::Billing, Via::Portal).with_two_factor();
    let refused = shop
        .app
        .core()
        .payments
        .refund(&actor, &customer.user, &capture_id, None, "all of it", "s1")
        .await
        .expect_err("nothing is left");
    assert_eq!(
        refused.code(),
        hostdeck_core::ErrorCode::Conflict,
        "{refused}"
    );
    assert!(
        refused.to_string().contains("refunded in full"),
        "{refused}"
    );
    assert_eq!(
        shop.paypal.capture(&capture_id).map(|c| c.refund_ids.len()),
        Some(1)
    );

    // Staff refunds of a fresh capture add up to at most what it credited.
    let order = shop.approved_order(&customer, 20).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };
    let refund = |amount: Option<Money>, key: &'static str| {
        let shop = shop.clone();
        let customer = customer.user.clone();
        let capture_id = capture_id.clone();
        let actor = actor.clone();
        async move {
            shop.app
                .core()
                .payments
                .refund(&actor, &customer, &capture_id, amount, "goodwill", key)
                .await
        }
    };
    refund(Some(usd(15)), "s2").await.expect("15 of 20");
    let over = refund(Some(usd(10)), "s3")
        .await
        .expect_err("10 more is over");
    assert_eq!(over.code(), hostdeck_core::ErrorCode::Invalid, "{over}");
    assert!(
        over.to_string().contains("refund at most 5.00 USD"),
        "{over}"
    );
    refund(None, "s4").await.expect("the rest");
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(debited(&shop).await, usd(30));
    hostdeck_e2e::db::assert_ledger_exact(shop.app.core().store().as_ref()).await;
    shop.assert_paypal_clean();
}

async fn stale_and_future_transmissions_are_refused(db: TestDb) {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let shop = Shop::open_at(db, WebhookVerification::Offline, clock.clone()).await;
    let customer = shop.customer("replayed@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);

    // Signed now, genuinely; received by a platform whose clock says ten minutes later (a
    // replay) or ten minutes earlier (a transmission from the future).
    let mut last = None;
    for (moved, why) in [
        (chrono::Duration::minutes(10), "old"),
        (chrono::Duration::minutes(-10), "ahead"),
    ] {
        clock.set(chrono::Utc::now() + moved);
        let delivery = shop
            .paypal
            .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        shop.assert_refused_as_forged(&delivery, why, &moved.to_string())
            .await;
        last = Some(delivery);
    }
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(shop.stored_events(EventStatus::Pending).await, 0);
    assert_eq!(shop.stored_events(EventStatus::Done).await, 0);

    // With the clock right, the same delivery, signed seconds ago, is taken.
    clock.set(chrono::Utc::now());
    let on_time = shop.paypal.replay(&last.expect("a delivery")).await;
    assert_eq!(on_time.status, 200, "{}", on_time.answer);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transmission_years_old_is_refused_by_the_verify_api_route_too() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let shop = Shop::open_at(
        TestDb::sqlite().await,
        WebhookVerification::Api,
        clock.clone(),
    )
    .await;
    let customer = shop.customer("years@example.test").await;
    let capture = shop.pending_capture(&customer, 10).await;
    let event = shop.paypal.capture_completed_event(&capture);
    // PayPal's verify API vouches for the signature whenever it is asked; the time is
    // hostdeck's to judge. Three years on, the delivery is refused without asking.
    clock.advance(chrono::Duration::days(3 * 365));
    let delivery = shop
        .paypal
        .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
        .await;
    assert_eq!(delivery.status, 400, "{}", delivery.answer);
    let verify_calls = || {
        shop.paypal
            .recorder()
            .calls_to(
                &axum::http::Method::POST,
                "/v1/notifications/verify-webhook-signature",
            )
            .len()
    };
    assert_eq!(verify_calls(), 0);
    clock.set(chrono::Utc::now());
    let delivery = shop.paypal.replay(&delivery).await;
    assert_eq!(delivery.status, 200, "{}", delivery.answer);
    assert_eq!(verify_calls(), 1);
    shop.process().await;
    assert_eq!(shop.balance(&customer).await, usd(10));
}
