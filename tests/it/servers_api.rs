//! Servers through the JSON API, on the three provider fakes: a customer creates a server on
//! each provider with an `Idempotency-Key` (sent twice), powers it through every action, is
//! refused while staff keep it suspended, and deletes it; somebody else's server id is
//! refused on every route and audited; keys are held to their scopes.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::ids::ServerId;
use hostdeck_core::policy::Scope;
use hostdeck_core::{Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

use crate::servers::{Cloud, PROVIDERS, audited, give_credit, image, staff, usage_postings};

fn body(name: &str, provider: &str) -> Value {
    let template = match image(provider) {
        hostdeck_core::providers::Image::Template(template) => template,
        hostdeck_core::providers::Image::Iso(iso) => iso,
    };
    json!({
        "name": name,
        "hostname": format!("{}.example.com", name.replace(' ', "-")),
        "plan": "small",
        "template": template,
        "location": provider,
    })
}

async fn post_create(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url("/api/v1/servers"))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    answer(request.send().await.expect("POST")).await
}

async fn call(app: &TestApp, method: Method, path: &str, token: &str) -> (u16, Value) {
    answer(app.send(method, path, Some(token), None).await).await
}

async fn start() -> (TestApp, Cloud, TestDb) {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let core = db.core_with(cloud.config(""), Arc::new(SystemClock)).await;
    (TestApp::start(core).await, cloud, db)
}

#[tokio::test]
async fn through_the_api_a_server_lives_on_each_provider_from_create_to_delete() {
    let (app, cloud, _db) = start().await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    give_credit(app.core(), &ada.user, "20.00").await;
    let clerk = staff(app.core(), "clerk@example.com", Role::Billing, Via::Discord).await;
    assert!(
        app.core().pricing.plan("small").is_some(),
        "the shipped price list has a small plan"
    );

    for provider in PROVIDERS {
        let key = format!("3f1e2a9c-{provider}-create");
        let (status, created) = post_create(
            &app,
            &ada.token,
            Some(&key),
            &body(&format!("web {provider}"), provider),
        )
        .await;
        assert_eq!(status, 201, "{provider}: {created}");
        assert_eq!(created["replayed"], json!(false));
        assert!(created["price"]["first_hour"]["micros"].as_i64() > Some(0));
        assert!(created["price"]["per_month"]["amount"].is_string());
        let id = created["server"]["id"].as_i64().expect("an id");
        assert_eq!(created["server"]["location"], json!(provider));

        // The same request again (a retry, a double click): the same server, no new charge.
        let (status, again) = post_create(
            &app,
            &ada.token,
            Some(&key),
            &body(&format!("web {provider}"), provider),
        )
        .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again["replayed"], json!(true));
        assert_eq!(again["server"]["id"], json!(id));
        assert_eq!(cloud.count(provider), 1, "{provider}");
        assert_eq!(usage_postings(app.core(), ServerId(id)).await, 1);

        let (status, listed) = call(&app, Method::GET, "/api/v1/servers", &ada.token).await;
        assert_eq!(status, 200);
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");

        for (action, expected) in [
            ("boot", "running"),
            ("shutdown", "stopped"),
            ("boot", "running"),
            ("restart", "running"),
            ("poweroff", "stopped"),
            ("boot", "running"),
        ] {
            let (status, server) = call(
                &app,
                Method::POST,
                &format!("/api/v1/servers/{id}/power/{action}"),
                &ada.token,
            )
            .await;
            assert_eq!(status, 200, "{provider} {action}: {server}");
            assert_eq!(server["state"], json!(expected), "{provider} {action}");
            let (status, detail) = call(
                &app,
                Method::GET,
                &format!("/api/v1/servers/{id}"),
                &ada.token,
            )
            .await;
            assert_eq!(status, 200, "{detail}");
            assert_eq!(detail["live_state"], json!(expected), "{provider} {action}");
            assert!(detail["charged"]["micros"].as_i64() > Some(0));
        }
        let (status, error) = call(
            &app,
            Method::POST,
            &format!("/api/v1/servers/{id}/power/explode"),
            &ada.token,
        )
        .await;
        assert_eq!((status, &error["error"]["code"]), (422, &json!("invalid")));

        app.core()
            .servers
            .suspend(&clerk, ServerId(id), "abuse report")
            .await
            .expect("suspend");
        let (status, error) = call(
            &app,
            Method::POST,
            &format!("/api/v1/servers/{id}/power/boot"),
            &ada.token,
        )
        .await;
        assert_eq!(status, 409, "{error}");
        let (_, detail) = call(
            &app,
            Method::GET,
            &format!("/api/v1/servers/{id}"),
            &ada.token,
        )
        .await;
        assert_eq!(detail["server"]["state"], json!("suspended"));
        app.core()
            .servers
            .unsuspend(&clerk, ServerId(id), "cleared")
            .await
            .expect("unsuspend");

        let (status, deleted) = call(
            &app,
            Method::DELETE,
            &format!("/api/v1/servers/{id}"),
            &ada.token,
        )
        .await;
        assert_eq!(status, 200, "{deleted}");
        assert_eq!(deleted["state"], json!("deleted"));
        assert_eq!(cloud.count(provider), 0);
        let (_, listed) = call(&app, Method::GET, "/api/v1/servers", &ada.token).await;
        assert_eq!(listed, json!([]));
    }
    cloud.assert_clean();
}

#[tokio::test]
async fn another_customers_server_is_refused_on_every_route_and_audited() {
    let (app, cloud, _db) = start().await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    give_credit(app.core(), &ada.user, "10.00").await;
    let bob = app.user("bob@example.com", Role::Customer).await;
    let (status, created) =
        post_create(&app, &ada.token, Some("ada-1"), &body("ada web", "vf")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["server"]["id"].as_i64().expect("id");

    for (method, path) in [
        (Method::GET, format!("/api/v1/servers/{id}")),
        (Method::DELETE, format!("/api/v1/servers/{id}")),
        (Method::POST, format!("/api/v1/servers/{id}/power/poweroff")),
    ] {
        let (status, error) = call(&app, method.clone(), &path, &bob.token).await;
        assert_eq!(status, 404, "{method} {path}: {error}");
        assert_eq!(
            error["error"]["message"],
            json!(format!("You have no server {id}."))
        );
    }
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/api/v1/servers?customer={}", ada.user.id),
        &bob.token,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(&app, Method::GET, "/api/v1/servers?all=true", &bob.token).await;
    assert_eq!(status, 403);
    let (_, own) = call(&app, Method::GET, "/api/v1/servers", &bob.token).await;
    assert_eq!(own, json!([]));
    for action in ["server.get", "server.delete", "server.power"] {
        assert_eq!(audited(app.core(), action, "denied").await, 1, "{action}");
    }
    assert_eq!(audited(app.core(), "server.list", "denied").await, 2);
    assert_eq!(cloud.vf.servers().len(), 1, "ada's server is untouched");

    // A create key is the user's own: Bob's request with Ada's key is a new server of his.
    give_credit(app.core(), &bob.user, "10.00").await;
    let (status, bobs) = post_create(&app, &bob.token, Some("ada-1"), &body("bob web", "vf")).await;
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["server"]["id"], json!(id));
    cloud.assert_clean();
}

#[tokio::test]
async fn keys_are_held_to_their_server_scopes() {
    let (app, cloud, _db) = start().await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    give_credit(app.core(), &ada.user, "10.00").await;
    let reader = app.api_key(&ada, &[Scope::ReadServers]).await;
    let writer = app
        .api_key(&ada, &[Scope::ReadServers, Scope::WriteServers])
        .await;
    let nothing = app.api_key(&ada, &[Scope::ReadUser]).await;

    let (status, error) = post_create(&app, &reader, Some("k-1"), &body("web", "pve")).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("write:servers")),
        "{error}"
    );
    let (status, created) = post_create(
        &app,
        &writer,
        None,
        &json!({
            "name": "web", "hostname": "web.example.com", "plan": "small",
            "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "location": "pve",
            "key": "client-chosen-1"
        }),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["server"]["id"].as_i64().expect("id");
    let (status, _) = call(&app, Method::GET, "/api/v1/servers", &reader).await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, Method::GET, "/api/v1/servers", &nothing).await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/servers/{id}/power/shutdown"),
        &reader,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/servers/{id}"),
        &reader,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/v1/servers/{id}"),
        &writer,
    )
    .await;
    assert_eq!(status, 200);

    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("the document");
    for (path, method) in [
        ("/api/v1/servers", "get"),
        ("/api/v1/servers", "post"),
        ("/api/v1/servers/{id}", "get"),
        ("/api/v1/servers/{id}", "delete"),
        ("/api/v1/servers/{id}/power/{action}", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
    cloud.assert_clean();
}

#[tokio::test]
async fn the_standing_shows_what_the_servers_cost_and_how_long_the_balance_lasts() {
    let (app, _cloud, _db) = start().await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    give_credit(app.core(), &ada.user, "20.00").await;

    let (status, standing) = call(&app, Method::GET, "/api/v1/billing/standing", &ada.token).await;
    assert_eq!(status, 200, "{standing}");
    assert_eq!(standing["balance"]["amount"], json!("20.00"));
    assert_eq!(standing["burn_per_hour"]["micros"], json!(0));
    assert_eq!(standing["hours_left"], Value::Null);
    assert_eq!(standing["low_balance"], json!(false));

    let provider = PROVIDERS[0];
    let (status, created) = post_create(
        &app,
        &ada.token,
        Some("standing-create"),
        &body("web", provider),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["server"]["id"].as_i64().expect("an id");
    let quote = app
        .core()
        .pricing
        .quote(&hostdeck_core::pricing::Size::Plan("small".into()))
        .expect("a quote");
    let (_, standing) = call(&app, Method::GET, "/api/v1/billing/standing", &ada.token).await;
    let balance = standing["balance"]["micros"].as_i64().expect("micros");
    assert_eq!(balance, 20_000_000 - quote.first_hour().micros());
    // Shown rounded up to a micro-unit; the hours left from the exact fraction.
    let per_hour = (quote.running + quote.rate_hours - 1) / quote.rate_hours;
    assert_eq!(
        standing["burn_per_hour"]["micros"],
        json!(per_hour),
        "{standing}"
    );
    assert_eq!(
        standing["hours_left"],
        json!(balance * quote.rate_hours / quote.running),
        "{standing}"
    );

    // A stopped server pays for its disk only.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/servers/{id}/power/poweroff"),
        &ada.token,
    )
    .await;
    assert_eq!(status, 200);
    let (_, standing) = call(&app, Method::GET, "/api/v1/billing/standing", &ada.token).await;
    let stopped = (quote.stopped + quote.rate_hours - 1) / quote.rate_hours;
    assert_eq!(
        standing["burn_per_hour"]["micros"],
        json!(stopped),
        "{standing}"
    );
    assert!(stopped < per_hour);

    // Another customer's key sees only their own standing.
    let bob = app.user("bob@example.com", Role::Customer).await;
    let (_, theirs) = call(&app, Method::GET, "/api/v1/billing/standing", &bob.token).await;
    assert_eq!(theirs["burn_per_hour"]["micros"], json!(0));
    assert_eq!(theirs["balance"]["micros"], json!(0));
}
