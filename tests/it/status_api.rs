//! The status through the API: `GET /api/v1/status` and `/api/v1/status/summary.json` without
//! authentication, answered from the stored report (no BetterStack call per request) with a
//! short cache lifetime; staff declare, update and resolve incidents (a session, or a key with
//! `write:status`), customers and keys without the scope are refused; the summary's indicator
//! follows the worst component.

use std::sync::Arc;

use hostdeck_core::Role;
use hostdeck_core::clock::ManualClock;
use hostdeck_core::policy::Scope;
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::betterstack::{FakeBetterstack, Scenario};
use serde_json::{Value, json};

use crate::status_bot::{config, core, fake_discord, monitor};

struct Site {
    app: TestApp,
    betterstack: FakeBetterstack,
    clock: Arc<ManualClock>,
}

impl Site {
    async fn open(db: &TestDb) -> Self {
        let discord = fake_discord().await;
        let betterstack = FakeBetterstack::start().await;
        let mut config = config(&discord, &betterstack);
        // The API alone: no bot.
        config.discord.token = None;
        let (core, clock, _fra) = core(db, config).await;
        monitor(&betterstack, &clock, true);
        let app = TestApp::start(core).await;
        Self {
            app,
            betterstack,
            clock,
        }
    }

    async fn refresh(&self) {
        self.clock.advance(chrono::Duration::seconds(6));
        monitor(&self.betterstack, &self.clock, true);
        self.app.core().status.refresh().await.expect("a refresh");
    }

    async fn get(&self, path: &str) -> Value {
        let response = self.app.get(path).await;
        let cache = response
            .headers()
            .get("cache-control")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(cache.as_deref(), Some("public, max-age=15"), "{path}");
        body
    }

    async fn declare(&self, token: Option<&str>, impact: &str) -> (u16, Value) {
        answer(
            self.app
                .post_json(
                    token,
                    "/api/v1/status/incidents",
                    &json!({
                        "kind": "incident",
                        "title": "Frankfurt servers unreachable",
                        "impact": impact,
                        "components": ["vps-fra"],
                        "message": "We are looking into it.",
                    }),
                )
                .await,
        )
        .await
    }
}

fn component<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["components"]
        .as_array()
        .and_then(|list| list.iter().find(|component| component["id"] == id))
        .unwrap_or_else(|| panic!("component {id} in {status}"))
}

on_both_engines!(staff_declare_update_and_resolve_and_everyone_reads_it);

async fn staff_declare_update_and_resolve_and_everyone_reads_it(db: TestDb) {
    let site = Site::open(&db).await;
    site.refresh().await;
    let status = site.get("/api/v1/status").await;
    assert_eq!(status["headline"], "All systems operational");
    assert_eq!(status["all_operational"], true);
    let fra = component(&status, "vps-fra");
    assert_eq!(fra["state"], "operational");
    assert_eq!(fra["group"], "Servers");
    let days = fra["uptime"].as_array().expect("uptime days");
    assert_eq!(days.len(), 90);
    assert_eq!(days[89]["samples"], 1, "today's sample");
    assert_eq!(days[89]["uptime_permille"], 1000);
    assert_eq!(days[0]["samples"], 0);

    // Who may declare: support and admin with a session or a write:status key.
    let carl = site.app.user("carl@example.com", Role::Customer).await;
    let sam = site.app.user("sam@example.com", Role::Support).await;
    let bea = site.app.user("bea@example.com", Role::Billing).await;
    let sam_key = site.app.api_key(&sam, &[Scope::WriteStatus]).await;
    let sam_other_key = site.app.api_key(&sam, &[Scope::ReadTickets]).await;
    assert_eq!(site.declare(None, "major").await.0, 401);
    for refused in [&carl.token, &bea.token, &sam_other_key] {
        let (code, body) = site.declare(Some(refused), "major").await;
        assert_eq!(code, 403, "{body}");
    }
    let (code, declared) = site.declare(Some(&sam_key), "major").await;
    assert_eq!(code, 201, "{declared}");
    let id = declared["id"].as_i64().expect("an id");
    assert_eq!(declared["status"], "investigating");

    // It shows at once in both shapes.
    let status = site.get("/api/v1/status").await;
    assert_eq!(
        status["active"][0]["title"],
        "Frankfurt servers unreachable"
    );
    assert_eq!(
        status["active"][0]["updates"][0]["message"],
        "We are looking into it."
    );
    assert_eq!(component(&status, "vps-fra")["state"], "partial_outage");
    let summary = site.get("/api/v1/status/summary.json").await;
    assert_eq!(summary["status"]["indicator"], "major");
    assert_eq!(
        summary["incidents"][0]["name"],
        "Frankfurt servers unreachable"
    );
    assert_eq!(summary["incidents"][0]["id"], id.to_string());

    // Updates in order, then resolved; an unknown incident is 404; a resolved one takes no
    // more updates.
    let (code, updated) = answer(
        site.app
            .post_json(
                Some(&sam.token),
                &format!("/api/v1/status/incidents/{id}/updates"),
                &json!({"status": "monitoring", "message": "A fix is out."}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 200, "{updated}");
    assert_eq!(updated["updates"][1]["message"], "A fix is out.");
    let (code, _) = answer(
        site.app
            .post_json(
                Some(&sam.token),
                "/api/v1/status/incidents/999999/resolve",
                &json!({"message": "x"}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = answer(
        site.app
            .post_json(
                Some(&carl.token),
                &format!("/api/v1/status/incidents/{id}/resolve"),
                &json!({"message": "not mine to end"}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 403);
    let (code, resolved) = answer(
        site.app
            .post_json(
                Some(&sam.token),
                &format!("/api/v1/status/incidents/{id}/resolve"),
                &json!({"message": "Fixed."}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 200, "{resolved}");
    assert!(resolved["resolved_at"].is_string());
    let status = site.get("/api/v1/status").await;
    assert_eq!(status["active"], json!([]));
    assert_eq!(status["resolved"][0]["id"], id);
    assert_eq!(component(&status, "vps-fra")["state"], "operational");
    let (code, _) = answer(
        site.app
            .post_json(
                Some(&sam.token),
                &format!("/api/v1/status/incidents/{id}/updates"),
                &json!({"status": "monitoring", "message": "again"}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_summary_indicator_follows_the_worst_component() {
    let db = TestDb::sqlite().await;
    let site = Site::open(&db).await;
    let sam = site.app.user("sam@example.com", Role::Support).await;
    let indicator = async || {
        let summary = site.get("/api/v1/status/summary.json").await;
        summary["status"]["indicator"]
            .as_str()
            .expect("an indicator")
            .to_owned()
    };
    // Never checked: unknown is not "none".
    assert_eq!(indicator().await, "minor");
    site.refresh().await;
    assert_eq!(indicator().await, "none");
    // BetterStack unreachable: Frankfurt unknown, shown degraded, never operational.
    site.betterstack.set_scenario(Scenario::Unauthorized);
    site.refresh().await;
    assert_eq!(indicator().await, "minor");
    let summary = site.get("/api/v1/status/summary.json").await;
    let fra = summary["components"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["id"] == "vps-fra"))
        .expect("vps-fra");
    assert_eq!(fra["status"], "degraded_performance");
    site.betterstack.set_scenario(Scenario::Normal);
    site.refresh().await;
    assert_eq!(indicator().await, "none");
    // An incident's impact: minor, major, critical.
    for (impact, expected) in [
        ("minor", "minor"),
        ("major", "major"),
        ("critical", "critical"),
    ] {
        let (code, declared) = site.declare(Some(&sam.token), impact).await;
        assert_eq!(code, 201, "{declared}");
        assert_eq!(indicator().await, expected, "{impact}");
        let id = declared["id"].as_i64().expect("an id");
        let (code, _) = answer(
            site.app
                .post_json(
                    Some(&sam.token),
                    &format!("/api/v1/status/incidents/{id}/resolve"),
                    &json!({"message": "Done."}),
                )
                .await,
        )
        .await;
        assert_eq!(code, 200);
    }
    assert_eq!(indicator().await, "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_status_calls_no_source_and_is_open_during_maintenance() {
    let db = TestDb::sqlite().await;
    let site = Site::open(&db).await;
    site.refresh().await;
    let calls = site.betterstack.total();
    for _ in 0..100 {
        site.get("/api/v1/status").await;
        site.get("/api/v1/status/summary.json").await;
    }
    assert_eq!(
        site.betterstack.total(),
        calls,
        "no BetterStack call per request"
    );
    let admin = site.app.user("ada@example.com", Role::Admin).await;
    let (code, body) = answer(
        site.app
            .post_json(
                Some(&admin.token),
                "/api/v1/admin/maintenance",
                &json!({"message": "Upgrading the database."}),
            )
            .await,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    // Past the report's and maintenance's two-second reuse.
    site.clock.advance(chrono::Duration::seconds(3));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let status = site.get("/api/v1/status").await;
    assert_eq!(status["maintenance_notice"], "Upgrading the database.");
}
