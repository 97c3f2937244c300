//! Stories of a customer who tries to spend credit they do not have: many creates at once with
//! credit for one, resizes at once with credit for one, and what a create costs when its
//! provider fails or its answer is lost (nothing, once the hour is refunded).

use hostdeck_core::billing::meter::{hour_of, refund_key, usage_key};
use hostdeck_core::clock::Clock;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::money::Money;
use hostdeck_core::pricing::Size;
use hostdeck_core::servers::{Created, ServerStatus};
use hostdeck_core::{Actor, Core, ErrorCode, Via};
use hostdeck_e2e::billing::scalar;
use hostdeck_e2e::db::{TestDb, assert_ledger_exact};
use hostdeck_fakes::server::Fault;

use crate::servers::{
    Cloud, balance, cloud_core, create, create_whose_build_fails, customer, fail_builds,
    give_credit, plan, usage_postings,
};

hostdeck_e2e::on_both_engines!(
    ten_creates_at_once_with_credit_for_one_make_one_server,
    a_create_the_provider_refuses_is_refunded_and_its_retry_charged_again,
    a_lost_create_the_sync_gives_up_on_is_refunded_once,
    retries_of_a_failed_create_count_against_the_creates_per_minute,
    a_create_that_cannot_reach_the_provider_is_refused_before_it_is_charged,
    resizes_at_once_with_credit_for_one_resize_one_server,
);

/// Runs `count` creates of the first plan on `provider` at once, each under its own key.
async fn creates_at_once(
    core: &Core,
    actor: &Actor,
    provider: &str,
    prefix: &str,
    count: usize,
) -> Vec<hostdeck_core::Result<Created>> {
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..count {
        let core = core.clone();
        let actor = actor.clone();
        let request = create(&core, &format!("{prefix}-{n}"), provider);
        runs.spawn(async move { core.servers.create(&actor, request).await });
    }
    runs.join_all().await
}

/// The lowest balance the wallet ever showed after a posting.
async fn lowest_balance(db: &TestDb, wallet: i64) -> i64 {
    scalar(
        &db.url,
        &format!(
            "SELECT CAST(MIN(CASE WHEN debit_account = {wallet} THEN debit_balance_after \
             ELSE credit_balance_after END) AS BIGINT) FROM postings \
             WHERE debit_account = {wallet} OR credit_account = {wallet}"
        ),
    )
    .await
}

async fn ten_creates_at_once_with_credit_for_one_make_one_server(db: TestDb) {
    let cloud = Cloud::start().await;
    // Slow answers keep every create in flight together.
    cloud.vf.set_latency(std::time::Duration::from_millis(50));
    let (core, _) = cloud_core(&db, &cloud, "").await;
    let (mallory, actor) = customer(&core, "mallory@example.com", "0", Via::Api).await;
    let hour = core
        .servers
        .quote(&actor, &plan(&core))
        .expect("a price")
        .first_hour();
    give_credit(&core, &mallory, &hour.amount_text()).await;

    let results = creates_at_once(&core, &actor, "vf", "burst", 10).await;
    let made: Vec<&Created> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(made.len(), 1, "credit for one hour buys one server");
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(
            matches!(error.code(), ErrorCode::Conflict | ErrorCode::RateLimited),
            "{error}"
        );
    }
    assert_eq!(cloud.count("vf"), 1, "one server on the provider");
    let rows = core
        .store()
        .servers()
        .servers_of(Some(mallory.id))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(balance(&core, &mallory).await, Money::ZERO);
    assert!(lowest_balance(&db, mallory.wallet.0).await >= 0);
    assert_eq!(usage_postings(&core, made[0].server.id).await, 1);
    assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}

async fn a_create_the_provider_refuses_is_refunded_and_its_retry_charged_again(db: TestDb) {
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let full = balance(&core, &ada).await;
    create_whose_build_fails(&core, &cloud, &actor, "refund-1").await;
    let failed = core
        .store()
        .servers()
        .server_by_key("refund-1")
        .await
        .expect("read")
        .expect("the row");
    assert_eq!(failed.state, ServerStatus::Failed);
    assert_eq!(balance(&core, &ada).await, full, "the first hour is back");
    let hour_key = usage_key(failed.id, hour_of(clock.now()));
    let charge = core
        .store()
        .ledger()
        .posting_by_key(&hour_key)
        .await
        .expect("read")
        .expect("charged before the provider was asked");
    let refund = core
        .store()
        .ledger()
        .posting_by_key(&refund_key(&hour_key))
        .await
        .expect("read")
        .expect("refunded");
    assert_eq!(refund.kind, PostingKind::UsageRefund);
    assert_eq!(refund.amount, charge.amount);
    assert_eq!(refund.credit, ada.wallet);
    // The usage chart counts the refund off the day's usage, and the statement names the
    // refund's server and hour as it names the charge's.
    let days = core
        .statements
        .daily_usage(&actor, &ada)
        .await
        .expect("the chart");
    assert_eq!(
        days.last().map(|(_, total)| *total),
        Some(Money::ZERO),
        "a refused create used nothing: {days:?}"
    );
    let lines = core
        .statements
        .transactions(
            &actor,
            &ada,
            &hostdeck_core::statements::StatementFilter::default(),
            hostdeck_core::store::Page::first(50),
        )
        .await
        .expect("the statement")
        .items;
    let named = |kind: PostingKind| {
        lines
            .iter()
            .find(|line| line.kind == kind)
            .and_then(|line| line.usage.as_ref())
            .map(|usage| (usage.server, usage.hour))
    };
    assert_eq!(
        named(PostingKind::UsageRefund),
        Some((failed.id, hour_of(clock.now())))
    );
    assert_eq!(named(PostingKind::UsageRefund), named(PostingKind::Usage));
    assert_eq!(
        core.servers
            .get(&actor, failed.id)
            .await
            .expect("the row")
            .charged,
        Money::ZERO
    );
    assert_ledger_exact(core.store().as_ref()).await;

    // Tried again in the same hour: charged again, under the next key of that hour, once.
    let retried = core
        .servers
        .create(&actor, create(&core, "refund-1", "vf"))
        .await
        .expect("the retry");
    assert_eq!(retried.server.state, ServerStatus::Running);
    let first = retried.quote.first_hour();
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - first.micros()
    );
    assert!(
        core.store()
            .ledger()
            .posting_by_key(&format!("{hour_key}+1"))
            .await
            .expect("read")
            .is_some()
    );
    let view = core
        .servers
        .get(&actor, failed.id)
        .await
        .expect("the server");
    assert_eq!(view.charged, first);

    // The next hour is the tick's, once.
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(20));
    core.billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a tick");
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - first.micros() - retried.quote.hour_cost(true, 1).micros()
    );
    assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}

async fn retries_of_a_failed_create_count_against_the_creates_per_minute(db: TestDb) {
    let cloud = Cloud::start().await;
    let clock = crate::servers::clock();
    let mut config = cloud.config("");
    config.customer_limits.creates_per_minute = 3;
    let core = db.core_with(config, clock.clone()).await;
    let (_, actor) = customer(&core, "ada@example.com", "10.00", Via::Api).await;
    fail_builds(&cloud.vf, 3);
    // One key, failing at the provider, sent again and again within a minute: each attempt
    // asks the provider, so each is a create the per-minute ceiling counts.
    let mut codes = Vec::new();
    for _ in 0..6 {
        let error = core
            .servers
            .create(&actor, create(&core, "again-1", "vf"))
            .await
            .expect_err("the build fails, or the rate is reached");
        codes.push(error.code());
    }
    assert_eq!(
        codes
            .iter()
            .filter(|code| **code == ErrorCode::RateLimited)
            .count(),
        3,
        "three attempts in a minute, then refused: {codes:?}"
    );
    clock.advance(chrono::Duration::seconds(61));
    core.servers
        .create(&actor, create(&core, "again-1", "vf"))
        .await
        .expect("a minute later the retry goes through");
    assert_ledger_exact(core.store().as_ref()).await;
}

async fn a_create_that_cannot_reach_the_provider_is_refused_before_it_is_charged(db: TestDb) {
    let cloud = Cloud::start().await;
    let (core, _) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Api).await;
    let full = balance(&core, &ada).await;
    // An account from before addresses were checked, whose address no provider can be sent.
    db.raw(&format!(
        "UPDATE users SET email = 'no-at-sign' WHERE id = {}",
        ada.id
    ))
    .await
    .expect("an old address");
    let error = core
        .servers
        .create(&actor, create(&core, "old-address", "vf"))
        .await
        .expect_err("the owner's address cannot be sent");
    assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    assert!(
        core.store()
            .servers()
            .server_by_key("old-address")
            .await
            .expect("read")
            .is_none(),
        "no row"
    );
    assert_eq!(balance(&core, &ada).await, full, "nothing charged");
    assert_eq!(cloud.count("vf"), 0);
    assert_ledger_exact(core.store().as_ref()).await;
}

async fn a_lost_create_the_sync_gives_up_on_is_refunded_once(db: TestDb) {
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let full = balance(&core, &ada).await;
    cloud
        .jel
        .recorder()
        .fail_next("createenvironment", 1, Fault::Drop);
    let error = core
        .servers
        .create(&actor, create(&core, "lost-1", "jel"))
        .await
        .expect_err("no answer");
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    let lost = core
        .store()
        .servers()
        .server_by_key("lost-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(lost.state, ServerStatus::Creating);
    let first = lost.quote().first_hour();
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - first.micros(),
        "held while the answer is unknown"
    );
    // The dropped request never reached Jelastic: nothing to find.
    assert_eq!(cloud.count("jel"), 0);
    clock.advance(chrono::Duration::minutes(31));
    let reports = core.servers.sync().await;
    let jel = reports.iter().find(|r| r.provider == "jel").expect("jel");
    assert_eq!(jel.abandoned_creates, 1, "{jel:?}");
    assert_eq!(balance(&core, &ada).await, full, "given back");
    core.servers.sync().await;
    assert_eq!(balance(&core, &ada).await, full, "once");
    assert!(
        core.store()
            .ledger()
            .posting_by_key(&refund_key(&usage_key(lost.id, hour_of(lost.rate.since))))
            .await
            .expect("read")
            .is_some()
    );
    assert_ledger_exact(core.store().as_ref()).await;

    // The customer tries again, and that answer is lost too; a sync pass that read the row
    // before the retry (its first attempt, long past the grace) gives up late: the retry is
    // not its to fail or refund.
    cloud
        .jel
        .recorder()
        .fail_next("createenvironment", 1, Fault::Drop);
    core.servers
        .create(&actor, create(&core, "lost-1", "jel"))
        .await
        .expect_err("no answer again");
    let held = full.micros() - first.micros();
    assert_eq!(
        balance(&core, &ada).await.micros(),
        held,
        "the retry is held"
    );
    assert!(
        !core
            .store()
            .servers()
            .server_failed(lost.id, lost.created_at, clock.now())
            .await
            .expect("the stale pass"),
        "a stale pass leaves the retry alone"
    );
    let retry = core
        .store()
        .servers()
        .server_by_key("lost-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(retry.state, ServerStatus::Creating);
    assert_eq!(balance(&core, &ada).await.micros(), held, "still held");
    // Its own pass, after its own grace, gives it up.
    clock.advance(chrono::Duration::minutes(31));
    core.servers.sync().await;
    assert_eq!(balance(&core, &ada).await, full, "given back once more");
    assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}

async fn resizes_at_once_with_credit_for_one_resize_one_server(db: TestDb) {
    let cloud = Cloud::start().await;
    let (core, _) = cloud_core(&db, &cloud, "").await;
    let (mallory, actor) = customer(&core, "mallory@example.com", "10.00", Via::Api).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let created = core
            .servers
            .create(&actor, create(&core, &format!("grow-{n}"), "pve"))
            .await
            .expect("a server");
        ids.push(created.server.id);
    }
    // Left with exactly an hour of the larger plan.
    let large = Size::Plan("large".into());
    let hour = core.pricing.quote(&large).expect("a price").first_hour();
    let left = balance(&core, &mallory).await;
    core.ledger
        .adjust(
            &Actor::system(),
            &mallory,
            Money::from_micros(hour.micros() - left.micros()),
            "leave an hour of the large plan",
            "resize-race",
        )
        .await
        .expect("an adjustment");
    assert_eq!(balance(&core, &mallory).await, hour);
    cloud.pve.set_latency(std::time::Duration::from_millis(50));

    let mut runs = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let core = core.clone();
        let actor = actor.clone();
        let large = large.clone();
        runs.spawn(async move { core.servers.resize(&actor, id, &large).await });
    }
    let results = runs.join_all().await;
    let resized = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(resized, 1, "an hour's credit pays for one larger server");
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
    }
    assert!(balance(&core, &mallory).await >= Money::ZERO);
    assert!(lowest_balance(&db, mallory.wallet.0).await >= 0);
    assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}
