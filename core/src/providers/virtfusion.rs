//! VirtFusion API v1: `{base_url}/api/v1`, `Authorization: Bearer TOKEN`, results wrapped in
//! `data`, the server list as a Laravel paginator (`results` 1-200 per page, `page`).
//!
//! How calls map:
//! - list: `GET /servers?type=full&results=N&page=P`, one request per page. The full shape has
//!   names, sizes, addresses and the owner, but not the power state (that is live, per server),
//!   so listed built servers are [`ServerState::Unknown`] unless suspended.
//! - get: `GET /servers/{id}?remoteState=true`, whose `remoteState.state` is libvirt's word
//!   (`running`, `shutoff`).
//! - power: `POST /servers/{id}/power/{boot|shutdown|restart|poweroff}`; suspend and unsuspend
//!   are VirtFusion's own (`POST /servers/{id}/suspend|unsuspend`), unsuspend then boots.
//! - create: the OS template is checked against the package
//!   (`GET /media/templates/fromServerPackageSpec/{package}`), so a wrong one is refused before
//!   anything exists; the customer's VirtFusion user is found by external relation (hostdeck's
//!   user id, `GET /users/{id}/byExtRelation`) or created (`POST /users`); then `POST /servers` from the
//!   configured package with the plan's sizes, then `POST /servers/{id}/build` with the OS
//!   template, the hostname, the customer's SSH keys (as ids of the VirtFusion user's keys,
//!   found with `GET /ssh_keys/user/{user}` or added with `POST /ssh_keys`) and a name that ends
//!   in the create key's marker (`web [hd-KEY]`). VirtFusion chooses the root password itself
//!   and mails it to the user, so no password is sent.
//! - images: the OS templates of the configured package,
//!   `GET /media/templates/fromServerPackageSpec/{package}`.
//! - resize: `PUT /servers/{id}/modify/cpuCores` (`{"cores"}`) and
//!   `PUT /servers/{id}/modify/memory` (`{"memory"}`, MB), each only when it changes. API v1
//!   has no call that grows a server's disk, so a resize that needs more disk is refused as
//!   unsupported before anything is sent (staff grow it in the panel, or choose a size with the
//!   same disk).
//! - delete: `DELETE /servers/{id}?delay=0`; usage: `GET /servers/{id}/traffic`; health:
//!   `GET /connect`.
//!
//! Where the create key lives, and why: VirtFusion's create takes no name, its build does, and
//! the name is the only free text the list shows. So a create first reads the list for a name
//! carrying the key (one request per page: 50 on a panel of 10,000 servers, a price paid only
//! by creates). If the build fails, the server is read back: built with the key means the
//! build landed after all; otherwise the unbuilt server is deleted, so a retry starts clean. The
//! one gap left is a lost answer to `POST /servers` itself: that leaves an unbuilt, unnamed
//! server, which never runs and which the sync reports as unknown to hostdeck.
//!
//! Errors: 401 bad token, 404 unknown, 409 refused in this state, 422 invalid (or a limit), 423
//! tasks pending, 429 rate limited, 503 hypervisor maintenance; bodies `{"errors":[...]}` or
//! `{"msg":"..."}`.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::config::{DEFAULT_PAGE_SIZE, ProviderConfig, required};
use super::http::{Call, Data, Endpoint, Reply, common_failure, secret_header};
use super::{
    Access, CreateKey, Failure, Health, Image, NewServer, OsImage, Owner, PageToken, PowerAction,
    Provider, ProviderError, ProviderKind, RemoteId, RemoteServer, Resources, ServerPage,
    ServerState, Usage, find_in_pages,
};
use crate::ids::UserId;
use crate::ssh_keys::SshPublicKey;

pub struct VirtFusion {
    http: Endpoint,
    token: SecretString,
    hypervisor_group_id: u64,
    package_id: u64,
    page_size: u32,
}

impl std::fmt::Debug for VirtFusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtFusion")
            .field("http", &self.http)
            .field("hypervisor_group_id", &self.hypervisor_group_id)
            .field("package_id", &self.package_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Paginator {
    data: Vec<VfServer>,
    current_page: u64,
    last_page: u64,
}

/// A server in VirtFusion's full shape; only what hostdeck reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VfServer {
    id: u64,
    #[serde(default)]
    name: Option<String>,
    hostname: Option<String>,
    /// `queued`, `building`, `complete`.
    state: Option<String>,
    #[serde(default)]
    suspended: bool,
    settings: Option<VfSettings>,
    network: Option<VfNetwork>,
    /// The user object, or just an id in the simple shape.
    #[serde(default)]
    owner: Value,
    /// `false` when not asked for (or the hypervisor did not answer), else an object.
    #[serde(default)]
    remote_state: Value,
}

#[derive(Debug, Deserialize)]
struct VfSettings {
    resources: Option<VfResources>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VfResources {
    #[serde(default)]
    memory: u64,
    #[serde(default)]
    storage: u64,
    #[serde(default)]
    cpu_cores: u64,
}

#[derive(Debug, Deserialize)]
struct VfNetwork {
    #[serde(default)]
    interfaces: Vec<VfInterface>,
}

#[derive(Debug, Deserialize)]
struct VfInterface {
    #[serde(default)]
    ipv4: Vec<VfAddress>,
}

#[derive(Debug, Deserialize)]
struct VfAddress {
    address: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct VfUser {
    id: u64,
}

/// A group of OS templates a package offers.
#[derive(Debug, Deserialize)]
struct VfTemplateGroup {
    #[serde(default)]
    templates: Vec<VfTemplate>,
}

#[derive(Debug, Deserialize)]
struct VfTemplate {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    variant: Option<String>,
}

impl VfTemplate {
    /// `Debian 12 (Bookworm)`.
    fn label(&self) -> String {
        let mut label = self.name.clone();
        if let Some(version) = self.version.as_deref().filter(|v| !v.is_empty()) {
            label = format!("{label} {version}");
        }
        if let Some(variant) = self.variant.as_deref().filter(|v| !v.is_empty()) {
            label = format!("{label} ({variant})");
        }
        label.trim().to_owned()
    }
}

/// A VirtFusion user's SSH key.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VfSshKey {
    id: u64,
    #[serde(default)]
    public_key: String,
}

#[derive(Debug, Deserialize)]
struct VfTraffic {
    #[serde(default)]
    monthly: Vec<VfMonth>,
}

#[derive(Debug, Deserialize)]
struct VfMonth {
    start: Option<String>,
    #[serde(default)]
    rx: u64,
    #[serde(default)]
    tx: u64,
    limit: Option<u64>,
}

impl VirtFusion {
    pub fn new(name: &str, config: &ProviderConfig) -> Result<Self, String> {
        let http = Endpoint::for_provider(name, ProviderKind::Virtfusion, config, "api/v1/")?;
        Ok(Self {
            http,
            token: required(config.token.as_ref(), name, "token")?.clone(),
            hypervisor_group_id: *required(
                config.hypervisor_group_id.as_ref(),
                name,
                "hypervisor_group_id",
            )?,
            package_id: *required(config.package_id.as_ref(), name, "package_id")?,
            page_size: config.page_size.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 200),
        })
    }

    async fn call(
        &self,
        call: Call,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Reply, ProviderError> {
        let url = self.http.url(path)?;
        let authorization = secret_header(&format!("Bearer {}", self.token.expose_secret()))
            .map_err(|failure| self.http.error(failure))?;
        self.http
            .send(call, |client| {
                let request = client
                    .request(method.clone(), url.clone())
                    .header(AUTHORIZATION, authorization.clone())
                    .header(ACCEPT, "application/json")
                    .query(query);
                match &body {
                    Some(body) => request.json(body),
                    None => request,
                }
            })
            .await
    }

    /// The reply if it is a success, else the failure it describes.
    fn accept(&self, reply: Reply, what: &str) -> Result<Reply, ProviderError> {
        if reply.is_success() {
            Ok(reply)
        } else {
            Err(self.http.error(failure_of(&reply, what)))
        }
    }

    fn read<T: serde::de::DeserializeOwned>(&self, reply: &Reply) -> Result<T, ProviderError> {
        reply.json().map_err(|failure| self.http.error(failure))
    }

    fn server_id(&self, id: &RemoteId) -> Result<u64, ProviderError> {
        id.as_str().parse().map_err(|_| {
            self.http.error(Failure::NotFound {
                what: format!("server {id}"),
            })
        })
    }

    async fn fetch(&self, id: u64) -> Result<RemoteServer, ProviderError> {
        let reply = self
            .call(
                Call::Read,
                Method::GET,
                &format!("servers/{id}"),
                &[("remoteState", "true".into())],
                None,
            )
            .await?;
        let reply = self.accept(reply, &format!("server {id}"))?;
        let server: Data<VfServer> = self.read(&reply)?;
        Ok(remote_server(&server.data))
    }

    async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        what: &str,
    ) -> Result<Reply, ProviderError> {
        let reply = self.call(Call::Write, method, path, &[], body).await?;
        self.accept(reply, what)
    }

    /// The server created with `key`, read from the list (one request per page).
    async fn find_by_key(&self, key: &CreateKey) -> Result<Option<u64>, ProviderError> {
        let found = find_in_pages(self, |server| server.key.as_ref() == Some(key)).await?;
        Ok(found.and_then(|server| server.remote_id.as_str().parse().ok()))
    }

    /// Refuses a template the package does not offer before anything is created, so a typo in
    /// a plan does not leave an unbuilt server behind.
    async fn check_template(&self, package: u64, template: u64) -> Result<(), ProviderError> {
        let offered: Vec<u64> = self
            .templates(package)
            .await?
            .iter()
            .map(|t| t.id)
            .collect();
        if offered.contains(&template) {
            return Ok(());
        }
        let list = offered
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Err(self.http.error(Failure::Invalid {
            field: "image",
            message: format!(
                "VirtFusion package {package} does not offer operating system template {template}; it offers: {list}."
            ),
        }))
    }

    /// The OS templates a package offers.
    async fn templates(&self, package: u64) -> Result<Vec<VfTemplate>, ProviderError> {
        let path = format!("media/templates/fromServerPackageSpec/{package}");
        let reply = self.call(Call::Read, Method::GET, &path, &[], None).await?;
        let reply = self.accept(reply, &format!("package {package}"))?;
        let groups: Data<Vec<VfTemplateGroup>> = self.read(&reply)?;
        Ok(groups
            .data
            .into_iter()
            .flat_map(|group| group.templates)
            .collect())
    }

    /// The ids of `keys` among the VirtFusion user's SSH keys, adding the ones it lacks.
    async fn key_ids(&self, user: u64, keys: &[SshPublicKey]) -> Result<Vec<u64>, ProviderError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let path = format!("ssh_keys/user/{user}");
        let reply = self.call(Call::Read, Method::GET, &path, &[], None).await?;
        let reply = self.accept(reply, &format!("user {user}"))?;
        let known: Data<Vec<VfSshKey>> = self.read(&reply)?;
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            // Compared without the comment, which VirtFusion may keep or drop.
            let blob = |line: &str| line.split(' ').take(2).collect::<Vec<_>>().join(" ");
            if let Some(found) = known
                .data
                .iter()
                .find(|k| blob(&k.public_key) == blob(key.as_str()))
            {
                ids.push(found.id);
                continue;
            }
            let body = json!({
                "userId": user,
                "name": format!("hostdeck {}", key.fingerprint()),
                "publicKey": key.as_str(),
            });
            let reply = self
                .write(Method::POST, "ssh_keys", Some(body), "SSH key")
                .await?;
            ids.push(self.read::<Data<VfSshKey>>(&reply)?.data.id);
        }
        Ok(ids)
    }

    /// The customer's VirtFusion user id, creating the user on their first server.
    async fn user_for(&self, owner: &Owner) -> Result<u64, ProviderError> {
        let path = format!("users/{}/byExtRelation", owner.user.0);
        let reply = self.call(Call::Read, Method::GET, &path, &[], None).await?;
        if reply.is_success() {
            return Ok(self.read::<Data<VfUser>>(&reply)?.data.id);
        }
        if reply.status.as_u16() != 404 {
            return Err(self.http.error(failure_of(&reply, "user")));
        }
        let body = json!({
            "name": owner.name,
            "email": owner.email.as_str(),
            "extRelationId": owner.user.0,
        });
        let reply = self
            .call(Call::Write, Method::POST, "users", &[], Some(body))
            .await?;
        if reply.is_success() {
            return Ok(self.read::<Data<VfUser>>(&reply)?.data.id);
        }
        // Two first servers at once: the other create made the user; use it.
        let again = self.call(Call::Read, Method::GET, &path, &[], None).await?;
        if again.is_success() {
            return Ok(self.read::<Data<VfUser>>(&again)?.data.id);
        }
        Err(self.http.error(failure_of(&reply, "user")))
    }

    /// After a failed build: the server if the build landed anyway, else the unbuilt server
    /// removed so nothing is left behind.
    async fn recover_failed_build(&self, id: u64, key: &CreateKey) -> Option<RemoteServer> {
        match self.fetch(id).await {
            Ok(server) if server.key.as_ref() == Some(key) => return Some(server),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(provider = %self.http.provider(), server = id, %error, "could not read back a server whose build failed");
            }
        }
        let deleted = self
            .write(
                Method::DELETE,
                &format!("servers/{id}"),
                None,
                &format!("server {id}"),
            )
            .await;
        if let Err(error) = deleted {
            tracing::warn!(
                provider = %self.http.provider(),
                server = id,
                %error,
                "an unbuilt VirtFusion server was left behind after a failed build; delete it in the panel"
            );
        }
        None
    }
}

/// The failure a non-success reply describes.
fn failure_of(reply: &Reply, what: &str) -> Failure {
    let message = message_of(&reply.body).unwrap_or_else(|| reply.text());
    classify(reply.status.as_u16(), &message, reply.retry_after, what)
}

/// VirtFusion's error text: `{"errors":[...]}` or `{"msg":"..."}`.
fn message_of(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    if let Some(errors) = value.get("errors") {
        let parts: Vec<String> = match errors {
            Value::Array(list) => list
                .iter()
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
                .collect(),
            Value::Object(map) => map
                .values()
                .flat_map(|v| match v {
                    Value::Array(list) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                    other => vec![
                        other
                            .as_str()
                            .map_or_else(|| other.to_string(), str::to_owned),
                    ],
                })
                .collect(),
            other => vec![other.to_string()],
        };
        return Some(parts.join(" "));
    }
    ["msg", "message"]
        .iter()
        .find_map(|key| value.get(key).and_then(Value::as_str))
        .map(str::to_owned)
}

fn classify(status: u16, message: &str, retry_after: Option<Duration>, what: &str) -> Failure {
    let detail = if message.is_empty() {
        format!("HTTP {status}")
    } else {
        message.to_owned()
    };
    match status {
        404 => Failure::NotFound {
            what: what.to_owned(),
        },
        409 => Failure::Conflict { detail },
        422 if Failure::mentions_limit(&detail) => Failure::Limit { detail },
        400 | 422 => Failure::Rejected { detail },
        423 => Failure::Busy { detail },
        503 => Failure::Maintenance { detail },
        _ => common_failure(status, message, retry_after)
            .unwrap_or_else(|| Failure::Protocol(format!("HTTP {status}: {detail}"))),
    }
}

/// `web [hd-KEY]` is the name `web` and the key; any other name is kept whole.
fn split_name(name: &str) -> (String, Option<CreateKey>) {
    if let Some(open) = name.rfind(" [")
        && let Some(inner) = name[open + 2..].strip_suffix(']')
        && let Some(key) = CreateKey::find_in(inner)
        && inner == key.marker()
    {
        return (name[..open].to_owned(), Some(key));
    }
    (name.to_owned(), CreateKey::find_in(name))
}

fn state_of(server: &VfServer) -> ServerState {
    if server.suspended {
        return ServerState::Suspended;
    }
    if matches!(server.state.as_deref(), Some("queued" | "building")) {
        return ServerState::Building;
    }
    match server.remote_state.get("state").and_then(Value::as_str) {
        Some("running") => ServerState::Running,
        Some("shutoff" | "shutdown" | "crashed" | "paused" | "pmsuspended") => ServerState::Stopped,
        _ => ServerState::Unknown,
    }
}

fn remote_server(server: &VfServer) -> RemoteServer {
    let (name, key) = split_name(server.name.as_deref().unwrap_or_default());
    let resources = server
        .settings
        .as_ref()
        .and_then(|settings| settings.resources.as_ref());
    let ipv4 = server
        .network
        .iter()
        .flat_map(|network| &network.interfaces)
        .flat_map(|interface| &interface.ipv4)
        .filter(|address| address.enabled)
        .filter_map(|address| address.address.parse::<Ipv4Addr>().ok())
        .collect();
    let owner = server
        .owner
        .get("extRelationId")
        .and_then(|ext| {
            ext.as_i64()
                .or_else(|| ext.as_str().and_then(|s| s.parse().ok()))
        })
        .map(UserId);
    RemoteServer {
        remote_id: RemoteId::new(server.id.to_string()),
        name,
        hostname: server.hostname.clone().filter(|h| !h.is_empty()),
        state: state_of(server),
        resources: Resources {
            vcpus: resources.map_or(0, |r| u32::try_from(r.cpu_cores).unwrap_or(u32::MAX)),
            memory_mib: resources.map_or(0, |r| r.memory),
            disk_gib: resources.map_or(0, |r| r.storage),
        },
        ipv4,
        key,
        owner,
    }
}

#[async_trait]
impl Provider for VirtFusion {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Virtfusion
    }

    async fn list_servers(&self, page: Option<&PageToken>) -> Result<ServerPage, ProviderError> {
        let number: u64 = match page {
            None => 1,
            Some(token) => token.as_str().parse().map_err(|_| {
                self.http.error(Failure::Protocol(format!(
                    "{:?} is not a VirtFusion page number",
                    token.as_str()
                )))
            })?,
        };
        let query = [
            ("type", "full".to_owned()),
            ("results", self.page_size.to_string()),
            ("page", number.to_string()),
        ];
        let reply = self
            .call(Call::Read, Method::GET, "servers", &query, None)
            .await?;
        let reply = self.accept(reply, "server list")?;
        let page: Paginator = self.read(&reply)?;
        let next = (page.current_page < page.last_page)
            .then(|| PageToken::new((page.current_page + 1).to_string()));
        Ok(ServerPage {
            servers: page.data.iter().map(remote_server).collect(),
            next,
        })
    }

    async fn server(&self, id: &RemoteId) -> Result<RemoteServer, ProviderError> {
        self.fetch(self.server_id(id)?).await
    }

    async fn power(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        let number = self.server_id(id)?;
        self.write(
            Method::POST,
            &format!("servers/{number}/power/{}", action.as_str()),
            None,
            &format!("server {number}"),
        )
        .await?;
        Ok(())
    }

    async fn create(&self, new: &NewServer) -> Result<RemoteServer, ProviderError> {
        new.resources.check_for(self)?;
        let template: u64 = match &new.image {
            Image::Template(id) => id.trim().parse().map_err(|_| {
                self.http.error(Failure::Invalid {
                    field: "image",
                    message: format!("VirtFusion OS templates are numbers such as 11, not {id:?}."),
                })
            })?,
            Image::Iso(_) => {
                return Err(self.http.error(Failure::Invalid {
                    field: "image",
                    message: "VirtFusion installs from OS templates; it cannot create a server from an ISO."
                        .into(),
                }));
            }
        };
        let package: u64 = match &new.plan {
            None => self.package_id,
            Some(plan) => plan.trim().parse().map_err(|_| {
                self.http.error(Failure::Invalid {
                    field: "plan",
                    message: format!("A VirtFusion package is a number such as 1, not {plan:?}."),
                })
            })?,
        };
        if let Some(existing) = self.find_by_key(&new.key).await? {
            return self.fetch(existing).await;
        }
        self.check_template(package, template).await?;
        let user = self.user_for(&new.owner).await?;
        // Before the server exists, so a refused key leaves nothing behind.
        let keys = self.key_ids(user, &new.ssh_keys).await?;
        let body = json!({
            "packageId": package,
            "userId": user,
            "hypervisorId": self.hypervisor_group_id,
            "ipv4": 1,
            "cpuCores": new.resources.vcpus,
            "memory": new.resources.memory_mib,
            "storage": new.resources.disk_gib,
        });
        let reply = self
            .write(
                Method::POST,
                "servers",
                Some(body),
                "package, user or hypervisor group",
            )
            .await?;
        let id = self.read::<Data<VfServer>>(&reply)?.data.id;
        let display: String = new.name.chars().take(60).collect();
        let mut build = json!({
            "operatingSystemId": template,
            "name": format!("{} [{}]", display.trim(), new.key.marker()),
            "hostname": new.hostname.as_str(),
        });
        if !keys.is_empty() {
            build["sshKeys"] = json!(keys);
        }
        let built = self
            .write(
                Method::POST,
                &format!("servers/{id}/build"),
                Some(build),
                &format!("server {id}"),
            )
            .await;
        if let Err(error) = built {
            return match self.recover_failed_build(id, &new.key).await {
                Some(server) => Ok(server),
                None => Err(error),
            };
        }
        self.fetch(id).await
    }

    async fn images(&self) -> Result<Vec<OsImage>, ProviderError> {
        Ok(self
            .templates(self.package_id)
            .await?
            .iter()
            .map(|template| OsImage {
                image: Image::Template(template.id.to_string()),
                name: template.label(),
            })
            .collect())
    }

    fn access(&self) -> Access {
        Access {
            ssh_keys: true,
            root_password: false,
        }
    }

    async fn suspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        let number = self.server_id(id)?;
        self.write(
            Method::POST,
            &format!("servers/{number}/suspend"),
            None,
            &format!("server {number}"),
        )
        .await?;
        Ok(())
    }

    async fn unsuspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        let number = self.server_id(id)?;
        self.write(
            Method::POST,
            &format!("servers/{number}/unsuspend"),
            None,
            &format!("server {number}"),
        )
        .await?;
        self.power(id, PowerAction::Boot).await
    }

    async fn resize(&self, id: &RemoteId, to: &Resources) -> Result<(), ProviderError> {
        to.check_for(self)?;
        let number = self.server_id(id)?;
        let now = self.fetch(number).await?.resources;
        if to.disk_gib != now.disk_gib {
            return Err(self.http.error(Failure::Unsupported {
                what: format!(
                    "change a server's disk ({} GiB) through VirtFusion's API",
                    now.disk_gib
                ),
            }));
        }
        let what = format!("server {number}");
        let set_cores = async |cores: u32| {
            self.write(
                Method::PUT,
                &format!("servers/{number}/modify/cpuCores"),
                Some(json!({ "cores": cores })),
                &what,
            )
            .await
        };
        if to.vcpus != now.vcpus {
            set_cores(to.vcpus).await?;
        }
        if to.memory_mib != now.memory_mib
            && let Err(error) = self
                .write(
                    Method::PUT,
                    &format!("servers/{number}/modify/memory"),
                    Some(json!({ "memory": to.memory_mib })),
                    &what,
                )
                .await
        {
            // The cores were changed: put them back, so that a failed resize leaves the
            // server at the size it is billed for.
            if to.vcpus != now.vcpus
                && let Err(undo) = set_cores(now.vcpus).await
            {
                tracing::error!(server = %id, %error, %undo,
                    "a resize failed at the memory and the new cores could not be put back");
            }
            return Err(error);
        }
        Ok(())
    }

    async fn delete(&self, id: &RemoteId) -> Result<(), ProviderError> {
        let number = self.server_id(id)?;
        let reply = self
            .call(
                Call::Write,
                Method::DELETE,
                &format!("servers/{number}"),
                &[("delay", "0".into())],
                None,
            )
            .await?;
        if reply.status.as_u16() == 404 {
            return Ok(());
        }
        self.accept(reply, &format!("server {number}"))?;
        Ok(())
    }

    async fn usage(&self, id: &RemoteId) -> Result<Option<Usage>, ProviderError> {
        let number = self.server_id(id)?;
        let reply = self
            .call(
                Call::Read,
                Method::GET,
                &format!("servers/{number}/traffic"),
                &[],
                None,
            )
            .await?;
        let reply = self.accept(reply, &format!("server {number}"))?;
        let traffic: Data<VfTraffic> = self.read(&reply)?;
        Ok(traffic.data.monthly.first().map(|month| Usage {
            rx_bytes: month.rx,
            tx_bytes: month.tx,
            period_start: month
                .start
                .as_deref()
                .and_then(|start| chrono::NaiveDate::parse_from_str(start, "%Y-%m-%d").ok()),
            limit_gib: month.limit.filter(|limit| *limit > 0),
        }))
    }

    async fn health(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let reply = self
            .call(Call::Read, Method::GET, "connect", &[], None)
            .await?;
        self.accept(reply, "connection test")?;
        Ok(Health {
            latency: started.elapsed(),
            detail: "VirtFusion API v1 answered".into(),
        })
    }
}

#[cfg(test)]
mod tests;
