//! Jelastic (Virtuozzo Application Platform): each environment is one server. Functions
//! `Group.Class.Method` are called as `POST {base_url}/1.0/group/class/rest/method` with a form
//! body carrying the access token as `session` (a form, never the query string, so the token
//! cannot end up in a logged URL). Every answer is HTTP 200 with `{"result": 0, ...}`; any
//! other `result` is a failure whose `error` text is shown.
//!
//! How calls map:
//! - list: `Environment.Control.GetEnvs`, every environment in one answer (one request).
//! - get: `Environment.Control.GetEnvInfo`.
//! - power: `StartEnv` and `StopEnv` (restart is a stop then a start); the current status is
//!   read first, so starting a running environment is a no-op instead of a refusal. Suspend is
//!   a stop, unsuspend a start.
//! - create: `Environment.Control.CreateEnvironment` with one node of the template's node type
//!   (`ubuntu-vps`), sized in cloudlets from the plan's memory, its `diskLimit` (MB, as
//!   `GetEnvInfo` reports it back) from the plan's disk.
//! - resize: `GetEnvInfo` for the node's group and size, then `SetCloudletsCountByGroup`
//!   (`fixedCloudlets` and `flexibleCloudlets`, both the cloudlets of the new memory, as create
//!   reserves them) and `SetDiskLimitByGroup` (`limit` in MB) for what changed; a smaller disk
//!   is refused before anything is sent.
//! - images: Jelastic has no listing of node types for an account, so the operator's
//!   `templates` list is the allow-list, and without one the platform's VPS types
//!   ([`VPS_TYPES`]). SSH keys and root passwords are not sent: the platform's keys belong to
//!   the account (every environment of it), and it mails root credentials to the account owner.
//! - delete: `DeleteEnv`; usage: the platform has no per-environment traffic here (`None`).
//! - health: `GetEnvInfo` of a name no environment can have: "does not exist" proves the
//!   platform answers and accepts the session, without listing every environment.
//!
//! Where the create key lives, and why: in the environment's name, `hd-KEY`. The name is
//! chosen by the caller and unique on the platform, so the platform itself refuses a second
//! environment with the key; a create reads `GetEnvInfo` of that name first and returns the
//! environment if it is there.
//!
//! Jelastic's calls return when the platform is done, so create, start, stop and delete may
//! take minutes: they get `task_timeout`, reads get `timeout`.
//!
//! Sizes: Jelastic sells cloudlets, 128 MiB of memory and 400 MHz of CPU each. The plan's
//! memory decides the cloudlets (all reserved, as a VPS would have them); vCPUs are reported as
//! the cloudlets' MHz over a 2 GHz core.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::{ProviderConfig, required};
use super::http::{Call, Endpoint};
use super::{
    Access, CreateKey, Failure, Health, Image, NewServer, OsImage, PageToken, PowerAction,
    Provider, ProviderError, ProviderKind, RemoteId, RemoteServer, Resources, ServerPage,
    ServerState, Usage,
};

/// The VPS node types offered when the config lists no `templates`.
pub const VPS_TYPES: [(&str, &str); 4] = [
    ("ubuntu-vps", "Ubuntu VPS"),
    ("debian-vps", "Debian VPS"),
    ("almalinux-vps", "AlmaLinux VPS"),
    ("centos-vps", "CentOS VPS"),
];

const CLOUDLET_MIB: u64 = 128;
const CLOUDLETS_PER_VCPU: u64 = 5;
/// Result codes with a meaning of their own; every other non-zero code is a refusal.
const ENV_NOT_EXISTS: i64 = 11;
const SESSION_INVALID: i64 = 702;
/// A name no environment can have (hostdeck's are `hd-...`), for the health check.
const HEALTH_PROBE_NAME: &str = "hdhealthprobe";

const GET_ENVS: &str = "environment/control/rest/getenvs";
const GET_ENV_INFO: &str = "environment/control/rest/getenvinfo";
const CREATE_ENVIRONMENT: &str = "environment/control/rest/createenvironment";
const START_ENV: &str = "environment/control/rest/startenv";
const STOP_ENV: &str = "environment/control/rest/stopenv";
const DELETE_ENV: &str = "environment/control/rest/deleteenv";
const SET_CLOUDLETS: &str = "environment/control/rest/setcloudletscountbygroup";
const SET_DISK_LIMIT: &str = "environment/control/rest/setdisklimitbygroup";

pub struct Jelastic {
    http: Endpoint,
    token: SecretString,
    region: Option<String>,
    task_timeout: Duration,
}

impl std::fmt::Debug for Jelastic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jelastic")
            .field("http", &self.http)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct EnvInfo {
    env: Env,
    #[serde(default)]
    nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Env {
    env_name: String,
    display_name: Option<String>,
    domain: Option<String>,
    status: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Node {
    #[serde(default)]
    flexible_cloudlets: u64,
    #[serde(default)]
    fixed_cloudlets: u64,
    node_group: Option<String>,
    /// Megabytes.
    disk_limit: Option<u64>,
    #[serde(rename = "intIP")]
    int_ip: Option<String>,
    #[serde(rename = "extIPs", default)]
    ext_ips: Option<Vec<String>>,
}

/// An environment's status, in the platform's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    /// Down (2) or asleep (4): not running, and startable.
    Stopped,
    Creating,
    /// Launching, stopping, going to sleep: another operation is under way.
    Changing,
    Other,
}

fn status_of(code: Option<i64>) -> Status {
    match code {
        Some(1) => Status::Running,
        Some(2 | 4) => Status::Stopped,
        Some(6) => Status::Creating,
        Some(3 | 13 | 14) => Status::Changing,
        _ => Status::Other,
    }
}

fn remote_server(info: &EnvInfo) -> RemoteServer {
    let cloudlets: u64 = info.nodes.iter().map(|node| node.flexible_cloudlets).sum();
    let disk_mb: u64 = info.nodes.iter().filter_map(|node| node.disk_limit).sum();
    let ipv4 = info
        .nodes
        .iter()
        .flat_map(|node| match node.ext_ips.as_deref() {
            Some(public) if !public.is_empty() => public.to_vec(),
            _ => node.int_ip.iter().cloned().collect(),
        })
        .filter_map(|address| address.parse::<Ipv4Addr>().ok())
        .collect();
    let env = &info.env;
    RemoteServer {
        remote_id: RemoteId::new(env.env_name.clone()),
        name: env
            .display_name
            .clone()
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| env.env_name.clone()),
        hostname: env.domain.clone(),
        state: match status_of(env.status) {
            Status::Running => ServerState::Running,
            Status::Stopped => ServerState::Stopped,
            Status::Creating => ServerState::Building,
            Status::Changing | Status::Other => ServerState::Unknown,
        },
        resources: Resources {
            vcpus: u32::try_from(cloudlets.div_ceil(CLOUDLETS_PER_VCPU)).unwrap_or(u32::MAX),
            memory_mib: cloudlets * CLOUDLET_MIB,
            disk_gib: disk_mb / 1024,
        },
        ipv4,
        key: CreateKey::find_in(&env.env_name).filter(|key| key.marker() == env.env_name),
        owner: None,
    }
}

/// The failure a non-zero `result` stands for.
fn classify(result: i64, error: &str, what: &str) -> Failure {
    let detail = if error.is_empty() {
        format!("result {result}")
    } else {
        error.to_owned()
    };
    let lower = detail.to_ascii_lowercase();
    match result {
        SESSION_INVALID => Failure::BadCredentials {
            detail: format!("result {result}: {detail}"),
        },
        ENV_NOT_EXISTS => Failure::NotFound {
            what: what.to_owned(),
        },
        _ if lower.contains("busy") => Failure::Busy { detail },
        _ if Failure::mentions_limit(&lower) => Failure::Limit { detail },
        _ if Failure::mentions_conflict(&lower) => Failure::Conflict { detail },
        _ => Failure::Rejected {
            detail: format!("{detail} (result {result})"),
        },
    }
}

impl Jelastic {
    pub fn new(name: &str, config: &ProviderConfig) -> Result<Self, String> {
        let http = Endpoint::for_provider(name, ProviderKind::Jelastic, config, "1.0/")?;
        Ok(Self {
            http,
            token: required(config.token.as_ref(), name, "token")?.clone(),
            region: config.region.clone(),
            task_timeout: config.task_timeout(),
        })
    }

    /// Calls a function; the whole answer when `result` is 0.
    async fn call(
        &self,
        function: &str,
        call: Call,
        params: &[(&str, String)],
        what: &str,
    ) -> Result<Value, ProviderError> {
        let url = self.http.url(function)?;
        let mut form: Vec<(&str, &str)> = vec![("session", self.token.expose_secret())];
        form.extend(params.iter().map(|(key, value)| (*key, value.as_str())));
        let patience = match call {
            Call::Read => None,
            Call::Write => Some(self.task_timeout),
        };
        let build = |client: &reqwest::Client| client.post(url.clone()).form(&form);
        let reply = match patience {
            None => self.http.send(call, build).await?,
            Some(patience) => self.http.send_within(call, patience, build).await?,
        };
        let status = reply.status.as_u16();
        if !reply.is_success() {
            let failure =
                match status {
                    404 => Failure::Protocol(format!("the platform has no function {function}")),
                    _ => reply.common_failure(&reply.text()).unwrap_or_else(|| {
                        Failure::ProviderFailed {
                            status,
                            detail: reply.text(),
                        }
                    }),
                };
            return Err(self.http.error(failure));
        }
        let answer: Value = reply.json().map_err(|failure| self.http.error(failure))?;
        match answer.get("result").and_then(Value::as_i64) {
            Some(0) => Ok(answer),
            Some(result) => {
                let error = answer
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Err(self.http.error(classify(result, error, what)))
            }
            None => Err(self.http.error(Failure::Protocol(format!(
                "an answer without a result code: {}",
                reply.text()
            )))),
        }
    }

    async fn info(&self, name: &str) -> Result<EnvInfo, ProviderError> {
        let answer = self
            .call(
                GET_ENV_INFO,
                Call::Read,
                &[("envName", name.to_owned())],
                &format!("environment {name}"),
            )
            .await?;
        serde_json::from_value(answer).map_err(|error| {
            self.http
                .error(Failure::Protocol(format!("GetEnvInfo of {name}: {error}")))
        })
    }

    async fn change(&self, function: &str, name: &str) -> Result<(), ProviderError> {
        self.call(
            function,
            Call::Write,
            &[("envName", name.to_owned())],
            &format!("environment {name}"),
        )
        .await
        .map(drop)
    }

    async fn act(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        let name = id.as_str();
        let info = self.info(name).await?;
        let status = status_of(info.env.status);
        let functions: &[&str] = match (status, action) {
            (Status::Creating | Status::Changing, _) => {
                return Err(self.http.error(Failure::Busy {
                    detail: format!("environment {name} is in the middle of another operation"),
                }));
            }
            (Status::Running, PowerAction::Boot)
            | (Status::Stopped, PowerAction::Shutdown | PowerAction::Poweroff) => &[],
            (Status::Running, PowerAction::Restart) => &[STOP_ENV, START_ENV],
            (Status::Running, PowerAction::Shutdown | PowerAction::Poweroff) => &[STOP_ENV],
            (Status::Stopped | Status::Other, PowerAction::Boot | PowerAction::Restart) => {
                &[START_ENV]
            }
            (Status::Other, PowerAction::Shutdown | PowerAction::Poweroff) => &[STOP_ENV],
        };
        for function in functions {
            self.change(function, name).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for Jelastic {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Jelastic
    }

    async fn list_servers(&self, page: Option<&PageToken>) -> Result<ServerPage, ProviderError> {
        if let Some(token) = page {
            return Err(self.http.error(Failure::Protocol(format!(
                "Jelastic lists in one page; {:?} is not a page",
                token.as_str()
            ))));
        }
        let answer = self.call(GET_ENVS, Call::Read, &[], "environments").await?;
        let infos: Vec<EnvInfo> = serde_json::from_value(
            answer
                .get("infos")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
        )
        .map_err(|error| {
            self.http
                .error(Failure::Protocol(format!("GetEnvs: {error}")))
        })?;
        Ok(ServerPage {
            servers: infos.iter().map(remote_server).collect(),
            next: None,
        })
    }

    async fn server(&self, id: &RemoteId) -> Result<RemoteServer, ProviderError> {
        Ok(remote_server(&self.info(id.as_str()).await?))
    }

    async fn power(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        self.act(id, action).await
    }

    async fn create(&self, new: &NewServer) -> Result<RemoteServer, ProviderError> {
        new.resources.check_for(self)?;
        let node_type = match &new.image {
            Image::Template(node_type)
                if !node_type.is_empty()
                    && node_type
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') =>
            {
                node_type
            }
            Image::Template(other) => {
                return Err(self.http.error(Failure::Invalid {
                    field: "image",
                    message: format!("{other:?} is not a Jelastic node type such as ubuntu-vps."),
                }));
            }
            Image::Iso(_) => {
                return Err(self.http.error(Failure::Invalid {
                    field: "image",
                    message: "Jelastic creates environments from node types, not from ISO images."
                        .into(),
                }));
            }
        };
        let name = new.key.marker();
        match self.info(&name).await {
            Ok(existing) => return Ok(remote_server(&existing)),
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
        let cloudlets = new.resources.memory_mib.div_ceil(CLOUDLET_MIB).max(1);
        let mut env = json!({"shortdomain": name, "displayName": new.name});
        if let Some(region) = &self.region {
            env["region"] = json!(region);
        }
        let nodes = json!([{
            "nodeType": node_type,
            "flexibleCloudlets": cloudlets,
            "fixedCloudlets": cloudlets,
            "diskLimit": new.resources.disk_gib.saturating_mul(1024),
            "displayName": new.hostname.as_str(),
        }]);
        let created = self
            .call(
                CREATE_ENVIRONMENT,
                Call::Write,
                &[("env", env.to_string()), ("nodes", nodes.to_string())],
                &format!("environment {name}"),
            )
            .await;
        match created {
            Ok(answer) => match answer
                .get("response")
                .cloned()
                .map(serde_json::from_value::<EnvInfo>)
            {
                Some(Ok(info)) => Ok(remote_server(&info)),
                _ => Ok(remote_server(&self.info(&name).await?)),
            },
            // Made by an earlier attempt whose answer was lost: that one is ours.
            Err(error) if matches!(&error.failure, Failure::Conflict { detail } if detail.contains("already exists")) => {
                Ok(remote_server(&self.info(&name).await?))
            }
            Err(error) => Err(error),
        }
    }

    async fn images(&self) -> Result<Vec<OsImage>, ProviderError> {
        Ok(VPS_TYPES
            .iter()
            .map(|(id, name)| OsImage {
                image: Image::Template((*id).to_owned()),
                name: (*name).to_owned(),
            })
            .collect())
    }

    fn access(&self) -> Access {
        Access {
            ssh_keys: false,
            root_password: false,
        }
    }

    async fn resize(&self, id: &RemoteId, to: &Resources) -> Result<(), ProviderError> {
        to.check_for(self)?;
        let name = id.as_str();
        let what = format!("environment {name}");
        let info = self.info(name).await?;
        if matches!(
            status_of(info.env.status),
            Status::Creating | Status::Changing
        ) {
            return Err(self.http.error(Failure::Busy {
                detail: format!("environment {name} is in the middle of another operation"),
            }));
        }
        let Some((group, node)) = info
            .nodes
            .first()
            .and_then(|node| node.node_group.clone().map(|group| (group, node)))
        else {
            return Err(self.http.error(Failure::Protocol(format!(
                "environment {name} has no node group to resize"
            ))));
        };
        let limit_mb = to.disk_gib.saturating_mul(1024);
        let disk_mb = node.disk_limit.unwrap_or(0);
        if limit_mb < disk_mb {
            return Err(self.http.error(Failure::Rejected {
                detail: format!("the disk has {} GiB and cannot shrink", disk_mb / 1024),
            }));
        }
        let cloudlets = to.memory_mib.div_ceil(CLOUDLET_MIB).max(1);
        let changed = cloudlets != node.flexible_cloudlets || cloudlets != node.fixed_cloudlets;
        if !changed && limit_mb == disk_mb {
            // CPU follows memory in cloudlets: a size that differs only in vCPUs would change
            // nothing here yet be billed as bigger.
            return Err(self.http.error(Failure::Unsupported {
                what: "change vCPUs alone on Jelastic, where CPU follows memory (cloudlets); \
                       choose a size with more memory"
                    .to_owned(),
            }));
        }
        let set_cloudlets = async |fixed: u64, flexible: u64| {
            self.call(
                SET_CLOUDLETS,
                Call::Write,
                &[
                    ("envName", name.to_owned()),
                    ("nodeGroup", group.clone()),
                    ("fixedCloudlets", fixed.to_string()),
                    ("flexibleCloudlets", flexible.to_string()),
                ],
                &what,
            )
            .await
        };
        if changed {
            set_cloudlets(cloudlets, cloudlets).await?;
        }
        if limit_mb > disk_mb
            && let Err(error) = self
                .call(
                    SET_DISK_LIMIT,
                    Call::Write,
                    &[
                        ("envName", name.to_owned()),
                        ("nodeGroup", group.clone()),
                        ("limit", limit_mb.to_string()),
                    ],
                    &what,
                )
                .await
        {
            // The cloudlets were changed: put them back, so that a failed resize leaves the
            // environment at the size it is billed for.
            if changed
                && let Err(undo) =
                    set_cloudlets(node.fixed_cloudlets, node.flexible_cloudlets).await
            {
                tracing::error!(server = %id, %error, %undo,
                    "a resize failed at the disk limit and the new cloudlets could not be put back");
            }
            return Err(error);
        }
        Ok(())
    }

    async fn delete(&self, id: &RemoteId) -> Result<(), ProviderError> {
        match self.change(DELETE_ENV, id.as_str()).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn usage(&self, _id: &RemoteId) -> Result<Option<Usage>, ProviderError> {
        Ok(None)
    }

    async fn health(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        match self.info(HEALTH_PROBE_NAME).await {
            Ok(_) => {}
            Err(error) if error.is_not_found() => {}
            Err(error) => return Err(error),
        }
        Ok(Health {
            latency: started.elapsed(),
            detail: "Jelastic API answered and accepted the session".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_environment_is_a_server_sized_in_cloudlets() {
        let info: EnvInfo = serde_json::from_value(json!({
            "env": {"envName": "hd-k3f9x2m1", "displayName": "web", "domain": "hd-k3f9x2m1.example.test", "status": 1},
            "nodes": [{"flexibleCloudlets": 16, "fixedCloudlets": 16, "diskLimit": 102400, "intIP": "10.0.3.232"}]
        }))
        .expect("info");
        let server = remote_server(&info);
        assert_eq!(server.remote_id.as_str(), "hd-k3f9x2m1");
        assert_eq!(server.name, "web");
        assert_eq!(server.state, ServerState::Running);
        assert_eq!(
            server.resources,
            Resources {
                vcpus: 4,
                memory_mib: 2048,
                disk_gib: 100
            }
        );
        assert_eq!(server.ipv4, vec![Ipv4Addr::new(10, 0, 3, 232)]);
        assert_eq!(
            server.key.map(|k| k.to_string()),
            Some("k3f9x2m1".to_owned())
        );
    }

    #[test]
    fn statuses_and_results_map() {
        assert_eq!(status_of(Some(4)), Status::Stopped);
        assert_eq!(status_of(Some(6)), Status::Creating);
        assert_eq!(status_of(Some(13)), Status::Changing);
        assert!(matches!(
            classify(702, "session [x] not valid", "e"),
            Failure::BadCredentials { .. }
        ));
        assert_eq!(
            classify(11, "env [e] doesn't exist", "environment e"),
            Failure::NotFound {
                what: "environment e".into()
            }
        );
        assert!(matches!(
            classify(1, "environment [e] is busy with another operation", "e"),
            Failure::Busy { .. }
        ));
        assert!(matches!(
            classify(1, "out of cloudlets", "e"),
            Failure::Limit { .. }
        ));
        assert!(matches!(
            classify(1, "environment [e] already exists", "e"),
            Failure::Conflict { .. }
        ));
        assert!(matches!(
            classify(99, "node type [x] is not available", "e"),
            Failure::Rejected { .. }
        ));
    }
}
