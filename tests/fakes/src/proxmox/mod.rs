//! A fake Proxmox VE cluster: API2 under `{base}/api2/json`, with QEMU VMs, LXC containers and the
//! tasks (UPIDs) that create, power and destroy them.
//!
//! ```text
//! let pve = FakeProxmox::start().await;          // node `pve`, no guests
//! hostdeck config: base_url = pve.base_url(), token_id = pve.token_id(),
//!                  token_secret = pve.token_secret(), node = pve.node()
//! pve.set_task_duration(Duration::from_millis(20));
//! pve.fail_next_task("start failed: QEMU exited with code 1");
//! pve.seed_vms(10_000); pve.vm("pve", 100); pve.delete_behind_hostdecks_back(100);
//! pve.call_count("GET /nodes/{node}/qemu"); pve.recorder().problems();
//! ```
//!
//! Every request is checked against the published API schema before anything else, as pveproxy
//! does ([`schema`]): a missing required parameter, an unknown one where the schema forbids
//! them, a value of the wrong type, outside its range or enumeration, or a malformed property
//! string gets a 400 with the reason phrase `Parameter verification failed.` and
//! `{"data":null,"errors":{"param":"message"},"message":...}`; path parameters are checked the
//! same way (`vmid` 42 is refused). A path or method the schema does not have is a 501
//! (`Method 'GET /nodes/pve/teapot' not implemented`). Each refusal is also recorded as a
//! problem on the call.
//!
//! Authentication comes first: `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`; without
//! it the answer is 401 `No ticket`, with a wrong secret 401 `invalid token value!`, with an
//! unknown token 401 `no such token ...`, all with an empty body and the message as the reason
//! phrase. (Proxmox also delays these answers by three seconds; the fake does not.)
//!
//! What Proxmox refuses before it forks a worker is refused with a 500 and the message as the
//! reason phrase: an unknown guest (`Configuration file 'nodes/pve/qemu-server/100.conf' does
//! not exist`), a vmid already in use, deleting a running guest, shutting down a paused VM, and
//! for containers starting a running one or stopping a stopped one. What its worker refuses ends
//! the task with that error as the exit status: starting a VM that is already running, for one.
//! Two simplifications: a locked guest (`VM is locked (backup)`) is refused at once for every
//! action, where qemu-server checks some locks in the worker; and an unknown node gets the 500
//! a failed host lookup gives (`hostname lookup 'x' failed - ...`).
//!
//! Endpoints the fake serves: `GET /version`, `GET /nodes`, `GET /cluster/nextid`,
//! `GET /cluster/resources`, `GET|POST /nodes/{node}/{qemu|lxc}`,
//! `GET|DELETE /nodes/{node}/{qemu|lxc}/{vmid}`, `GET .../{vmid}/config`,
//! `PUT .../{vmid}/config` (cores and memory change at once, answered `null`),
//! `PUT .../{vmid}/resize` (a disk the guest has, `+NG` or `NG`, grown in a task; a smaller
//! size is refused with `unable to shrink disk size`), `GET .../{vmid}/status/current`,
//! `POST .../{vmid}/status/{start|stop|shutdown|reboot|suspend|resume}` and
//! `GET /nodes/{node}/tasks/{upid}/status`, and `GET /nodes/{node}/storage/{storage}/content`
//! (storages `local`, with container templates, ISOs and a backup, and `local-lvm`, with a guest
//! disk; see [`default_volumes`]; a create from a template or ISO not on its storage is refused
//! with `volume '...' does not exist`, as pve-storage refuses it). Any other endpoint of the schema answers 501 and is
//! recorded as a problem, so a test notices hostdeck reaching for something the fake lacks.
//! Container ids in `GET /nodes/{node}/lxc` and the answer of `GET /cluster/nextid` are strings,
//! as real Proxmox sends them.

mod cluster;
pub mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use self::cluster::{Action, Cluster, CreateRequest, PveError};
pub use self::cluster::{Guest, GuestKind, PowerState, TaskInfo, Volume, default_volumes};
use self::schema::{ApiSchema, Route};
use crate::exchange::{Exchange, Verdict};
use crate::server::lock;
use crate::server::{self, Recorder, Running};

const API: &str = "/api2/json";

/// A running fake Proxmox VE cluster. Dropping it stops the server.
pub struct FakeProxmox {
    running: Running,
    world: Arc<World>,
    recorder: Recorder,
}

struct World {
    schema: &'static ApiSchema,
    token_id: String,
    token_secret: String,
    exchange: Arc<Exchange>,
    cluster: Mutex<Cluster>,
}

impl FakeProxmox {
    /// Starts a one-node cluster (node `pve`) with no guests; tasks take 200 ms.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let world = Arc::new(World {
            schema: ApiSchema::shared(),
            token_id: "root@pam!hostdeck".to_owned(),
            token_secret: "0f3c2b8e-6d1a-4c5e-9b7f-2a4d8e6c1b30".to_owned(),
            exchange: Exchange::new(recorder.clone(), API),
            cluster: Mutex::new(Cluster::new("pve")),
        });
        let router = Router::new()
            .route(&format!("{API}/{{*path}}"), any(serve))
            .layer(axum::middleware::from_fn_with_state(
                world.exchange.clone(),
                crate::exchange::observe,
            ))
            .with_state(world.clone());
        let running = server::spawn(router, &recorder).await;
        Self {
            running,
            world,
            recorder,
        }
    }

    /// `http://127.0.0.1:PORT`, what hostdeck's `base_url` names (Proxmox's `https://host:8006`).
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// `http://127.0.0.1:PORT/api2/json`.
    pub fn api_url(&self) -> String {
        format!("{}{API}", self.running.base_url())
    }

    /// The first node's name, `pve`.
    pub fn node(&self) -> String {
        self.cluster().first_node()
    }

    /// `root@pam!hostdeck`, hostdeck's `token_id`.
    pub fn token_id(&self) -> &str {
        &self.world.token_id
    }

    /// hostdeck's `token_secret`.
    pub fn token_secret(&self) -> &str {
        &self.world.token_secret
    }

    /// `PVEAPIToken=root@pam!hostdeck=SECRET`, the `Authorization` header value.
    pub fn token_header_value(&self) -> String {
        format!(
            "PVEAPIToken={}={}",
            self.world.token_id, self.world.token_secret
        )
    }

    /// The call log and fault injection.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Makes every answer wait this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.world.exchange.set_latency(latency);
    }

    /// How many calls reached an endpoint, named by its schema path, e.g.
    /// `GET /nodes/{node}/qemu` (calls a fault answered are not counted).
    pub fn call_count(&self, endpoint: &str) -> u64 {
        self.world.exchange.count(endpoint)
    }

    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.world.exchange.counts()
    }

    /// How long every task runs before it takes effect (from the next task on).
    pub fn set_task_duration(&self, duration: Duration) {
        self.cluster().set_task_duration(duration);
    }

    /// Makes the next task that starts end with this error as its exit status, its effect not
    /// applied (a failed create leaves no guest behind). Calls queue up: one failure per task.
    pub fn fail_next_task(&self, exit_status: &str) {
        self.cluster().fail_next_task(exit_status);
    }

    /// Puts a volume on a storage (`local:vztmpl/...`, `local:iso/...`).
    pub fn add_volume(&self, volume: Volume) {
        self.cluster().add_volume(volume);
    }

    /// Adds a cluster node.
    pub fn add_node(&self, node: &str) {
        self.cluster().add_node(node);
    }

    /// Sets a config lock on a guest (`backup`, `migrate`, ...), as a job running on the node
    /// would: actions on it are refused until [`Self::unlock`].
    pub fn lock(&self, vmid: u32, lock: &str) {
        self.cluster().set_lock(vmid, Some(lock));
    }

    pub fn unlock(&self, vmid: u32) {
        self.cluster().set_lock(vmid, None);
    }

    /// Adds a guest directly, as if it had always been there.
    pub fn seed_guest(&self, guest: Guest) {
        let mut cluster = self.cluster();
        cluster.add_node(&guest.node);
        cluster.insert_guest(guest, Instant::now());
    }

    /// Adds `count` running QEMU VMs (2 GiB, 2 cores, 32 GiB disk) on the first node with the
    /// lowest free ids, and returns the ids. For sync benchmarks: no HTTP involved.
    pub fn seed_vms(&self, count: usize) -> Vec<u32> {
        let mut cluster = self.cluster();
        let node = cluster.first_node();
        let now = Instant::now();
        let mut vmid = 99;
        (0..count)
            .map(|_| {
                vmid = cluster.free_vmid_from(vmid + 1);
                cluster.insert_guest(
                    Guest {
                        vmid,
                        node: node.clone(),
                        kind: GuestKind::Qemu,
                        name: format!("seed-{vmid}"),
                        power: PowerState::Running,
                        lock: None,
                        memory_mb: 2048,
                        cores: 2,
                        disk_gb: 32,
                        config: BTreeMap::new(),
                    },
                    now,
                );
                vmid
            })
            .collect()
    }

    /// The guest `vmid` on `node`, as it is now (tasks due by now have taken effect).
    pub fn vm(&self, node: &str, vmid: u32) -> Option<Guest> {
        let mut cluster = self.cluster();
        cluster.advance(Instant::now());
        cluster.guest(vmid).filter(|guest| guest.node == node)
    }

    pub fn guests(&self) -> Vec<Guest> {
        let mut cluster = self.cluster();
        cluster.advance(Instant::now());
        cluster.guests()
    }

    /// A task by UPID, as it is now.
    pub fn task(&self, upid: &str) -> Option<TaskInfo> {
        let mut cluster = self.cluster();
        cluster.advance(Instant::now());
        cluster.task(upid)
    }

    /// Every task so far, oldest first.
    pub fn tasks(&self) -> Vec<TaskInfo> {
        let mut cluster = self.cluster();
        cluster.advance(Instant::now());
        cluster.tasks()
    }

    /// Removes a guest as an admin would on the node, so hostdeck's sync must notice the drift.
    pub fn delete_behind_hostdecks_back(&self, vmid: u32) -> bool {
        self.cluster().remove_guest(vmid)
    }

    /// Changes a guest's power as its owner would from inside it.
    pub fn set_power_behind_hostdecks_back(&self, vmid: u32, power: PowerState) {
        self.cluster().set_power(vmid, power, Instant::now());
    }

    fn cluster(&self) -> MutexGuard<'_, Cluster> {
        lock(&self.world.cluster)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// One handler for the whole API, in pveproxy's order: authenticate, find the method in the
/// schema, check the parameters, then act.
async fn serve(
    State(world): State<Arc<World>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let raw_path = uri.path().strip_prefix(API).unwrap_or(uri.path());
    let segments: Vec<String> = raw_path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let route = world.schema.route(method.as_str(), &segments);
    let endpoint = format!(
        "{method} {}",
        route.as_ref().map_or(raw_path, |route| route.template)
    );
    if let Err(message) = authenticate(&world, &headers) {
        return unauthorized(&message, endpoint);
    }
    let Some(route) = route else {
        let message = format!("Method '{method} {raw_path}' not implemented");
        return answer(
            Err(PveError {
                status: 501,
                message: message.clone(),
                errors: BTreeMap::new(),
            }),
            endpoint,
            vec![message],
        );
    };
    let params = match collect_params(&route, &uri, &headers, &body) {
        Ok(params) => params,
        Err(problem) => {
            return answer(
                Err(PveError::internal(problem.clone())),
                endpoint,
                vec![problem],
            );
        }
    };
    let errors = world.schema.check(route.method_info, &params);
    if !errors.is_empty() {
        let problems = errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        return answer(
            Err(PveError {
                status: 400,
                message: "Parameter verification failed.".to_owned(),
                errors,
            }),
            endpoint,
            problems,
        );
    }
    let user = world.token_id.clone();
    let outcome = {
        let mut cluster = lock(&world.cluster);
        let now = Instant::now();
        cluster.advance(now);
        dispatch(&mut cluster, &method, route.template, &params, &user, now)
    };
    let problems = match &outcome {
        Err(error) if error.status == 501 => vec![error.message.clone()],
        _ => Vec::new(),
    };
    answer(outcome, endpoint, problems)
}

/// `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`, checked as pveproxy does.
fn authenticate(world: &World, headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err("No ticket".to_owned());
    };
    let Some(token) = value
        .strip_prefix("PVEAPIToken=")
        .or_else(|| value.strip_prefix("PVEAPIToken "))
    else {
        return Err("No ticket".to_owned());
    };
    let token = percent_decode_str(token.split(';').next().unwrap_or_default()).decode_utf8_lossy();
    let Some((token_id, secret)) = token.rsplit_once('=') else {
        return Err("no tokenid specified".to_owned());
    };
    if token_id != world.token_id {
        let (user, name) = token_id.split_once('!').unwrap_or((token_id, ""));
        return Err(format!("no such token '{name}' for user '{user}'"));
    }
    if secret != world.token_secret {
        return Err("invalid token value!".to_owned());
    }
    Ok(())
}

fn unauthorized(message: &str, endpoint: String) -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    set_reason(&mut response, message);
    response.extensions_mut().insert(Verdict {
        endpoint: Some(endpoint),
        problems: Vec::new(),
    });
    response
}

/// Path parameters, the query string and the body (form-urlencoded or JSON), in one map.
fn collect_params(
    route: &Route<'_>,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<BTreeMap<String, Value>, String> {
    let mut params = BTreeMap::new();
    if let Some(query) = uri.query() {
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            params.insert(key.into_owned(), Value::String(value.into_owned()));
        }
    }
    if !body.is_empty() {
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if json {
            match serde_json::from_slice::<Value>(body) {
                Ok(Value::Object(map)) => params.extend(map),
                _ => return Err("the JSON body is not an object".to_owned()),
            }
        } else {
            for (key, value) in form_urlencoded::parse(body) {
                params.insert(key.into_owned(), Value::String(value.into_owned()));
            }
        }
    }
    for (name, value) in &route.path_params {
        params.insert(name.clone(), Value::String(value.clone()));
    }
    Ok(params)
}

fn dispatch(
    cluster: &mut Cluster,
    method: &Method,
    template: &str,
    params: &BTreeMap<String, Value>,
    user: &str,
    now: Instant,
) -> Result<Value, PveError> {
    let text = |key: &str| params.get(key).map(cluster::value_text);
    let node = text("node").unwrap_or_default();
    let vmid = text("vmid")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    if template.starts_with("/nodes/{node}") && !cluster.has_node(&node) {
        return Err(PveError::internal(format!(
            "hostname lookup '{node}' failed - failed to get address info for: {node}: Name or service not known"
        )));
    }
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let kind = match parts.get(2) {
        Some(&"qemu") => Some(GuestKind::Qemu),
        Some(&"lxc") => Some(GuestKind::Lxc),
        _ => None,
    };
    match (method.as_str(), parts.as_slice(), kind) {
        ("GET", ["version"], _) => {
            Ok(json!({"version": "9.1.1", "release": "9.1", "repoid": "0a1b2c3d"}))
        }
        ("GET", ["nodes"], _) => Ok(cluster.nodes_json()),
        ("GET", ["cluster", "nextid"], _) => {
            cluster.next_id(text("vmid").and_then(|v| v.parse().ok()))
        }
        ("GET", ["cluster", "resources"], _) => {
            Ok(cluster.resources_json(text("type").as_deref(), now))
        }
        ("GET", ["nodes", _, _], Some(kind)) => Ok(cluster.list_json(&node, kind, now)),
        ("POST", ["nodes", _, _], Some(kind)) => {
            let request = CreateRequest {
                node: &node,
                kind,
                vmid,
                params,
                user,
            };
            cluster.create(request, now).map(Value::String)
        }
        ("GET", ["nodes", _, _, _], Some(kind)) => cluster
            .status_json(&node, kind, vmid, now)
            .map(|_| json!([{"subdir": "config"}, {"subdir": "status"}])),
        ("DELETE", ["nodes", _, _, _], Some(kind)) => {
            let force = params.get("force").is_some_and(cluster::truthy);
            cluster
                .destroy(&node, kind, vmid, force, user, now)
                .map(Value::String)
        }
        ("GET", ["nodes", _, _, _, "config"], Some(kind)) => cluster.config_json(&node, kind, vmid),
        ("PUT", ["nodes", _, _, _, "config"], Some(kind)) => cluster
            .update_config(&node, kind, vmid, params)
            .map(|()| Value::Null),
        ("PUT", ["nodes", _, _, _, "resize"], Some(kind)) => cluster
            .resize_disk(&node, kind, vmid, params, user, now)
            .map(Value::String),
        ("GET", ["nodes", _, _, _, "status", "current"], Some(kind)) => {
            cluster.status_json(&node, kind, vmid, now)
        }
        ("POST", ["nodes", _, _, _, "status", word], Some(kind)) => match Action::parse(word) {
            Some(action) => cluster
                .act(&node, kind, vmid, action, user, now)
                .map(Value::String),
            None => Err(not_served(method, template)),
        },
        ("GET", ["nodes", _, "storage", _, "content"], _) => cluster.content_json(
            &text("storage").unwrap_or_default(),
            text("content").as_deref(),
        ),
        ("GET", ["nodes", _, "tasks", _, "status"], _) => {
            cluster.task_status_json(&node, &text("upid").unwrap_or_default())
        }
        _ => Err(not_served(method, template)),
    }
}

fn not_served(method: &Method, template: &str) -> PveError {
    PveError {
        status: 501,
        message: format!("Method '{method} {template}' is not implemented by the fake"),
        errors: BTreeMap::new(),
    }
}

/// The answer pveproxy's JSON formatter gives: `{"data": ...}`, and on an error `data: null`, the
/// message, the parameter errors, and the message as the HTTP reason phrase.
fn answer(outcome: Result<Value, PveError>, endpoint: String, problems: Vec<String>) -> Response {
    let mut response = match outcome {
        Ok(data) => (StatusCode::OK, axum::Json(json!({ "data": data }))).into_response(),
        Err(error) => {
            let status =
                StatusCode::from_u16(error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut body = json!({"data": null, "message": format!("{}\n", error.message)});
            if !error.errors.is_empty() {
                body["errors"] = json!(error.errors);
            }
            let mut response = (status, axum::Json(body)).into_response();
            set_reason(&mut response, &error.message);
            response
        }
    };
    response.extensions_mut().insert(Verdict {
        endpoint: Some(endpoint),
        problems,
    });
    response
}

fn set_reason(response: &mut Response, message: &str) {
    let clean: String = message
        .trim_end()
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    if let Ok(reason) = hyper::ext::ReasonPhrase::try_from(clean.into_bytes()) {
        response.extensions_mut().insert(reason);
    }
}
