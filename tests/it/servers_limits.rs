//! Stories of a customer who asks for too much: a server of 200,000 vCPUs, a hundred servers
//! in half a second, more vCPUs in all than an account may have. Each is refused, saying which
//! ceiling and what to do, and a burst at once never slips past one.

use std::sync::Arc;

use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::Config;
use hostdeck_core::pricing::Size;
use hostdeck_core::providers::{CreateKey, Image, Resources};
use hostdeck_core::servers::limits::CustomerLimits;
use hostdeck_core::servers::{CreateChoice, CreateServer, Created};
use hostdeck_core::{Actor, Core, Error, ErrorCode, Via};
use hostdeck_e2e::db::{TestDb, assert_ledger_exact};

use crate::servers::{Cloud, balance, clock, cloud_core, create, customer, usd};

hostdeck_e2e::on_both_engines!(
    a_hundred_creates_at_once_stop_at_the_server_limit,
    a_hundred_creates_at_once_stop_at_the_creates_per_minute_limit,
    creates_at_once_stop_at_the_vcpus_in_all,
    resizes_at_once_stop_at_the_vcpus_in_all,
);

/// A core over the in-memory sandbox provider with `limits`.
async fn sandbox_core(db: &TestDb, limits: CustomerLimits) -> (Core, Arc<ManualClock>) {
    let clock = clock();
    let config = Config {
        customer_limits: limits,
        ..Config::default()
    };
    (db.core_with(config, clock.clone()).await, clock)
}

fn sandbox_create(key: &str, plan: &str) -> CreateServer {
    CreateServer::new(
        CreateKey::parse(key).expect("a key"),
        CreateChoice::of_plan(
            &format!("box {key}"),
            &format!("{key}.example.com"),
            plan,
            "debian-12",
            None,
        ),
    )
}

async fn creates_at_once(
    core: &Core,
    actor: &Actor,
    plan: &str,
    count: usize,
) -> (Vec<Created>, Vec<Error>) {
    let mut runs = tokio::task::JoinSet::new();
    for n in 0..count {
        let core = core.clone();
        let actor = actor.clone();
        let request = sandbox_create(&format!("many-{plan}-{n}"), plan);
        runs.spawn(async move { core.servers.create(&actor, request).await });
    }
    let mut made = Vec::new();
    let mut refused = Vec::new();
    for result in runs.join_all().await {
        match result {
            Ok(created) => made.push(created),
            Err(error) => refused.push(error),
        }
    }
    (made, refused)
}

async fn a_hundred_creates_at_once_stop_at_the_server_limit(db: TestDb) {
    let limits = CustomerLimits {
        max_servers: 10,
        creates_per_minute: 1000,
        ..CustomerLimits::default()
    };
    let (core, _) = sandbox_core(&db, limits).await;
    let (ada, actor) = customer(&core, "ada@example.com", "100.00", Via::Api).await;
    let (made, refused) = creates_at_once(&core, &actor, "nano", 100).await;
    assert_eq!(made.len(), 10);
    assert_eq!(refused.len(), 90);
    for error in &refused {
        assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
        let text = error.to_string();
        assert!(
            text.contains("10 servers") && text.contains("ask support"),
            "{text}"
        );
    }
    let rows = core
        .store()
        .servers()
        .servers_of(Some(ada.id))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 10, "no row left behind by a refusal");
    let hour = made[0].quote.first_hour();
    assert_eq!(
        balance(&core, &ada).await.micros(),
        usd("100.00").micros() - 10 * hour.micros(),
        "only the servers made are charged"
    );
    assert_ledger_exact(core.store().as_ref()).await;

    // Deleting one makes room for one.
    core.servers
        .delete(&actor, made[0].server.id)
        .await
        .expect("deleted");
    core.servers
        .create(&actor, sandbox_create("after-delete", "nano"))
        .await
        .expect("room again");
}

async fn a_hundred_creates_at_once_stop_at_the_creates_per_minute_limit(db: TestDb) {
    let limits = CustomerLimits {
        max_servers: 1000,
        max_vcpus: 1000,
        max_memory_mib: 1 << 30,
        max_disk_gib: 1 << 30,
        creates_per_minute: 5,
    };
    let (core, clock) = sandbox_core(&db, limits).await;
    let (ada, actor) = customer(&core, "ada@example.com", "100.00", Via::Api).await;
    let (made, refused) = creates_at_once(&core, &actor, "nano", 100).await;
    assert_eq!(made.len(), 5);
    assert_eq!(refused.len(), 95);
    for error in &refused {
        assert_eq!(error.code(), ErrorCode::RateLimited, "{error}");
        assert!(error.to_string().contains("Wait a minute"), "{error}");
    }
    assert_eq!(
        core.store()
            .servers()
            .servers_of(Some(ada.id))
            .await
            .expect("rows")
            .len(),
        5
    );
    // A replay of a create that was made is no new create.
    let again = core
        .servers
        .create(&actor, sandbox_create("many-nano-0", "nano"))
        .await;
    if let Ok(created) = &again {
        assert!(created.replayed);
    }
    clock.advance(chrono::Duration::seconds(61));
    core.servers
        .create(&actor, sandbox_create("a-minute-later", "nano"))
        .await
        .expect("a minute later there is room");
    assert_ledger_exact(core.store().as_ref()).await;
}

async fn creates_at_once_stop_at_the_vcpus_in_all(db: TestDb) {
    let limits = CustomerLimits {
        max_vcpus: 4,
        creates_per_minute: 1000,
        ..CustomerLimits::default()
    };
    let (core, _) = sandbox_core(&db, limits).await;
    let (ada, actor) = customer(&core, "ada@example.com", "100.00", Via::Api).await;
    // "medium" has 2 vCPUs: two fit in 4.
    let (made, refused) = creates_at_once(&core, &actor, "medium", 10).await;
    assert_eq!(made.len(), 2);
    for error in &refused {
        assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
        let text = error.to_string();
        assert!(
            text.contains("6 vCPUs") && text.contains("at most 4"),
            "{text}"
        );
    }
    // Resizing one to a plan with more vCPUs is refused the same way; a smaller one fits.
    let refused = core
        .servers
        .resize(&actor, made[0].server.id, &Size::Plan("large".into()))
        .await
        .expect_err("4 + 2 vCPUs");
    assert_eq!(refused.code(), ErrorCode::Conflict, "{refused}");
    assert!(refused.to_string().contains("vCPUs"), "{refused}");
    assert_eq!(
        core.store()
            .servers()
            .server(made[0].server.id)
            .await
            .expect("read")
            .expect("row")
            .plan,
        "medium",
        "unchanged"
    );
    let _ = ada;
    assert_ledger_exact(core.store().as_ref()).await;
}

#[tokio::test]
async fn a_server_of_200000_vcpus_is_refused_by_the_providers_size_limit() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, _) = cloud_core(&db, &cloud, "max_vcpus = 4\nmax_disk_gib = 100").await;
    let (ada, actor) = customer(&core, "ada@example.com", "100.00", Via::Api).await;
    let before = balance(&core, &ada).await;
    let huge = CreateChoice {
        name: "huge".into(),
        hostname: "huge.example.com".into(),
        size: Size::Custom(Resources {
            vcpus: 200_000,
            memory_mib: 1024,
            disk_gib: 25,
        }),
        image: Image::Template("11".into()),
        location: Some("vf".into()),
    };
    for error in [
        core.servers
            .review(&actor, &huge)
            .await
            .expect_err("reviewed"),
        core.servers
            .create(&actor, CreateServer::new(CreateKey::random(), huge.clone()))
            .await
            .expect_err("not created"),
    ] {
        assert!(
            matches!(
                &error,
                Error::Invalid {
                    field: Some("vcpus"),
                    ..
                }
            ),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(
            text.contains("at most 4 vCPUs") && text.contains("ask support"),
            "{text}"
        );
    }
    // The same with no size configured: the default largest server is far below it.
    let (plain, _) = cloud_core(&db, &cloud, "").await;
    let error = plain
        .servers
        .create(&actor, CreateServer::new(CreateKey::random(), huge))
        .await
        .expect_err("not created");
    assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
    // A plan over the provider's disk (160 GiB) is refused, one within it is made.
    let error = core
        .servers
        .create(&actor, {
            let mut request = create(&core, "big-disk", "vf");
            request.choice.size = Size::Plan("large".into());
            request
        })
        .await
        .expect_err("160 GiB");
    assert!(error.to_string().contains("100 GiB of disk"), "{error}");
    assert_eq!(balance(&core, &ada).await, before, "nothing charged");
    assert_eq!(cloud.count("vf"), 0);
    core.servers
        .create(&actor, create(&core, "fits-1", "vf"))
        .await
        .expect("the first plan fits");
    cloud.assert_clean();
}

async fn resizes_at_once_stop_at_the_vcpus_in_all(db: TestDb) {
    let cloud = Cloud::start().await;
    let clock = clock();
    let config = Config {
        customer_limits: CustomerLimits {
            max_vcpus: 6,
            ..CustomerLimits::default()
        },
        ..cloud.config("")
    };
    let core = db.core_with(config, clock).await;
    let (_, actor) = customer(&core, "ada@example.com", "100.00", Via::Api).await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let mut request = create(&core, &format!("twin-{n}"), "pve");
        request.choice.size = Size::Plan("medium".into());
        ids.push(
            core.servers
                .create(&actor, request)
                .await
                .expect("made")
                .server
                .id,
        );
    }
    // 2 + 2 vCPUs; either may grow to 4 (6 in all), not both (8). Slow answers keep both
    // resizes in flight together.
    cloud.pve.set_latency(std::time::Duration::from_millis(50));
    let mut runs = tokio::task::JoinSet::new();
    for id in ids.clone() {
        let core = core.clone();
        let actor = actor.clone();
        runs.spawn(async move {
            core.servers
                .resize(&actor, id, &Size::Plan("large".into()))
                .await
        });
    }
    let results = runs.join_all().await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for error in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
        assert!(error.to_string().contains("8 vCPUs"), "{error}");
    }
    let mut plans = Vec::new();
    for id in ids {
        let row = core
            .store()
            .servers()
            .server(id)
            .await
            .expect("read")
            .expect("row");
        plans.push(row.plan);
    }
    plans.sort();
    assert_eq!(plans, ["large", "medium"]);
    assert_ledger_exact(core.store().as_ref()).await;
    cloud.assert_clean();
}
