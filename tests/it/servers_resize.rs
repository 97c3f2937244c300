//! Resizing servers: through core on the sandbox and on the fakes of Proxmox VE, Jelastic and
//! VirtFusion; the billing of a resize (hours owed at the old rate, the hour of the resize at
//! the larger rate, the new rate after it) with no hour billed twice or skipped, also with a
//! tick running at the same moment, on both engines; refusals (a shrinking disk, too little
//! credit, somebody else's server, a suspended server) and a provider failure that changes
//! nothing.

use chrono::{DateTime, Duration, Utc};
use hostdeck_core::billing::meter::{hour_cost, hour_of, usage_key};
use hostdeck_core::clock::Clock;
use hostdeck_core::config::Config;
use hostdeck_core::ids::ServerId;
use hostdeck_core::pricing::Size;
use hostdeck_core::providers::Resources;
use hostdeck_core::servers::{CreateChoice, CreateServer, Server};
use hostdeck_core::{Actor, Core, ErrorCode, Via};
use hostdeck_e2e::db::TestDb;

use crate::servers::{Cloud, audited, balance, customer, image, usd};

/// The fakes' providers plus an in-process sandbox called `sbx`.
pub fn config_with_sandbox(cloud: &Cloud) -> Config {
    let toml = format!("{}\n[providers.sbx]\nkind = \"sandbox\"\n", cloud.toml(""));
    Config::from_toml(&toml).unwrap_or_else(|error| panic!("{error}\n{toml}"))
}

/// A create of plan `plan` on `provider` under `key`.
pub fn create_plan(key: &str, provider: &str, plan: &str) -> CreateServer {
    CreateServer::new(
        hostdeck_core::providers::CreateKey::parse(key).expect("a key"),
        CreateChoice {
            name: format!("web {key}"),
            hostname: format!("{key}.example.com"),
            size: Size::Plan(plan.into()),
            image: if provider == "sbx" {
                hostdeck_core::providers::Image::Template("debian-12".into())
            } else {
                image(provider)
            },
            location: Some(provider.to_owned()),
        },
    )
}

/// A server of plan `plan` created for `actor` on `provider`; its id.
async fn created(core: &Core, actor: &Actor, name: &str, provider: &str, plan: &str) -> ServerId {
    core.servers
        .create(actor, create_plan(name, provider, plan))
        .await
        .expect("a server")
        .server
        .id
}

/// The server's row as stored.
async fn stored(core: &Core, id: ServerId) -> Server {
    core.store()
        .servers()
        .server(id)
        .await
        .expect("read")
        .expect("the server's row")
}

/// A resize the server service refuses, with the error's code; its error.
async fn refused(
    core: &Core,
    actor: &Actor,
    id: ServerId,
    size: &Size,
    code: ErrorCode,
) -> hostdeck_core::Error {
    let error = core
        .servers
        .resize(actor, id, size)
        .await
        .expect_err("the resize is refused");
    assert_eq!(error.code(), code, "{error}");
    error
}

fn plan(name: &str) -> Size {
    Size::Plan(name.into())
}

/// A custom size cheaper than `medium` with the same disk: a resize down that shrinks nothing.
fn slim() -> Size {
    Size::Custom(Resources {
        vcpus: 1,
        memory_mib: 1024,
        disk_gib: 80,
    })
}

/// What a size (a plan's name, or `slim`) charges for hour `k` of its rate, running.
fn cost(core: &Core, size: &str, k: i64) -> i64 {
    let size = if size == "slim" { slim() } else { plan(size) };
    let quote = core.pricing.quote(&size).expect("a size");
    hour_cost(quote.running, quote.rate_hours, k)
}

/// The usage posting of one hour of a server (`+n` for a top-up), if any.
async fn charged(core: &Core, id: ServerId, hour: DateTime<Utc>, suffix: &str) -> Option<i64> {
    core.store()
        .ledger()
        .posting_by_key(&format!("{}{suffix}", usage_key(id, hour)))
        .await
        .expect("read")
        .map(|posting| posting.amount.micros())
}

hostdeck_e2e::on_both_engines!(
    a_resize_bills_old_hours_at_the_old_rate_its_hour_at_the_larger_and_later_hours_at_the_new,
    resizes_while_the_tick_runs_bill_every_hour_once
);

async fn a_resize_bills_old_hours_at_the_old_rate_its_hour_at_the_larger_and_later_hours_at_the_new(
    db: TestDb,
) {
    let cloud = Cloud::start().await;
    let clock = crate::servers::clock();
    let core = db
        .core_with(config_with_sandbox(&cloud), clock.clone())
        .await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let system = Actor::system();
    let start = hour_of(clock.now()); // 09:00, created at 09:41
    let at = |hours: i64, minutes: i64| start + Duration::hours(hours) + Duration::minutes(minutes);
    let id = created(&core, &actor, "bill-resize", "sbx", "small").await;
    assert_eq!(
        charged(&core, id, at(0, 0), "").await,
        Some(cost(&core, "small", 0))
    );

    // 09:50, up to medium in the hour paid at creation: that hour is topped up to medium.
    clock.set(at(0, 50));
    let resized = core
        .servers
        .resize(&actor, id, &plan("medium"))
        .await
        .expect("up to medium");
    assert!(resized.quote.larger);
    assert_eq!(resized.server.plan, "medium");
    assert_eq!(resized.server.resources.vcpus, 2);
    assert_eq!(
        charged(&core, id, at(0, 0), "+1").await,
        Some(cost(&core, "medium", 0) - cost(&core, "small", 0)),
        "the hour of an upsize costs the larger rate"
    );
    assert_eq!(
        resized.billed.micros(),
        cost(&core, "medium", 0) - cost(&core, "small", 0)
    );

    // 12:20, down to slim: 10:00 and 11:00 are owed at medium, and so is 12:00 (the larger
    // rate), billed now; slim starts at 13:00.
    clock.set(at(3, 20));
    let resized = core
        .servers
        .resize(&actor, id, &slim())
        .await
        .expect("down to slim");
    assert!(!resized.quote.larger);
    for k in 1..=3 {
        assert_eq!(
            charged(&core, id, at(k, 0), "").await,
            Some(cost(&core, "medium", k)),
            "hour {k} at medium"
        );
    }
    assert_eq!(resized.server.billed_until, at(4, 0));
    assert_eq!(resized.server.rate.since, at(4, 0));

    // The ticks at 13:05 and 14:05: nothing is left before 13:00; 13:00 costs slim.
    clock.set(at(4, 5));
    let report = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(report.usage.postings, 0, "12:00 was billed by the resize");
    clock.set(at(5, 5));
    let report = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(report.usage.postings, 1);
    assert_eq!(
        charged(&core, id, at(4, 0), "").await,
        Some(cost(&core, "slim", 0))
    );

    // 14:30, up to medium with 14:00 unbilled: medium from 14:00, billed by the tick.
    clock.set(at(5, 30));
    let resized = core
        .servers
        .resize(&actor, id, &plan("medium"))
        .await
        .expect("up again");
    assert_eq!(resized.billed.micros(), 0, "nothing was owed");
    assert_eq!(resized.server.rate.since, at(5, 0));
    clock.set(at(7, 5));
    core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(
        charged(&core, id, at(5, 0), "").await,
        Some(cost(&core, "medium", 0))
    );
    assert_eq!(
        charged(&core, id, at(6, 0), "").await,
        Some(cost(&core, "medium", 1))
    );

    // Every hour from 09:00 to 15:00 billed once, plus the one top-up; nothing else.
    for hour in 0..7 {
        assert!(
            charged(&core, id, at(hour, 0), "").await.is_some(),
            "hour {hour}"
        );
        if hour > 0 {
            assert!(
                charged(&core, id, at(hour, 0), "+1").await.is_none(),
                "hour {hour}"
            );
        }
    }
    assert_eq!(crate::servers::usage_postings(&core, id).await, 8);
    let spent = usd("10.00")
        .checked_sub(balance(&core, &ada).await)
        .expect("money");
    assert_eq!(
        spent.micros(),
        cost(&core, "medium", 0) // 09:00 (small, topped up)
            + cost(&core, "medium", 1)
            + cost(&core, "medium", 2)
            + cost(&core, "medium", 3)
            + cost(&core, "slim", 0)
            + cost(&core, "medium", 0)
            + cost(&core, "medium", 1)
    );
    assert_eq!(audited(&core, "server.resize", "ok").await, 3);
    hostdeck_e2e::db::assert_ledger_exact(core.store().as_ref()).await;
}

async fn resizes_while_the_tick_runs_bill_every_hour_once(db: TestDb) {
    let cloud = Cloud::start().await;
    let clock = crate::servers::clock();
    // Twelve servers started within a minute: more than one account may have by default.
    let mut config = config_with_sandbox(&cloud);
    config.customer_limits.max_servers = 12;
    config.customer_limits.creates_per_minute = 12;
    let core = db.core_with(config, clock.clone()).await;
    let (_, actor) = customer(&core, "ada@example.com", "50.00", Via::Portal).await;
    let system = Actor::system();
    let start = hour_of(clock.now());
    let at = |hours: i64, minutes: i64| start + Duration::hours(hours) + Duration::minutes(minutes);
    let mut ids = Vec::new();
    for n in 0..12 {
        let created = core
            .servers
            .create(
                &actor,
                create_plan(&format!("race-{n:02}"), "sbx", "medium"),
            )
            .await
            .expect("a server");
        ids.push(created.server.id);
    }
    // 12:20: 10:00 and 11:00 are due. Half go up to large, half down to slim, while ticks run.
    clock.set(at(3, 20));
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let core = core.clone();
        tasks.push(tokio::spawn(async move {
            core.billing
                .run_once(&Actor::system(), None)
                .await
                .map(|_| ())
        }));
    }
    for (n, id) in ids.iter().enumerate() {
        let core = core.clone();
        let actor = actor.clone();
        let id = *id;
        let to = if n % 2 == 0 { plan("large") } else { slim() };
        tasks.push(tokio::spawn(async move {
            core.servers.resize(&actor, id, &to).await.map(|_| ())
        }));
    }
    for task in tasks {
        task.await.expect("joined").expect("tick or resize");
    }
    clock.set(at(6, 5));
    core.billing.run_once(&system, None).await.expect("tick");
    for (n, id) in ids.iter().enumerate() {
        let id = *id;
        let mut expected = vec![
            cost(&core, "medium", 0),
            cost(&core, "medium", 1),
            cost(&core, "medium", 2),
        ];
        if n % 2 == 0 {
            // 12:00 on: large, from hour 0 of its rate.
            expected.extend([
                cost(&core, "large", 0),
                cost(&core, "large", 1),
                cost(&core, "large", 2),
            ]);
        } else {
            // 12:00 at medium (the larger), slim from 13:00.
            expected.extend([
                cost(&core, "medium", 3),
                cost(&core, "slim", 0),
                cost(&core, "slim", 1),
            ]);
        }
        for (hour, amount) in expected.iter().enumerate() {
            let hour = i64::try_from(hour).expect("small");
            assert_eq!(
                charged(&core, id, at(hour, 0), "").await,
                Some(*amount),
                "server {id} hour {hour}"
            );
            assert_eq!(charged(&core, id, at(hour, 0), "+1").await, None);
        }
        assert_eq!(
            crate::servers::usage_postings(&core, id).await,
            6,
            "server {id}"
        );
    }
    hostdeck_e2e::db::assert_ledger_exact(core.store().as_ref()).await;
    assert_eq!(audited(&core, "server.resize", "ok").await, 12);
}

#[tokio::test]
async fn a_resize_is_checked_like_a_create_and_refused_clearly() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let clock = crate::servers::clock();
    let core = db
        .core_with(config_with_sandbox(&cloud), clock.clone())
        .await;
    let (ada, actor) = customer(&core, "ada@example.com", "0.05", Via::Portal).await;
    let (_, bob) = customer(&core, "bob@example.com", "10.00", Via::Discord).await;
    let id = created(&core, &actor, "checked-1", "sbx", "medium").await;
    let before = stored(&core, id).await;

    // 80 GiB does not shrink to 25.
    let shrink = refused(&core, &actor, id, &plan("small"), ErrorCode::Invalid).await;
    assert!(shrink.to_string().contains("cannot shrink"), "{shrink}");

    // The same size.
    refused(&core, &actor, id, &plan("medium"), ErrorCode::Invalid).await;

    let no_vcpu = Size::Custom(Resources {
        vcpus: 0,
        memory_mib: 4096,
        disk_gib: 80,
    });
    refused(&core, &actor, id, &no_vcpu, ErrorCode::Invalid).await;

    // An hour of burst costs 0.12; ada has less than that left.
    let poor = refused(&core, &actor, id, &plan("burst"), ErrorCode::Conflict).await;
    assert!(poor.to_string().contains("Not enough credit"), "{poor}");
    // The price shown before the confirm already says so.
    let quote = core
        .servers
        .quote_resize(&actor, id, &plan("burst"))
        .await
        .expect("a quote");
    assert!(quote.larger && !quote.affordable);
    assert!(
        quote.billing_note().contains("does not cover"),
        "{}",
        quote.billing_note()
    );

    // Not bob's.
    refused(&core, &bob, id, &plan("large"), ErrorCode::NotFound).await;
    assert_eq!(audited(&core, "server.resize", "denied").await, 1);

    let clerk = crate::servers::staff(
        &core,
        "clerk@example.com",
        hostdeck_core::Role::Billing,
        Via::Discord,
    )
    .await;
    core.servers
        .suspend(&clerk, id, "chargeback")
        .await
        .expect("suspended");
    let suspended = refused(&core, &actor, id, &plan("large"), ErrorCode::Conflict).await;
    assert!(suspended.to_string().contains("suspended"), "{suspended}");

    let after = stored(&core, id).await;
    assert_eq!(after.resources, before.resources);
    assert_eq!(after.rate, before.rate);
    assert_eq!(
        balance(&core, &ada).await,
        usd("0.05")
            .checked_sub(hostdeck_core::money::Money::from_micros(cost(
                &core, "medium", 0
            )))
            .expect("m")
    );
    assert_eq!(audited(&core, "server.resize", "ok").await, 0);
}

async fn post_resize(
    app: &hostdeck_e2e::app::TestApp,
    token: &str,
    id: ServerId,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = app
        .http
        .post(app.url(&format!("/api/v1/servers/{id}/resize")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST");
    hostdeck_e2e::app::answer(response).await
}

#[tokio::test]
async fn through_the_api_a_customer_resizes_their_own_server_and_nobody_elses() {
    use hostdeck_core::policy::Scope;
    use serde_json::json;

    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let core = db
        .core_with(config_with_sandbox(&cloud), crate::servers::clock())
        .await;
    let app = hostdeck_e2e::app::TestApp::start(core).await;
    let ada = app
        .user("ada@example.com", hostdeck_core::Role::Customer)
        .await;
    let bob = app
        .user("bob@example.com", hostdeck_core::Role::Customer)
        .await;
    crate::servers::give_credit(app.core(), &ada.user, "0.10").await;
    let ada_actor = Actor::user(ada.user.id, hostdeck_core::Role::Customer, Via::Api);
    let id = created(app.core(), &ada_actor, "api-resize-1", "sbx", "small").await;

    let (status, resized) = post_resize(&app, &ada.token, id, json!({ "plan": "medium" })).await;
    assert_eq!(status, 200, "{resized}");
    assert_eq!(resized["server"]["plan"], json!("medium"));
    assert_eq!(resized["server"]["disk_gib"], json!(80));
    assert!(
        resized["price"]["per_month"]["amount"].is_string(),
        "{resized}"
    );
    assert!(
        resized["billed"]["micros"].as_i64() > Some(0),
        "the hour topped up"
    );

    let (status, custom) = post_resize(
        &app,
        &ada.token,
        id,
        json!({ "custom": { "vcpus": 2, "memory_mib": 2048, "disk_gib": 100 } }),
    )
    .await;
    assert_eq!(status, 200, "{custom}");
    assert_eq!(custom["server"]["plan"], json!("custom"));

    let (status, shrink) = post_resize(&app, &ada.token, id, json!({ "plan": "small" })).await;
    assert_eq!(status, 422, "{shrink}");
    assert!(shrink.to_string().contains("cannot shrink"), "{shrink}");

    let (status, both) = post_resize(
        &app,
        &ada.token,
        id,
        json!({ "plan": "large", "custom": { "vcpus": 1, "memory_mib": 512, "disk_gib": 200 } }),
    )
    .await;
    assert_eq!(status, 422, "{both}");

    // An hour of burst (0.12) is more than what is left of 0.10.
    let (status, poor) = post_resize(&app, &ada.token, id, json!({ "plan": "burst" })).await;
    assert_eq!(status, 409, "{poor}");
    assert!(poor.to_string().contains("Not enough credit"), "{poor}");

    let (status, refused) = post_resize(&app, &bob.token, id, json!({ "plan": "large" })).await;
    assert_eq!(status, 404, "{refused}");
    assert_eq!(audited(app.core(), "server.resize", "denied").await, 1);

    let read_only = app.api_key(&ada, &[Scope::ReadServers]).await;
    let (status, _) = post_resize(&app, &read_only, id, json!({ "plan": "large" })).await;
    assert_eq!(status, 403);

    let row = stored(app.core(), id).await;
    assert_eq!(row.resources.disk_gib, 100, "only the two resizes happened");
    assert_eq!(audited(app.core(), "server.resize", "ok").await, 2);

    let doc: serde_json::Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("the document");
    assert!(doc["paths"]["/api/v1/servers/{id}/resize"]["post"].is_object());
}

/// What the fake behind `provider` says the server's size is now.
async fn live_size(core: &Core, actor: &Actor, id: ServerId) -> Resources {
    core.servers
        .get(actor, id)
        .await
        .expect("the server")
        .live
        .expect("a live answer")
        .resources
}

#[tokio::test]
async fn on_each_provider_a_resize_reaches_the_platform_or_is_refused_as_unsupported() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let clock = crate::servers::clock();
    let core = db
        .core_with(config_with_sandbox(&cloud), clock.clone())
        .await;
    let (_, actor) = customer(&core, "ada@example.com", "20.00", Via::Portal).await;
    let medium = Resources {
        vcpus: 2,
        memory_mib: 4096,
        disk_gib: 80,
    };

    // Sandbox, a Proxmox container, a Jelastic environment: small to medium, disk grown.
    for provider in ["sbx", "pve", "jel"] {
        let id = core
            .servers
            .create(
                &actor,
                create_plan(&format!("{provider}-grow-1"), provider, "small"),
            )
            .await
            .unwrap_or_else(|error| panic!("{provider}: {error}"))
            .server
            .id;
        let resized = core
            .servers
            .resize(&actor, id, &plan("medium"))
            .await
            .unwrap_or_else(|error| panic!("{provider} resize: {error}"));
        assert_eq!(resized.server.resources, medium, "{provider}");
        let live = live_size(&core, &actor, id).await;
        assert_eq!(
            live.disk_gib, 80,
            "{provider}: the disk grew on the platform"
        );
        assert_eq!(live.memory_mib, 4096, "{provider}");
        if provider != "jel" {
            // Jelastic counts CPU in cloudlets, which follow memory.
            assert_eq!(live.vcpus, 2, "{provider}");
        }
    }
    assert_eq!(
        cloud.pve.call_count("PUT /nodes/{node}/lxc/{vmid}/resize"),
        1
    );
    assert_eq!(
        cloud
            .jel
            .call_count("environment/control/rest/setcloudletscountbygroup"),
        1
    );

    // A Proxmox VM (from an ISO): the scsi0 disk grows in a task that is followed.
    let vm = core
        .servers
        .create(
            &actor,
            CreateServer::new(
                hostdeck_core::providers::CreateKey::parse("pve-vm-grow-1").expect("key"),
                CreateChoice {
                    name: "vm".into(),
                    hostname: "vm.example.com".into(),
                    size: plan("small"),
                    image: hostdeck_core::providers::Image::Iso("local:iso/debian-12.iso".into()),
                    location: Some("pve".into()),
                },
            ),
        )
        .await
        .expect("a VM")
        .server;
    assert!(
        vm.remote_id
            .as_ref()
            .is_some_and(|id| id.as_str().starts_with("qemu/"))
    );
    core.servers
        .resize(&actor, vm.id, &plan("medium"))
        .await
        .expect("the VM grows");
    assert_eq!(live_size(&core, &actor, vm.id).await, medium);
    let vmid: u32 = vm
        .remote_id
        .as_ref()
        .and_then(|id| id.as_str().strip_prefix("qemu/"))
        .and_then(|id| id.parse().ok())
        .expect("a VM id");
    assert!(
        cloud.pve.tasks().iter().any(|task| task.vmid == vmid
            && task.kind.ends_with("resize")
            && task.exit_status.as_deref() == Some("OK")),
        "the VM's resize task ran to OK"
    );

    // VirtFusion: cores and memory change; its API cannot change a disk, and says so.
    let vf = core
        .servers
        .create(&actor, create_plan("vf-grow-1", "vf", "small"))
        .await
        .expect("a VirtFusion server")
        .server;
    let refused = core
        .servers
        .resize(&actor, vf.id, &plan("medium"))
        .await
        .expect_err("no disk growth through VirtFusion's API");
    assert_eq!(refused.code(), ErrorCode::Conflict);
    assert!(
        refused
            .to_string()
            .contains("cannot change a server's disk"),
        "{refused}"
    );
    let unchanged = stored(&core, vf.id).await;
    assert_eq!(unchanged.plan, "small");
    assert_eq!(unchanged.rate, vf.rate);
    let same_disk = Resources {
        vcpus: 2,
        memory_mib: 2048,
        disk_gib: 25,
    };
    let resized = core
        .servers
        .resize(&actor, vf.id, &Size::Custom(same_disk))
        .await
        .expect("cores and memory");
    assert_eq!(resized.server.plan, "custom");
    assert_eq!(live_size(&core, &actor, vf.id).await, same_disk);
    assert_eq!(audited(&core, "server.resize", "failed").await, 1);
    assert_eq!(audited(&core, "server.resize", "ok").await, 5);
    cloud.assert_clean();
}

#[tokio::test]
async fn a_provider_failure_during_a_resize_changes_nothing_here() {
    use hostdeck_fakes::server::Fault;

    // (The database is bound too: a field left to `..` would be dropped here.)
    let Platforms {
        _db,
        cloud,
        clock,
        core,
        ada,
        actor,
        servers,
    } = Platforms::start("fail").await;
    let ids: Vec<(&str, Server)> = ["pve", "jel", "vf"].into_iter().zip(servers).collect();
    let paid = balance(&core, &ada).await;
    clock.set(clock.now() + Duration::hours(2));

    cloud.pve.recorder().fail_next(
        "/config",
        1,
        Fault::Status(
            reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"data": null}),
        ),
    );
    cloud.jel.fail_next_operation(1, "out of cloudlets");
    cloud.vf.recorder().fail_next("/modify/", 1, Fault::Drop);
    let bigger = Resources {
        vcpus: 2,
        memory_mib: 2048,
        disk_gib: 25,
    };
    for (provider, server) in &ids {
        let error = core
            .servers
            .resize(&actor, server.id, &Size::Custom(bigger))
            .await
            .expect_err("the provider fails");
        assert_ne!(error.code(), ErrorCode::Internal, "{provider}: {error}");
        let row = stored(&core, server.id).await;
        assert_eq!(row.resources, server.resources, "{provider}");
        assert_eq!(row.rate, server.rate, "{provider}");
        assert_eq!(
            row.billed_until, server.billed_until,
            "{provider}: nothing billed"
        );
    }
    // Once the platform answers again, a resize goes through.
    let (_, vf) = &ids[2];
    let error = core
        .servers
        .resize(
            &actor,
            vf.id,
            &Size::Custom(Resources { vcpus: 3, ..bigger }),
        )
        .await;
    assert!(error.is_ok(), "the next resize goes through: {error:?}");
    assert!(
        balance(&core, &ada).await < paid,
        "the hours owed were billed by the resize that went through"
    );
    assert_eq!(audited(&core, "server.resize", "failed").await, 3);
    assert_eq!(audited(&core, "server.resize", "ok").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_portal_a_customer_sees_the_new_price_then_resizes() {
    use hostdeck_e2e::app::{PASSWORD, TestApp};
    use hostdeck_e2e::browser::Browser;

    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let core = db
        .core_with(
            config_with_sandbox(&cloud),
            std::sync::Arc::new(hostdeck_core::clock::SystemClock),
        )
        .await;
    let app = TestApp::start(core).await;
    let Some(mut browser) = Browser::start("servers_resize", &app.url("")).await else {
        return;
    };
    let ada = app
        .user("ada@example.test", hostdeck_core::Role::Customer)
        .await;
    crate::servers::give_credit(app.core(), &ada.user, "10.00").await;
    let actor = Actor::user(ada.user.id, hostdeck_core::Role::Customer, Via::Portal);
    let id = created(app.core(), &actor, "portal-resize-1", "sbx", "small").await;
    let currency = app.core().config.billing.currency.clone();
    let medium = app.core().pricing.quote(&plan("medium")).expect("medium");
    let per_month = medium
        .running_for(app.core().pricing.hours_per_month())
        .display(&currency);

    browser.open("/login").await;
    browser
        .fill(
            "/login",
            &[("email", "ada@example.test"), ("password", PASSWORD)],
        )
        .await;
    browser.submit("/login").await;
    browser.open(&format!("/servers/{id}")).await;
    assert!(
        browser
            .has("[data-test=\"resize\"] select[name=\"plan\"]")
            .await
    );

    // The price first; nothing changes until the customer confirms.
    let resize = format!("/servers/{id}/resize");
    browser.open(&format!("{resize}?plan=medium")).await;
    let price = browser.text("[data-test=\"price\"]").await;
    assert!(price.contains(&per_month), "{price}");
    assert!(
        browser
            .text("[data-test=\"billing\"]")
            .await
            .contains("This hour is charged at the new price")
    );
    assert!(
        browser.page_text().await.contains("A disk can only grow"),
        "as Discord says"
    );
    let row = stored(app.core(), id).await;
    assert_eq!(row.plan, "small", "nothing resized by looking");
    browser.submit(&resize).await;
    assert_eq!(
        browser.path().await,
        format!("/servers/{id}?notice=server-resized")
    );
    assert!(
        browser
            .page_text()
            .await
            .contains("2 vCPU · 4096 MiB memory · 80 GiB disk")
    );

    // Back to small would shrink the disk: refused, said on the server's page.
    browser.open(&format!("{resize}?plan=small")).await;
    assert!(browser.page_text().await.contains("A disk cannot shrink"));
    let row = stored(app.core(), id).await;
    assert_eq!(row.plan, "medium");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_discord_a_customer_resizes_through_the_confirm_button_and_nobody_elses() {
    use crate::bot_basics::{WAIT, assert_no_problems, fake_discord, first_answer, text_of};
    use hostdeck_e2e::bot::{self, GUILD};
    use hostdeck_fakes::discord::{Member, ResponseKind};
    use serde_json::json;

    let discord = fake_discord().await;
    let cloud = Cloud::start().await;
    let db = TestDb::sqlite().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.providers = config_with_sandbox(&cloud).providers;
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    let carl_account = bot::linked_account(
        &app,
        "carl@example.com",
        hostdeck_core::Role::Customer,
        3200,
        "carl",
    )
    .await;
    let dora_account = bot::linked_account(
        &app,
        "dora@example.com",
        hostdeck_core::Role::Customer,
        3300,
        "dora",
    )
    .await;
    let carl = Member::new(3200, "carl").in_guild(GUILD);
    let dora = Member::new(3300, "dora").in_guild(GUILD);
    discord.add_member(&carl);
    discord.add_member(&dora);
    let core = app.core();
    crate::servers::give_credit(core, &carl_account.user, "10.00").await;
    crate::servers::give_credit(core, &dora_account.user, "10.00").await;
    let carl_actor = Actor::user(
        carl_account.user.id,
        hostdeck_core::Role::Customer,
        Via::Portal,
    );
    let id = created(core, &carl_actor, "carl-resize-1", "sbx", "small").await;
    let resize = |server: ServerId| {
        json!([{"name": "resize", "type": 1, "options": [
            {"name": "server", "type": 4, "value": server.0},
            {"name": "plan", "type": 3, "value": "medium"}
        ]}])
    };

    let question = first_answer(&discord, &carl, "server", resize(id)).await;
    assert!(question.ephemeral());
    let text = text_of(&question);
    assert!(
        text.contains("Resize web carl-resize-1 to medium?"),
        "{text}"
    );
    assert!(
        text.contains("A disk can only grow"),
        "as the portal says: {text}"
    );
    let button = question
        .custom_ids()
        .into_iter()
        .find(|custom| custom.starts_with("server:resize:"))
        .expect("a confirm button");
    let row = stored(core, id).await;
    assert_eq!(row.plan, "small", "nothing happens before the click");

    // Carl's server id, typed by Dora: refused before any button is shown, and audited.
    let refused = first_answer(&discord, &dora, "server", resize(id)).await;
    assert!(
        refused.custom_ids().is_empty(),
        "no button for somebody else's server"
    );
    assert!(
        text_of(&refused).contains("You have no server"),
        "{}",
        text_of(&refused)
    );
    assert_eq!(audited(core, "server.resize", "denied").await, 1);

    let message = question.message.clone().expect("the question");
    let pressed = discord.click(&carl, &message, &button).await;
    let answers = pressed.wait(WAIT).await;
    let edit = answers
        .iter()
        .find(|answer| answer.kind == ResponseKind::EditOriginal)
        .expect("the result edits the question");
    assert!(text_of(edit).contains("is resized"), "{}", text_of(edit));
    let row = stored(core, id).await;
    assert_eq!(row.plan, "medium");
    assert_eq!(audited(core, "server.resize", "ok").await, 1);
    assert_no_problems(&discord);
}

/// A resize is two calls on each platform (cores and memory, then the disk; or cores, then
/// memory). When the second fails, the first is put back: the server stays at the size it is
/// billed for, and nothing changes here.
#[tokio::test]
async fn a_resize_that_fails_half_way_puts_the_first_change_back() {
    use hostdeck_fakes::server::Fault;

    let Platforms {
        _db,
        cloud,
        core,
        actor,
        servers,
        ..
    } = Platforms::start("half").await;
    let failure = || {
        Fault::Status(
            reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"data": null}),
        )
    };
    // The second call of each fails: Proxmox's disk resize, Jelastic's disk limit, VirtFusion's
    // memory.
    cloud.pve.recorder().fail_next("/resize", 1, failure());
    cloud
        .jel
        .recorder()
        .fail_next("setdisklimitbygroup", 1, Fault::Drop);
    cloud
        .vf
        .recorder()
        .fail_next("/modify/memory", 1, failure());
    let pve_before = cloud.pve.guests();
    let jel_before = cloud.jel.environments();
    let vf_before = cloud.vf.servers();

    for (server, size) in servers.iter().zip([
        Resources {
            vcpus: 3,
            memory_mib: 3072,
            disk_gib: 40,
        },
        Resources {
            vcpus: 2,
            memory_mib: 4096,
            disk_gib: 40,
        },
        Resources {
            vcpus: 3,
            memory_mib: 3072,
            ..servers[2].resources
        },
    ]) {
        core.servers
            .resize(&actor, server.id, &Size::Custom(size))
            .await
            .expect_err("the second call fails");
        let row = stored(&core, server.id).await;
        assert_eq!(row.resources, server.resources, "{}", server.provider);
        assert_eq!(row.rate, server.rate, "{}", server.provider);
    }

    let sizes = |guests: &[hostdeck_fakes::proxmox::Guest]| {
        guests
            .iter()
            .map(|g| (g.vmid, g.cores, g.memory_mb))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        sizes(&cloud.pve.guests()),
        sizes(&pve_before),
        "Proxmox: cores and memory put back"
    );
    let cloudlets = |envs: &[hostdeck_fakes::jelastic::Environment]| {
        envs.iter()
            .flat_map(|e| e.nodes.iter())
            .map(|n| (n.fixed_cloudlets, n.flexible_cloudlets))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cloudlets(&cloud.jel.environments()),
        cloudlets(&jel_before),
        "Jelastic: cloudlets put back"
    );
    let cores = |servers: &[hostdeck_fakes::virtfusion::Server]| {
        servers
            .iter()
            .map(|s| (s.id, s.cpu_cores, s.memory_mb))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        cores(&cloud.vf.servers()),
        cores(&vf_before),
        "VirtFusion: cores put back"
    );
    // Put back, not left alone: each platform got its first change and then its undo.
    let sent = |recorder: &hostdeck_fakes::server::Recorder, path: &str| {
        recorder
            .calls()
            .iter()
            .filter(|call| call.path().contains(path))
            .count()
    };
    let put = |recorder: &hostdeck_fakes::server::Recorder, path: &str| {
        recorder.calls_to(&reqwest::Method::PUT, path).len()
    };
    assert_eq!(put(cloud.pve.recorder(), "/config"), 2, "Proxmox");
    assert_eq!(
        sent(cloud.jel.recorder(), "setcloudletscountbygroup"),
        2,
        "Jelastic"
    );
    assert_eq!(
        put(cloud.vf.recorder(), "/modify/cpuCores"),
        2,
        "VirtFusion"
    );
}

/// A customer with a small server on each platform: Proxmox VE, Jelastic, VirtFusion.
struct Platforms {
    _db: TestDb,
    cloud: Cloud,
    clock: std::sync::Arc<hostdeck_core::clock::ManualClock>,
    core: Core,
    ada: hostdeck_core::users::User,
    actor: Actor,
    servers: Vec<Server>,
}

impl Platforms {
    async fn start(tag: &str) -> Self {
        let db = TestDb::sqlite().await;
        let cloud = Cloud::start().await;
        let clock = crate::servers::clock();
        let core = db
            .core_with(config_with_sandbox(&cloud), clock.clone())
            .await;
        let (ada, actor) = customer(&core, "ada@example.com", "20.00", Via::Portal).await;
        let mut servers = Vec::new();
        for provider in ["pve", "jel", "vf"] {
            let key = format!("{provider}-{tag}-1");
            let created = core
                .servers
                .create(&actor, create_plan(&key, provider, "small"))
                .await
                .expect("a server");
            servers.push(created.server);
        }
        Self {
            _db: db,
            cloud,
            clock,
            core,
            ada,
            actor,
            servers,
        }
    }
}

/// On Jelastic CPU follows memory (cloudlets): a size that differs only in vCPUs would change
/// nothing on the platform yet be billed as bigger, so it is refused and nothing changes.
#[tokio::test]
async fn a_jelastic_resize_of_vcpus_alone_is_refused() {
    let Platforms {
        _db,
        cloud,
        core,
        actor,
        servers,
        ..
    } = Platforms::start("cpu").await;
    let jel = &servers[1];
    assert_eq!(jel.provider, "jel");
    let before = cloud.jel.environments();
    let error = core
        .servers
        .resize(
            &actor,
            jel.id,
            &Size::Custom(Resources {
                vcpus: jel.resources.vcpus + 1,
                ..jel.resources
            }),
        )
        .await
        .expect_err("vCPUs alone");
    assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
    assert!(error.to_string().contains("CPU follows memory"), "{error}");
    let row = stored(&core, jel.id).await;
    assert_eq!(row.resources, jel.resources);
    assert_eq!(row.rate, jel.rate);
    assert_eq!(cloud.jel.environments(), before);
}

/// Two resizes of one server at once (two API calls, two confirm buttons): one goes through,
/// the other is refused while it runs, so the size on the provider and the rate billed come
/// from the same request. Once it is done, the next resize may start.
#[tokio::test]
async fn two_resizes_of_one_server_do_not_overlap() {
    use hostdeck_fakes::server::Fault;

    let Platforms {
        _db,
        cloud,
        core,
        actor,
        servers,
        ..
    } = Platforms::start("twice").await;
    let vf = &servers[2];
    assert_eq!(vf.provider, "vf");
    // The panel takes a while over the first resize's calls.
    cloud.vf.recorder().fail_next(
        "/modify/",
        2,
        Fault::Delay(std::time::Duration::from_millis(400)),
    );
    let size = |vcpus: u32, memory_mib: u64| {
        Size::Custom(Resources {
            vcpus,
            memory_mib,
            ..vf.resources
        })
    };
    let (large, small) = (size(3, 3072), size(2, 2048));
    let (first, second) = tokio::join!(core.servers.resize(&actor, vf.id, &large), async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        core.servers.resize(&actor, vf.id, &small).await
    });
    let first = first.expect("the first resize goes through");
    let refused = second.expect_err("the second waits for the first");
    assert_eq!(refused.code(), ErrorCode::Conflict, "{refused}");
    assert!(refused.to_string().contains("being resized"), "{refused}");
    let live = cloud
        .vf
        .servers()
        .into_iter()
        .find(|s| Some(s.id.to_string()) == vf.remote_id.as_ref().map(|id| id.to_string()))
        .expect("on the panel");
    assert_eq!(
        (live.cpu_cores, live.memory_mb),
        (3, 3072),
        "the panel has the size that was billed"
    );
    assert_eq!(first.server.resources.vcpus, 3);

    // Done: the next resize may start.
    core.servers
        .resize(&actor, vf.id, &small)
        .await
        .expect("a later resize");
}
