//! Idempotency keys and amounts, as a careless client and a curious one would send them: the
//! same key with another request is refused (422 `idempotency_mismatch`) at every idempotent
//! door, never answered with the first request's result; the same key with the same request
//! gets the same answer; a key another customer used tells nothing of them. And amounts
//! follow one grammar at every door: `1_000`, `+5`, `5.`, `.5` and ` 5` are refused with the
//! form to use, `5` and `5.50` are taken.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::idempotency::MISMATCH;
use hostdeck_core::money::Money;
use hostdeck_core::payments::{Settlement, WebhookVerification};
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use serde_json::{Value, json};

use crate::paypal_webhooks::Shop;
use crate::servers::give_credit;

const BAD_AMOUNTS: [&str; 7] = ["1_000", "+5", "5.", ".5", " 5", "5 ", "5.001"];
const GOOD_AMOUNTS: [&str; 3] = ["5", "5.5", "5.50"];

hostdeck_e2e::on_both_engines!(
    a_server_create_key_names_one_request,
    a_credit_key_names_one_adjustment_and_tells_nothing_of_another_customer,
    a_staff_refund_key_names_one_refund,
    an_orders_credited_is_backfilled_from_the_credits_posted,
);

/// The error of a 422 for a reused key: exactly the mismatch message, nothing more.
fn assert_mismatch(status: u16, body: &Value) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_mismatch", "{body}");
    assert_eq!(body["error"]["message"], MISMATCH, "{body}");
    assert_eq!(
        body["error"].as_object().map(serde_json::Map::len),
        Some(2),
        "only a code and a message: {body}"
    );
}

async fn create(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, Value) {
    answer(
        app.http
            .post(app.url("/api/v1/servers"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("POST"),
    )
    .await
}

fn server(name: &str) -> Value {
    json!({"name": name, "hostname": "web.example.com", "plan": "small", "template": "debian-12"})
}

async fn servers_of(app: &TestApp, token: &str) -> usize {
    let (status, list) = answer(app.get_as(token, "/api/v1/servers").await).await;
    assert_eq!(status, 200, "{list}");
    list.as_array()
        .or_else(|| list["items"].as_array())
        .map_or(0, Vec::len)
}

async fn a_server_create_key_names_one_request(db: TestDb) {
    let app = TestApp::start(db.core(Arc::new(SystemClock)).await).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    give_credit(app.core(), &ada.user, "20.00").await;

    let (status, first) = create(&app, &ada.token, "create-1", &server("web")).await;
    assert_eq!(status, 201, "{first}");
    // The same request again: the same server, nothing more made or charged.
    let (status, again) = create(&app, &ada.token, "create-1", &server("web")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["server"]["id"], first["server"]["id"]);
    // Another request under the key: refused, not answered with the first server.
    for other in [
        server("db"),
        json!({"name": "web", "hostname": "web.example.com", "plan": "medium", "template": "debian-12"}),
        json!({"name": "web", "hostname": "web.example.com", "plan": "small", "template": "debian-12", "ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7Yq6m3ZqS0Rk9w8b7z0o0dM8b3fJtq8XoXk2nS3yYc ada@laptop"]}),
    ] {
        let (status, body) = create(&app, &ada.token, "create-1", &other).await;
        assert_mismatch(status, &body);
    }
    assert_eq!(servers_of(&app, &ada.token).await, 1);

    // Another customer's key is theirs alone: the same text makes Bob his own server.
    let bob = app.user("bob@example.test", Role::Customer).await;
    give_credit(app.core(), &bob.user, "20.00").await;
    let (status, bobs) = create(&app, &bob.token, "create-1", &server("db")).await;
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["server"]["id"], first["server"]["id"]);
    assert_eq!(servers_of(&app, &ada.token).await, 1);

    // A create refused for credit leaves its key free: the corrected form (the portal's Back
    // button keeps its key) goes through once the customer topped up.
    let carol = app.user("carol@example.test", Role::Customer).await;
    let (status, refused) = create(&app, &carol.token, "form-back", &server("web")).await;
    assert_eq!(status, 409, "{refused}");
    give_credit(app.core(), &carol.user, "20.00").await;
    let (status, made) = create(&app, &carol.token, "form-back", &server("web-2")).await;
    assert_eq!(
        status, 201,
        "the corrected create under the refused one's key: {made}"
    );
    assert_eq!(servers_of(&app, &carol.token).await, 1);
}

async fn a_credit_key_names_one_adjustment_and_tells_nothing_of_another_customer(db: TestDb) {
    let app = TestApp::start(db.core(Arc::new(SystemClock)).await).await;
    let admin = app.user("admin@example.test", Role::Admin).await;
    let carol = app.user("carol@example.test", Role::Customer).await;
    let dave = app.user("dave@example.test", Role::Customer).await;
    let credits =
        |user: &hostdeck_core::users::User| format!("/api/v1/admin/users/{}/credits", user.id);
    let post = |path: String, body: Value| {
        let app = &app;
        let token = admin.token.clone();
        async move { answer(app.post_json(Some(&token), &path, &body).await).await }
    };
    let goodwill = json!({"amount": "5.00", "reason": "outage", "idempotency_key": "k-1"});
    let (status, first) = post(credits(&carol.user), goodwill.clone()).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = post(credits(&carol.user), goodwill.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["new"].clone(), again["posting_id"].clone()),
        (json!(false), first["posting_id"].clone())
    );
    // Another amount, another reason, another customer: each refused, and what the key was
    // first used for (Carol's adjustment, her balance) is not told.
    for (who, body) in [
        (
            &carol.user,
            json!({"amount": "7.00", "reason": "outage", "idempotency_key": "k-1"}),
        ),
        (
            &carol.user,
            json!({"amount": "5.00", "reason": "a gift", "idempotency_key": "k-1"}),
        ),
        (&dave.user, goodwill.clone()),
    ] {
        let (status, body) = post(credits(who), body).await;
        assert_mismatch(status, &body);
    }
    let balance = |user: &hostdeck_core::users::User| {
        let store = app.core().store().clone();
        let wallet = user.wallet;
        async move {
            store
                .ledger()
                .account_balance(wallet)
                .await
                .expect("a balance")
        }
    };
    assert_eq!(balance(&carol.user).await, Money::from_micros(5_000_000));
    assert_eq!(balance(&dave.user).await, Money::ZERO);

    // The same from the portal's form and from Discord's confirm: all go through one rule in
    // core, under their own keys.
    let actor = Actor::user(admin.user.id, Role::Admin, Via::Portal).with_two_factor();
    app.core()
        .ledger
        .adjust(
            &actor,
            &carol.user,
            Money::from_micros(1_000_000),
            "form",
            "portal:f-1",
        )
        .await
        .expect("an adjustment");
    let refused = app
        .core()
        .ledger
        .adjust(
            &actor,
            &dave.user,
            Money::from_micros(1_000_000),
            "form",
            "portal:f-1",
        )
        .await
        .expect_err("the form's key again, for another customer");
    assert_eq!(
        refused.code(),
        hostdeck_core::ErrorCode::IdempotencyMismatch
    );
    assert_eq!(refused.to_string(), MISMATCH);
    hostdeck_e2e::db::assert_ledger_exact(app.core().store().as_ref()).await;
}

async fn a_staff_refund_key_names_one_refund(db: TestDb) {
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("key-refund@example.test").await;
    let order = shop.approved_order(&customer, 20).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };
    let staff = shop.app.user("billing@example.test", Role::Billing).await;
    let actor = Actor::user(staff.user.id, Role::Billing, Via::Portal).with_two_factor();
    let refund = |amount: i64, reason: &'static str, key: &'static str| {
        let shop = &shop;
        let actor = actor.clone();
        let customer = customer.user.clone();
        let capture_id = capture_id.clone();
        async move {
            shop.app
                .core()
                .payments
                .refund(
                    &actor,
                    &customer,
                    &capture_id,
                    Some(Money::from_micros(amount * 1_000_000)),
                    reason,
                    key,
                )
                .await
        }
    };
    refund(5, "asked for it", "form-1").await.expect("a refund");
    refund(5, "asked for it", "form-1")
        .await
        .expect("the same refund again");
    for (amount, reason) in [(6, "asked for it"), (5, "another reason")] {
        let refused = refund(amount, reason, "form-1")
            .await
            .expect_err("another refund, same key");
        assert_eq!(
            refused.code(),
            hostdeck_core::ErrorCode::IdempotencyMismatch
        );
    }
    assert_eq!(
        shop.balance(&customer).await,
        Money::from_micros(15_000_000)
    );
    assert_eq!(
        shop.paypal.capture(&capture_id).map(|c| c.refund_ids.len()),
        Some(1)
    );
    // A refund refused for more than is left leaves its key free for the corrected amount.
    let refused = refund(16, "the rest", "form-2")
        .await
        .expect_err("more than is left");
    assert_eq!(
        refused.code(),
        hostdeck_core::ErrorCode::Invalid,
        "{refused}"
    );
    refund(15, "the rest", "form-2")
        .await
        .expect("the corrected refund under the refused one's key");
    assert_eq!(shop.balance(&customer).await, Money::ZERO);
    assert_eq!(
        shop.paypal.capture(&capture_id).map(|c| c.refund_ids.len()),
        Some(2)
    );
    // PayPal never saw its request id again with another body.
    shop.assert_paypal_clean();
}

/// The backfill of `paypal_orders.credited` in the migration that added it, run again on rows
/// whose status and postings disagree: what counts is the credit posted.
async fn an_orders_credited_is_backfilled_from_the_credits_posted(db: TestDb) {
    let engine = if db.url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let shop = Shop::open(db, WebhookVerification::Offline).await;
    let customer = shop.customer("backfill@example.test").await;
    // Credited on capture, then left marked pending by an old bug: it credited its amount.
    let credited = shop.approved_order(&customer, 20).await;
    let Settlement::Credited { .. } = shop.capture(&customer, &credited).await else {
        panic!("credited on return");
    };
    // Marked completed with a capture whose credit was never posted: it credited nothing.
    let never = shop.approved_order(&customer, 30).await;
    shop.db
        .raw(&format!(
            "UPDATE paypal_orders SET status = 'pending' WHERE id = '{credited}'; \
             UPDATE paypal_orders SET status = 'completed', capture_id = 'CAP-NEVER-POSTED' \
             WHERE id = '{never}'; \
             UPDATE paypal_orders SET credited = 0;"
        ))
        .await
        .expect("rows as an older release left them");
    let path = format!(
        "{}/../migrations/{engine}/0013_payment_caps.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    let migration = std::fs::read_to_string(&path).expect("the migration");
    let start = migration
        .find("UPDATE paypal_orders SET credited")
        .expect("the backfill");
    let end = start + migration[start..].find(';').expect("its end");
    shop.db
        .raw(&migration[start..=end])
        .await
        .expect("the backfill runs");
    let credited_of = |order: &str| {
        let url = shop.db.url.clone();
        let sql = format!("SELECT credited FROM paypal_orders WHERE id = '{order}'");
        async move { hostdeck_e2e::billing::scalar(&url, &sql).await }
    };
    assert_eq!(credited_of(&credited).await, 20_000_000);
    assert_eq!(credited_of(&never).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amounts_follow_one_grammar_at_every_door() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let app = &shop.app;
    let customer = shop.customer("amounts@example.test").await;
    let admin = app.user("admin@example.test", Role::Admin).await;
    let credits = format!("/api/v1/admin/users/{}/credits", customer.user.id);

    for bad in BAD_AMOUNTS {
        // API top-up.
        let (status, body) = answer(
            app.post_json(
                Some(&customer.token),
                "/api/v1/paypal/orders",
                &json!({"amount": bad}),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, &body["error"]["field"]),
            (422, &json!("amount")),
            "{bad:?}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("such as 10 or 10.50")),
            "{bad:?}: {body}"
        );
        // API credit adjustment, either way.
        for amount in [bad.to_owned(), format!("-{bad}")] {
            let (status, body) = answer(
                app.post_json(
                    Some(&admin.token),
                    &credits,
                    &json!({"amount": amount, "reason": "test"}),
                )
                .await,
            )
            .await;
            assert_eq!(status, 422, "{amount:?}: {body}");
            assert_eq!(body["error"]["field"], "amount", "{amount:?}: {body}");
        }
    }
    assert!(
        shop.paypal.orders().is_empty(),
        "no bad amount reached PayPal"
    );
    assert_eq!(shop.postings().await, 0);

    for good in GOOD_AMOUNTS {
        let (status, body) = answer(
            app.post_json(
                Some(&customer.token),
                "/api/v1/paypal/orders",
                &json!({"amount": good}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 201, "{good}: {body}");
        let (status, body) = answer(
            app.post_json(
                Some(&admin.token),
                &credits,
                &json!({"amount": format!("-{good}"), "reason": "test"}),
            )
            .await,
        )
        .await;
        // Taken as an amount (refused, if at all, for want of credit).
        assert!(matches!(status, 200 | 409), "{good}: {body}");
        let (status, body) = answer(
            app.post_json(
                Some(&admin.token),
                &credits,
                &json!({"amount": good, "reason": "test"}),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{good}: {body}");
    }
    assert_eq!(shop.paypal.orders().len(), 3);
    shop.assert_paypal_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_top_up_takes_amounts_in_the_one_grammar() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("portal-amounts@example.test").await;
    let visit = shop
        .app
        .portal_visit(Some(&customer.token), "/billing")
        .await;
    let top_up = |amount: &str| {
        let visit = visit.clone();
        let amount = amount.to_owned();
        let app = &shop.app;
        async move {
            app.portal_post(&visit, "/billing/topup", &[("amount", &amount)])
                .await
        }
    };
    for bad in BAD_AMOUNTS {
        let refused = top_up(bad).await;
        assert_ne!(refused.status(), 303, "{bad:?}");
        let text = refused.text().await.expect("a page");
        assert!(text.contains("such as 10 or 10.50"), "{bad:?}: {text}");
    }
    assert!(
        shop.paypal.orders().is_empty(),
        "no bad amount reached PayPal"
    );
    for good in GOOD_AMOUNTS {
        let sent = top_up(good).await;
        assert_eq!(sent.status(), 303, "{good}: {:?}", sent.text().await);
    }
    assert_eq!(shop.paypal.orders().len(), 3);
    shop.assert_paypal_clean();
}
