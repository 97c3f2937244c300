//! Billing with the real server service on a provider fake: a customer creates a server (first
//! hour charged up front), the tick bills every later hour once, the balance runs out, the
//! customer is told, then the server is suspended on the provider and pays the stopped rate;
//! a top-up unsuspends it.

use chrono::{Duration, Timelike};
use hostdeck_core::Actor;
use hostdeck_core::billing::meter::hour_cost;
use hostdeck_core::billing::meter::{hour_of, usage_key};
use hostdeck_e2e::db::TestDb;

use crate::servers::{Cloud, audited, create, customer, give_credit, usage_postings};

hostdeck_e2e::on_both_engines!(a_server_runs_its_balance_down_is_suspended_and_comes_back);

async fn a_server_runs_its_balance_down_is_suspended_and_comes_back(db: TestDb) {
    let cloud = Cloud::start().await;
    let mut config = cloud.config("");
    config.billing.low_balance_hours = 3;
    config.billing.grace_hours = 2;
    let clock = crate::servers::clock();
    let core = db.core_with(config, clock.clone()).await;
    let (ada, actor) = customer(&core, "ada@example.com", "0.03", hostdeck_core::Via::Portal).await;
    let created = core
        .servers
        .create(&actor, create(&core, "billed", "vf"))
        .await
        .expect("a server");
    let id = created.server.id;
    let start = hour_of(hostdeck_core::clock::Clock::now(clock.as_ref()));
    let rate = core
        .store()
        .servers()
        .server(id)
        .await
        .expect("read")
        .expect("the row")
        .rate;
    assert_eq!(
        usage_postings(&core, id).await,
        1,
        "the first hour, at creation"
    );

    let system = Actor::system();
    let mut steps = Vec::new();
    let mut suspended_in = None;
    // The tick at hour h bills the hour before it; hour 0 was charged at creation.
    let mut last = 0;
    for hour in 2..=60 {
        if suspended_in.is_some_and(|at| hour > at + 2) {
            break;
        }
        last = hour;
        clock.set(start + Duration::hours(hour) + Duration::minutes(2));
        let report = core.billing.run_once(&system, None).await.expect("tick");
        assert_eq!(report.usage.postings, 1, "hour {hour} billed once");
        for step in &report.steps {
            steps.push(step.step);
            if step.step == "servers suspended" {
                suspended_in = Some(hour);
            }
        }
    }
    assert_eq!(
        steps,
        [
            "low balance notice",
            "below zero warning",
            "below zero reminder",
            "servers suspended"
        ]
    );
    let row = core
        .store()
        .servers()
        .server(id)
        .await
        .expect("read")
        .expect("the row");
    assert!(row.suspended_at.is_some(), "suspended in hostdeck");
    assert_eq!(audited(&core, "server.suspend", "ok").await, 1);
    // The hours that start after the suspension pay the stopped rate.
    let suspended_in = suspended_in.expect("a suspension");
    let k = |at: chrono::DateTime<chrono::Utc>| (hour_of(at) - hour_of(rate.since)).num_hours();
    let after = start + Duration::hours(suspended_in + 1);
    let posting = core
        .store()
        .ledger()
        .posting_by_key(&usage_key(id, after))
        .await
        .expect("read")
        .expect("the hour after the suspension");
    assert_eq!(
        posting.amount.micros(),
        hour_cost(rate.stopped, rate.hours, k(after)),
        "hour {} pays the stopped rate",
        after.hour()
    );

    // A top-up back over zero resumes the server.
    give_credit(&core, &ada, "1.00").await;
    clock.set(start + Duration::hours(last) + Duration::minutes(30));
    let report = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].step, "recovered");
    let row = core
        .store()
        .servers()
        .server(id)
        .await
        .expect("read")
        .expect("the row");
    assert!(row.suspended_at.is_none(), "unsuspended");
    assert_eq!(audited(&core, "server.unsuspend", "ok").await, 1);

    // Every hour from creation on billed exactly once.
    for hour in 0..last {
        let key = usage_key(id, start + Duration::hours(hour));
        assert!(
            core.store()
                .ledger()
                .posting_by_key(&key)
                .await
                .expect("read")
                .is_some(),
            "{key}"
        );
    }
    assert_eq!(usage_postings(&core, id).await, last as u64);
    hostdeck_e2e::db::assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}
