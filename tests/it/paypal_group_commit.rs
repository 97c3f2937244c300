//! Group commit of PayPal webhooks, on both engines: deliveries that arrive together are stored
//! with one commit, each once (a duplicate is answered `new: false`) and each answered 2xx only
//! once its commit is durable; when a group's commit fails, every delivery in it is answered
//! 5xx and none is stored, so PayPal delivers them again. The worker's credits share commits
//! too, each with its own records (one statement per table for the group; a key used before or
//! a refused record sends the group back to one transaction each): a group with a capture
//! that does not match, one for an
//! unknown order, a second event for a capture and one whose records the database refuses for
//! a while credits every other capture exactly once, and the refused one once it is accepted.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use hostdeck_core::Core;
use hostdeck_core::email::Email;
use hostdeck_core::ledger::{Attached, Overdraft, PostOutcome, Posted};
use hostdeck_core::money::Money;
use hostdeck_core::payments::{WebhookVerification, capture_key};
use hostdeck_core::policy::{Actor, Role};
use hostdeck_core::store::Page;
use hostdeck_core::store::payments::{EventStatus, NewEvent, OrderStatus};
use hostdeck_core::users::{NewAccount, User};
use hostdeck_core::{Error, audit::AuditEntry};
use hostdeck_e2e::db::{TestDb, assert_ledger_exact, audit_details};
use hostdeck_e2e::paypal::top_up;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::paypal_webhooks::Shop;

hostdeck_e2e::on_both_engines!(
    deliveries_that_arrive_together_are_stored_once_each_and_answered_after_their_commit,
    a_group_whose_commit_fails_answers_every_delivery_in_it_5xx_and_stores_none,
    deliveries_stored_together_keep_the_duplicate_rules,
    postings_committed_together_are_each_atomic_and_one_refusal_spoils_none,
    a_group_of_credits_with_bad_events_credits_every_good_capture_once,
);

/// Whether the event `id` is in the database, read around the platform.
async fn stored(url: &str, id: &str) -> bool {
    let sql = format!("SELECT COUNT(*) FROM paypal_events WHERE id = '{id}'");
    hostdeck_e2e::billing::scalar(url, &sql).await == 1
}

/// A signed event the worker does not act on (so nothing is credited or alerted).
fn approval(shop: &Shop, order: &str) -> Value {
    shop.paypal.event(
        "CHECKOUT.ORDER.APPROVED",
        "checkout-order",
        json!({"id": order, "status": "APPROVED"}),
    )
}

async fn deliveries_that_arrive_together_are_stored_once_each_and_answered_after_their_commit(
    db: TestDb,
) {
    let shop = Arc::new(Shop::open(db, WebhookVerification::Offline).await);
    let events: Vec<Value> = (0..24)
        .map(|index| approval(&shop, &format!("GROUPORDER{index}")))
        .collect();
    // Each event twice, all 48 at once.
    let mut deliveries = tokio::task::JoinSet::new();
    for event in events.iter().chain(events.iter()) {
        let (shop, event) = (shop.clone(), event.clone());
        deliveries.spawn(async move {
            let delivery = shop
                .paypal
                .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
                .await;
            let id = event["id"].as_str().expect("an id").to_owned();
            // Read the moment the answer is in: a 2xx means the event is committed.
            let committed = stored(&shop.db.url, &id).await;
            (id, delivery, committed)
        });
    }
    let mut new_answers: HashMap<String, usize> = HashMap::new();
    while let Some(joined) = deliveries.join_next().await {
        let (id, delivery, committed) = joined.expect("a delivery");
        assert_eq!(delivery.status, 200, "{}", delivery.answer);
        assert!(committed, "{id} was answered 2xx before it was stored");
        let answer: Value = serde_json::from_str(&delivery.answer).expect("a JSON answer");
        assert_eq!(answer["received"], json!(id));
        if answer["new"] == json!(true) {
            *new_answers.entry(id).or_default() += 1;
        }
    }
    for event in &events {
        let id = event["id"].as_str().expect("an id");
        assert_eq!(
            new_answers.get(id),
            Some(&1),
            "exactly one of the two deliveries of {id} is the new one"
        );
    }
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Ignored).await, 24);
    assert_eq!(shop.postings().await, 0);
    // How full the groups were is there for the operator to see.
    let metrics = shop
        .app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("the metrics");
    assert!(
        metrics.contains(r#"paypal_commit_group_size_count{writes="deliveries"}"#),
        "{metrics}"
    );
    shop.assert_paypal_clean();
}

async fn a_group_whose_commit_fails_answers_every_delivery_in_it_5xx_and_stores_none(db: TestDb) {
    let shop = Arc::new(Shop::open(db, WebhookVerification::Offline).await);
    let mut poisoned = approval(&shop, "POISONORDER");
    poisoned["id"] = json!("WH-POISONED");
    shop.db
        .refuse("INSERT", "paypal_events", "NEW.id = 'WH-POISONED'")
        .await;
    let mut events: Vec<Value> = (0..15)
        .map(|index| approval(&shop, &format!("BESIDEORDER{index}")))
        .collect();
    events.push(poisoned);
    let mut deliveries = tokio::task::JoinSet::new();
    for event in events.clone() {
        let shop = shop.clone();
        deliveries.spawn(async move {
            let delivery = shop
                .paypal
                .deliver(&event, &shop.webhook_url(), &shop.webhook_id)
                .await;
            (event, delivery.status)
        });
    }
    let mut refused = Vec::new();
    while let Some(joined) = deliveries.join_next().await {
        let (event, status) = joined.expect("a delivery");
        let id = event["id"].as_str().expect("an id").to_owned();
        let committed = stored(&shop.db.url, &id).await;
        match status {
            200 => assert!(committed, "{id} was answered 2xx but is not stored"),
            503 => {
                // Its whole group was rolled back: PayPal delivers it again.
                assert!(!committed, "{id} was answered 503 but is stored");
                refused.push(event);
            }
            other => panic!("{id} was answered {other}"),
        }
    }
    assert!(
        refused
            .iter()
            .any(|event| event["id"] == json!("WH-POISONED")),
        "the delivery the database refuses is answered 5xx"
    );
    // Once the database takes it, every refused delivery is stored when PayPal tries again.
    shop.db.allow("paypal_events").await;
    for event in &refused {
        let again = shop
            .paypal
            .deliver(event, &shop.webhook_url(), &shop.webhook_id)
            .await;
        assert_eq!(again.status, 200, "{}", again.answer);
        let answer: Value = serde_json::from_str(&again.answer).expect("a JSON answer");
        assert_eq!(
            answer["new"],
            json!(true),
            "nothing of a failed group was kept"
        );
    }
    shop.process().await;
    assert_eq!(shop.stored_events(EventStatus::Ignored).await, 16);
}

fn new_event(id: &str) -> NewEvent {
    NewEvent {
        id: id.to_owned(),
        event_type: "CHECKOUT.ORDER.APPROVED".to_owned(),
        body: json!({"id": id, "event_type": "CHECKOUT.ORDER.APPROVED", "resource": {}})
            .to_string(),
        received_at: Utc::now(),
    }
}

async fn deliveries_stored_together_keep_the_duplicate_rules(db: TestDb) {
    let payments = db.store.payments();
    assert_eq!(
        payments
            .insert_events(&[new_event("WH-KNOWN")])
            .await
            .expect("stored"),
        vec![true]
    );
    let group = [
        new_event("WH-A"),
        new_event("WH-KNOWN"),
        new_event("WH-B"),
        new_event("WH-A"),
        new_event("WH-C"),
    ];
    assert_eq!(
        payments.insert_events(&group).await.expect("stored"),
        vec![true, false, true, false, true],
        "an id already stored, or given twice, is new only the first time"
    );
    assert_eq!(
        payments
            .count_events(EventStatus::Pending)
            .await
            .expect("a count"),
        4
    );
    assert_eq!(
        payments.insert_events(&[]).await.expect("nothing"),
        Vec::<bool>::new()
    );
    // 128 at once, as the writer takes them: one statement.
    let many: Vec<NewEvent> = (0..128)
        .map(|index| new_event(&format!("WH-MANY-{index}")))
        .collect();
    let answers = payments.insert_events(&many).await.expect("stored");
    assert_eq!(answers.len(), 128);
    assert!(answers.iter().all(|new| *new));
}

fn usd(units: i64) -> Money {
    Money::from_micros(units * 1_000_000)
}

async fn customer(core: &Core, email: &str) -> User {
    core.users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse(email).expect("an email"),
                role: Role::Customer,
                password: SecretString::from("violet kettle orbit 42"),
                email_verified: true,
            },
        )
        .await
        .expect("a customer")
}

fn audited(key: &str) -> Attached {
    Attached::nothing()
        .audit(AuditEntry::new(&Actor::system(), "test.group").detail(json!({"key": key})))
}

async fn postings_committed_together_are_each_atomic_and_one_refusal_spoils_none(db: TestDb) {
    let core = db.core_now().await;
    let first = customer(&core, "first@example.test").await;
    let second = customer(&core, "second@example.test").await;
    let poor = customer(&core, "poor@example.test").await;
    let mut overdrawn = top_up(
        core.store().as_ref(),
        second.wallet,
        usd(3),
        "group:overdrawn",
    );
    // From a wallet with nothing in it, which may not go below zero: refused.
    overdrawn.debit = poor.wallet;
    overdrawn.overdraft = Overdraft::Forbid;
    let mut zero = top_up(core.store().as_ref(), first.wallet, usd(1), "group:zero");
    zero.amount = Money::ZERO;
    let items = vec![
        (
            top_up(core.store().as_ref(), first.wallet, usd(10), "group:a"),
            audited("a"),
        ),
        // The same key for another amount: a conflict, in the same transaction as its first.
        (
            top_up(core.store().as_ref(), first.wallet, usd(99), "group:a"),
            audited("a again"),
        ),
        (overdrawn, audited("overdrawn")),
        (
            top_up(core.store().as_ref(), second.wallet, usd(5), "group:b"),
            audited("b"),
        ),
        // The same request again: the first posting, nothing attached written twice.
        (
            top_up(core.store().as_ref(), first.wallet, usd(10), "group:a"),
            audited("a replayed"),
        ),
        (zero, audited("zero")),
    ];
    let results = core.store().ledger().post_group(&items, Utc::now()).await;
    assert_eq!(results.len(), 6);
    let a = match &results[0] {
        Ok(posted) => match &posted.outcome {
            PostOutcome::Posted(posting) => posting.clone(),
            other => panic!("the first of a key is new: {other:?}"),
        },
        Err(error) => panic!("the first of a key posts: {error}"),
    };
    assert!(
        matches!(&results[1], Err(Error::Conflict(_))),
        "{:?}",
        results[1]
    );
    assert!(
        matches!(&results[2], Err(Error::Conflict(why)) if why.contains("Not enough credit")),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(&results[3], Ok(posted) if posted.outcome.is_new()),
        "{:?}",
        results[3]
    );
    assert!(
        matches!(&results[4], Ok(Posted { outcome: PostOutcome::Replayed(first), .. })
            if first.id == a.id && first.amount == a.amount),
        "{:?}",
        results[4]
    );
    assert!(results[5].is_err(), "a zero amount is invalid");
    assert_eq!(
        core.store()
            .ledger()
            .account_balance(first.wallet)
            .await
            .expect("a balance"),
        usd(10)
    );
    assert_eq!(
        core.store()
            .ledger()
            .account_balance(second.wallet)
            .await
            .expect("a balance"),
        usd(5)
    );
    assert_eq!(
        core.store()
            .ledger()
            .account_balance(poor.wallet)
            .await
            .expect("a balance"),
        Money::ZERO
    );
    assert_eq!(
        core.store()
            .ledger()
            .count_postings()
            .await
            .expect("a count"),
        2
    );
    let mut entries: Vec<String> = audit_details(core.store().as_ref(), "test.group")
        .await
        .iter()
        .map(|detail| detail["key"].as_str().expect("a key").to_owned())
        .collect();
    entries.sort();
    assert_eq!(
        entries,
        vec!["a", "b"],
        "only new postings' records are written"
    );
    assert_ledger_exact(core.store().as_ref()).await;

    // A group that commits as one: each posting's balance after it, in order, and its own
    // audit entry naming it.
    let items = vec![
        (
            top_up(core.store().as_ref(), first.wallet, usd(7), "group:c"),
            audited("c"),
        ),
        (
            top_up(core.store().as_ref(), second.wallet, usd(1), "group:d"),
            audited("d"),
        ),
        (
            top_up(core.store().as_ref(), first.wallet, usd(3), "group:e"),
            audited("e"),
        ),
    ];
    let results = core.store().ledger().post_group(&items, Utc::now()).await;
    let balances: Vec<Option<Money>> = results
        .iter()
        .map(|result| match result {
            Ok(Posted {
                outcome: PostOutcome::Posted(posting),
                ..
            }) => posting.credit_balance_after,
            other => panic!("a new posting: {other:?}"),
        })
        .collect();
    assert_eq!(balances, vec![Some(usd(17)), Some(usd(6)), Some(usd(20))]);
    for (request, _) in &items {
        let stored = core
            .store()
            .ledger()
            .posting_by_key(&request.key)
            .await
            .expect("a read")
            .expect("the posting");
        let answered = results
            .iter()
            .flatten()
            .map(|posted| posted.outcome.posting())
            .find(|posting| posting.key == request.key)
            .expect("its answer");
        assert_eq!(stored.id, answered.id);
        assert_eq!(stored.credit_balance_after, answered.credit_balance_after);
    }
    // Written as one group, which writes a wallet's postings together: one by one (the
    // fallback when a group fails) they would be in the order given, d before e.
    let id_of = |key: &str| {
        results
            .iter()
            .flatten()
            .map(|posted| posted.outcome.posting())
            .find(|posting| posting.key == key)
            .expect("its answer")
            .id
    };
    assert!(first.wallet < second.wallet);
    assert!(
        id_of("group:e") < id_of("group:d"),
        "the group was committed as one, not posted one by one"
    );
    let log = core
        .store()
        .audit()
        .audit_log(Page::first(200))
        .await
        .expect("the audit log")
        .items;
    for key in ["c", "d", "e"] {
        let entry = log
            .iter()
            .find(|record| {
                record.action == "test.group"
                    && record
                        .detail
                        .as_ref()
                        .is_some_and(|d| d["key"] == json!(key))
            })
            .expect("its audit entry");
        let posting = entry.detail.as_ref().expect("a detail")["posting"].clone();
        let stored = core
            .store()
            .ledger()
            .posting_by_key(&format!("group:{key}"))
            .await
            .expect("a read")
            .expect("the posting");
        assert_eq!(posting, json!(stored.id), "the entry names its posting");
    }
    assert_ledger_exact(core.store().as_ref()).await;
}

async fn a_group_of_credits_with_bad_events_credits_every_good_capture_once(db: TestDb) {
    let worker = crate::ledger_attached::open(&db).await;
    // Eight good captures, one of them (GOOD3) with records the database refuses for now.
    for index in 0..8 {
        worker.order(&format!("GOOD{index}")).await;
        worker
            .capture_event(
                &format!("WH-GOOD{index}"),
                &format!("GOOD{index}"),
                &format!("CAP-GOOD{index}"),
                "10.00",
            )
            .await;
    }
    // A second event for the capture of GOOD1, a capture of the wrong amount and one for an
    // order hostdeck never made.
    worker
        .capture_event("WH-AGAIN1", "GOOD1", "CAP-GOOD1", "10.00")
        .await;
    worker.order("WRONG").await;
    worker
        .capture_event("WH-WRONG", "WRONG", "CAP-WRONG", "99.00")
        .await;
    worker
        .capture_event("WH-NOBODY", "NOSUCHORDER", "CAP-NOBODY", "10.00")
        .await;
    db.refuse(
        "UPDATE",
        "paypal_events",
        "NEW.id = 'WH-GOOD3' AND NEW.status = 'done'",
    )
    .await;

    worker.process().await;
    assert_eq!(
        worker.balance().await,
        usd(70),
        "every good capture but the refused one is credited, once"
    );
    assert_eq!(
        worker
            .core
            .store()
            .ledger()
            .count_postings()
            .await
            .expect("a count"),
        7
    );
    assert!(
        worker
            .core
            .store()
            .ledger()
            .posting_by_key(&capture_key("CAP-GOOD3"))
            .await
            .expect("a read")
            .is_none(),
        "the refused credit is not posted without its records"
    );
    assert_eq!(worker.events(EventStatus::Rejected).await, 2);
    assert_eq!(worker.events(EventStatus::Done).await, 8);
    assert_eq!(worker.events(EventStatus::Pending).await, 1);

    // Once the database takes it, the retry credits it once.
    db.allow("paypal_events").await;
    worker.process().await;
    assert_eq!(worker.balance().await, usd(80));
    assert_eq!(
        worker
            .core
            .store()
            .ledger()
            .count_postings()
            .await
            .expect("a count"),
        8
    );
    assert_eq!(worker.events(EventStatus::Done).await, 9);
    assert_eq!(worker.events(EventStatus::Pending).await, 0);
    let credits = worker.audited("paypal.credit").await;
    let captures: HashSet<&str> = credits
        .iter()
        .map(|detail| detail["capture"].as_str().expect("a capture"))
        .collect();
    assert_eq!(credits.len(), 8, "one audit entry per credit: {credits:?}");
    assert_eq!(captures.len(), 8);
    for index in 0..8 {
        let order = worker
            .core
            .store()
            .payments()
            .order(&format!("GOOD{index}"))
            .await
            .expect("a read")
            .expect("the order");
        assert_eq!(order.status, OrderStatus::Completed);
        assert_eq!(order.capture_id, Some(format!("CAP-GOOD{index}")));
    }
    assert_eq!(
        worker
            .core
            .store()
            .payments()
            .order("WRONG")
            .await
            .expect("a read")
            .expect("the order")
            .status,
        OrderStatus::Failed
    );
    assert_eq!(worker.audited("paypal.alert").await.len(), 2);
    assert_ledger_exact(worker.core.store().as_ref()).await;
}
