//! The server service through core, against the fakes of VirtFusion, Proxmox VE and Jelastic:
//! a customer's server from create to delete on each provider, with its first hour charged
//! once; somebody else's server refused and audited; a double-submitted create; every kind of
//! provider failure, with nothing charged for a server that was never made; and the sync
//! finding lost creates, changed states and drift.
//!
//! [`Cloud`] and the helpers here are shared by the API, portal and Discord stories.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hostdeck_core::Error;
use hostdeck_core::billing::meter::{hour_of, usage_key};
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::config::Config;
use hostdeck_core::email::Email;
use hostdeck_core::ids::ServerId;
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::policy::{Scope, Scopes};
use hostdeck_core::pricing::Size;
use hostdeck_core::providers::{
    CreateKey, Hostname, Image, NewServer, Owner, PowerAction, ServerState,
};
use hostdeck_core::servers::{CreateChoice, CreateServer, Owners, ServerStatus};
use hostdeck_core::store::Page;
use hostdeck_core::users::{NewAccount, User};
use hostdeck_core::{Actor, Core, ErrorCode, Role, Via};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::proxmox::PowerState;
use hostdeck_fakes::server::Fault;
use hostdeck_fakes::virtfusion::Power;
use secrecy::SecretString;

pub use hostdeck_e2e::cloud::{Cloud, PROVIDERS, fail_builds};

/// What each provider installs from.
pub fn image(provider: &str) -> Image {
    match provider {
        "vf" => Image::Template("11".into()),
        "pve" => Image::Template("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into()),
        _ => Image::Template("ubuntu-vps".into()),
    }
}

/// The first plan of the price list.
pub fn plan(core: &Core) -> Size {
    Size::Plan(core.pricing.plans().first().expect("a plan").name.clone())
}

pub fn create(core: &Core, key: &str, provider: &str) -> CreateServer {
    CreateServer::new(
        CreateKey::parse(key).expect("a key"),
        CreateChoice {
            name: format!("web {key}"),
            hostname: format!("{key}.example.com"),
            size: plan(core),
            image: image(provider),
            location: Some(provider.to_owned()),
        },
    )
}

/// Sends a create under `key` on VirtFusion whose build fails once ("build queue full"): the
/// error the create ends in.
pub async fn create_whose_build_fails(
    core: &Core,
    cloud: &Cloud,
    actor: &Actor,
    key: &str,
) -> Error {
    fail_builds(&cloud.vf, 1);
    core.servers
        .create(actor, create(core, key, "vf"))
        .await
        .expect_err("the build fails")
}

pub fn usd(text: &str) -> Money {
    Money::parse(text).expect("an amount")
}

/// A customer with `credit` in their wallet, and the actor they are on `via`.
pub async fn customer(core: &Core, email: &str, credit: &str, via: Via) -> (User, Actor) {
    let user = core
        .users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse(email).expect("email"),
                role: Role::Customer,
                password: SecretString::from("violet kettle orbit 42"),
                email_verified: true,
            },
        )
        .await
        .expect("a customer");
    give_credit(core, &user, credit).await;
    let actor = Actor::user(user.id, Role::Customer, via);
    (user, actor)
}

/// Puts `credit` into the wallet of `user`, as free credit.
pub async fn give_credit(core: &Core, user: &User, credit: &str) {
    if !usd(credit).is_positive() {
        return;
    }
    core.ledger
        .post(
            &Actor::system(),
            PostingRequest {
                debit: core.ledger.system_account(SystemAccount::Promotions),
                credit: user.wallet,
                amount: usd(credit),
                kind: PostingKind::FreeCredit,
                key: format!("test-credit:{}:{credit}", user.id),
                reference: None,
                memo: None,
                actor_user: None,
                actor_via: Via::System,
                overdraft: Overdraft::Forbid,
            },
        )
        .await
        .expect("credit");
}

/// A staff member with `role`, signed in with two-factor.
pub async fn staff(core: &Core, email: &str, role: Role, via: Via) -> Actor {
    let (user, _) = customer(core, email, "0", via).await;
    core.users
        .set_role(&Actor::cli(), user.id, role)
        .await
        .expect("a staff role");
    Actor::user(user.id, role, via).with_two_factor()
}

pub async fn balance(core: &Core, user: &User) -> Money {
    core.store()
        .ledger()
        .account_balance(user.wallet)
        .await
        .expect("a balance")
}

/// The hours charged for `server` and not given back: its usage postings less its refunds (a
/// create the provider refused is charged up front and refunded).
pub async fn usage_postings(core: &Core, server: ServerId) -> u64 {
    let statement = core
        .store()
        .ledger()
        .statement(
            core.ledger.system_account(SystemAccount::Usage),
            Page::first(200),
        )
        .await
        .expect("the usage account's statement");
    let of = |kind: PostingKind| {
        statement
            .items
            .iter()
            .filter(|line| line.reference.as_deref() == Some(&format!("server:{server}")))
            .filter(|line| line.kind == kind)
            .count() as u64
    };
    of(PostingKind::Usage) - of(PostingKind::UsageRefund)
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 21, 9, 41, 0)
            .single()
            .expect("a time"),
    ))
}

pub async fn cloud_core(db: &TestDb, cloud: &Cloud, extra: &str) -> (Core, Arc<ManualClock>) {
    let clock = clock();
    let core = db.core_with(cloud.config(extra), clock.clone()).await;
    (core, clock)
}

/// Audit entries of `action` with `outcome`.
pub async fn audited(core: &Core, action: &str, outcome: &str) -> usize {
    core.store()
        .audit()
        .audit_log(Page::first(200))
        .await
        .expect("the audit log")
        .items
        .iter()
        .filter(|entry| entry.action == action && entry.outcome == outcome)
        .count()
}

async fn live_state(core: &Core, actor: &Actor, id: ServerId) -> ServerState {
    core.servers
        .get(actor, id)
        .await
        .expect("the server")
        .live
        .expect("a live answer")
        .state
}

hostdeck_e2e::on_both_engines!(
    on_each_provider_a_server_lives_from_create_to_delete_and_its_first_hour_is_charged_once,
    a_double_submitted_create_makes_one_server_and_one_charge,
    a_failed_create_retried_hours_later_is_billed_from_the_retry
);

async fn on_each_provider_a_server_lives_from_create_to_delete_and_its_first_hour_is_charged_once(
    db: TestDb,
) {
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "").await;
    let (ada, customer) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let clerk = staff(&core, "clerk@example.com", Role::Billing, Via::Discord).await;

    for provider in PROVIDERS {
        let before = balance(&core, &ada).await;
        let key = format!("{provider}-life-1");
        let quote = core
            .servers
            .quote(&customer, &plan(&core))
            .expect("a quote");
        let created = core
            .servers
            .create(&customer, create(&core, &key, provider))
            .await
            .unwrap_or_else(|error| panic!("{provider}: {error}"));
        assert!(!created.replayed);
        let id = created.server.id;
        assert_eq!(created.server.provider, provider);
        assert!(created.server.remote_id.is_some(), "{provider}");
        assert!(
            created.server.state.is_on_provider(),
            "{provider}: {:?}",
            created.server.state
        );
        assert_eq!(cloud.count(provider), 1, "{provider}: one server made");
        assert_eq!(
            balance(&core, &ada).await,
            before.checked_sub(quote.first_hour()).expect("money"),
            "{provider}: the first hour is charged up front"
        );
        assert_eq!(
            created.server.billed_until,
            hour_of(clock.now()) + chrono::Duration::hours(1)
        );
        let first = core
            .store()
            .ledger()
            .posting_by_key(&usage_key(id, hour_of(clock.now())))
            .await
            .expect("read")
            .expect("the first hour's posting");
        assert_eq!(first.amount, quote.first_hour());

        // Proxmox may leave a fresh container still starting; boot it to begin the cycle.
        core.servers
            .power(&customer, id, PowerAction::Boot)
            .await
            .expect("boot");
        assert_eq!(live_state(&core, &customer, id).await, ServerState::Running);
        for (action, expected) in [
            (PowerAction::Shutdown, ServerState::Stopped),
            (PowerAction::Boot, ServerState::Running),
            (PowerAction::Restart, ServerState::Running),
            (PowerAction::Poweroff, ServerState::Stopped),
            (PowerAction::Boot, ServerState::Running),
        ] {
            let server = core
                .servers
                .power(&customer, id, action)
                .await
                .unwrap_or_else(|error| panic!("{provider} {action}: {error}"));
            assert_eq!(server.state, ServerStatus::from_remote(expected));
            assert_eq!(
                live_state(&core, &customer, id).await,
                expected,
                "{provider} {action}"
            );
        }

        // A reason is a note: one that hides text or reads backwards is refused.
        for hidden in ["charge\u{200B}back", "paid \u{202E}ton", ""] {
            let refused = core
                .servers
                .suspend(&clerk, id, hidden)
                .await
                .expect_err("a reason with hidden characters");
            assert_eq!(refused.code(), ErrorCode::Invalid, "{refused}");
        }
        let suspended = core
            .servers
            .suspend(&clerk, id, "chargeback under review")
            .await
            .unwrap_or_else(|error| panic!("{provider} suspend: {error}"));
        assert_eq!(suspended.shown_state(), "suspended");
        let refused = core
            .servers
            .power(&customer, id, PowerAction::Boot)
            .await
            .expect_err("a suspended server does not boot for its owner");
        assert_eq!(refused.code(), ErrorCode::Conflict);
        assert!(refused.to_string().contains("contact support"), "{refused}");
        let not_staff = core
            .servers
            .unsuspend(&customer, id, "please")
            .await
            .expect_err("customers do not unsuspend");
        assert_eq!(not_staff.code(), ErrorCode::Forbidden);
        let unsuspended = core
            .servers
            .unsuspend(&clerk, id, "resolved")
            .await
            .unwrap_or_else(|error| panic!("{provider} unsuspend: {error}"));
        assert_eq!(unsuspended.shown_state(), "running");
        assert_eq!(live_state(&core, &customer, id).await, ServerState::Running);

        let deleted = core
            .servers
            .delete(&customer, id)
            .await
            .unwrap_or_else(|error| panic!("{provider} delete: {error}"));
        assert_eq!(deleted.state, ServerStatus::Deleted);
        assert!(deleted.deleted_at.is_some());
        assert_eq!(cloud.count(provider), 0, "{provider}: the server is gone");
        assert!(
            core.servers
                .list(&customer, Owners::Own)
                .await
                .expect("list")
                .is_empty()
        );
        assert_eq!(usage_postings(&core, id).await, 1, "{provider}: one charge");

        let history: Vec<String> = core
            .store()
            .servers()
            .server_events(id)
            .await
            .expect("events")
            .into_iter()
            .map(|event| event.state)
            .collect();
        assert!(history.contains(&"suspended".to_owned()), "{history:?}");
        assert_eq!(history.last().map(String::as_str), Some("deleted"));
    }
    assert_eq!(audited(&core, "server.create", "ok").await, 3);
    assert_eq!(audited(&core, "server.power", "ok").await, 18);
    assert_eq!(audited(&core, "server.suspend", "ok").await, 3);
    assert_eq!(audited(&core, "server.unsuspend", "denied").await, 3);
    assert_eq!(audited(&core, "server.delete", "ok").await, 3);
    cloud.assert_clean();
}

#[tokio::test]
async fn another_customers_server_is_refused_as_unknown_and_the_attempt_audited() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, _) = cloud_core(&db, &cloud, "").await;
    let (ada, ada_actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let (_, bob) = customer(&core, "bob@example.com", "10.00", Via::Discord).await;
    let id = core
        .servers
        .create(&ada_actor, create(&core, "ada-own-1", "vf"))
        .await
        .expect("create")
        .server
        .id;

    let get = core.servers.get(&bob, id).await.expect_err("not bob's");
    let power = core
        .servers
        .power(&bob, id, PowerAction::Poweroff)
        .await
        .expect_err("not bob's");
    let delete = core.servers.delete(&bob, id).await.expect_err("not bob's");
    let list = core
        .servers
        .list(&bob, Owners::Of(ada.id))
        .await
        .expect_err("not bob's to list");
    for error in [&get, &power, &delete] {
        assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
        assert_eq!(error.to_string(), format!("You have no server {id}."));
    }
    assert_eq!(list.code(), ErrorCode::Forbidden);
    for action in ["server.get", "server.power", "server.delete", "server.list"] {
        assert_eq!(audited(&core, action, "denied").await, 1, "{action}");
    }
    // An id that does not exist reads the same as somebody else's.
    let missing = core
        .servers
        .get(&bob, ServerId(id.0 + 1000))
        .await
        .expect_err("no such server");
    assert_eq!(
        missing.to_string(),
        get.to_string()
            .replace(&id.to_string(), &(id.0 + 1000).to_string())
    );

    // Support may look; only an admin may act on it.
    let support = staff(&core, "support@example.com", Role::Support, Via::Discord).await;
    assert_eq!(
        core.servers
            .list(&support, Owners::Of(ada.id))
            .await
            .expect("support looks a customer up")
            .len(),
        1
    );
    core.servers.get(&support, id).await.expect("support reads");
    let refused = core
        .servers
        .power(&support, id, PowerAction::Poweroff)
        .await
        .expect_err("support does not power other people's servers");
    assert_eq!(refused.code(), ErrorCode::NotFound);
    assert_eq!(
        cloud.vf.servers().first().map(|server| server.power),
        Some(Power::Running)
    );
    cloud.assert_clean();
}

async fn a_double_submitted_create_makes_one_server_and_one_charge(db: TestDb) {
    let cloud = Cloud::start().await;
    cloud.vf.set_latency(Duration::from_millis(50));
    let (core, _) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let before = balance(&core, &ada).await;

    let request = create(&core, "double-1", "vf");
    let (first, second) = tokio::join!(
        core.servers.create(&actor, request.clone()),
        core.servers.create(&actor, request.clone())
    );
    let (first, second) = (first.expect("first"), second.expect("second"));
    assert_eq!(first.server.id, second.server.id);
    assert!(
        first.replayed != second.replayed,
        "one made it, one found it"
    );
    let third = core
        .servers
        .create(&actor, request)
        .await
        .expect("a third submit");
    assert!(third.replayed);
    assert_eq!(third.server.id, first.server.id);
    assert_eq!(third.server.state, ServerStatus::Running);

    assert_eq!(cloud.vf.servers().len(), 1);
    assert_eq!(
        core.store()
            .servers()
            .servers_of(Some(ada.id))
            .await
            .expect("rows")
            .len(),
        1
    );
    assert_eq!(usage_postings(&core, first.server.id).await, 1);
    assert_eq!(
        balance(&core, &ada).await,
        before.checked_sub(first.quote.first_hour()).expect("money")
    );

    // Somebody else's key is not theirs to replay.
    let (_, bob) = customer(&core, "bob@example.com", "10.00", Via::Api).await;
    let stolen = core
        .servers
        .create(&bob, create(&core, "double-1", "vf"))
        .await
        .expect_err("the key is taken");
    assert_eq!(stolen.code(), ErrorCode::Conflict);
    cloud.assert_clean();
}

async fn a_failed_create_retried_hours_later_is_billed_from_the_retry(db: TestDb) {
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let full = balance(&core, &ada).await;
    create_whose_build_fails(&core, &cloud, &actor, "late-1").await;

    // Three hours later the same key is tried again, and works.
    clock.advance(chrono::Duration::hours(3));
    let retried_at = clock.now();
    let retried = core
        .servers
        .create(&actor, create(&core, "late-1", "vf"))
        .await
        .expect("the retry");
    assert!(!retried.replayed);
    let server = retried.server;
    assert_eq!(server.state, ServerStatus::Running);
    assert_eq!(server.created_at, retried_at);
    assert_eq!(server.rate.since, retried_at);
    assert_eq!(
        server.billed_until,
        hour_of(retried_at) + chrono::Duration::hours(1)
    );
    let first_hour = retried.quote.first_hour();
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - first_hour.micros()
    );

    // The tick after the next hour ends bills that hour only: nothing from before the retry.
    clock.advance(chrono::Duration::hours(1) + chrono::Duration::minutes(20));
    core.billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a tick");
    assert_eq!(usage_postings(&core, server.id).await, 2);
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - first_hour.micros() - retried.quote.hour_cost(true, 1).micros()
    );
    for hour in [
        hour_of(retried_at),
        hour_of(retried_at) + chrono::Duration::hours(1),
    ] {
        assert!(
            core.store()
                .ledger()
                .posting_by_key(&usage_key(server.id, hour))
                .await
                .expect("read")
                .is_some(),
            "the hour from {hour} is billed"
        );
    }
    cloud.assert_clean();
}

#[tokio::test]
async fn provider_failures_say_what_happened_and_charge_nothing_for_a_server_never_made() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "timeout = \"300ms\"").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let full = balance(&core, &ada).await;

    // Not enough credit: refused before anything is written.
    let (_, poor_actor) = customer(&core, "poor@example.com", "0", Via::Portal).await;
    let error = core
        .servers
        .create(&poor_actor, create(&core, "poor-1", "vf"))
        .await
        .expect_err("no credit");
    assert_eq!(error.code(), ErrorCode::Conflict);
    assert!(error.to_string().contains("Top up"), "{error}");
    assert!(
        core.store()
            .servers()
            .server_by_key("poor-1")
            .await
            .expect("read")
            .is_none(),
        "no row, not even a failed one"
    );

    // VirtFusion's build fails: the row is failed, its first hour refunded; the same key again
    // tries once more and succeeds, charged once.
    let error = create_whose_build_fails(&core, &cloud, &actor, "vf-fails-1").await;
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    let failed = core
        .store()
        .servers()
        .server_by_key("vf-fails-1")
        .await
        .expect("read")
        .expect("the row");
    assert_eq!(failed.state, ServerStatus::Failed);
    assert_eq!(balance(&core, &ada).await, full, "nothing charged");
    assert_eq!(audited(&core, "server.create", "failed").await, 1);
    let retried = core
        .servers
        .create(&actor, create(&core, "vf-fails-1", "vf"))
        .await
        .expect("the retry");
    assert_eq!(retried.server.id, failed.id);
    assert_eq!(retried.server.state, ServerStatus::Running);
    assert_eq!(usage_postings(&core, failed.id).await, 1);
    let vf_id = failed.id;

    // A Proxmox task that fails: failed, nothing charged, clear words.
    cloud
        .pve
        .fail_next_task("unable to create CT 100 - no space left on device");
    let error = core
        .servers
        .create(&actor, create(&core, "pve-fails-1", "pve"))
        .await
        .expect_err("the task fails");
    assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
    assert!(error.to_string().contains("smaller plan"), "{error}");
    assert_eq!(cloud.pve.guests().len(), 0);
    let pve_failed = core
        .store()
        .servers()
        .server_by_key("pve-fails-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(pve_failed.state, ServerStatus::Failed);
    assert_eq!(usage_postings(&core, pve_failed.id).await, 0);

    // Pending tasks (423) and maintenance (503) on a power action: told apart, state kept.
    let number: u64 = retried
        .server
        .remote_id
        .as_ref()
        .expect("remote")
        .as_str()
        .parse()
        .expect("a VirtFusion id");
    cloud.vf.set_busy(number, true);
    let error = core
        .servers
        .power(&actor, vf_id, PowerAction::Restart)
        .await
        .expect_err("423");
    assert_eq!(error.code(), ErrorCode::Conflict);
    assert!(
        error.to_string().contains("try again in a minute"),
        "{error}"
    );
    cloud.vf.set_busy(number, false);
    cloud.vf.set_maintenance(true);
    let error = core
        .servers
        .power(&actor, vf_id, PowerAction::Poweroff)
        .await
        .expect_err("503");
    assert_eq!(error.code(), ErrorCode::Unavailable);
    assert!(error.to_string().contains("maintenance"), "{error}");
    cloud.vf.set_maintenance(false);
    let row = core
        .store()
        .servers()
        .server(vf_id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(
        row.state,
        ServerStatus::Running,
        "a refused action changes nothing"
    );

    // A power action whose answer never comes: it may have happened, and says so; the state
    // is left for a live read to settle, and a live read after recovery does.
    cloud.vf.recorder().fail_next("/power/", 1, Fault::Hang);
    let error = core
        .servers
        .power(&actor, vf_id, PowerAction::Poweroff)
        .await
        .expect_err("no answer");
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    assert!(
        error.to_string().contains("did not answer within 300ms")
            && error
                .to_string()
                .contains("may still have been carried out"),
        "{error}"
    );
    let live = core.servers.get(&actor, vf_id).await.expect("a live read");
    assert_eq!(
        live.live.map(|server| server.state),
        Some(ServerState::Running),
        "the hung request never reached the panel"
    );
    assert_eq!(live.server.state, ServerStatus::Running);
    assert_eq!(audited(&core, "server.power", "failed").await, 3);

    // A create whose answer is lost: it may have happened, so the row stays `creating`, its
    // first hour charged with the row; once the provider shows a server with its key (here: the
    // create had in fact landed), the sync records it, charging nothing more.
    cloud
        .jel
        .recorder()
        .fail_next("createenvironment", 1, Fault::Drop);
    let before = balance(&core, &ada).await;
    let lost_request = create(&core, "jel-lost-1", "jel");
    let error = core
        .servers
        .create(&actor, lost_request.clone())
        .await
        .expect_err("no answer");
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    assert!(error.to_string().contains("check the server"), "{error}");
    let lost = core
        .store()
        .servers()
        .server_by_key("jel-lost-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(lost.state, ServerStatus::Creating);
    assert_eq!(
        balance(&core, &ada).await.micros(),
        before.micros() - lost.quote().first_hour().micros(),
        "charged once, with the row"
    );
    let again = core
        .servers
        .create(&actor, lost_request.clone())
        .await
        .expect("a retry returns the pending row");
    assert!(again.replayed);
    assert_eq!(again.server.state, ServerStatus::Creating);
    core.servers
        .providers()
        .require("jel")
        .expect("jel")
        .create(&hostdeck_core::providers::NewServer {
            key: lost_request.key.clone(),
            owner: hostdeck_core::providers::Owner {
                user: ada.id,
                name: "ada".into(),
                email: Email::parse("ada@example.com").expect("email"),
            },
            name: lost_request.choice.name.clone(),
            hostname: Hostname::parse(&lost_request.choice.hostname).expect("a hostname"),
            resources: lost.resources,
            image: lost_request.choice.image.clone(),
            plan: None,
            ssh_keys: Vec::new(),
            root_password: None,
        })
        .await
        .expect("the create lands after all");
    let reports = core.servers.sync().await;
    let jel = reports.iter().find(|r| r.provider == "jel").expect("jel");
    assert_eq!(jel.finished_creates, 1, "{jel:?}");
    let found = core
        .store()
        .servers()
        .server(lost.id)
        .await
        .expect("read")
        .expect("row");
    assert!(found.state.is_on_provider(), "{:?}", found.state);
    assert_eq!(usage_postings(&core, lost.id).await, 1);
    core.servers.sync().await;
    assert_eq!(
        usage_postings(&core, lost.id).await,
        1,
        "a second sync charges nothing"
    );

    // A provider that is down: unavailable, nothing made, nothing charged.
    let down = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        format!("http://{addr}")
    };
    let config = Config::from_toml(&format!(
        "[providers.vf]\nkind = \"virtfusion\"\nbase_url = \"{down}\"\ntoken = \"t\"\n\
         hypervisor_group_id = 1\npackage_id = 1\ntimeout = \"300ms\"\n\
         templates = [{{ id = \"11\", name = \"Debian 12\" }}]\n"
    ))
    .expect("config");
    let down_core = db.core_with(config, clock.clone()).await;
    let before = balance(&core, &ada).await;
    let error = down_core
        .servers
        .create(&actor, create(&core, "down-1", "vf"))
        .await
        .expect_err("down");
    assert_eq!(error.code(), ErrorCode::Unavailable, "{error}");
    assert!(error.to_string().contains("cannot be reached"), "{error}");
    let row = core
        .store()
        .servers()
        .server_by_key("down-1")
        .await
        .expect("read")
        .expect("row");
    assert_eq!(row.state, ServerStatus::Failed);
    assert_eq!(balance(&core, &ada).await, before);

    // A create that stays lost past the grace period is given up on, uncharged.
    let ghost = core
        .store()
        .servers()
        .insert_server(
            &hostdeck_core::servers::NewServerRow {
                user: ada.id,
                provider: "vf".into(),
                key: CreateKey::parse("ghost-1").expect("key"),
                name: "ghost".into(),
                hostname: "ghost.example.com".into(),
                plan: "small".into(),
                resources: row.resources,
                image: "template:11".into(),
                location: None,
                rate: row.rate,
                billed_until: row.billed_until,
            },
            None,
        )
        .await
        .expect("insert");
    let hostdeck_core::store::servers::CreateStart::Started(ghost) = ghost else {
        panic!("a new row: {ghost:?}");
    };
    core.servers.sync().await;
    assert_eq!(
        core.store()
            .servers()
            .server(ghost.id)
            .await
            .expect("read")
            .expect("row")
            .state,
        ServerStatus::Creating,
        "within the grace period it waits"
    );
    clock.advance(chrono::Duration::minutes(31));
    let reports = core.servers.sync().await;
    let vf = reports.iter().find(|r| r.provider == "vf").expect("vf");
    assert_eq!(vf.abandoned_creates, 1, "{vf:?}");
    assert_eq!(
        core.store()
            .servers()
            .server(ghost.id)
            .await
            .expect("read")
            .expect("row")
            .state,
        ServerStatus::Failed
    );
    assert_eq!(usage_postings(&core, ghost.id).await, 0);
    cloud.assert_clean();
}

#[tokio::test]
async fn the_sync_records_changed_states_and_reports_drift_once() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let config = {
        let mut config = cloud.config("");
        config.providers.drift_webhook = Some(SecretString::from(
            "https://discord.example/api/webhooks/1/drift-token",
        ));
        config
    };
    let clock = clock();
    let core = db.core_with(config, clock.clone()).await;
    let (_, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let mut ids = Vec::new();
    for provider in PROVIDERS {
        let created = core
            .servers
            .create(
                &actor,
                create(&core, &format!("{provider}-sync-1"), provider),
            )
            .await
            .expect("create");
        core.servers
            .power(&actor, created.server.id, PowerAction::Boot)
            .await
            .expect("boot");
        ids.push(created.server.id);
    }
    let seeded = cloud.vf.seed_servers(3);
    let reports = core.servers.sync().await;
    assert_eq!(reports.len(), 3);
    for report in &reports {
        assert_eq!(report.error, None, "{report:?}");
        assert_eq!(report.changed, 0, "{report:?}");
    }
    let vf = &reports[reports.iter().position(|r| r.provider == "vf").expect("vf")];
    assert_eq!(vf.strays.len(), 3, "{vf:?}");

    // Stopped, and deleted, behind hostdeck's back.
    let vf_number: u64 = core
        .store()
        .servers()
        .server(ids[0])
        .await
        .expect("read")
        .expect("row")
        .remote_id
        .expect("remote")
        .as_str()
        .parse()
        .expect("number");
    cloud
        .vf
        .set_power_behind_hostdecks_back(vf_number, Power::Shutoff);
    let pve_vmid: u32 = core
        .store()
        .servers()
        .server(ids[1])
        .await
        .expect("read")
        .expect("row")
        .remote_id
        .expect("remote")
        .as_str()
        .rsplit('/')
        .next()
        .expect("vmid")
        .parse()
        .expect("vmid");
    cloud
        .pve
        .set_power_behind_hostdecks_back(pve_vmid, PowerState::Stopped);
    assert!(cloud.jel.delete_behind_hostdecks_back("hd-jel-sync-1"));
    clock.advance(chrono::Duration::minutes(5));
    let lists_before = cloud.vf.call_count("GET /servers");
    let reports = core.servers.sync().await;
    assert_eq!(
        cloud.vf.call_count("GET /servers") - lists_before,
        1,
        "one page"
    );
    let by = |name: &str| {
        reports
            .iter()
            .find(|report| report.provider == name)
            .cloned()
            .expect("a report")
    };
    // VirtFusion's listing has no power state: the sync keeps what it knew, and the next live
    // read records the change.
    assert_eq!(by("vf").changed, 0);
    assert!(by("vf").strays.is_empty(), "strays are reported once");
    let live = core.servers.get(&actor, ids[0]).await.expect("a live read");
    assert_eq!(live.server.state, ServerStatus::Stopped);
    assert_eq!(by("pve").changed, 1);
    assert_eq!(by("jel").vanished, vec![ids[2]]);
    for id in &ids[..2] {
        let row = core
            .store()
            .servers()
            .server(*id)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.state, ServerStatus::Stopped);
        let last = core
            .store()
            .servers()
            .server_events(*id)
            .await
            .expect("events")
            .pop()
            .expect("an event");
        assert_eq!(
            (last.state.as_str(), last.source.as_str()),
            ("stopped", "sync")
        );
        assert_eq!(last.at, clock.now());
    }
    let gone = core
        .store()
        .servers()
        .server(ids[2])
        .await
        .expect("read")
        .expect("row");
    assert_eq!(gone.state, ServerStatus::Deleted);
    assert!(gone.deleted_at.is_some(), "billing stops");

    assert_eq!(audited(&core, "servers.drift", "ok").await, 2);
    let outbox = core
        .store()
        .outbox()
        .claim_outbox(clock.now(), clock.now() + chrono::Duration::minutes(1), 10)
        .await
        .expect("the outbox");
    let alerts: Vec<String> = outbox
        .iter()
        .filter(|message| message.channel == "discord_webhook")
        .map(|message| {
            message.payload["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(
        alerts
            .iter()
            .any(|text| text.contains("3 server(s) on the provider")
                && text.contains(&seeded[0].to_string())),
        "{alerts:?}"
    );
    assert!(
        alerts
            .iter()
            .any(|text| text.contains("deleted outside hostdeck")
                && text.contains(&ids[2].to_string())),
        "{alerts:?}"
    );
    assert!(
        outbox
            .iter()
            .all(|message| message.recipient.contains("drift-token"))
    );
    cloud.assert_clean();
}

#[tokio::test]
async fn a_sync_that_cannot_ask_for_one_server_still_handles_and_reports_the_rest() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, _clock) = cloud_core(&db, &cloud, "").await;
    let (_, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let mut rows = Vec::new();
    for key in ["vf-gone-1", "vf-gone-2"] {
        let created = core
            .servers
            .create(&actor, create(&core, key, "vf"))
            .await
            .expect("create");
        let number: u64 = created
            .server
            .remote_id
            .as_ref()
            .expect("remote")
            .as_str()
            .parse()
            .expect("a number");
        rows.push((created.server.id, number));
    }
    let seeded = cloud.vf.seed_servers(1);
    // Both gone from the listing; asking for the first one fails, the second is really gone.
    for (_, number) in &rows {
        assert!(cloud.vf.delete_behind_hostdecks_back(*number));
    }
    cloud.vf.recorder().fail_next(
        &format!("servers/{}", rows[0].1),
        1,
        Fault::Status(
            reqwest::StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({"msg": "database unavailable"}),
        ),
    );
    let reports = core.servers.sync().await;
    let vf = reports.iter().find(|r| r.provider == "vf").expect("vf");
    assert_eq!(vf.error, None, "{vf:?}");
    assert_eq!(vf.errors.len(), 1, "{vf:?}");
    assert!(
        vf.errors[0].contains(&rows[0].0.to_string()),
        "{:?}",
        vf.errors
    );
    assert_eq!(vf.vanished, vec![rows[1].0], "{vf:?}");
    assert_eq!(vf.strays.len(), 1, "{vf:?}");
    assert_eq!(vf.strays[0].as_str(), seeded[0].to_string());
    assert_eq!(audited(&core, "servers.drift", "ok").await, 1);
    let kept = core
        .store()
        .servers()
        .server(rows[0].0)
        .await
        .expect("read")
        .expect("row");
    assert!(
        kept.deleted_at.is_none(),
        "not believed gone without an answer"
    );

    // The next round asks again and finds it gone; the stray is not reported twice.
    let reports = core.servers.sync().await;
    let vf = reports.iter().find(|r| r.provider == "vf").expect("vf");
    assert!(vf.errors.is_empty(), "{vf:?}");
    assert_eq!(vf.vanished, vec![rows[0].0], "{vf:?}");
    assert!(vf.strays.is_empty(), "{vf:?}");
    cloud.assert_clean();
}

#[tokio::test]
async fn a_virtfusion_server_made_after_its_create_failed_is_adopted_and_billed_from_then() {
    a_server_made_after_its_create_failed_is_adopted("vf").await;
}

#[tokio::test]
async fn a_proxmox_guest_made_after_its_create_failed_is_adopted_and_billed_from_then() {
    a_server_made_after_its_create_failed_is_adopted("pve").await;
}

/// The create fails; hours later the platform makes the server after all, under the same key
/// (a queued job, a hand retry): the sync finds it in the listing by its key and adopts it.
async fn a_server_made_after_its_create_failed_is_adopted(provider_name: &str) {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, clock) = cloud_core(&db, &cloud, "").await;
    let (ada, actor) = customer(&core, "ada@example.com", "10.00", Via::Portal).await;
    let full = balance(&core, &ada).await;
    match provider_name {
        "vf" => cloud.vf.recorder().fail_next(
            "/servers",
            1,
            Fault::Status(
                reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({"msg": "database unavailable"}),
            ),
        ),
        _ => cloud
            .pve
            .fail_next_task("unable to create CT 100 - no space left on device"),
    }
    let key = format!("{provider_name}-late-1");
    let request = create(&core, &key, provider_name);
    core.servers
        .create(&actor, request.clone())
        .await
        .expect_err("the provider fails");
    let failed = core
        .store()
        .servers()
        .server_by_key(&key)
        .await
        .expect("read")
        .expect("the row");
    assert_eq!(failed.state, ServerStatus::Failed);

    // Two hours later the platform makes it after all, under the same key.
    clock.advance(chrono::Duration::hours(2));
    let provider = core
        .servers
        .providers()
        .require(provider_name)
        .expect("the provider");
    let made = provider
        .create(&NewServer {
            key: request.key.clone(),
            owner: Owner {
                user: ada.id,
                name: "ada".into(),
                email: Email::parse(&ada.email).expect("email"),
            },
            name: failed.name.clone(),
            hostname: Hostname::parse(&request.choice.hostname).expect("a hostname"),
            resources: failed.resources,
            image: request.choice.image.clone(),
            plan: None,
            ssh_keys: Vec::new(),
            root_password: None,
        })
        .await
        .expect("made on the provider");

    let reports = core.servers.sync().await;
    let vf = reports
        .iter()
        .find(|r| r.provider == provider_name)
        .expect("its report");
    assert_eq!(vf.adopted, vec![failed.id], "{vf:?}");
    assert!(vf.strays.is_empty(), "not reported as a stray: {vf:?}");
    let adopted = core
        .store()
        .servers()
        .server(failed.id)
        .await
        .expect("read")
        .expect("row");
    assert_eq!(adopted.remote_id.as_ref(), Some(&made.remote_id));
    assert!(adopted.state.is_on_provider(), "{:?}", adopted.state);
    assert!(adopted.deleted_at.is_none());
    assert_eq!(adopted.created_at, clock.now());
    assert_eq!(adopted.rate.since, clock.now());
    assert_eq!(
        usage_postings(&core, failed.id).await,
        1,
        "its first hour only"
    );
    assert_eq!(
        balance(&core, &ada).await.micros(),
        full.micros() - failed.quote().first_hour().micros()
    );
    assert!(
        core.store()
            .ledger()
            .posting_by_key(&usage_key(failed.id, hour_of(clock.now())))
            .await
            .expect("read")
            .is_some()
    );

    let reports = core.servers.sync().await;
    let vf = reports
        .iter()
        .find(|r| r.provider == provider_name)
        .expect("its report");
    assert!(vf.adopted.is_empty() && vf.strays.is_empty(), "{vf:?}");
    assert_eq!(usage_postings(&core, failed.id).await, 1);
    cloud.assert_clean();
}

#[tokio::test]
async fn every_create_is_reviewed_by_the_same_rules_permission_first() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let (core, _clock) = cloud_core(&db, &cloud, "").await;
    let (_, actor) = customer(&core, "ada@example.com", "10.00", Via::Discord).await;
    let plan_name = match plan(&core) {
        Size::Plan(name) => name,
        Size::Custom(_) => unreachable!("the first plan is a plan"),
    };
    let choice = |name: &str, hostname: &str, template: &str| {
        CreateChoice::of_plan(name, hostname, &plan_name, template, Some("vf"))
    };
    for (bad, field) in [
        (choice("", "web.example.com", "11"), "name"),
        (choice("line\nbreak", "web.example.com", "11"), "name"),
        (choice("web", "not a hostname", "11"), "hostname"),
        (choice("web", "web.example.com", " "), "image"),
    ] {
        for error in [
            core.servers
                .review(&actor, &bad)
                .await
                .expect_err("reviewed"),
            core.servers
                .hold_create(&actor, bad.clone())
                .await
                .expect_err("not held"),
            core.servers
                .create(&actor, CreateServer::new(CreateKey::random(), bad.clone()))
                .await
                .expect_err("not created"),
        ] {
            assert!(
                matches!(&error, Error::Invalid { field: Some(named), .. } if *named == field),
                "{field}: {error:?}"
            );
        }
    }
    // A key that may not create servers hears that, whatever else is wrong.
    let reader = Actor {
        scopes: Some(Scopes::of(&[Scope::ReadServers])),
        via: Via::Api,
        ..actor.clone()
    };
    let error = core
        .servers
        .create(
            &reader,
            CreateServer::new(CreateKey::random(), choice("", "not a hostname", "")),
        )
        .await
        .expect_err("refused");
    assert_eq!(error.code(), ErrorCode::Forbidden, "{error}");
    assert!(error.to_string().contains("write:servers"), "{error}");
    let quote = core
        .servers
        .review(&actor, &choice("web", "web.example.com", "11"))
        .await
        .expect("a price");
    let (_, held) = core
        .servers
        .hold_create(&actor, choice("web", "web.example.com", "11"))
        .await
        .expect("held");
    assert_eq!(held, quote);
    assert_eq!(cloud.count("vf"), 0);
}
