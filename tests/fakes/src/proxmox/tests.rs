//! The Proxmox fake, driven over HTTP as hostdeck drives a real cluster.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::schema::ApiSchema;
use super::{FakeProxmox, GuestKind, PowerState};
use crate::server::Fault;

struct Cluster {
    fake: FakeProxmox,
    http: reqwest::Client,
}

/// What came back: the status, the reason phrase (where Proxmox puts its error message) and the
/// JSON body.
struct Answer {
    status: u16,
    reason: String,
    body: Value,
}

impl Cluster {
    async fn start() -> Self {
        let fake = FakeProxmox::start().await;
        fake.set_task_duration(Duration::from_millis(30));
        Self {
            fake,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("client"),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let reason = response
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| response.status().canonical_reason().map(str::to_owned))
            .unwrap_or_default();
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON body")
        };
        Answer {
            status,
            reason,
            body,
        }
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.fake.api_url()))
            .header("Authorization", self.fake.token_header_value())
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.request(Method::GET, path)).await
    }

    /// A POST with a form body, as most Proxmox clients send.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        self.send(self.request(Method::POST, path).form(form)).await
    }

    async fn post_json(&self, path: &str, body: Value) -> Answer {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    async fn delete(&self, path: &str) -> Answer {
        self.send(self.request(Method::DELETE, path)).await
    }

    /// Polls a task until it stops, and returns its exit status.
    async fn wait(&self, upid: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let answer = self
                .get(&format!(
                    "/nodes/pve/tasks/{}/status",
                    percent_encoding::utf8_percent_encode(upid, percent_encoding::NON_ALPHANUMERIC)
                ))
                .await;
            assert_eq!(answer.status, 200, "{}", answer.reason);
            let data = &answer.body["data"];
            if data["status"] == "stopped" {
                return data["exitstatus"].as_str().unwrap_or_default().to_owned();
            }
            assert_eq!(data["status"], "running");
            assert!(Instant::now() < deadline, "task {upid} never stopped");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts a task and waits for it; returns its exit status.
    async fn run(&self, path: &str) -> String {
        let answer = self.post(path, &[]).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.reason);
        let upid = answer.body["data"].as_str().expect("UPID").to_owned();
        self.wait(&upid).await
    }

    async fn create_vm(&self, vmid: &str) -> String {
        let answer = self
            .post(
                "/nodes/pve/qemu",
                &[
                    ("vmid", vmid),
                    ("name", "web-1"),
                    ("memory", "2048"),
                    ("cores", "2"),
                    ("net0", "virtio,bridge=vmbr0"),
                    ("scsi0", "local-lvm:32"),
                    ("ide2", "local:iso/debian-12.iso,media=cdrom"),
                    ("ostype", "l26"),
                ],
            )
            .await;
        assert_eq!(answer.status, 200, "{} {}", answer.reason, answer.body);
        answer.body["data"].as_str().expect("UPID").to_owned()
    }
}

#[tokio::test]
async fn calls_without_a_valid_token_are_refused_in_the_reason_phrase() {
    let cluster = Cluster::start().await;
    let url = format!("{}/nodes", cluster.fake.api_url());
    let secret = cluster.fake.token_secret().to_owned();
    for (authorization, reason) in [
        (None, "No ticket".to_owned()),
        (
            Some(format!("PVEAPIToken={}=wrong", cluster.fake.token_id())),
            "invalid token value!".to_owned(),
        ),
        (
            Some(format!("PVEAPIToken=root@pam!other={secret}")),
            "no such token 'other' for user 'root@pam'".to_owned(),
        ),
    ] {
        let mut request = cluster.http.get(&url);
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        let answer = cluster.send(request).await;
        assert_eq!((answer.status, answer.reason), (401, reason));
        assert_eq!(answer.body, Value::Null);
    }
    let nodes = cluster.get("/nodes").await;
    assert_eq!(nodes.body["data"][0]["node"], "pve");
}

/// A form, the parameter Proxmox blames, and what it says about it.
type Refusal = (
    &'static [(&'static str, &'static str)],
    &'static str,
    &'static str,
);

#[tokio::test]
async fn parameter_verification_names_the_parameter() {
    let cluster = Cluster::start().await;
    let cases: [Refusal; 6] = [
        (
            &[("name", "web")],
            "vmid",
            "property is missing and it is not optional",
        ),
        (
            &[("vmid", "100"), ("colour", "blue")],
            "colour",
            "property is not defined in schema and the schema does not allow additional properties",
        ),
        (
            &[("vmid", "100"), ("cores", "0")],
            "cores",
            "value must have a minimum value of 1",
        ),
        (
            &[("vmid", "100"), ("ostype", "linux")],
            "ostype",
            "value 'linux' does not have a value in the enumeration 'other, wxp, w2k, w2k3, w2k8, wvista, win7, win8, win10, win11, l24, l26, solaris'",
        ),
        (
            &[("vmid", "100"), ("start", "true")],
            "start",
            "type check ('boolean') failed - got 'true'",
        ),
        (
            &[("vmid", "100"), ("net0", "virtio,bridge=vmbr0,speed=fast")],
            "net0",
            "invalid format - invalid key in comma-separated list property: speed\n",
        ),
    ];
    for (form, param, message) in cases {
        let answer = cluster.post("/nodes/pve/qemu", form).await;
        assert_eq!(answer.status, 400, "{form:?}");
        assert_eq!(answer.reason, "Parameter verification failed.");
        assert_eq!(answer.body["data"], Value::Null);
        assert_eq!(answer.body["errors"][param], message, "{form:?}");
    }

    let answer = cluster.get("/nodes/pve/qemu/42/status/current").await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        answer.body["errors"]["vmid"],
        "invalid format - value does not look like a valid VM ID\n"
    );
    let answer = cluster
        .post_json(
            "/nodes/pve/lxc",
            json!({"vmid": 200, "ostemplate": "local:vztmpl/debian.tar.zst", "memory": 8}),
        )
        .await;
    assert_eq!(
        answer.body["errors"]["memory"],
        "value must have a minimum value of 16"
    );

    assert_eq!(cluster.fake.recorder().problems().len(), 8);
    assert!(cluster.fake.guests().is_empty());
}

#[tokio::test]
async fn a_vm_lives_through_create_power_cycles_and_deletion() {
    let cluster = Cluster::start().await;
    let next = cluster.get("/cluster/nextid").await;
    assert_eq!(next.body["data"], "100", "nextid is a string");

    let upid = cluster.create_vm("100").await;
    assert!(upid.starts_with("UPID:pve:") && upid.contains(":qmcreate:100:root@pam!hostdeck:"));
    let locked = cluster.get("/nodes/pve/qemu/100/status/current").await;
    assert_eq!(locked.body["data"]["lock"], "create");
    assert_eq!(cluster.wait(&upid).await, "OK");

    let taken = cluster.post("/nodes/pve/qemu", &[("vmid", "100")]).await;
    assert_eq!(
        (taken.status, taken.reason.as_str()),
        (
            500,
            "unable to create VM 100 - VM 100 already exists on node 'pve'"
        )
    );
    assert_eq!(cluster.get("/cluster/nextid").await.body["data"], "101");

    let status = cluster.get("/nodes/pve/qemu/100/status/current").await;
    assert_eq!(status.body["data"]["status"], "stopped");
    assert_eq!(status.body["data"]["maxmem"], 2048_u64 * 1024 * 1024);
    assert_eq!(cluster.run("/nodes/pve/qemu/100/status/start").await, "OK");
    assert_eq!(
        cluster.run("/nodes/pve/qemu/100/status/start").await,
        "VM 100 already running"
    );
    assert_eq!(cluster.run("/nodes/pve/qemu/100/status/reboot").await, "OK");
    assert_eq!(
        cluster.run("/nodes/pve/qemu/100/status/suspend").await,
        "OK"
    );
    let paused = cluster.get("/nodes/pve/qemu/100/status/current").await;
    assert_eq!(paused.body["data"]["status"], "running");
    assert_eq!(paused.body["data"]["qmpstatus"], "paused");
    let refused = cluster
        .post("/nodes/pve/qemu/100/status/shutdown", &[])
        .await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (500, "VM is paused - cannot shutdown")
    );
    assert_eq!(cluster.run("/nodes/pve/qemu/100/status/resume").await, "OK");

    let refused = cluster.delete("/nodes/pve/qemu/100").await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (500, "VM 100 is running - destroy failed")
    );
    assert_eq!(
        refused.body["message"],
        "VM 100 is running - destroy failed\n"
    );
    assert_eq!(
        cluster.run("/nodes/pve/qemu/100/status/shutdown").await,
        "OK"
    );
    let list = cluster.get("/nodes/pve/qemu").await;
    assert_eq!(list.body["data"][0]["vmid"], 100);
    assert_eq!(list.body["data"][0]["status"], "stopped");

    let destroy = cluster.delete("/nodes/pve/qemu/100").await;
    let upid = destroy.body["data"].as_str().expect("UPID").to_owned();
    assert_eq!(cluster.wait(&upid).await, "OK");
    let gone = cluster.get("/nodes/pve/qemu/100/status/current").await;
    assert_eq!(
        (gone.status, gone.reason.as_str()),
        (
            500,
            "Configuration file 'nodes/pve/qemu-server/100.conf' does not exist"
        )
    );
    assert_eq!(cluster.fake.recorder().problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_container_lives_through_create_start_stop_and_deletion() {
    let cluster = Cluster::start().await;
    let answer = cluster
        .post_json(
            "/nodes/pve/lxc",
            json!({
                "vmid": 200,
                "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                "hostname": "ct-1",
                "memory": 1024,
                "cores": 1,
                "rootfs": "local-lvm:8",
                "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
                "ssh-public-keys": "ssh-ed25519 AAAAC3Nza hostdeck",
                "unprivileged": true,
                "start": 1,
            }),
        )
        .await;
    assert_eq!(answer.status, 200, "{} {}", answer.reason, answer.body);
    let upid = answer.body["data"].as_str().expect("UPID").to_owned();
    assert!(upid.contains(":vzcreate:200:"));
    assert_eq!(cluster.wait(&upid).await, "OK");

    let list = cluster.get("/nodes/pve/lxc").await;
    assert_eq!(
        list.body["data"][0]["vmid"], "200",
        "container ids come as strings"
    );
    assert_eq!(list.body["data"][0]["status"], "running");
    assert_eq!(list.body["data"][0]["name"], "ct-1");
    let container = cluster.fake.vm("pve", 200).expect("container");
    assert_eq!((container.kind, container.disk_gb), (GuestKind::Lxc, 8));

    let refused = cluster.post("/nodes/pve/lxc/200/status/start", &[]).await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (500, "CT 200 already running")
    );
    let refused = cluster.delete("/nodes/pve/lxc/200").await;
    assert_eq!(
        refused.reason,
        "unable to destroy CT 200 - container is running"
    );
    assert_eq!(cluster.run("/nodes/pve/lxc/200/status/stop").await, "OK");
    let refused = cluster.post("/nodes/pve/lxc/200/status/stop", &[]).await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (500, "CT 200 not running")
    );
    let destroy = cluster.delete("/nodes/pve/lxc/200").await;
    let upid = destroy.body["data"].as_str().expect("UPID").to_owned();
    assert_eq!(cluster.wait(&upid).await, "OK");
    assert!(cluster.fake.vm("pve", 200).is_none());
}

#[tokio::test]
async fn tasks_run_for_a_while_then_stop_with_ok_or_an_error() {
    let cluster = Cluster::start().await;
    cluster.fake.set_task_duration(Duration::from_millis(300));
    let started = Instant::now();
    let upid = cluster.create_vm("120").await;
    let task = cluster.fake.task(&upid).expect("task");
    assert!(task.running && task.exit_status.is_none());
    assert_eq!(cluster.wait(&upid).await, "OK");
    assert!(started.elapsed() >= Duration::from_millis(300));

    cluster.fake.set_task_duration(Duration::from_millis(20));
    cluster
        .fake
        .fail_next_task("start failed: QEMU exited with code 1");
    assert_eq!(
        cluster.run("/nodes/pve/qemu/120/status/start").await,
        "start failed: QEMU exited with code 1"
    );
    assert_eq!(
        cluster.fake.vm("pve", 120).map(|g| g.power),
        Some(PowerState::Stopped)
    );

    cluster
        .fake
        .fail_next_task("unable to create VM 121 - no space left");
    let upid = cluster.create_vm("121").await;
    assert_eq!(
        cluster.wait(&upid).await,
        "unable to create VM 121 - no space left"
    );
    assert!(
        cluster.fake.vm("pve", 121).is_none(),
        "a failed create leaves nothing"
    );

    cluster.fake.lock(120, "backup");
    let refused = cluster.post("/nodes/pve/qemu/120/status/start", &[]).await;
    assert_eq!(
        (refused.status, refused.reason.as_str()),
        (500, "VM is locked (backup)")
    );
    cluster.fake.unlock(120);
    assert_eq!(cluster.run("/nodes/pve/qemu/120/status/start").await, "OK");
}

#[tokio::test]
async fn faults_latency_and_hangs() {
    let cluster = Cluster::start().await;
    cluster.fake.set_latency(Duration::from_millis(50));
    let started = Instant::now();
    assert_eq!(cluster.get("/nodes").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(50));
    cluster.fake.set_latency(Duration::ZERO);

    let recorder = cluster.fake.recorder();
    recorder.fail_next(
        "/nodes",
        1,
        Fault::Status(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            json!({"data": null}),
        ),
    );
    assert_eq!(cluster.get("/nodes").await.status, 503);
    recorder.fail_next("/nodes", 1, Fault::Hang);
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .expect("client");
    let outcome = quick
        .get(format!("{}/nodes", cluster.fake.api_url()))
        .header("Authorization", cluster.fake.token_header_value())
        .send()
        .await;
    assert!(outcome.is_err_and(|e| e.is_timeout()));
    assert_eq!(
        cluster.fake.call_count("GET /nodes"),
        1,
        "calls a fault answered never reach the fake"
    );
}

#[tokio::test]
async fn unknown_and_unserved_endpoints_are_501_and_recorded() {
    let cluster = Cluster::start().await;
    let unknown = cluster.get("/nodes/pve/teapot").await;
    assert_eq!(unknown.status, 501);
    assert_eq!(
        unknown.reason,
        "Method 'GET /nodes/pve/teapot' not implemented"
    );
    let unserved = cluster.get("/nodes/pve/storage").await;
    assert_eq!(unserved.status, 501);
    let unknown_node = cluster.get("/nodes/elsewhere/qemu").await;
    assert_eq!(unknown_node.status, 500);
    assert_eq!(cluster.fake.recorder().problems().len(), 2);
}

#[tokio::test]
async fn answers_match_the_schema_and_seeding_needs_no_http() {
    let cluster = Cluster::start().await;
    let seeded = cluster.fake.seed_vms(3);
    assert_eq!(seeded, vec![100, 101, 102]);
    let answer = cluster
        .post_json(
            "/nodes/pve/lxc",
            json!({"vmid": 300, "ostemplate": "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz", "start": 1}),
        )
        .await;
    let upid = answer.body["data"].as_str().expect("UPID").to_owned();
    cluster.wait(&upid).await;

    let schema = ApiSchema::shared();
    for (path, template) in [
        ("/nodes", "/nodes"),
        ("/nodes/pve/qemu", "/nodes/{node}/qemu"),
        ("/nodes/pve/lxc", "/nodes/{node}/lxc"),
        (
            "/nodes/pve/qemu/100/status/current",
            "/nodes/{node}/qemu/{vmid}/status/current",
        ),
        (
            "/nodes/pve/lxc/300/status/current",
            "/nodes/{node}/lxc/{vmid}/status/current",
        ),
        (
            "/nodes/pve/lxc/300/config",
            "/nodes/{node}/lxc/{vmid}/config",
        ),
        ("/cluster/nextid", "/cluster/nextid"),
        ("/cluster/resources?type=vm", "/cluster/resources"),
        ("/version", "/version"),
    ] {
        let answer = cluster.get(path).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.reason);
        let segments: Vec<String> = template
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.starts_with('{') {
                    "x1".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect();
        let route = schema.route("GET", &segments).expect("route");
        let errors = schema.check_returns(route.method_info, &answer.body["data"]);
        assert!(errors.is_empty(), "{path}: {errors:?}");
    }

    assert!(cluster.fake.delete_behind_hostdecks_back(101));
    cluster
        .fake
        .set_power_behind_hostdecks_back(100, PowerState::Stopped);
    let list = cluster.get("/nodes/pve/qemu").await;
    let vms: Vec<(u64, String)> = list.body["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|vm| {
            (
                vm["vmid"].as_u64().unwrap_or(0),
                vm["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        vms,
        vec![(100, "stopped".to_owned()), (102, "running".to_owned())]
    );
    assert_eq!(cluster.fake.call_count("GET /nodes/{node}/qemu"), 2);
}

#[tokio::test]
async fn a_vm_is_resized_by_its_config_and_a_disk_task_that_only_grows() {
    let cluster = Cluster::start().await;
    let upid = cluster.create_vm("120").await;
    assert_eq!(cluster.wait(&upid).await, "OK");
    let put = |path: &str, form: &[(&str, &str)]| {
        cluster.send(cluster.request(Method::PUT, path).form(form))
    };

    let answer = put(
        "/nodes/pve/qemu/120/config",
        &[("cores", "4"), ("memory", "8192")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.reason);
    assert_eq!(
        answer.body["data"],
        Value::Null,
        "a config change is no task"
    );
    let vm = cluster.fake.vm("pve", 120).expect("vm");
    assert_eq!((vm.cores, vm.memory_mb), (4, 8192));

    let refused = put("/nodes/pve/qemu/120/config", &[("cores", "0")]).await;
    assert_eq!(refused.status, 400, "the schema's minimum");

    let answer = put(
        "/nodes/pve/qemu/120/resize",
        &[("disk", "scsi0"), ("size", "+8G")],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.reason);
    let upid = answer.body["data"].as_str().expect("UPID").to_owned();
    assert_eq!(cluster.wait(&upid).await, "OK");
    assert_eq!(cluster.fake.vm("pve", 120).expect("vm").disk_gb, 40);
    let answer = put(
        "/nodes/pve/qemu/120/resize",
        &[("disk", "scsi0"), ("size", "64G")],
    )
    .await;
    let upid = answer.body["data"].as_str().expect("UPID").to_owned();
    assert_eq!(cluster.wait(&upid).await, "OK");
    let status = cluster.get("/nodes/pve/qemu/120/status/current").await;
    assert_eq!(status.body["data"]["maxdisk"], json!(64_u64 << 30));

    let shrink = put(
        "/nodes/pve/qemu/120/resize",
        &[("disk", "scsi0"), ("size", "10G")],
    )
    .await;
    assert_eq!(shrink.status, 500);
    assert!(
        shrink.reason.contains("unable to shrink"),
        "{}",
        shrink.reason
    );
    let no_disk = put(
        "/nodes/pve/qemu/120/resize",
        &[("disk", "scsi3"), ("size", "80G")],
    )
    .await;
    assert_eq!(no_disk.status, 400);
    let bad_size = put(
        "/nodes/pve/qemu/120/resize",
        &[("disk", "scsi0"), ("size", "lots")],
    )
    .await;
    assert_eq!(bad_size.status, 400, "the schema's pattern");
    assert_eq!(cluster.fake.vm("pve", 120).expect("vm").disk_gb, 64);
}
