//! The Jelastic fake, driven over HTTP as the public SDKs drive the platform.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{EnvStatus, FakeJelastic, result};
use crate::server::Fault;

struct Platform {
    fake: FakeJelastic,
    http: reqwest::Client,
}

impl Platform {
    async fn start() -> Self {
        Self {
            fake: FakeJelastic::start().await,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        }
    }

    /// Calls `group/class/rest/method` with a form body and the session, as the SDKs do.
    async fn call(&self, function: &str, params: &[(&str, &str)]) -> Value {
        let mut form: Vec<(&str, &str)> = params.to_vec();
        form.push(("session", self.fake.token()));
        let response = self
            .http
            .post(format!("{}/{function}", self.fake.api_url()))
            .form(&form)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 200, "{function}");
        response.json().await.expect("JSON body")
    }

    async fn status(&self, name: &str) -> Value {
        let info = self
            .call("environment/control/rest/getenvinfo", &[("envName", name)])
            .await;
        info["env"]["status"].clone()
    }
}

fn vps_nodes() -> String {
    json!([{
        "nodeType": "ubuntu-vps",
        "fixedCloudlets": 1,
        "flexibleCloudlets": 8,
        "displayName": "web",
    }])
    .to_string()
}

#[tokio::test]
async fn calls_without_a_valid_session_are_refused() {
    let platform = Platform::start().await;
    let url = format!(
        "{}/environment/control/rest/getenvs",
        platform.fake.api_url()
    );
    for form in [vec![], vec![("session", "wrong")]] {
        let response = platform
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.expect("JSON body");
        assert_eq!(body["result"], result::SESSION_INVALID);
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("not valid"))
        );
    }
    let envs = platform.call("environment/control/rest/getenvs", &[]).await;
    assert_eq!(envs, json!({"result": 0, "infos": []}));
}

#[tokio::test]
async fn an_environment_lives_through_create_power_cycles_sleep_and_deletion() {
    let platform = Platform::start().await;
    let env = json!({"shortdomain": "shop-1", "displayName": "Shop", "region": "eu"}).to_string();
    let created = platform
        .call(
            "environment/control/rest/createenvironment",
            &[
                ("env", &env),
                ("nodes", &vps_nodes()),
                ("envGroups", "[\"customers/7\"]"),
            ],
        )
        .await;
    assert_eq!(created["result"], 0, "{created}");
    let response = &created["response"];
    assert_eq!(response["env"]["envName"], "shop-1");
    assert_eq!(response["env"]["status"], 1);
    assert_eq!(response["nodes"][0]["nodeGroup"], "vps");
    assert_eq!(response["nodes"][0]["flexibleCloudlets"], 8);
    assert_eq!(response["envGroups"], json!(["customers/7"]));

    let again = platform
        .call(
            "environment/control/rest/createenvironment",
            &[("env", &env), ("nodes", &vps_nodes())],
        )
        .await;
    assert_eq!(again["result"], result::FAILED);

    let already = platform
        .call(
            "environment/control/rest/startenv",
            &[("envName", "shop-1")],
        )
        .await;
    assert_eq!(already["result"], result::FAILED);
    for (function, status) in [
        ("stopenv", 2),
        ("startenv", 1),
        ("sleepenv", 4),
        ("startenv", 1),
        ("stopenv", 2),
    ] {
        let answer = platform
            .call(
                &format!("environment/control/rest/{function}"),
                &[("envName", "shop-1")],
            )
            .await;
        assert_eq!(answer, json!({"result": 0}), "{function}");
        assert_eq!(platform.status("shop-1").await, status, "after {function}");
    }
    let refused = platform
        .call("environment/control/rest/stopenv", &[("envName", "shop-1")])
        .await;
    assert_eq!(
        refused["result"],
        result::FAILED,
        "stopping a stopped environment"
    );

    let listed = platform.call("environment/control/rest/getenvs", &[]).await;
    assert_eq!(listed["infos"][0]["env"]["envName"], "shop-1");

    let deleted = platform
        .call(
            "environment/control/rest/deleteenv",
            &[("envName", "shop-1")],
        )
        .await;
    assert_eq!(deleted, json!({"result": 0}));
    let gone = platform
        .call(
            "environment/control/rest/getenvinfo",
            &[("envName", "shop-1")],
        )
        .await;
    assert_eq!(gone["result"], result::ENV_NOT_EXISTS);
    assert_eq!(platform.fake.recorder().problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_json_manifest_installs_an_environment() {
    let platform = Platform::start().await;
    let manifest = json!({
        "type": "install",
        "name": "Small VPS",
        "nodes": [{"nodeType": "debian-vps", "cloudlets": 4, "nodeGroup": "vps"}],
        "success": "Your VPS is ready",
    })
    .to_string();
    let installed = platform
        .call(
            "marketplace/jps/rest/install",
            &[("jps", &manifest), ("envName", "vps-9"), ("region", "eu")],
        )
        .await;
    assert_eq!(installed["result"], 0, "{installed}");
    assert_eq!(installed["envName"], "vps-9");
    assert_eq!(installed["successText"], "Your VPS is ready");
    let env = platform.fake.environment("vps-9").expect("environment");
    assert_eq!(env.status, EnvStatus::Running);
    assert_eq!(env.nodes[0].flexible_cloudlets, 4);
    assert_eq!(env.manifest_name.as_deref(), Some("Small VPS"));

    let yaml = platform
        .call(
            "marketplace/jps/rest/install",
            &[("jps", "type: install\nnodes: []\n")],
        )
        .await;
    assert_eq!(yaml["result"], result::FAILED);
    let unknown_type = platform
        .call(
            "environment/control/rest/createenvironment",
            &[("env", "{}"), ("nodes", r#"[{"nodeType":"mainframe"}]"#)],
        )
        .await;
    assert_eq!(unknown_type["result"], result::FAILED);
    assert_eq!(platform.fake.recorder().problems().len(), 2);
}

#[tokio::test]
async fn operations_take_time_and_can_fail() {
    let platform = Platform::start().await;
    platform.fake.seed_environments(2);
    platform
        .fake
        .set_operation_duration(Duration::from_millis(400));

    let stopping = {
        let http = platform.http.clone();
        let url = format!(
            "{}/environment/control/rest/stopenv",
            platform.fake.api_url()
        );
        let form = [("envName", "seed-1"), ("session", platform.fake.token())]
            .map(|(k, v)| (k.to_owned(), v.to_owned()));
        tokio::spawn(async move { http.post(url).form(&form).send().await })
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while platform.status("seed-1").await != 13 {
        assert!(Instant::now() < deadline, "never seen stopping");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let busy = platform
        .call(
            "environment/control/rest/startenv",
            &[("envName", "seed-1")],
        )
        .await;
    assert_eq!(busy["result"], result::FAILED);
    let answered = stopping.await.expect("join").expect("send");
    assert_eq!(answered.json::<Value>().await.expect("body")["result"], 0);
    assert_eq!(platform.status("seed-1").await, 2);

    platform.fake.set_operation_duration(Duration::ZERO);
    platform
        .fake
        .fail_next_operation(result::FAILED, "out of cloudlets in region eu");
    let failed = platform
        .call("environment/control/rest/stopenv", &[("envName", "seed-2")])
        .await;
    assert_eq!(
        failed,
        json!({"result": 1, "error": "out of cloudlets in region eu"})
    );
    assert_eq!(
        platform.status("seed-2").await,
        1,
        "unchanged after a failure"
    );

    platform
        .fake
        .fail_next_operation(result::FAILED, "no capacity");
    let created = platform
        .call(
            "environment/control/rest/createenvironment",
            &[
                ("env", r#"{"shortdomain":"late"}"#),
                ("nodes", &vps_nodes()),
            ],
        )
        .await;
    assert_eq!(created["error"], "no capacity");
    assert!(platform.fake.environment("late").is_none());
}

#[tokio::test]
async fn faults_latency_hangs_and_drift() {
    let platform = Platform::start().await;
    platform.fake.seed_environments(3);
    platform.fake.set_latency(Duration::from_millis(50));
    let started = Instant::now();
    let listed = platform.call("environment/control/rest/getenvs", &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!(listed["infos"].as_array().map(Vec::len), Some(3));
    platform.fake.set_latency(Duration::ZERO);

    let recorder = platform.fake.recorder();
    recorder.fail_next(
        "getenvs",
        1,
        Fault::Status(axum::http::StatusCode::SERVICE_UNAVAILABLE, json!({})),
    );
    let url = format!(
        "{}/environment/control/rest/getenvs",
        platform.fake.api_url()
    );
    let form = [("session", platform.fake.token())];
    let unavailable = platform
        .http
        .post(&url)
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(unavailable.status().as_u16(), 503);

    recorder.fail_next("getenvs", 1, Fault::Hang);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let outcome = quick.post(&url).form(&form).send().await;
    assert!(outcome.is_err_and(|e| e.is_timeout()));

    assert!(platform.fake.delete_behind_hostdecks_back("seed-2"));
    platform
        .fake
        .set_status_behind_hostdecks_back("seed-3", EnvStatus::Down);
    let listed = platform.call("environment/control/rest/getenvs", &[]).await;
    let statuses: Vec<(String, u64)> = listed["infos"]
        .as_array()
        .expect("infos")
        .iter()
        .map(|info| {
            (
                info["env"]["envName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                info["env"]["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        vec![("seed-1".to_owned(), 1), ("seed-3".to_owned(), 2)]
    );
    assert_eq!(
        platform.fake.call_count("environment/control/rest/getenvs"),
        2
    );
}

#[tokio::test]
async fn a_node_group_is_resized_in_cloudlets_and_disk_limit() {
    let platform = Platform::start().await;
    let env = json!({"shortdomain": "grow-1"}).to_string();
    let created = platform
        .call(
            "environment/control/rest/createenvironment",
            &[("env", &env), ("nodes", &vps_nodes())],
        )
        .await;
    assert_eq!(created["result"], 0, "{created}");

    let set = platform
        .call(
            "environment/control/rest/setcloudletscountbygroup",
            &[
                ("envName", "grow-1"),
                ("nodeGroup", "vps"),
                ("fixedCloudlets", "16"),
                ("flexibleCloudlets", "16"),
            ],
        )
        .await;
    assert_eq!(set["result"], 0, "{set}");
    let limit = platform
        .call(
            "environment/control/rest/setdisklimitbygroup",
            &[
                ("envName", "grow-1"),
                ("nodeGroup", "vps"),
                ("limit", "81920"),
            ],
        )
        .await;
    assert_eq!(limit["result"], 0, "{limit}");
    let node = &platform.fake.environment("grow-1").expect("env").nodes[0];
    assert_eq!(
        (
            node.fixed_cloudlets,
            node.flexible_cloudlets,
            node.disk_limit_mb
        ),
        (16, 16, 81920)
    );

    let upside_down = platform
        .call(
            "environment/control/rest/setcloudletscountbygroup",
            &[
                ("envName", "grow-1"),
                ("nodeGroup", "vps"),
                ("fixedCloudlets", "20"),
                ("flexibleCloudlets", "8"),
            ],
        )
        .await;
    assert_eq!(upside_down["result"], result::FAILED);
    let no_group = platform
        .call(
            "environment/control/rest/setdisklimitbygroup",
            &[
                ("envName", "grow-1"),
                ("nodeGroup", "sqldb"),
                ("limit", "100"),
            ],
        )
        .await;
    assert_eq!(no_group["result"], result::FAILED);
    let no_env = platform
        .call(
            "environment/control/rest/setdisklimitbygroup",
            &[
                ("envName", "nope-1"),
                ("nodeGroup", "vps"),
                ("limit", "100"),
            ],
        )
        .await;
    assert_eq!(no_env["result"], result::ENV_NOT_EXISTS);
    assert_eq!(
        platform.fake.recorder().problems().len(),
        1,
        "the malformed cloudlet counts are a problem on the call"
    );
}
