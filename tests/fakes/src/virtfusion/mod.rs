//! A fake VirtFusion control panel: API v1 under `{base}/api/v1`, with servers, their power state
//! and suspension, packages, OS templates, and users found by hostdeck's own user id
//! (`extRelationId`).
//!
//! ```text
//! let vf = FakeVirtFusion::start().await;        // catalogue below, no users, no servers
//! hostdeck config: base_url = vf.base_url(), token = vf.token()
//! vf.seed_servers(10_000); vf.set_latency(Duration::from_millis(50));
//! vf.set_busy(id, true) -> 423; vf.set_maintenance(true) -> 503;
//! vf.server(id); vf.delete_behind_hostdecks_back(id); vf.call_count("GET /servers");
//! ```
//!
//! It answers as VirtFusion does: `Authorization: Bearer TOKEN` or a 401 with no body; results
//! wrapped in `data`; the server list as a Laravel paginator (`results` 1-200, default 20, and
//! `page`); 201 on create, 204 on suspend, unsuspend and delete; 404 `{"msg"}` for an unknown
//! server or user; 422 `{"errors":[...]}` for a missing or invalid field, an unknown package, user,
//! hypervisor group or OS template; 423 while a server has tasks pending (it is building, or a test
//! marked it busy); 503 while the hypervisor is in maintenance. Every refusal of something hostdeck
//! sent wrong is also recorded as a problem on the call, and so is a request without
//! `Accept: application/json` or with a body not marked `Content-Type: application/json` (the
//! fake still answers those).
//!
//! Shapes follow VirtFusion's published API reference. Where the reference is silent the fake
//! chooses, and says so here: `state` is `queued` until a build, `building` during one and
//! `complete` after, with `commissionStatus` 0, 1 and 3; power actions take effect at once and
//! answer `{"data":{"queueId"}}`, and so do `PUT /servers/{id}/modify/cpuCores` and
//! `.../modify/memory` (VirtFusion's resize calls; API v1 has none for the disk); power actions on a suspended or never-built server are a 409; a
//! user who still owns servers cannot be deleted (409); `dryRun=true` on create checks the body
//! and answers `{"data":{}}` without creating anything; a built server may be built again (a
//! reinstall); `GET /connect` answers 200 `{}`; `delay` on delete is checked (0-43800) but the
//! server goes at once.
//!
//! The catalogue a fresh fake starts with: hypervisor group 1; packages 1 "Small" (1 core,
//! 1024 MB, 25 GB, 1000 GB traffic), 2 "Medium" (2, 4096, 80, 2000) and 3 "Large" (4, 8192, 160,
//! 4000); OS templates 11 Debian 12, 12 Ubuntu 24.04 and 13 AlmaLinux 9, offered by every package.
//!
//! SSH keys: `POST /ssh_keys` (`{userId, name, publicKey}`, a key line of a known type) and
//! `GET /ssh_keys/user/{user}`; a build's `sshKeys` must be ids of the owner's keys (422 if not).
//!
//! [`crate::exchange`] holds the call log and latency knob every provider fake here shares.

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use chrono::Datelike as _;
use serde_json::{Map, Value, json};

use crate::exchange::{Exchange, Verdict};
use crate::server::lock;
use crate::server::{self, Recorder, Running};

const API: &str = "/api/v1";

/// Whether a server's guest is up, in libvirt's words (VirtFusion's `remoteState.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Running,
    Shutoff,
}

impl Power {
    fn as_str(self) -> &'static str {
        match self {
            Power::Running => "running",
            Power::Shutoff => "shutoff",
        }
    }
}

/// Where a server is in its life before it can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Build {
    /// Created with `POST /servers`, no OS installed yet.
    Queued,
    /// `POST /servers/{id}/build` accepted; power actions get a 423 until it completes.
    Building,
    Complete,
}

/// A server as the fake holds it: what a test reads back to check what hostdeck did.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub id: u64,
    /// The VirtFusion user id (not the `extRelationId`).
    pub owner_id: u64,
    pub name: String,
    pub hostname: Option<String>,
    pub uuid: String,
    pub package_id: u64,
    pub hypervisor_group_id: u64,
    pub build: Build,
    pub os_template_id: Option<u64>,
    pub power: Power,
    pub suspended: bool,
    /// Set by a test: the server has tasks pending, so actions on it get a 423.
    pub busy: bool,
    pub memory_mb: u64,
    pub storage_gb: u64,
    pub cpu_cores: u64,
    pub traffic_gb: u64,
    pub ipv4: Vec<String>,
    pub ssh_key_ids: Vec<u64>,
    pub traffic_rx_bytes: u64,
    pub traffic_tx_bytes: u64,
}

/// A VirtFusion user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: u64,
    /// hostdeck's own user id, which hostdeck uses to find the user again.
    pub ext_relation_id: Option<u64>,
    pub name: String,
    pub email: String,
}

/// An SSH public key of a VirtFusion user, installed on servers built with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct SshKey {
    pub id: u64,
    pub user_id: u64,
    pub name: String,
    pub public_key: String,
}

/// A package (plan) servers are created from.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    pub id: u64,
    pub name: String,
    pub memory_mb: u64,
    pub storage_gb: u64,
    pub cpu_cores: u64,
    pub traffic_gb: u64,
    /// The OS templates a server of this package may be built with.
    pub template_ids: Vec<u64>,
}

#[derive(Debug, Clone)]
struct Template {
    id: u64,
    group: &'static str,
    name: &'static str,
    version: &'static str,
    variant: &'static str,
}

const TEMPLATES: [Template; 3] = [
    Template {
        id: 11,
        group: "Debian",
        name: "Debian",
        version: "12",
        variant: "Bookworm",
    },
    Template {
        id: 12,
        group: "Ubuntu",
        name: "Ubuntu Server",
        version: "24.04",
        variant: "Noble Numbat",
    },
    Template {
        id: 13,
        group: "AlmaLinux",
        name: "AlmaLinux",
        version: "9",
        variant: "Minimal",
    },
];

/// A running fake VirtFusion. Dropping it stops the server.
pub struct FakeVirtFusion {
    running: Running,
    world: Arc<World>,
    recorder: Recorder,
}

struct World {
    token: String,
    exchange: Arc<Exchange>,
    panel: Mutex<Panel>,
}

#[derive(Debug)]
struct ServerRecord {
    server: Server,
    created: String,
    built_at: Option<String>,
    build_done_at: Option<Instant>,
}

#[derive(Debug)]
struct Panel {
    servers: BTreeMap<u64, ServerRecord>,
    users: BTreeMap<u64, User>,
    ssh_keys: BTreeMap<u64, SshKey>,
    packages: Vec<Package>,
    hypervisor_groups: Vec<u64>,
    maintenance: bool,
    build_duration: Duration,
    next_server_id: u64,
    next_user_id: u64,
    next_queue_id: u64,
    next_address: u32,
}

impl FakeVirtFusion {
    /// Starts a fake with the default catalogue, no users and no servers.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let world = Arc::new(World {
            token: "vf-test-token-7b1f2c9d".to_owned(),
            exchange: Exchange::new(recorder.clone(), API),
            panel: Mutex::new(Panel::new()),
        });
        let running = server::spawn(router(world.clone()), &recorder).await;
        Self {
            running,
            world,
            recorder,
        }
    }

    /// `http://127.0.0.1:PORT`: the panel's address, what hostdeck's `base_url` names.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// `http://127.0.0.1:PORT/api/v1`, the root every API path hangs from.
    pub fn api_url(&self) -> String {
        format!("{}{API}", self.running.base_url())
    }

    /// The one API token the fake accepts.
    pub fn token(&self) -> &str {
        &self.world.token
    }

    /// `Bearer TOKEN`, the `Authorization` header value.
    pub fn token_header_value(&self) -> String {
        format!("Bearer {}", self.world.token)
    }

    /// The call log and fault injection.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Makes every answer wait this long first, as a distant panel would.
    pub fn set_latency(&self, latency: Duration) {
        self.world.exchange.set_latency(latency);
    }

    /// How many calls reached an endpoint, named like `GET /servers` or
    /// `POST /servers/{id}/power/{action}` (calls a fault answered are not counted).
    pub fn call_count(&self, endpoint: &str) -> u64 {
        self.world.exchange.count(endpoint)
    }

    /// Every endpoint called so far, with its count.
    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.world.exchange.counts()
    }

    /// How long a build takes before the server is `complete` and running (default: none).
    pub fn set_build_duration(&self, duration: Duration) {
        self.panel().build_duration = duration;
    }

    /// Puts the hypervisor in maintenance: creating, building, power, suspension and deletion get
    /// a 503 until it is lifted.
    pub fn set_maintenance(&self, on: bool) {
        self.panel().maintenance = on;
    }

    /// Marks a server as having tasks pending, so actions on it get a 423.
    pub fn set_busy(&self, server_id: u64, busy: bool) {
        if let Some(record) = self.panel().servers.get_mut(&server_id) {
            record.server.busy = busy;
        }
    }

    /// Sets the traffic the current period shows for a server.
    pub fn set_traffic(&self, server_id: u64, rx_bytes: u64, tx_bytes: u64) {
        if let Some(record) = self.panel().servers.get_mut(&server_id) {
            record.server.traffic_rx_bytes = rx_bytes;
            record.server.traffic_tx_bytes = tx_bytes;
        }
    }

    /// Adds a user as an admin would in the panel, and returns its VirtFusion id.
    pub fn add_user(&self, ext_relation_id: Option<u64>, name: &str, email: &str) -> u64 {
        self.panel().insert_user(ext_relation_id, name, email)
    }

    /// Adds `count` built, running servers on package 1, spread over users with
    /// `extRelationId` 1, 2, ... (ten servers each, users created as needed), and returns their
    /// ids. For sync benchmarks: no HTTP involved.
    pub fn seed_servers(&self, count: usize) -> Vec<u64> {
        let mut panel = self.panel();
        let mut ids = Vec::with_capacity(count);
        let mut owner = None;
        for index in 0..count {
            let ext = (index / 10 + 1) as u64;
            let owner_id = match owner {
                Some((owner_ext, id)) if owner_ext == ext => id,
                _ => {
                    let id = match panel.user_by_ext(&ext.to_string()) {
                        Some(user) => user.id,
                        None => panel.insert_user(
                            Some(ext),
                            &format!("Customer {ext}"),
                            &format!("customer{ext}@example.test"),
                        ),
                    };
                    owner = Some((ext, id));
                    id
                }
            };
            let id = panel.insert_server(owner_id, 1, 1, 1);
            if let Some(record) = panel.servers.get_mut(&id) {
                let name = format!("seed-{id}");
                record.server.name = name.clone();
                record.server.hostname = Some(format!("{name}.example.test"));
                record.server.build = Build::Complete;
                record.server.os_template_id = Some(11);
                record.server.power = Power::Running;
                record.built_at = Some(record.created.clone());
            }
            ids.push(id);
        }
        ids
    }

    /// The server as the panel holds it now.
    pub fn server(&self, id: u64) -> Option<Server> {
        let mut panel = self.panel();
        panel.settle(Instant::now());
        panel.servers.get(&id).map(|record| record.server.clone())
    }

    /// Every server, by id.
    pub fn servers(&self) -> Vec<Server> {
        let mut panel = self.panel();
        panel.settle(Instant::now());
        panel
            .servers
            .values()
            .map(|record| record.server.clone())
            .collect()
    }

    /// Every user's SSH keys.
    pub fn ssh_keys(&self) -> Vec<SshKey> {
        self.panel().ssh_keys.values().cloned().collect()
    }

    pub fn user(&self, id: u64) -> Option<User> {
        self.panel().users.get(&id).cloned()
    }

    pub fn user_by_ext(&self, ext_relation_id: u64) -> Option<User> {
        self.panel()
            .user_by_ext(&ext_relation_id.to_string())
            .cloned()
    }

    pub fn packages(&self) -> Vec<Package> {
        self.panel().packages.clone()
    }

    /// Deletes a server as an admin would in the panel, so hostdeck's sync must notice the drift.
    pub fn delete_behind_hostdecks_back(&self, id: u64) -> bool {
        self.panel().servers.remove(&id).is_some()
    }

    /// Changes a server's power as its owner would from inside the guest.
    pub fn set_power_behind_hostdecks_back(&self, id: u64, power: Power) {
        if let Some(record) = self.panel().servers.get_mut(&id) {
            record.server.power = power;
        }
    }

    fn panel(&self) -> MutexGuard<'_, Panel> {
        lock(&self.world.panel)
    }
}

impl Panel {
    fn new() -> Self {
        let template_ids: Vec<u64> = TEMPLATES.iter().map(|t| t.id).collect();
        let package = |id: u64, name: &str, cores, memory_mb, storage_gb, traffic_gb| Package {
            id,
            name: name.to_owned(),
            memory_mb,
            storage_gb,
            cpu_cores: cores,
            traffic_gb,
            template_ids: template_ids.clone(),
        };
        Self {
            servers: BTreeMap::new(),
            users: BTreeMap::new(),
            ssh_keys: BTreeMap::new(),
            packages: vec![
                package(1, "Small", 1, 1024, 25, 1000),
                package(2, "Medium", 2, 4096, 80, 2000),
                package(3, "Large", 4, 8192, 160, 4000),
            ],
            hypervisor_groups: vec![1],
            maintenance: false,
            build_duration: Duration::ZERO,
            next_server_id: 1,
            next_user_id: 1,
            next_queue_id: 1,
            next_address: 0,
        }
    }

    /// Finishes builds whose time has come.
    fn settle(&mut self, now: Instant) {
        for record in self.servers.values_mut() {
            if record.server.build == Build::Building
                && record.build_done_at.is_none_or(|done| done <= now)
            {
                record.server.build = Build::Complete;
                record.server.power = Power::Running;
                record.build_done_at = None;
                record.built_at = Some(timestamp());
            }
        }
    }

    fn insert_user(&mut self, ext_relation_id: Option<u64>, name: &str, email: &str) -> u64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        self.users.insert(
            id,
            User {
                id,
                ext_relation_id,
                name: name.to_owned(),
                email: email.to_owned(),
            },
        );
        id
    }

    fn user_by_ext(&self, ext: &str) -> Option<&User> {
        self.users
            .values()
            .find(|user| user.ext_relation_id.is_some_and(|id| id.to_string() == ext))
    }

    fn insert_server(&mut self, owner_id: u64, package_id: u64, group: u64, ipv4: u64) -> u64 {
        let id = self.next_server_id;
        self.next_server_id += 1;
        let package = self
            .packages
            .iter()
            .find(|p| p.id == package_id)
            .cloned()
            .unwrap_or_else(|| self.packages[0].clone());
        let addresses = (0..ipv4).map(|_| self.next_ipv4()).collect();
        self.servers.insert(
            id,
            ServerRecord {
                server: Server {
                    id,
                    owner_id,
                    name: format!("server-{id}"),
                    hostname: None,
                    uuid: uuid_for(id),
                    package_id: package.id,
                    hypervisor_group_id: group,
                    build: Build::Queued,
                    os_template_id: None,
                    power: Power::Shutoff,
                    suspended: false,
                    busy: false,
                    memory_mb: package.memory_mb,
                    storage_gb: package.storage_gb,
                    cpu_cores: package.cpu_cores,
                    traffic_gb: package.traffic_gb,
                    ipv4: addresses,
                    ssh_key_ids: Vec::new(),
                    traffic_rx_bytes: 0,
                    traffic_tx_bytes: 0,
                },
                created: timestamp(),
                built_at: None,
                build_done_at: None,
            },
        );
        id
    }

    /// Addresses from 10.0.0.0/8, so even a seeded panel of millions never repeats one.
    fn next_ipv4(&mut self) -> String {
        self.next_address += 1;
        let n = self.next_address;
        format!(
            "10.{}.{}.{}",
            (n >> 16) & 0xff,
            (n >> 8) & 0xff,
            (n & 0xff).max(2)
        )
    }
}

fn uuid_for(id: u64) -> String {
    format!("5f0c3e2a-9d41-4b7e-8a6c-{id:012x}")
}

fn timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// HTTP

fn router(world: Arc<World>) -> Router {
    let api = Router::new()
        .route("/connect", get(connect))
        .route("/servers", get(list_servers).post(create_server))
        .route("/servers/{id}", get(get_server).delete(delete_server))
        .route("/servers/{id}/build", post(build_server))
        .route("/servers/{id}/power/{action}", post(power))
        .route("/servers/{id}/suspend", post(suspend))
        .route("/servers/{id}/modify/{what}", put(modify))
        .route("/servers/{id}/unsuspend", post(unsuspend))
        .route("/servers/{id}/traffic", get(traffic))
        .route("/packages", get(packages))
        .route(
            "/media/templates/fromServerPackageSpec/{package}",
            get(templates),
        )
        .route("/users", post(create_user))
        .route("/ssh_keys", post(create_ssh_key))
        .route("/ssh_keys/user/{user}", get(ssh_keys_of_user))
        .route(
            "/users/{ext}/byExtRelation",
            get(get_user).put(update_user).delete(delete_user),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            world.clone(),
            require_token,
        ))
        .fallback(unknown_path);
    Router::new()
        .nest(API, api)
        .layer(axum::middleware::from_fn(check_media_types))
        .layer(axum::middleware::from_fn_with_state(
            world.exchange.clone(),
            crate::exchange::observe,
        ))
        .with_state(world)
}

async fn require_token(State(world): State<Arc<World>>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", world.token);
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if presented == Some(expected.as_str()) {
        next.run(request).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

/// VirtFusion answers JSON only to a client that asks for it (`Accept: application/json`;
/// without it Laravel may answer an error as an HTML page or a redirect) and reads a body as
/// JSON only when it says so. The fake answers anyway but records either lapse as a problem.
async fn check_media_types(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let says = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("application/json"))
    };
    let has_body = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|length| length.trim() != "0")
        || headers.contains_key(header::TRANSFER_ENCODING);
    let mut problems = Vec::new();
    if !says(header::ACCEPT) {
        problems.push(format!(
            "{} {} without Accept: application/json",
            request.method(),
            request.uri().path()
        ));
    }
    if has_body && !says(header::CONTENT_TYPE) {
        problems.push(format!(
            "{} {} has a body but no Content-Type: application/json",
            request.method(),
            request.uri().path()
        ));
    }
    let mut response = next.run(request).await;
    if !problems.is_empty() {
        let mut verdict = response
            .extensions()
            .get::<Verdict>()
            .cloned()
            .unwrap_or_default();
        verdict.problems.extend(problems);
        response.extensions_mut().insert(verdict);
    }
    response
}

async fn unknown_path(request: Request) -> Response {
    let problem = format!(
        "{} {} is not a VirtFusion API path the fake knows",
        request.method(),
        request.uri().path()
    );
    refused(
        StatusCode::NOT_FOUND,
        json!({"msg": "not found"}),
        vec![problem],
    )
}

/// A refusal caused by what hostdeck sent: the problems go into the call log.
fn refused(status: StatusCode, body: Value, problems: Vec<String>) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.extensions_mut().insert(Verdict {
        endpoint: None,
        problems,
    });
    response
}

fn invalid(errors: Vec<String>) -> Response {
    refused(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({ "errors": errors }),
        errors,
    )
}

fn msg(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "msg": text }))).into_response()
}

fn conflict(text: &str) -> Response {
    (
        StatusCode::CONFLICT,
        axum::Json(json!({ "errors": [text] })),
    )
        .into_response()
}

fn server_not_found() -> Response {
    msg(StatusCode::NOT_FOUND, "server not found")
}

fn data(status: StatusCode, value: Value) -> Response {
    (status, axum::Json(json!({ "data": value }))).into_response()
}

async fn connect() -> Response {
    (StatusCode::OK, axum::Json(json!({}))).into_response()
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn query_flag(query: &[(String, String)], name: &str) -> bool {
    matches!(query_value(query, name), Some("true" | "1"))
}

async fn list_servers(
    State(world): State<Arc<World>>,
    headers: HeaderMap,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut errors = Vec::new();
    let per_page = match query_value(&query, "results") {
        None => 20,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=200).contains(&n) => n,
            _ => {
                errors.push("The results must be between 1 and 200.".to_owned());
                20
            }
        },
    };
    let page = match query_value(&query, "page") {
        None => 1,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                errors.push("The page must be at least 1.".to_owned());
                1
            }
        },
    };
    let full = match query_value(&query, "type") {
        None | Some("simple") => false,
        Some("full") => true,
        Some(_) => {
            errors.push("The selected type is invalid.".to_owned());
            false
        }
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let mut panel = lock(&world.panel);
    panel.settle(Instant::now());
    let total = panel.servers.len() as u64;
    let last_page = total.div_ceil(per_page).max(1);
    let skip = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = panel
        .servers
        .values()
        .skip(usize::try_from(skip).unwrap_or(usize::MAX))
        .take(per_page as usize)
        .map(|record| {
            if full {
                server_json(&panel, record, false)
            } else {
                simple_server_json(record)
            }
        })
        .collect();
    let count = items.len() as u64;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("127.0.0.1");
    let path = format!("http://{host}{API}/servers");
    let url = |n: u64| format!("{path}?page={n}");
    let (from, to) = if count == 0 {
        (Value::Null, Value::Null)
    } else {
        (json!(skip + 1), json!(skip + count))
    };
    let prev = (page > 1).then(|| url(page - 1));
    let next = (page < last_page).then(|| url(page + 1));
    let body = json!({
        "current_page": page,
        "data": items,
        "first_page_url": url(1),
        "from": from,
        "last_page": last_page,
        "last_page_url": url(last_page),
        "links": [
            {"url": prev, "label": "&laquo; Previous", "active": false},
            {"url": url(page), "label": page.to_string(), "active": true},
            {"url": next, "label": "Next &raquo;", "active": false},
        ],
        "next_page_url": next,
        "path": path,
        "per_page": per_page,
        "prev_page_url": prev,
        "to": to,
        "total": total,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn simple_server_json(record: &ServerRecord) -> Value {
    let server = &record.server;
    json!({
        "id": server.id,
        "uuid": server.uuid,
        "name": server.name,
        "commissioned": commission_status(server.build),
        "owner": server.owner_id,
        "hypervisorId": server.hypervisor_group_id,
        "suspended": server.suspended,
        "protected": false,
        "updated": record.created,
        "created": record.created,
    })
}

fn commission_status(build: Build) -> u8 {
    match build {
        Build::Queued => 0,
        Build::Building => 1,
        Build::Complete => 3,
    }
}

fn server_json(panel: &Panel, record: &ServerRecord, remote_state: bool) -> Value {
    let server = &record.server;
    let state = match server.build {
        Build::Queued => "queued",
        Build::Building => "building",
        Build::Complete => "complete",
    };
    let owner = panel
        .users
        .get(&server.owner_id)
        .map_or(Value::Null, user_json);
    let ipv4: Vec<Value> = server
        .ipv4
        .iter()
        .enumerate()
        .map(|(index, address)| {
            let gateway = address
                .rsplit_once('.')
                .map_or_else(|| address.clone(), |(net, _)| format!("{net}.1"));
            json!({
                "id": server.id * 100 + index as u64,
                "order": index + 1,
                "enabled": true,
                "blockId": 1,
                "address": address,
                "gateway": gateway,
                "netmask": "255.255.255.0",
                "resolver1": "1.1.1.1",
                "resolver2": "8.8.8.8",
                "rdns": null,
                "mac": null,
            })
        })
        .collect();
    let mut body = json!({
        "id": server.id,
        "ownerId": server.owner_id,
        "hypervisorId": server.hypervisor_group_id,
        "name": server.name,
        "hostname": server.hostname,
        "commissionStatus": commission_status(server.build),
        "uuid": server.uuid,
        "state": state,
        "suspended": server.suspended,
        "protected": false,
        "buildFailed": false,
        "built": record.built_at,
        "created": record.created,
        "updated": record.created,
        "settings": {
            "osTemplateInstall": server.os_template_id.is_some(),
            "osTemplateInstallId": server.os_template_id,
            "resources": {
                "memory": server.memory_mb,
                "storage": server.storage_gb,
                "traffic": server.traffic_gb,
                "cpuCores": server.cpu_cores,
            },
        },
        "cpu": {"cores": server.cpu_cores},
        "network": {
            "interfaces": [{
                "id": server.id,
                "order": 1,
                "enabled": true,
                "name": "eth0",
                "type": "public",
                "mac": mac_address(server.id),
                "ipv4": ipv4,
                "ipv6": [],
            }],
            "secondaryInterfaces": [],
        },
        "owner": owner,
        "tasks": {
            "active": server.busy || server.build == Build::Building,
            "actions": {"pending": []},
        },
        "remoteState": false,
    });
    if remote_state {
        let running = server.power == Power::Running;
        let memory_kb = server.memory_mb * 1024;
        body["remoteState"] = json!({
            "state": server.power.as_str(),
            "cpu": if running { 1.5 } else { 0.0 },
            "memory": {
                "actual": memory_kb,
                "unused": if running { memory_kb / 2 } else { memory_kb },
                "available": memory_kb,
                "rss": if running { memory_kb / 2 } else { 0 },
            },
            "disk": {"vda": {"rd.bytes": 0, "wr.bytes": 0}},
        });
    }
    body
}

/// A locally administered MAC in QEMU's `52:54:00` range, unique per server.
fn mac_address(id: u64) -> String {
    let [.., a, b, c] = id.to_be_bytes();
    format!("52:54:00:{a:02x}:{b:02x}:{c:02x}")
}

fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "admin": false,
        "extRelationId": user.ext_relation_id,
        "selfService": 0,
        "selfServiceHourlyGroupProfiles": [],
        "selfServiceResourceGroupProfiles": [],
        "selfServiceHourlyResourcePack": null,
        "name": user.name,
        "email": user.email,
        "timezone": "UTC",
        "suspended": false,
        "twoFactorAuth": false,
        "created": "2025-01-01T00:00:00.000000Z",
        "updated": "2025-01-01T00:00:00.000000Z",
    })
}

async fn get_server(
    State(world): State<Arc<World>>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let mut panel = lock(&world.panel);
    panel.settle(Instant::now());
    match id.parse::<u64>().ok().and_then(|id| panel.servers.get(&id)) {
        Some(record) => data(
            StatusCode::OK,
            server_json(&panel, record, query_flag(&query, "remoteState")),
        ),
        None => server_not_found(),
    }
}

/// The body as a JSON object; anything else is refused as Laravel refuses a body it cannot
/// read (the errors go to [`invalid`]).
fn json_body(body: &Bytes) -> Result<Map<String, Value>, Vec<String>> {
    if body.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(vec!["The request body must be a JSON object.".to_owned()]),
    }
}

/// `packageId` -> `package id`, as Laravel words a field in its messages.
fn field_words(field: &str) -> String {
    let mut words = String::new();
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            words.push(' ');
            words.push(c.to_ascii_lowercase());
        } else {
            words.push(c);
        }
    }
    words
}

/// Laravel's `integer` rule: a JSON integer or a string of digits.
fn integer_field(
    body: &Map<String, Value>,
    field: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<u64> {
    let words = field_words(field);
    match body.get(field) {
        None | Some(Value::Null) => {
            if required {
                errors.push(format!("The {words} field is required."));
            }
            None
        }
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => s.parse().ok(),
        Some(_) => {
            errors.push(format!("The {words} must be an integer."));
            None
        }
    }
}

fn string_field(
    body: &Map<String, Value>,
    field: &str,
    required: bool,
    errors: &mut Vec<String>,
) -> Option<String> {
    let words = field_words(field);
    match body.get(field) {
        None | Some(Value::Null) => {
            if required {
                errors.push(format!("The {words} field is required."));
            }
            None
        }
        Some(Value::String(s)) if s.is_empty() && required => {
            errors.push(format!("The {words} field is required."));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(format!("The {words} must be a string."));
            None
        }
    }
}

async fn create_server(
    State(world): State<Arc<World>>,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let package_id = integer_field(&body, "packageId", true, &mut errors);
    let user_id = integer_field(&body, "userId", true, &mut errors);
    let group = integer_field(&body, "hypervisorId", true, &mut errors);
    let ipv4 = integer_field(&body, "ipv4", false, &mut errors).unwrap_or(1);
    let overrides: Vec<(&str, Option<u64>)> = ["memory", "storage", "traffic", "cpuCores"]
        .into_iter()
        .map(|field| (field, integer_field(&body, field, false, &mut errors)))
        .collect();
    let mut panel = lock(&world.panel);
    if let Some(id) = package_id
        && !panel.packages.iter().any(|p| p.id == id)
    {
        errors.push("The selected package id is invalid.".to_owned());
    }
    if let Some(id) = user_id
        && !panel.users.contains_key(&id)
    {
        errors.push("The selected user id is invalid.".to_owned());
    }
    if let Some(id) = group
        && !panel.hypervisor_groups.contains(&id)
    {
        errors.push("The selected hypervisor id is invalid.".to_owned());
    }
    if ipv4 > 16 {
        errors.push("The ipv4 may not be greater than 16.".to_owned());
    }
    let (Some(package_id), Some(user_id), Some(group)) = (package_id, user_id, group) else {
        return invalid(errors);
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    if panel.maintenance {
        return maintenance();
    }
    if query_flag(&query, "dryRun") {
        return data(StatusCode::OK, json!({}));
    }
    let id = panel.insert_server(user_id, package_id, group, ipv4);
    if let Some(record) = panel.servers.get_mut(&id) {
        for (field, value) in overrides {
            let Some(value) = value else { continue };
            match field {
                "memory" => record.server.memory_mb = value,
                "storage" => record.server.storage_gb = value,
                "traffic" => record.server.traffic_gb = value,
                _ => record.server.cpu_cores = value,
            }
        }
    }
    match panel.servers.get(&id) {
        Some(record) => data(StatusCode::CREATED, server_json(&panel, record, false)),
        None => server_not_found(),
    }
}

fn maintenance() -> Response {
    msg(
        StatusCode::SERVICE_UNAVAILABLE,
        "The hypervisor is in maintenance mode.",
    )
}

/// Why the panel will not act on a server now.
enum NotNow {
    NoSuchServer,
    Maintenance,
    TasksPending,
}

impl IntoResponse for NotNow {
    fn into_response(self) -> Response {
        match self {
            NotNow::NoSuchServer => server_not_found(),
            NotNow::Maintenance => maintenance(),
            NotNow::TasksPending => msg(StatusCode::LOCKED, "The server has tasks pending."),
        }
    }
}

/// The server an action is for, once the panel allows acting on it: it exists, the hypervisor
/// is not in maintenance and it has no task pending.
fn actionable<'a>(panel: &'a mut Panel, id: &str) -> Result<&'a mut ServerRecord, NotNow> {
    panel.settle(Instant::now());
    let maintenance_on = panel.maintenance;
    let Some(record) = id
        .parse::<u64>()
        .ok()
        .and_then(|id| panel.servers.get_mut(&id))
    else {
        return Err(NotNow::NoSuchServer);
    };
    if maintenance_on {
        return Err(NotNow::Maintenance);
    }
    if record.server.busy || record.server.build == Build::Building {
        return Err(NotNow::TasksPending);
    }
    Ok(record)
}

async fn build_server(
    State(world): State<Arc<World>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let template = integer_field(&body, "operatingSystemId", true, &mut errors);
    let name = string_field(&body, "name", false, &mut errors);
    let hostname = string_field(&body, "hostname", false, &mut errors);
    let ssh_keys = match body.get("sshKeys") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(keys)) if keys.iter().all(|k| k.as_u64().is_some()) => {
            keys.iter().filter_map(Value::as_u64).collect()
        }
        Some(_) => {
            errors.push("The ssh keys must be an array of integers.".to_owned());
            Vec::new()
        }
    };
    let mut panel = lock(&world.panel);
    let duration = panel.build_duration;
    let packages = panel.packages.clone();
    let keys = panel.ssh_keys.clone();
    let record = match actionable(&mut panel, &id) {
        Ok(record) => record,
        Err(not_now) => return not_now.into_response(),
    };
    if let Some(template) = template {
        let offered = packages
            .iter()
            .find(|p| p.id == record.server.package_id)
            .is_some_and(|p| p.template_ids.contains(&template));
        if !offered {
            errors.push("The selected operating system id is invalid.".to_owned());
        }
    }
    if ssh_keys.iter().any(|key| {
        keys.get(key)
            .is_none_or(|k| k.user_id != record.server.owner_id)
    }) {
        errors.push("The selected ssh keys is invalid.".to_owned());
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let server = &mut record.server;
    server.os_template_id = template;
    if let Some(name) = name {
        server.name = name;
    }
    if hostname.is_some() {
        server.hostname = hostname;
    }
    server.ssh_key_ids = ssh_keys;
    server.power = Power::Shutoff;
    server.build = Build::Building;
    let server_id = server.id;
    record.build_done_at = Some(Instant::now() + duration);
    panel.settle(Instant::now());
    match panel.servers.get(&server_id) {
        Some(record) => data(StatusCode::OK, server_json(&panel, record, false)),
        None => server_not_found(),
    }
}

async fn power(
    State(world): State<Arc<World>>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let target = match action.as_str() {
        "boot" | "restart" => Power::Running,
        "shutdown" | "poweroff" => Power::Shutoff,
        _ => {
            return refused(
                StatusCode::NOT_FOUND,
                json!({"msg": "not found"}),
                vec![format!("unknown power action {action}")],
            );
        }
    };
    let mut panel = lock(&world.panel);
    let record = match actionable(&mut panel, &id) {
        Ok(record) => record,
        Err(not_now) => return not_now.into_response(),
    };
    if let Some(refusal) = not_ready(&record.server) {
        return refusal;
    }
    record.server.power = target;
    let queue_id = panel.next_queue_id;
    panel.next_queue_id += 1;
    data(StatusCode::OK, json!({ "queueId": queue_id }))
}

/// The 409 VirtFusion gives an action on a suspended or unbuilt server.
fn not_ready(server: &Server) -> Option<Response> {
    if server.suspended {
        Some(conflict("The server is suspended."))
    } else if server.build != Build::Complete {
        Some(conflict("The server has not been built."))
    } else {
        None
    }
}

/// `PUT /servers/{id}/modify/cpuCores` (`{"cores"}`) and `.../modify/memory` (`{"memory"}`,
/// MB), as VirtFusion's API reference lists them. The fake's choices: the change takes effect
/// at once and answers `{"data":{"queueId"}}` like a power action; cores are 1-128 and memory
/// at least 128 MB; a suspended or unbuilt server is a 409.
async fn modify(
    State(world): State<Arc<World>>,
    Path((id, what)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let field = match what.as_str() {
        "cpuCores" => "cores",
        "memory" => "memory",
        _ => {
            return refused(
                StatusCode::NOT_FOUND,
                json!({"msg": "not found"}),
                vec![format!("modify/{what} is not served by the fake")],
            );
        }
    };
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let value = integer_field(&body, field, true, &mut errors);
    match (field, value) {
        ("cores", Some(cores)) if !(1..=128).contains(&cores) => {
            errors.push("The cores must be between 1 and 128.".to_owned());
        }
        ("memory", Some(memory)) if memory < 128 => {
            errors.push("The memory must be at least 128.".to_owned());
        }
        _ => {}
    }
    if let Some(unknown) = body.keys().find(|key| key.as_str() != field) {
        errors.push(format!(
            "The {} field is not accepted here.",
            field_words(unknown)
        ));
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let mut panel = lock(&world.panel);
    let record = match actionable(&mut panel, &id) {
        Ok(record) => record,
        Err(not_now) => return not_now.into_response(),
    };
    if let Some(refusal) = not_ready(&record.server) {
        return refusal;
    }
    let value = value.unwrap_or_default();
    if field == "cores" {
        record.server.cpu_cores = value;
    } else {
        record.server.memory_mb = value;
    }
    let queue_id = panel.next_queue_id;
    panel.next_queue_id += 1;
    data(StatusCode::OK, json!({ "queueId": queue_id }))
}

async fn suspend(State(world): State<Arc<World>>, Path(id): Path<String>) -> Response {
    set_suspended(&world, &id, true)
}

async fn unsuspend(State(world): State<Arc<World>>, Path(id): Path<String>) -> Response {
    set_suspended(&world, &id, false)
}

fn set_suspended(world: &World, id: &str, suspended: bool) -> Response {
    let mut panel = lock(&world.panel);
    let record = match actionable(&mut panel, id) {
        Ok(record) => record,
        Err(not_now) => return not_now.into_response(),
    };
    record.server.suspended = suspended;
    if suspended {
        record.server.power = Power::Shutoff;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn delete_server(
    State(world): State<Arc<World>>,
    Path(id): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    if let Some(delay) = query_value(&query, "delay")
        && !delay.parse::<u64>().is_ok_and(|minutes| minutes <= 43_800)
    {
        return invalid(vec!["The delay must be between 0 and 43800.".to_owned()]);
    }
    let mut panel = lock(&world.panel);
    let server_id = match actionable(&mut panel, &id) {
        Ok(record) => record.server.id,
        Err(not_now) => return not_now.into_response(),
    };
    panel.servers.remove(&server_id);
    StatusCode::NO_CONTENT.into_response()
}

async fn traffic(State(world): State<Arc<World>>, Path(id): Path<String>) -> Response {
    let panel = lock(&world.panel);
    let Some(record) = id.parse::<u64>().ok().and_then(|id| panel.servers.get(&id)) else {
        return server_not_found();
    };
    let server = &record.server;
    let today = chrono::Utc::now().date_naive();
    let start = today.with_day0(0).unwrap_or(today);
    let end = start
        .checked_add_months(chrono::Months::new(1))
        .and_then(|next| next.pred_opt())
        .unwrap_or(today);
    data(
        StatusCode::OK,
        json!({
            "monthly": [{
                "month": 1,
                "start": start.to_string(),
                "end": end.to_string(),
                "rx": server.traffic_rx_bytes,
                "tx": server.traffic_tx_bytes,
                "total": server.traffic_rx_bytes + server.traffic_tx_bytes,
                "limit": server.traffic_gb,
                "blocks": [],
            }],
        }),
    )
}

async fn packages(State(world): State<Arc<World>>) -> Response {
    let panel = lock(&world.panel);
    let list: Vec<Value> = panel
        .packages
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "name": p.name,
                "description": null,
                "enabled": true,
                "memory": p.memory_mb,
                "primaryStorage": p.storage_gb,
                "traffic": p.traffic_gb,
                "cpuCores": p.cpu_cores,
                "primaryNetworkSpeedIn": 0,
                "primaryNetworkSpeedOut": 0,
                "primaryDiskType": "inherit",
                "backupPlanId": 0,
                "primaryStorageReadBytesSec": null,
                "primaryStorageWriteBytesSec": null,
                "primaryStorageReadIopsSec": null,
                "primaryStorageWriteIopsSec": null,
                "primaryStorageProfile": 1,
                "primaryNetworkProfile": 1,
                "created": "2025-01-01T00:00:00.000000Z",
            })
        })
        .collect();
    data(StatusCode::OK, Value::Array(list))
}

async fn templates(State(world): State<Arc<World>>, Path(package): Path<String>) -> Response {
    let panel = lock(&world.panel);
    let Some(package) = package
        .parse::<u64>()
        .ok()
        .and_then(|id| panel.packages.iter().find(|p| p.id == id))
    else {
        return msg(StatusCode::NOT_FOUND, "package not found");
    };
    let groups: Vec<Value> = TEMPLATES
        .iter()
        .filter(|t| package.template_ids.contains(&t.id))
        .enumerate()
        .map(|(index, t)| {
            let icon = format!("{}.png", t.group.to_ascii_lowercase());
            json!({
                "id": index + 1,
                "name": t.group,
                "description": "",
                "icon": icon,
                "templates": [{
                    "id": t.id,
                    "name": t.name,
                    "version": t.version,
                    "variant": t.variant,
                    "arch": 1,
                    "description": "",
                    "icon": icon,
                    "eol": false,
                    "eol_date": "2030-01-01",
                    "eol_warning": false,
                    "deploy_type": 1,
                    "vnc": false,
                    "type": "linux",
                }],
            })
        })
        .collect();
    data(StatusCode::OK, Value::Array(groups))
}

fn valid_email(email: &str) -> bool {
    email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
}

async fn create_user(State(world): State<Arc<World>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let name = string_field(&body, "name", true, &mut errors);
    let email = string_field(&body, "email", true, &mut errors);
    let ext = integer_field(&body, "extRelationId", false, &mut errors);
    let mut panel = lock(&world.panel);
    if let Some(email) = &email {
        if !valid_email(email) {
            errors.push("The email must be a valid email address.".to_owned());
        } else if panel.users.values().any(|u| u.email == *email) {
            errors.push("The email has already been taken.".to_owned());
        }
    }
    if let Some(ext) = ext
        && panel.user_by_ext(&ext.to_string()).is_some()
    {
        errors.push("The ext relation id has already been taken.".to_owned());
    }
    let (Some(name), Some(email)) = (name, email) else {
        return invalid(errors);
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let id = panel.insert_user(ext, &name, &email);
    let mut user = panel.users.get(&id).map_or(Value::Null, user_json);
    user["password"] = json!("Fake-Passw0rd-Only");
    data(StatusCode::CREATED, user)
}

fn ssh_key_json(key: &SshKey) -> Value {
    json!({
        "id": key.id, "userId": key.user_id, "name": key.name, "publicKey": key.public_key,
        "enabled": true, "created": timestamp(), "updated": timestamp(),
    })
}

/// `POST /ssh_keys`: a key for a user, `{userId, name, publicKey}`. The key must be one
/// OpenSSH public key line of a known type.
async fn create_ssh_key(State(world): State<Arc<World>>, body: Bytes) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let user = integer_field(&body, "userId", true, &mut errors);
    let name = string_field(&body, "name", true, &mut errors);
    let public_key = string_field(&body, "publicKey", true, &mut errors);
    let mut panel = lock(&world.panel);
    if user.is_some_and(|user| !panel.users.contains_key(&user)) {
        errors.push("The selected user id is invalid.".to_owned());
    }
    if let Some(key) = &public_key {
        let kind = key.split(' ').next().unwrap_or_default();
        let known = [
            "ssh-ed25519",
            "ssh-rsa",
            "ecdsa-sha2-nistp256",
            "ecdsa-sha2-nistp384",
            "ecdsa-sha2-nistp521",
        ];
        if !known.contains(&kind) || key.contains(['\n', '\r']) || key.split(' ').count() < 2 {
            errors.push("The public key must be a valid SSH public key.".to_owned());
        }
    }
    let (Some(user), Some(name), Some(public_key)) = (user, name, public_key) else {
        return invalid(errors);
    };
    if !errors.is_empty() {
        return invalid(errors);
    }
    let id = panel.ssh_keys.keys().next_back().map_or(1, |last| last + 1);
    let key = SshKey {
        id,
        user_id: user,
        name,
        public_key,
    };
    let answer = ssh_key_json(&key);
    panel.ssh_keys.insert(id, key);
    data(StatusCode::CREATED, answer)
}

/// `GET /ssh_keys/user/{user}`: a user's keys.
async fn ssh_keys_of_user(State(world): State<Arc<World>>, Path(user): Path<String>) -> Response {
    let panel = lock(&world.panel);
    let Some(user) = user
        .parse::<u64>()
        .ok()
        .filter(|id| panel.users.contains_key(id))
    else {
        return user_not_found();
    };
    let keys: Vec<Value> = panel
        .ssh_keys
        .values()
        .filter(|key| key.user_id == user)
        .map(ssh_key_json)
        .collect();
    data(StatusCode::OK, Value::Array(keys))
}

async fn get_user(State(world): State<Arc<World>>, Path(ext): Path<String>) -> Response {
    let panel = lock(&world.panel);
    match panel.user_by_ext(&ext) {
        Some(user) => data(StatusCode::OK, user_json(user)),
        None => user_not_found(),
    }
}

fn user_not_found() -> Response {
    msg(StatusCode::NOT_FOUND, "user not found")
}

async fn update_user(
    State(world): State<Arc<World>>,
    Path(ext): Path<String>,
    body: Bytes,
) -> Response {
    let body = match json_body(&body) {
        Ok(body) => body,
        Err(errors) => return invalid(errors),
    };
    let mut errors = Vec::new();
    let name = string_field(&body, "name", false, &mut errors);
    let email = string_field(&body, "email", false, &mut errors);
    if email.as_deref().is_some_and(|email| !valid_email(email)) {
        errors.push("The email must be a valid email address.".to_owned());
    }
    if !errors.is_empty() {
        return invalid(errors);
    }
    let mut panel = lock(&world.panel);
    let Some(id) = panel.user_by_ext(&ext).map(|u| u.id) else {
        return user_not_found();
    };
    let Some(user) = panel.users.get_mut(&id) else {
        return user_not_found();
    };
    if let Some(name) = name {
        user.name = name;
    }
    if let Some(email) = email {
        user.email = email;
    }
    data(StatusCode::CREATED, user_json(user))
}

async fn delete_user(State(world): State<Arc<World>>, Path(ext): Path<String>) -> Response {
    let mut panel = lock(&world.panel);
    let Some(id) = panel.user_by_ext(&ext).map(|u| u.id) else {
        return user_not_found();
    };
    if panel.servers.values().any(|r| r.server.owner_id == id) {
        return conflict("The user still owns servers.");
    }
    panel.users.remove(&id);
    StatusCode::NO_CONTENT.into_response()
}
