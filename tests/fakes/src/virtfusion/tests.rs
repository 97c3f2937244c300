//! The VirtFusion fake, driven over HTTP as hostdeck drives the real panel.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Build, FakeVirtFusion, Power};
use crate::server::Fault;

struct Panel {
    fake: FakeVirtFusion,
    http: reqwest::Client,
}

impl Panel {
    async fn start() -> Self {
        Self {
            fake: FakeVirtFusion::start().await,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.fake.api_url()))
            .header("Authorization", self.fake.token_header_value())
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("status");
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A customer with a built, running server; returns the server id.
    async fn running_server(&self) -> u64 {
        let user = self.fake.add_user(Some(7), "Ada", "ada@example.test");
        let (status, created) = self
            .post(
                "/servers",
                json!({"packageId": 1, "userId": user, "hypervisorId": 1, "ipv4": 1}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let id = created["data"]["id"].as_u64().expect("id");
        let (status, built) = self
            .post(
                &format!("/servers/{id}/build"),
                json!({"operatingSystemId": 11, "name": "web", "hostname": "web.example.test"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{built}");
        id
    }
}

#[tokio::test]
async fn calls_without_the_token_get_a_bare_401() {
    let panel = Panel::start().await;
    let url = format!("{}/servers", panel.fake.api_url());
    for authorization in [None, Some("Bearer wrong"), Some("Basic abc")] {
        let mut request = panel.http.get(&url);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let response = request.send().await.expect("send");
        assert_eq!(response.status().as_u16(), 401);
        assert!(response.text().await.expect("body").is_empty());
    }
    assert_eq!(panel.get("/connect").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_server_lives_through_create_build_power_suspension_and_deletion() {
    let panel = Panel::start().await;
    panel.fake.set_build_duration(Duration::from_millis(300));
    let id = panel.running_server().await;

    let (status, _) = panel
        .post(&format!("/servers/{id}/power/boot"), json!({}))
        .await;
    assert_eq!(status, StatusCode::LOCKED, "power waits for the build");
    let deadline = Instant::now() + Duration::from_secs(3);
    while panel.fake.server(id).map(|s| s.build) != Some(Build::Complete) {
        assert!(Instant::now() < deadline, "the build never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, server) = panel.get(&format!("/servers/{id}?remoteState=true")).await;
    assert_eq!(status, StatusCode::OK);
    let data = &server["data"];
    assert_eq!(data["state"], "complete");
    assert_eq!(data["name"], "web");
    assert_eq!(data["ownerId"], 1);
    assert_eq!(data["settings"]["resources"]["memory"], 1024);
    assert_eq!(data["remoteState"]["state"], "running");
    assert!(
        data["network"]["interfaces"][0]["ipv4"][0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("10."))
    );

    for (action, expected) in [
        ("shutdown", Power::Shutoff),
        ("boot", Power::Running),
        ("restart", Power::Running),
        ("poweroff", Power::Shutoff),
        ("boot", Power::Running),
    ] {
        let (status, body) = panel
            .post(&format!("/servers/{id}/power/{action}"), json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{action}: {body}");
        assert!(body["data"]["queueId"].is_u64());
        assert_eq!(panel.fake.server(id).map(|s| s.power), Some(expected));
    }

    let (status, body) = panel
        .post(&format!("/servers/{id}/suspend"), json!({}))
        .await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    let suspended = panel.fake.server(id).expect("server");
    assert!(suspended.suspended);
    assert_eq!(suspended.power, Power::Shutoff);
    let (status, _) = panel
        .post(&format!("/servers/{id}/power/boot"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a suspended server stays off");
    let (status, _) = panel
        .post(&format!("/servers/{id}/unsuspend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _) = panel
        .call(Method::DELETE, &format!("/servers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = panel.get(&format!("/servers/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["msg"].is_string());
    assert_eq!(panel.fake.recorder().problems(), Vec::<String>::new());
}

#[tokio::test]
async fn the_server_list_pages_like_a_laravel_paginator() {
    let panel = Panel::start().await;
    panel.fake.seed_servers(45);
    let mut seen = Vec::new();
    let mut page = 1;
    loop {
        let (status, body) = panel
            .get(&format!("/servers?results=20&type=simple&page={page}"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["total"], 45);
        assert_eq!(body["per_page"], 20);
        assert_eq!(body["last_page"], 3);
        assert_eq!(body["current_page"], page);
        let items = body["data"].as_array().expect("data");
        seen.extend(items.iter().filter_map(|s| s["id"].as_u64()));
        if body["next_page_url"].is_null() {
            break;
        }
        page += 1;
    }
    assert_eq!(seen, (1..=45).collect::<Vec<u64>>());
    assert_eq!(
        panel.fake.call_count("GET /servers"),
        3,
        "one call per page"
    );

    let (_, full) = panel.get("/servers?results=200&type=full").await;
    assert_eq!(full["data"][0]["settings"]["resources"]["cpuCores"], 1);
    let (status, body) = panel.get("/servers?results=500").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("results"))
    );
}

#[tokio::test]
async fn a_sync_of_ten_thousand_servers_takes_one_call_per_page() {
    let panel = Panel::start().await;
    let seeded = panel.fake.seed_servers(10_000);
    assert_eq!(seeded.len(), 10_000);
    let mut listed = 0;
    for page in 1..=50 {
        let (_, body) = panel
            .get(&format!("/servers?results=200&page={page}"))
            .await;
        listed += body["data"].as_array().map_or(0, Vec::len);
    }
    assert_eq!(listed, 10_000);
    assert_eq!(panel.fake.call_count("GET /servers"), 50);
    assert_eq!(panel.fake.user_by_ext(1000).map(|u| u.id), Some(1000));
}

#[tokio::test]
async fn busy_servers_and_hypervisor_maintenance_are_refused() {
    let panel = Panel::start().await;
    let id = panel.running_server().await;
    panel.fake.set_busy(id, true);
    let (status, _) = panel
        .post(&format!("/servers/{id}/power/shutdown"), json!({}))
        .await;
    assert_eq!(status, StatusCode::LOCKED);
    let (status, _) = panel
        .call(Method::DELETE, &format!("/servers/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::LOCKED);
    panel.fake.set_busy(id, false);

    panel.fake.set_maintenance(true);
    let (status, body) = panel
        .post(&format!("/servers/{id}/suspend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body["msg"].is_string());
    panel.fake.set_maintenance(false);
    let (status, _) = panel
        .post(&format!("/servers/{id}/suspend"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn bad_requests_get_laravel_errors_and_are_recorded_as_problems() {
    let panel = Panel::start().await;
    let (status, body) = panel.post("/servers", json!({"packageId": 99})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let errors: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        errors.contains(&"The user id field is required."),
        "{errors:?}"
    );
    assert!(
        errors.contains(&"The selected package id is invalid."),
        "{errors:?}"
    );
    assert_eq!(panel.fake.recorder().problems().len(), errors.len());
    assert!(panel.fake.servers().is_empty());
}

#[tokio::test]
async fn users_are_found_by_hostdecks_own_id() {
    let panel = Panel::start().await;
    let (status, created) = panel
        .post(
            "/users",
            json!({"name": "Grace", "email": "grace@example.test", "extRelationId": 42}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["data"]["extRelationId"], 42);

    let (status, again) = panel
        .post(
            "/users",
            json!({"name": "Grace", "email": "other@example.test", "extRelationId": 42}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{again}");

    let (status, found) = panel.get("/users/42/byExtRelation").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found["data"]["email"], "grace@example.test");
    let (status, _) = panel
        .call(
            Method::PUT,
            "/users/42/byExtRelation",
            Some(json!({"email": "grace@new.example.test"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        panel.fake.user_by_ext(42).map(|u| u.email),
        Some("grace@new.example.test".to_owned())
    );
    let (status, _) = panel
        .call(Method::DELETE, "/users/42/byExtRelation", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        panel.get("/users/42/byExtRelation").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn catalogue_traffic_and_drift() {
    let panel = Panel::start().await;
    let (_, packages) = panel.get("/packages").await;
    assert_eq!(packages["data"].as_array().map(Vec::len), Some(3));
    let (_, templates) = panel.get("/media/templates/fromServerPackageSpec/1").await;
    assert_eq!(templates["data"][0]["templates"][0]["id"], 11);

    let id = panel.running_server().await;
    panel.fake.set_traffic(id, 1_000, 2_000);
    let (_, traffic) = panel.get(&format!("/servers/{id}/traffic")).await;
    assert_eq!(traffic["data"]["monthly"][0]["total"], 3_000);

    assert_eq!(
        panel.fake.server(id).map(|s| s.build),
        Some(Build::Complete)
    );
    assert!(panel.fake.delete_behind_hostdecks_back(id));
    assert_eq!(
        panel.get(&format!("/servers/{id}")).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn faults_latency_and_hangs() {
    let panel = Panel::start().await;
    panel.fake.seed_servers(1);

    panel.fake.set_latency(Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(panel.get("/servers").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(50));
    panel.fake.set_latency(Duration::ZERO);

    let recorder = panel.fake.recorder();
    recorder.fail_next(
        "/servers/1",
        1,
        Fault::Status(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            json!({"msg": "down"}),
        ),
    );
    assert_eq!(
        panel.get("/servers/1").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(panel.get("/servers/1").await.0, StatusCode::OK);

    recorder.fail_next("/servers", 1, Fault::Delay(Duration::from_millis(60)));
    let started = Instant::now();
    assert_eq!(panel.get("/servers").await.0, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(60));

    recorder.fail_next("/servers", 1, Fault::Hang);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let outcome = quick
        .get(format!("{}/servers", panel.fake.api_url()))
        .header("Authorization", panel.fake.token_header_value())
        .send()
        .await;
    assert!(outcome.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn requests_that_do_not_ask_for_json_or_mark_their_body_are_recorded_as_problems() {
    let panel = Panel::start().await;
    let response = panel
        .http
        .post(format!("{}/users", panel.fake.api_url()))
        .header("Authorization", panel.fake.token_header_value())
        .header("Content-Type", "text/plain")
        .body(r#"{"name":"Ada","email":"ada@example.test","extRelationId":7}"#)
        .send()
        .await
        .expect("send");
    // Served as VirtFusion would (it reads the body anyway), and recorded as a problem.
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let problems = panel.fake.recorder().problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("without Accept: application/json"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("no Content-Type: application/json"),
        "{problems:?}"
    );

    panel.fake.recorder().clear();
    assert_eq!(panel.get("/connect").await.0, StatusCode::OK);
    assert_eq!(panel.fake.recorder().problems(), Vec::<String>::new());
}

#[tokio::test]
async fn cores_and_memory_are_modified_and_checked() {
    let panel = Panel::start().await;
    let id = panel.running_server().await;
    let (status, answer) = panel
        .call(
            Method::PUT,
            &format!("/servers/{id}/modify/cpuCores"),
            Some(json!({"cores": 4})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert!(answer["data"]["queueId"].is_u64());
    let (status, _) = panel
        .call(
            Method::PUT,
            &format!("/servers/{id}/modify/memory"),
            Some(json!({"memory": 8192})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let server = panel.fake.server(id).expect("server");
    assert_eq!((server.cpu_cores, server.memory_mb), (4, 8192));

    let (status, refused) = panel
        .call(
            Method::PUT,
            &format!("/servers/{id}/modify/cpuCores"),
            Some(json!({"cores": 0})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = panel
        .call(
            Method::PUT,
            &format!("/servers/{id}/modify/memory"),
            Some(json!({"memory": "lots"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = panel
        .call(
            Method::PUT,
            &format!("/servers/{id}/modify/storage"),
            Some(json!({"storage": 100})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "API v1 has no disk modify");
    assert_eq!(panel.fake.server(id).expect("server").storage_gb, 25);
}
