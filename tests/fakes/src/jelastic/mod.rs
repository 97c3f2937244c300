//! A fake Jelastic (Virtuozzo Application Platform) API, the subset hostdeck uses to treat
//! environments as servers: create one from a node set or a JPS manifest, start, stop, sleep,
//! resize a node group (`SetCloudletsCountByGroup`, `SetDiskLimitByGroup`, as `liip/jelapi`
//! calls them), delete, read one, list all.
//!
//! ```text
//! let jel = FakeJelastic::start().await;         // no environments, operations take no time
//! hostdeck config: base_url = jel.base_url(), token = jel.token()
//! jel.set_operation_duration(Duration::from_millis(50));
//! jel.fail_next_operation(result::FAILED, "out of cloudlets");
//! jel.seed_environments(1_000); jel.environment("seed-1");
//! jel.delete_behind_hostdecks_back("seed-1");
//! jel.call_count("environment/control/rest/getenvs");
//! ```
//!
//! The calls and their shapes are those the public Python SDKs make: `liip/jelapi`
//! (`Environment.Control.GetEnvInfo`, `GetEnvs`, `StartEnv`, `StopEnv`, `SleepEnv`), and
//! `softozor/jelastic-client` (`CreateEnvironment` with `env` and `nodes` as JSON,
//! `DeleteEnv`, `Marketplace.Jps.Install` with `jps`, `envName`, `settings`, `region`), with
//! parameter lists from `Onemind-Services-LLC/py-jelastic`. A function `Group.Class.Method` is
//! served at `{base}/1.0/group/class/rest/method` (lower case, GET or POST alike, parameters in
//! the query string or a form body), authenticated by the `session` parameter (an access token).
//!
//! Every answer is HTTP 200 with `{"result": 0, ...}`, or a non-zero `result` and an `error`
//! text. Result codes: 11 for an environment that does not exist (what the platform's own JPS
//! scripts test `GetEnvInfo` for); 702 for a session that is missing or not valid, and 1 for any
//! other refusal (a missing or malformed parameter, an unknown node type, a name already taken,
//! starting a running environment, stopping one that is not running, acting on one in the middle
//! of another operation): those two codes are the fake's choice, as no public source gives them,
//! so hostdeck should treat every non-zero `result` as a failure and show `error`. A function the
//! fake does not serve is an HTTP 404, and is recorded as a problem on the call, as is every
//! refusal of a malformed request.
//!
//! Jelastic's API is synchronous: a call returns when the platform is done. Create, start, stop,
//! sleep and delete take the configured operation duration; meanwhile the environment shows the
//! platform's in-between status (creating 6, launching 3, stopping 13, going to sleep 14).
//! Manifests are read as JSON only (a JPS may also be YAML; the fake refuses YAML).
//!
//! Answers: `GetEnvInfo` gives `env`, `envGroups`, `nodeGroups` and `nodes`; `GetEnvs` the same
//! for each environment under `infos`; `CreateEnvironment` the `GetEnvInfo` answer under
//! `response`; `Install` gives `envName`, `appid` and `successText`; the others nothing more.
//! Environment names (`env.shortdomain`, or `env-NNNNNNN` when none is given) are 2-33 lower-case
//! letters, digits or hyphens. Node types offered: the VPS types (`ubuntu-vps`, `debian-vps`,
//! `almalinux-vps`, `centos-vps`), `docker`, `dockerengine`, common application servers and
//! databases (see [`FakeJelastic::start`]), more with [`FakeJelastic::add_node_type`]; a node
//! lands in the group named in the request or Jelastic's default for its type (`vps`, `cp`,
//! `sqldb`, `nosqldb`, `bl`, `storage`). A node's `diskLimit` (MB, as `GetEnvInfo` reports it)
//! is kept as requested, 100000 when the request sets none. `DeleteEnv` needs no `password` with
//! an access-token session: `liip/jelapi` and `softozor/jelastic-client` both delete with
//! `envName` alone (the `DeleteEnv` py-jelastic lists with `password` is the administration
//! group's, which takes `targetAppid`); a `password` sent anyway is accepted unchecked.

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Map, Value, json};

use crate::exchange::{Exchange, Verdict};
use crate::server::lock;
use crate::server::{self, Recorder, Running};

const API: &str = "/1.0";

/// `result` codes the fake answers with.
pub mod result {
    pub const OK: i64 = 0;
    /// Any refusal without a more specific code (the fake's choice).
    pub const FAILED: i64 = 1;
    /// The environment does not exist.
    pub const ENV_NOT_EXISTS: i64 = 11;
    /// The `session` is missing or not a valid token (the fake's choice).
    pub const SESSION_INVALID: i64 = 702;
}

/// An environment's status, with the platform's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvStatus {
    Running,
    Down,
    Launching,
    Sleep,
    Creating,
    Stopping,
    GoingToSleep,
}

impl EnvStatus {
    pub fn code(self) -> u8 {
        match self {
            EnvStatus::Running => 1,
            EnvStatus::Down => 2,
            EnvStatus::Launching => 3,
            EnvStatus::Sleep => 4,
            EnvStatus::Creating => 6,
            EnvStatus::Stopping => 13,
            EnvStatus::GoingToSleep => 14,
        }
    }

    fn in_between(self) -> bool {
        matches!(
            self,
            EnvStatus::Launching
                | EnvStatus::Creating
                | EnvStatus::Stopping
                | EnvStatus::GoingToSleep
        )
    }
}

/// A container of an environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: u64,
    pub node_type: String,
    pub node_group: String,
    pub display_name: Option<String>,
    pub fixed_cloudlets: u64,
    pub flexible_cloudlets: u64,
    /// `diskLimit`, in MB.
    pub disk_limit_mb: u64,
    pub docker_image: Option<String>,
    pub int_ip: String,
}

/// An environment as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// `envName`, also its short domain.
    pub name: String,
    pub display_name: String,
    pub status: EnvStatus,
    pub owner_uid: u64,
    pub env_groups: Vec<String>,
    pub region: String,
    pub nodes: Vec<Node>,
    /// The manifest it was installed from, if any.
    pub manifest_name: Option<String>,
}

/// A running fake Jelastic platform. Dropping it stops the server.
pub struct FakeJelastic {
    running: Running,
    world: Arc<World>,
    recorder: Recorder,
}

struct World {
    token: String,
    uid: u64,
    domain: String,
    exchange: Arc<Exchange>,
    platform: Mutex<Platform>,
}

struct Platform {
    environments: BTreeMap<String, Environment>,
    node_types: BTreeSet<String>,
    operation_duration: Duration,
    failures: VecDeque<(i64, String)>,
    next_node_id: u64,
    next_env_number: u64,
}

impl FakeJelastic {
    /// Starts an empty platform whose operations take no time.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let node_types = [
            "docker",
            "dockerengine",
            "ubuntu-vps",
            "debian-vps",
            "almalinux-vps",
            "centos-vps",
            "nginx",
            "nginxphp",
            "apache",
            "tomcat",
            "nodejs",
            "python",
            "mysql",
            "mariadb",
            "postgresql",
            "mongodb",
            "redis",
            "storage",
        ];
        let world = Arc::new(World {
            token: "jel-test-token-3e8a61c5".to_owned(),
            uid: 4784,
            domain: "jelastic.example.test".to_owned(),
            exchange: Exchange::new(recorder.clone(), API),
            platform: Mutex::new(Platform {
                environments: BTreeMap::new(),
                node_types: node_types.iter().map(|t| (*t).to_owned()).collect(),
                operation_duration: Duration::ZERO,
                failures: VecDeque::new(),
                next_node_id: 1000,
                next_env_number: 1_000_000,
            }),
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

    /// `http://127.0.0.1:PORT`, what hostdeck's `base_url` names.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// `http://127.0.0.1:PORT/1.0`, the root the SDKs append `group/class/rest/method` to.
    pub fn api_url(&self) -> String {
        format!("{}{API}", self.running.base_url())
    }

    /// The access token the fake accepts as `session`.
    pub fn token(&self) -> &str {
        &self.world.token
    }

    /// The account uid environments are created for.
    pub fn account_uid(&self) -> u64 {
        self.world.uid
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Makes every answer wait this long first.
    pub fn set_latency(&self, latency: Duration) {
        self.world.exchange.set_latency(latency);
    }

    /// How many calls reached a function, named by its path, e.g.
    /// `environment/control/rest/getenvs` (calls a fault answered are not counted).
    pub fn call_count(&self, endpoint: &str) -> u64 {
        self.world.exchange.count(endpoint)
    }

    pub fn call_counts(&self) -> BTreeMap<String, u64> {
        self.world.exchange.counts()
    }

    /// How long create, start, stop, sleep and delete take before they answer.
    pub fn set_operation_duration(&self, duration: Duration) {
        self.platform().operation_duration = duration;
    }

    /// Makes the next create, start, stop, sleep or delete fail with this `result` and `error`,
    /// leaving the environment as it was (a failed create leaves none). Calls queue up.
    pub fn fail_next_operation(&self, result: i64, error: &str) {
        self.platform()
            .failures
            .push_back((result, error.to_owned()));
    }

    /// Offers another node type (`nodeType`) for new environments.
    pub fn add_node_type(&self, node_type: &str) {
        self.platform().node_types.insert(node_type.to_owned());
    }

    /// Adds `count` running environments `seed-1`, `seed-2`, ... with one `ubuntu-vps` node each,
    /// and returns their names. For sync benchmarks: no HTTP involved.
    pub fn seed_environments(&self, count: usize) -> Vec<String> {
        let mut platform = self.platform();
        (1..=count)
            .map(|index| {
                let name = format!("seed-{index}");
                let spec = NodeSpec {
                    node_type: "ubuntu-vps".to_owned(),
                    count: 1,
                    fixed_cloudlets: 1,
                    flexible_cloudlets: 8,
                    disk_limit_mb: DEFAULT_DISK_LIMIT_MB,
                    display_name: None,
                    node_group: None,
                    docker_image: None,
                };
                let env = platform.build_environment(
                    &name,
                    "",
                    self.world.uid,
                    Vec::new(),
                    "default",
                    &[spec],
                    EnvStatus::Running,
                );
                platform.environments.insert(name.clone(), env);
                name
            })
            .collect()
    }

    /// The environment as the platform holds it now.
    pub fn environment(&self, name: &str) -> Option<Environment> {
        self.platform().environments.get(name).cloned()
    }

    pub fn environments(&self) -> Vec<Environment> {
        self.platform().environments.values().cloned().collect()
    }

    /// Deletes an environment as its owner would in the dashboard, so hostdeck's sync must
    /// notice the drift.
    pub fn delete_behind_hostdecks_back(&self, name: &str) -> bool {
        self.platform().environments.remove(name).is_some()
    }

    /// Changes an environment's status as the dashboard would.
    pub fn set_status_behind_hostdecks_back(&self, name: &str, status: EnvStatus) {
        if let Some(env) = self.platform().environments.get_mut(name) {
            env.status = status;
        }
    }

    fn platform(&self) -> MutexGuard<'_, Platform> {
        lock(&self.world.platform)
    }
}

/// One requested node set entry (`nodes[]` of CreateEnvironment, or of a manifest).
#[derive(Debug, Clone)]
struct NodeSpec {
    node_type: String,
    count: u64,
    fixed_cloudlets: u64,
    flexible_cloudlets: u64,
    disk_limit_mb: u64,
    display_name: Option<String>,
    node_group: Option<String>,
    docker_image: Option<String>,
}

/// A node's `diskLimit` (MB) when the request sets none.
const DEFAULT_DISK_LIMIT_MB: u64 = 100_000;

/// The node group Jelastic puts a node type in when the request names none.
fn default_node_group(node_type: &str) -> &'static str {
    match node_type {
        t if t.ends_with("-vps") => "vps",
        "mysql" | "mariadb" | "postgresql" => "sqldb",
        "mongodb" | "redis" => "nosqldb",
        "nginx" => "bl",
        "storage" => "storage",
        _ => "cp",
    }
}

impl Platform {
    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of one environment as the API names them"
    )]
    fn build_environment(
        &mut self,
        name: &str,
        display_name: &str,
        owner_uid: u64,
        env_groups: Vec<String>,
        region: &str,
        specs: &[NodeSpec],
        status: EnvStatus,
    ) -> Environment {
        let mut nodes = Vec::new();
        for spec in specs {
            for _ in 0..spec.count {
                let id = self.next_node_id;
                self.next_node_id += 1;
                nodes.push(Node {
                    id,
                    node_type: spec.node_type.clone(),
                    node_group: spec
                        .node_group
                        .clone()
                        .unwrap_or_else(|| default_node_group(&spec.node_type).to_owned()),
                    display_name: spec.display_name.clone(),
                    fixed_cloudlets: spec.fixed_cloudlets,
                    flexible_cloudlets: spec.flexible_cloudlets,
                    disk_limit_mb: spec.disk_limit_mb,
                    docker_image: spec.docker_image.clone(),
                    int_ip: format!(
                        "10.{}.{}.{}",
                        (id >> 16) & 0xff,
                        (id >> 8) & 0xff,
                        id & 0xff
                    ),
                });
            }
        }
        Environment {
            name: name.to_owned(),
            display_name: display_name.to_owned(),
            status,
            owner_uid,
            env_groups,
            region: region.to_owned(),
            nodes,
            manifest_name: None,
        }
    }

    fn fresh_name(&mut self) -> String {
        loop {
            self.next_env_number += 1;
            let name = format!("env-{}", self.next_env_number);
            if !self.environments.contains_key(&name) {
                return name;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

type Params = BTreeMap<String, String>;

/// A refusal: the `result` code, the `error` text, and whether hostdeck sent something malformed
/// (recorded as a problem).
struct Refusal {
    result: i64,
    error: String,
    malformed: bool,
}

impl Refusal {
    fn malformed(error: impl Into<String>) -> Self {
        Self {
            result: result::FAILED,
            error: error.into(),
            malformed: true,
        }
    }

    fn state(error: impl Into<String>) -> Self {
        Self {
            result: result::FAILED,
            error: error.into(),
            malformed: false,
        }
    }

    fn no_env(name: &str) -> Self {
        Self {
            result: result::ENV_NOT_EXISTS,
            error: format!("env [{name}] doesn't exist"),
            malformed: false,
        }
    }
}

type Outcome = Result<Map<String, Value>, Refusal>;

async fn serve(
    State(world): State<Arc<World>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let function = uri
        .path()
        .strip_prefix(API)
        .unwrap_or(uri.path())
        .trim_matches('/')
        .to_ascii_lowercase();
    let mut problems = Vec::new();
    let mut params = Params::new();
    if let Some(query) = uri.query() {
        params.extend(form_urlencoded::parse(query.as_bytes()).into_owned());
    }
    if !body.is_empty() {
        let form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|v| v.starts_with("application/x-www-form-urlencoded"));
        if form {
            params.extend(form_urlencoded::parse(&body).into_owned());
        } else {
            problems.push(
                "the body is not form-urlencoded; Jelastic reads parameters from forms only"
                    .to_owned(),
            );
        }
    }
    let outcome = if params.get("session") != Some(&world.token) {
        Err(Refusal {
            result: result::SESSION_INVALID,
            error: format!(
                "session [{}] not valid",
                params.get("session").map_or("null", String::as_str)
            ),
            malformed: false,
        })
    } else {
        match function.as_str() {
            "environment/control/rest/getenvs" => Ok(get_envs(&world)),
            "environment/control/rest/getenvinfo" => get_env_info(&world, &params),
            "environment/control/rest/createenvironment" => {
                create_environment(&world, &params).await
            }
            "marketplace/jps/rest/install" => install(&world, &params).await,
            "environment/control/rest/startenv" => {
                change_status(&world, &params, EnvStatus::Launching).await
            }
            "environment/control/rest/stopenv" => {
                change_status(&world, &params, EnvStatus::Stopping).await
            }
            "environment/control/rest/sleepenv" => {
                change_status(&world, &params, EnvStatus::GoingToSleep).await
            }
            "environment/control/rest/deleteenv" => delete_env(&world, &params).await,
            "environment/control/rest/setcloudletscountbygroup" => {
                resize_group(&world, &params, Resize::Cloudlets).await
            }
            "environment/control/rest/setdisklimitbygroup" => {
                resize_group(&world, &params, Resize::Disk).await
            }
            _ => {
                let problem = format!("{function} is not a function the fake serves");
                let mut response =
                    (StatusCode::NOT_FOUND, axum::Json(json!({"error": problem}))).into_response();
                response.extensions_mut().insert(Verdict {
                    endpoint: Some(function),
                    problems: vec![problem],
                });
                return response;
            }
        }
    };
    let body = match outcome {
        Ok(mut fields) => {
            let mut body = Map::new();
            body.insert("result".to_owned(), json!(result::OK));
            body.append(&mut fields);
            Value::Object(body)
        }
        Err(refusal) => {
            if refusal.malformed {
                problems.push(refusal.error.clone());
            }
            json!({"result": refusal.result, "error": refusal.error})
        }
    };
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response.extensions_mut().insert(Verdict {
        endpoint: Some(function),
        problems,
    });
    response
}

fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, Refusal> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Refusal::malformed(format!("parameter [{name}] is required")))
}

fn env_json(world: &World, env: &Environment) -> Value {
    json!({
        "envName": env.name,
        "shortdomain": env.name,
        "displayName": env.display_name,
        "domain": format!("{}.{}", env.name, world.domain),
        "appid": appid(&env.name),
        "status": env.status.code(),
        "uid": env.owner_uid,
        "creatorUid": env.owner_uid,
        "createdOn": "2025-01-01 00:00:00",
        "hardwareNodeGroup": env.region,
        "hostGroup": {"uniqueName": env.region, "displayName": env.region},
        "ishaenabled": false,
        "sslstate": false,
        "extdomains": [],
        "isFirewallEnabled": true,
        "isTransferring": false,
        "contexts": [],
    })
}

/// A stable 32-hex-digit application id derived from the name, as the platform gives each
/// environment one.
fn appid(name: &str) -> String {
    let mut hash: u128 = 0xcbf2_9ce4_8422_2325_9e37_79b9_7f4a_7c15;
    for byte in name.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{hash:032x}")
}

fn info_json(world: &World, env: &Environment) -> Map<String, Value> {
    let running = env.status == EnvStatus::Running;
    let groups: BTreeSet<&str> = env.nodes.iter().map(|n| n.node_group.as_str()).collect();
    let node_groups: Vec<Value> = groups
        .iter()
        .map(|group| {
            json!({
                "name": group,
                "isSLBAccessEnabled": true,
                "isSequentialDeploy": false,
                "scalingMode": "STATELESS",
                "templateType": "NATIVE",
                "vType": "CT",
                "features": ["FIREWALL"],
                "deployments": [],
            })
        })
        .collect();
    let mut first_in_group = BTreeSet::new();
    let nodes: Vec<Value> = env
        .nodes
        .iter()
        .map(|node| {
            let url = format!("http://node{}-{}.{}", node.id, env.name, world.domain);
            let mut entry = json!({
                "id": node.id,
                "nodeType": node.node_type,
                "nodeGroup": node.node_group,
                "name": node.docker_image.as_deref().unwrap_or(&node.node_type),
                "displayName": node.display_name,
                "fixedCloudlets": node.fixed_cloudlets,
                "flexibleCloudlets": node.flexible_cloudlets,
                "intIP": node.int_ip,
                "address": node.int_ip,
                "url": url,
                "adminUrl": url,
                "status": if running { 1 } else { 2 },
                "ismaster": first_in_group.insert(node.node_group.clone()),
                "type": "NATIVE",
                "vType": "CT",
                "osType": "LINUX",
                "diskLimit": node.disk_limit_mb,
                "bandwidthLimit": 100_000,
                "port": 22,
                "user": "root",
            });
            if let Some(image) = &node.docker_image {
                entry["customitem"] = json!({"dockerName": image, "dockerTag": "latest"});
            }
            entry
        })
        .collect();
    let mut info = Map::new();
    info.insert("env".to_owned(), env_json(world, env));
    info.insert("envGroups".to_owned(), json!(env.env_groups));
    info.insert("nodeGroups".to_owned(), Value::Array(node_groups));
    info.insert("nodes".to_owned(), Value::Array(nodes));
    info
}

fn get_envs(world: &World) -> Map<String, Value> {
    let platform = lock(&world.platform);
    let infos: Vec<Value> = platform
        .environments
        .values()
        .map(|env| Value::Object(info_json(world, env)))
        .collect();
    let mut fields = Map::new();
    fields.insert("infos".to_owned(), Value::Array(infos));
    fields
}

fn get_env_info(world: &World, params: &Params) -> Outcome {
    let name = required(params, "envName")?;
    let platform = lock(&world.platform);
    let env = platform
        .environments
        .get(name)
        .ok_or_else(|| Refusal::no_env(name))?;
    Ok(info_json(world, env))
}

fn parse_json(params: &Params, name: &str) -> Result<Option<Value>, Refusal> {
    match params.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|_| Refusal::malformed(format!("parameter [{name}] is not valid JSON"))),
    }
}

fn valid_env_name(name: &str) -> bool {
    (2..=33).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn unsigned(node: &Map<String, Value>, key: &str, default: u64) -> Result<u64, Refusal> {
    match node.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| Refusal::malformed(format!("node [{key}] must be a whole number"))),
    }
}

/// The node set of a CreateEnvironment call or a manifest (where `cloudlets` means
/// `flexibleCloudlets` and `image` a Docker image).
fn node_specs(platform: &Platform, nodes: &Value) -> Result<Vec<NodeSpec>, Refusal> {
    let Some(list) = nodes.as_array().filter(|l| !l.is_empty()) else {
        return Err(Refusal::malformed(
            "parameter [nodes] must be a non-empty list",
        ));
    };
    list.iter()
        .map(|node| {
            let Some(node) = node.as_object() else {
                return Err(Refusal::malformed("every node must be an object"));
            };
            let docker_image = node
                .get("docker")
                .and_then(|d| d.get("image"))
                .or_else(|| node.get("image"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let node_type = match (node.get("nodeType").and_then(Value::as_str), &docker_image) {
                (Some(t), _) => t.to_owned(),
                (None, Some(_)) => "docker".to_owned(),
                (None, None) => return Err(Refusal::malformed("node [nodeType] is required")),
            };
            if !platform.node_types.contains(&node_type) {
                return Err(Refusal::malformed(format!(
                    "node type [{node_type}] is not available"
                )));
            }
            let count = unsigned(node, "count", 1)?;
            if count == 0 || count > 16 {
                return Err(Refusal::malformed("node [count] must be between 1 and 16"));
            }
            let fixed = unsigned(node, "fixedCloudlets", 0)?;
            let cloudlets = unsigned(node, "cloudlets", 1)?;
            let flexible = unsigned(node, "flexibleCloudlets", cloudlets)?;
            if flexible == 0 {
                return Err(Refusal::malformed(
                    "node [flexibleCloudlets] must be at least 1",
                ));
            }
            let disk_limit_mb = unsigned(node, "diskLimit", DEFAULT_DISK_LIMIT_MB)?;
            if disk_limit_mb == 0 {
                return Err(Refusal::malformed("node [diskLimit] must be at least 1"));
            }
            Ok(NodeSpec {
                node_type,
                count,
                fixed_cloudlets: fixed,
                flexible_cloudlets: flexible,
                disk_limit_mb,
                display_name: node
                    .get("displayName")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                node_group: node
                    .get("nodeGroup")
                    .or_else(|| node.get("docker").and_then(|d| d.get("nodeGroup")))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                docker_image,
            })
        })
        .collect()
}

fn env_groups(params: &Params) -> Vec<String> {
    match params.get("envGroups").map(String::as_str) {
        None | Some("") => Vec::new(),
        Some(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(groups)) => groups
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => vec![text.to_owned()],
        },
    }
}

struct NewEnvironment {
    name: Option<String>,
    display_name: String,
    region: String,
    owner_uid: u64,
    env_groups: Vec<String>,
    nodes: Value,
    manifest_name: Option<String>,
}

/// Creates an environment the way the platform does: at once in status "creating", running once
/// the operation's time is up, or gone again if the operation fails.
async fn create(world: &World, request: NewEnvironment) -> Result<Environment, Refusal> {
    let (name, duration, failure) = {
        let mut platform = lock(&world.platform);
        let specs = node_specs(&platform, &request.nodes)?;
        let name = match request.name {
            Some(name) => name,
            None => platform.fresh_name(),
        };
        if !valid_env_name(&name) {
            return Err(Refusal::malformed(format!(
                "environment name [{name}] is invalid: 2-33 lower-case letters, digits or \
                 hyphens, starting with a letter"
            )));
        }
        if platform.environments.contains_key(&name) {
            return Err(Refusal::state(format!(
                "environment [{name}] already exists"
            )));
        }
        let mut env = platform.build_environment(
            &name,
            &request.display_name,
            request.owner_uid,
            request.env_groups,
            &request.region,
            &specs,
            EnvStatus::Creating,
        );
        env.manifest_name = request.manifest_name;
        platform.environments.insert(name.clone(), env);
        (
            name,
            platform.operation_duration,
            platform.failures.pop_front(),
        )
    };
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
    let mut platform = lock(&world.platform);
    if let Some((result, error)) = failure {
        platform.environments.remove(&name);
        return Err(Refusal {
            result,
            error,
            malformed: false,
        });
    }
    let env = platform
        .environments
        .get_mut(&name)
        .ok_or_else(|| Refusal::no_env(&name))?;
    env.status = EnvStatus::Running;
    Ok(env.clone())
}

async fn create_environment(world: &World, params: &Params) -> Outcome {
    let env = parse_json(params, "env")?
        .filter(Value::is_object)
        .ok_or_else(|| Refusal::malformed("parameter [env] must be a JSON object"))?;
    let nodes = parse_json(params, "nodes")?
        .ok_or_else(|| Refusal::malformed("parameter [nodes] is required"))?;
    let owner_uid = match params.get("ownerUid") {
        None => world.uid,
        Some(uid) => uid
            .parse()
            .map_err(|_| Refusal::malformed("parameter [ownerUid] must be a number"))?,
    };
    let text = |key: &str| env.get(key).and_then(Value::as_str).map(str::to_owned);
    let created = create(
        world,
        NewEnvironment {
            name: text("shortdomain"),
            display_name: text("displayName").unwrap_or_default(),
            region: text("region").unwrap_or_else(|| "default".to_owned()),
            owner_uid,
            env_groups: env_groups(params),
            nodes,
            manifest_name: None,
        },
    )
    .await?;
    let mut info = info_json(world, &created);
    info.insert("result".to_owned(), json!(result::OK));
    let mut fields = Map::new();
    fields.insert("response".to_owned(), Value::Object(info));
    Ok(fields)
}

async fn install(world: &World, params: &Params) -> Outcome {
    let text = required(params, "jps")?;
    let Ok(Value::Object(manifest)) = serde_json::from_str::<Value>(text) else {
        return Err(Refusal::malformed(
            "parameter [jps] is not a JSON manifest (the fake reads JSON manifests only)",
        ));
    };
    let kind = manifest
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("update");
    let success_text = match manifest.get("success") {
        Some(Value::String(text)) => text.clone(),
        Some(success) => success
            .get("text")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        None => String::new(),
    };
    let env_name = params.get("envName").filter(|n| !n.is_empty()).cloned();
    let name = match kind {
        "install" => {
            let nodes = manifest
                .get("nodes")
                .cloned()
                .ok_or_else(|| Refusal::malformed("an install manifest needs [nodes]"))?;
            create(
                world,
                NewEnvironment {
                    name: env_name,
                    display_name: params
                        .get("displayName")
                        .cloned()
                        .or_else(|| {
                            manifest
                                .get("name")
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                        })
                        .unwrap_or_default(),
                    region: params
                        .get("region")
                        .cloned()
                        .unwrap_or_else(|| "default".to_owned()),
                    owner_uid: world.uid,
                    env_groups: env_groups(params),
                    nodes,
                    manifest_name: manifest
                        .get("name")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                },
            )
            .await?
            .name
        }
        "update" => {
            let name =
                env_name.ok_or_else(|| Refusal::malformed("an update manifest needs [envName]"))?;
            if !lock(&world.platform).environments.contains_key(&name) {
                return Err(Refusal::no_env(&name));
            }
            name
        }
        other => {
            return Err(Refusal::malformed(format!(
                "manifest type [{other}] is not install or update"
            )));
        }
    };
    let mut fields = Map::new();
    fields.insert("envName".to_owned(), json!(name));
    fields.insert("appid".to_owned(), json!(appid(&name)));
    fields.insert("successText".to_owned(), json!(success_text));
    Ok(fields)
}

/// Start, stop or sleep: the in-between status at once, the end status once the operation's time
/// is up, the old status back if it fails.
async fn change_status(world: &World, params: &Params, in_between: EnvStatus) -> Outcome {
    let name = required(params, "envName")?.to_owned();
    let (before, duration, failure) = {
        let mut platform = lock(&world.platform);
        let duration = platform.operation_duration;
        let env = platform
            .environments
            .get_mut(&name)
            .ok_or_else(|| Refusal::no_env(&name))?;
        let before = env.status;
        if before.in_between() {
            return Err(Refusal::state(format!(
                "environment [{name}] is busy with another operation"
            )));
        }
        match (in_between, before) {
            (EnvStatus::Launching, EnvStatus::Running) => {
                return Err(Refusal::state(format!(
                    "environment [{name}] is already running"
                )));
            }
            (EnvStatus::Stopping | EnvStatus::GoingToSleep, status)
                if status != EnvStatus::Running =>
            {
                return Err(Refusal::state(format!(
                    "environment [{name}] is not running"
                )));
            }
            _ => {}
        }
        env.status = in_between;
        (before, duration, platform.failures.pop_front())
    };
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
    let mut platform = lock(&world.platform);
    let env = platform
        .environments
        .get_mut(&name)
        .ok_or_else(|| Refusal::no_env(&name))?;
    if let Some((result, error)) = failure {
        env.status = before;
        return Err(Refusal {
            result,
            error,
            malformed: false,
        });
    }
    env.status = match in_between {
        EnvStatus::Launching => EnvStatus::Running,
        EnvStatus::Stopping => EnvStatus::Down,
        _ => EnvStatus::Sleep,
    };
    Ok(Map::new())
}

/// What a resize of a node group changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resize {
    /// `SetCloudletsCountByGroup`: `fixedCloudlets` and `flexibleCloudlets`.
    Cloudlets,
    /// `SetDiskLimitByGroup`: `limit`, in MB.
    Disk,
}

/// Resizes every node of a group: refused for an environment that is busy, a group it does not
/// have, numbers that are not whole, and (as the platform does) fewer flexible cloudlets than
/// fixed ones. Takes the operation duration, and fails with a queued failure like the rest.
async fn resize_group(world: &World, params: &Params, what: Resize) -> Outcome {
    let name = required(params, "envName")?.to_owned();
    let group = required(params, "nodeGroup")?.to_owned();
    let number = |key: &str| -> Result<u64, Refusal> {
        required(params, key)?
            .parse()
            .map_err(|_| Refusal::malformed(format!("parameter [{key}] must be a whole number")))
    };
    let change = match what {
        Resize::Cloudlets => {
            let fixed = number("fixedCloudlets")?;
            let flexible = number("flexibleCloudlets")?;
            if flexible == 0 || fixed > flexible {
                return Err(Refusal::malformed(
                    "flexibleCloudlets must be at least 1 and at least fixedCloudlets",
                ));
            }
            (fixed, flexible)
        }
        Resize::Disk => {
            let limit = number("limit")?;
            if limit == 0 {
                return Err(Refusal::malformed("parameter [limit] must be at least 1"));
            }
            (limit, 0)
        }
    };
    operate(world, &name, |env| {
        if env.nodes.iter().any(|node| node.node_group == group) {
            Ok(())
        } else {
            Err(Refusal::state(format!(
                "node group [{group}] not found in environment [{name}]"
            )))
        }
    })
    .await?;
    let mut platform = lock(&world.platform);
    let env = platform
        .environments
        .get_mut(&name)
        .ok_or_else(|| Refusal::no_env(&name))?;
    for node in env.nodes.iter_mut().filter(|node| node.node_group == group) {
        match what {
            Resize::Cloudlets => {
                node.fixed_cloudlets = change.0;
                node.flexible_cloudlets = change.1;
            }
            Resize::Disk => node.disk_limit_mb = change.0,
        }
    }
    Ok(Map::new())
}

/// An operation on environment `name` as the platform runs one: refused while another is
/// under way or when `check` says no, then it takes the platform's operation time and may
/// fail as a test arranged.
async fn operate(
    world: &World,
    name: &str,
    check: impl FnOnce(&Environment) -> Result<(), Refusal>,
) -> Result<(), Refusal> {
    let (duration, failure) = {
        let mut platform = lock(&world.platform);
        let env = platform
            .environments
            .get(name)
            .ok_or_else(|| Refusal::no_env(name))?;
        if env.status.in_between() {
            return Err(Refusal::state(format!(
                "environment [{name}] is busy with another operation"
            )));
        }
        check(env)?;
        (platform.operation_duration, platform.failures.pop_front())
    };
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
    match failure {
        Some((result, error)) => Err(Refusal {
            result,
            error,
            malformed: false,
        }),
        None => Ok(()),
    }
}

async fn delete_env(world: &World, params: &Params) -> Outcome {
    let name = required(params, "envName")?.to_owned();
    operate(world, &name, |_| Ok(())).await?;
    lock(&world.platform).environments.remove(&name);
    Ok(Map::new())
}
