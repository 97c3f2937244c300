//! Proxmox VE API2: `{base_url}/api2/json`, `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`,
//! every answer `{"data": ...}`, form-encoded parameters. Servers are the QEMU VMs and LXC
//! containers of the configured node; a server's id is `qemu/VMID` or `lxc/VMID`.
//!
//! How calls map:
//! - list: `GET /nodes/{node}/qemu`, then `GET /nodes/{node}/lxc`: Proxmox does not page, so a
//!   listing is two requests whatever the number of guests. Container ids come as strings.
//! - get: `GET .../{vmid}/status/current` (live) and `GET .../{vmid}/config` (tags, addresses).
//! - power, suspend, unsuspend, delete: `POST .../status/{start|shutdown|reboot|stop|resume}`
//!   and `DELETE .../{vmid}`, each answered with a task id (UPID) that is followed through
//!   `GET /nodes/{node}/tasks/{upid}/status` until it stops; an exit status other than `OK` is
//!   the call's failure. The guest's state is read first, so an action that is already done is
//!   not sent (Proxmox refuses starting a running guest). Suspend is a stop: the server service
//!   records the suspension, which a paused VM could not express (its owner could resume it).
//! - resize: `PUT .../{vmid}/config` with `cores` and `memory` (applied at once, no task), then,
//!   when the disk grows, `PUT .../{vmid}/resize` of `scsi0` (VMs) or `rootfs` (containers) to
//!   an absolute `NG`, whose task is followed. Proxmox cannot shrink a disk; that is refused
//!   before anything is sent. When the disk step fails, cores and memory are put back.
//! - create: `GET /cluster/nextid`, then `POST /nodes/{node}/lxc` for a container template or
//!   `POST /nodes/{node}/qemu` for an ISO, started at once, and the create task followed. Two
//!   creates can draw the same next id; the loser's refusal creates nothing, so it draws again.
//!   A container gets the customer's SSH keys in `ssh-public-keys` and the root password in
//!   `password`; a VM gets them through cloud-init (a `cloudinit` drive on `ide0`, `ciuser`
//!   root, `sshkeys` URL-encoded as the schema's `urlencoded` format wants, `cipassword`).
//! - images: `GET /nodes/{node}/storage/{image_storage}/content` with `content=vztmpl` and
//!   `content=iso`: container templates and ISOs only, so no guest disk or backup volume is
//!   ever offered.
//!
//! Where the create key lives, and why: as a Proxmox tag (`hd-KEY`). Tags are meant for
//! exactly this, show in the web UI, and travel with the guest. A create first looks for a guest
//! of that kind whose tags (when the list shows them) or, for guests named like the new one,
//! whose config carries the key.
//!
//! Errors: 401 and 403 carry the message in the HTTP reason phrase (bad token, missing
//! permission); 400 is "Parameter verification failed." with `errors: {param: message}`; 500
//! carries Proxmox's refusal in the reason phrase ("does not exist", "is locked", "already
//! running"), sorted here into not found, busy, conflict or limit.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::AUTHORIZATION;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

use super::config::{ProviderConfig, required};
use super::http::{Call, Data, Endpoint, Reply, secret_header, segment};
use super::{
    Access, CreateKey, Failure, Health, Image, NewServer, OsImage, PageToken, PowerAction,
    Provider, ProviderError, ProviderKind, RemoteId, RemoteServer, Resources, ServerPage, Usage,
};

mod wire;

use wire::{
    GIB, Guest, NodeEntry, Status, TaskStatus, Version, Volume, failure_of, keys_text, lenient_u64,
    now_of, refusal, remote_server, steps, url_encoded, volume_name, volume_ok,
};

/// How often a create may draw a next id another create took first.
const VMID_ATTEMPTS: usize = 3;
/// The longest pause between two looks at a running task.
const MAX_TASK_POLL: Duration = Duration::from_secs(2);

pub struct Proxmox {
    http: Endpoint,
    token_id: String,
    token_secret: SecretString,
    node: String,
    bridge: String,
    storage: String,
    image_storage: String,
    task_timeout: Duration,
}

impl std::fmt::Debug for Proxmox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxmox")
            .field("http", &self.http)
            .field("token_id", &self.token_id)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl Proxmox {
    pub fn new(name: &str, config: &ProviderConfig) -> Result<Self, String> {
        let http = Endpoint::for_provider(name, ProviderKind::Proxmox, config, "api2/json/")?;
        Ok(Self {
            http,
            token_id: required(config.token_id.as_ref(), name, "token_id")?.clone(),
            token_secret: required(config.token_secret.as_ref(), name, "token_secret")?.clone(),
            node: required(config.node.as_ref(), name, "node")?.clone(),
            bridge: config.bridge.clone().unwrap_or_else(|| "vmbr0".to_owned()),
            storage: config
                .storage
                .clone()
                .unwrap_or_else(|| "local-lvm".to_owned()),
            image_storage: config
                .image_storage
                .clone()
                .unwrap_or_else(|| "local".to_owned()),
            task_timeout: config.task_timeout(),
        })
    }

    async fn call(
        &self,
        call: Call,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: &[(&str, String)],
    ) -> Result<Reply, ProviderError> {
        let url = self.http.url(path)?;
        let authorization = secret_header(&format!(
            "PVEAPIToken={}={}",
            self.token_id,
            self.token_secret.expose_secret()
        ))
        .map_err(|failure| self.http.error(failure))?;
        self.http
            .send(call, |client| {
                let request = client
                    .request(method.clone(), url.clone())
                    .header(AUTHORIZATION, authorization.clone())
                    .query(query);
                if form.is_empty() {
                    request
                } else {
                    request.form(form)
                }
            })
            .await
    }

    /// The `data` of a successful reply, or the failure the reply describes.
    fn data<T: serde::de::DeserializeOwned>(
        &self,
        reply: &Reply,
        what: &str,
    ) -> Result<T, ProviderError> {
        if !reply.is_success() {
            return Err(self.http.error(failure_of(reply, what)));
        }
        reply
            .json::<Data<T>>()
            .map(|data| data.data)
            .map_err(|failure| self.http.error(failure))
    }

    fn guest_path(&self, guest: Guest, vmid: u64) -> String {
        format!("nodes/{}/{}/{vmid}", segment(&self.node), guest.path())
    }

    fn parse_id(&self, id: &RemoteId) -> Result<(Guest, u64), ProviderError> {
        let parsed = id.as_str().split_once('/').and_then(|(kind, vmid)| {
            let guest = match kind {
                "qemu" => Guest::Qemu,
                "lxc" => Guest::Lxc,
                _ => return None,
            };
            vmid.parse().ok().map(|vmid| (guest, vmid))
        });
        parsed.ok_or_else(|| {
            self.http.error(Failure::NotFound {
                what: format!("guest {id}"),
            })
        })
    }

    async fn current(&self, guest: Guest, vmid: u64) -> Result<Status, ProviderError> {
        let path = format!("{}/status/current", self.guest_path(guest, vmid));
        let reply = self.call(Call::Read, Method::GET, &path, &[], &[]).await?;
        self.data(&reply, &format!("guest {}/{vmid}", guest.path()))
    }

    async fn config(&self, guest: Guest, vmid: u64) -> Result<Map<String, Value>, ProviderError> {
        let path = format!("{}/config", self.guest_path(guest, vmid));
        let reply = self.call(Call::Read, Method::GET, &path, &[], &[]).await?;
        self.data(&reply, &format!("guest {}/{vmid}", guest.path()))
    }

    async fn fetch(&self, guest: Guest, vmid: u64) -> Result<RemoteServer, ProviderError> {
        let status = self.current(guest, vmid).await?;
        let config = self.config(guest, vmid).await?;
        Ok(remote_server(guest, vmid, &status, Some(&config)))
    }

    async fn list(&self, guest: Guest) -> Result<Vec<Status>, ProviderError> {
        let path = format!("nodes/{}/{}", segment(&self.node), guest.path());
        let reply = self.call(Call::Read, Method::GET, &path, &[], &[]).await?;
        self.data(&reply, &format!("node {}", self.node))
    }

    /// Starts a task (a write, sent once) and follows it to its end.
    async fn run(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        form: &[(&str, String)],
        what: &str,
    ) -> Result<(), ProviderError> {
        let reply = self.call(Call::Write, method, path, query, form).await?;
        let upid: String = self.data(&reply, what)?;
        self.follow(&upid, what).await
    }

    /// `PUT .../config` with the guest's cores and memory (applied at once, no task).
    async fn set_cores_and_memory(
        &self,
        guest: Guest,
        vmid: u64,
        cores: u64,
        memory_mib: u64,
        what: &str,
    ) -> Result<(), ProviderError> {
        let path = format!("{}/config", self.guest_path(guest, vmid));
        let form = [
            ("cores", cores.to_string()),
            ("memory", memory_mib.to_string()),
        ];
        let reply = self
            .call(Call::Write, Method::PUT, &path, &[], &form)
            .await?;
        self.data::<Value>(&reply, what)?;
        Ok(())
    }

    /// `PUT .../resize` of the guest's disk to `disk_gib`, its task followed.
    async fn grow_disk(
        &self,
        guest: Guest,
        vmid: u64,
        disk_gib: u64,
        what: &str,
    ) -> Result<(), ProviderError> {
        let disk = match guest {
            Guest::Qemu => "scsi0",
            Guest::Lxc => "rootfs",
        };
        let path = format!("{}/resize", self.guest_path(guest, vmid));
        let form = [("disk", disk.to_owned()), ("size", format!("{disk_gib}G"))];
        let reply = self
            .call(Call::Write, Method::PUT, &path, &[], &form)
            .await?;
        // A task id on Proxmox VE 8 and later; older versions answered `null` when done.
        if let Some(upid) = self.data::<Option<String>>(&reply, what)? {
            self.follow(&upid, what).await?;
        }
        Ok(())
    }

    /// Polls a task until it stops; its exit status decides the outcome.
    async fn follow(&self, upid: &str, what: &str) -> Result<(), ProviderError> {
        let node = upid
            .split(':')
            .nth(1)
            .filter(|node| !node.is_empty())
            .unwrap_or(&self.node);
        let path = format!("nodes/{}/tasks/{}/status", segment(node), segment(upid));
        let deadline = Instant::now() + self.task_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            let reply = self.call(Call::Read, Method::GET, &path, &[], &[]).await?;
            let task: TaskStatus = self.data(&reply, &format!("task {upid}"))?;
            if task.status == "stopped" {
                let exit = task.exitstatus.unwrap_or_default();
                if exit == "OK" || exit.starts_with("WARNINGS") {
                    return Ok(());
                }
                let failure = refusal(&exit, what).unwrap_or(Failure::TaskFailed {
                    task: upid.to_owned(),
                    exit_status: exit,
                });
                return Err(self.http.error(failure));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(self.http.error(Failure::StillRunning {
                    task: upid.to_owned(),
                    after: self.task_timeout,
                }));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(MAX_TASK_POLL);
        }
    }

    async fn act(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        let (guest, vmid) = self.parse_id(id)?;
        let status = self.current(guest, vmid).await?;
        let steps = steps(action, &now_of(&status)).map_err(|failure| self.http.error(failure))?;
        for step in steps {
            let path = format!("{}/status/{step}", self.guest_path(guest, vmid));
            self.run(Method::POST, &path, &[], &[], &format!("guest {id}"))
                .await?;
        }
        Ok(())
    }

    /// The guest of this kind created with `key`: by its tags when the list shows them, else
    /// by the config of the guests named like the new one.
    async fn find_by_key(
        &self,
        guest: Guest,
        key: &CreateKey,
        name: &str,
    ) -> Result<Option<u64>, ProviderError> {
        let listed = self.list(guest).await?;
        let tagged = listed.iter().find(|status| {
            status.tags.as_deref().and_then(CreateKey::find_in).as_ref() == Some(key)
        });
        if let Some(vmid) = tagged.and_then(|status| status.vmid) {
            return Ok(Some(vmid));
        }
        for status in listed
            .iter()
            .filter(|status| status.name.as_deref() == Some(name))
        {
            let Some(vmid) = status.vmid else { continue };
            let config = match self.config(guest, vmid).await {
                Ok(config) => config,
                Err(error) if error.is_not_found() => continue,
                Err(error) => return Err(error),
            };
            let tags = config.get("tags").and_then(Value::as_str);
            if tags.and_then(CreateKey::find_in).as_ref() == Some(key) {
                return Ok(Some(vmid));
            }
        }
        Ok(None)
    }

    fn create_form(
        &self,
        guest: Guest,
        vmid: u64,
        new: &NewServer,
        image: &str,
    ) -> Vec<(&'static str, String)> {
        let mut form = vec![
            ("vmid", vmid.to_string()),
            ("memory", new.resources.memory_mib.to_string()),
            ("cores", new.resources.vcpus.to_string()),
            ("tags", new.key.marker()),
            ("start", "1".to_owned()),
        ];
        let disk = format!("{}:{}", self.storage, new.resources.disk_gib);
        match guest {
            Guest::Qemu => form.extend([
                ("name", new.hostname.to_string()),
                ("net0", format!("virtio,bridge={}", self.bridge)),
                ("scsihw", "virtio-scsi-single".to_owned()),
                ("scsi0", disk),
                ("ide2", format!("{image},media=cdrom")),
                ("ostype", "l26".to_owned()),
            ]),
            Guest::Lxc => {
                form.extend([
                    ("ostemplate", image.to_owned()),
                    ("hostname", new.hostname.to_string()),
                    ("rootfs", disk),
                    ("net0", format!("name=eth0,bridge={},ip=dhcp", self.bridge)),
                    ("unprivileged", "1".to_owned()),
                ]);
                if !new.ssh_keys.is_empty() {
                    form.push(("ssh-public-keys", keys_text(new)));
                }
                if let Some(password) = &new.root_password {
                    form.push(("password", password.expose().to_owned()));
                }
            }
        }
        if guest == Guest::Qemu && (!new.ssh_keys.is_empty() || new.root_password.is_some()) {
            form.extend([
                ("ide0", format!("{}:cloudinit", self.storage)),
                ("ciuser", "root".to_owned()),
            ]);
            if !new.ssh_keys.is_empty() {
                form.push(("sshkeys", url_encoded(&keys_text(new))));
            }
            if let Some(password) = &new.root_password {
                form.push(("cipassword", password.expose().to_owned()));
            }
        }
        form
    }

    /// The container templates (`vztmpl`) or ISOs (`iso`) of the image storage.
    async fn volumes(&self, content: &str) -> Result<Vec<String>, ProviderError> {
        let path = format!(
            "nodes/{}/storage/{}/content",
            segment(&self.node),
            segment(&self.image_storage)
        );
        let reply = self
            .call(
                Call::Read,
                Method::GET,
                &path,
                &[("content", content.to_owned())],
                &[],
            )
            .await?;
        let volumes: Vec<Volume> = self.data(&reply, &format!("storage {}", self.image_storage))?;
        let prefix = format!("{}:{content}/", self.image_storage);
        Ok(volumes
            .into_iter()
            .filter(|volume| {
                volume.content.as_deref().is_none_or(|c| c == content)
                    && volume.volid.starts_with(&prefix)
                    && volume_ok(&volume.volid)
            })
            .map(|volume| volume.volid)
            .collect())
    }
}

#[async_trait]
impl Provider for Proxmox {
    fn name(&self) -> &str {
        self.http.provider()
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Proxmox
    }

    async fn list_servers(&self, page: Option<&PageToken>) -> Result<ServerPage, ProviderError> {
        let (guest, next) = match page.map(PageToken::as_str) {
            None => (Guest::Qemu, Some(PageToken::new("lxc"))),
            Some("lxc") => (Guest::Lxc, None),
            Some(other) => {
                return Err(self.http.error(Failure::Protocol(format!(
                    "{other:?} is not a Proxmox page token"
                ))));
            }
        };
        let servers = self
            .list(guest)
            .await?
            .iter()
            .filter_map(|status| {
                status
                    .vmid
                    .map(|vmid| remote_server(guest, vmid, status, None))
            })
            .collect();
        Ok(ServerPage { servers, next })
    }

    async fn server(&self, id: &RemoteId) -> Result<RemoteServer, ProviderError> {
        let (guest, vmid) = self.parse_id(id)?;
        self.fetch(guest, vmid).await
    }

    async fn power(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        self.act(id, action).await
    }

    async fn create(&self, new: &NewServer) -> Result<RemoteServer, ProviderError> {
        new.resources.check_for(self)?;
        let (guest, image) = match &new.image {
            Image::Template(volume) => (Guest::Lxc, volume),
            Image::Iso(volume) => (Guest::Qemu, volume),
        };
        if !volume_ok(image) {
            return Err(self.http.error(Failure::Invalid {
                field: "image",
                message: format!(
                    "{image:?} is not a Proxmox volume; write it like local:vztmpl/debian-12.tar.zst or local:iso/debian-12.iso."
                ),
            }));
        }
        if let Some(vmid) = self
            .find_by_key(guest, &new.key, new.hostname.as_str())
            .await?
        {
            return self.fetch(guest, vmid).await;
        }
        let path = format!("nodes/{}/{}", segment(&self.node), guest.path());
        let mut attempt = 1;
        loop {
            let reply = self
                .call(Call::Read, Method::GET, "cluster/nextid", &[], &[])
                .await?;
            let next: Value = self.data(&reply, "next free id")?;
            let vmid = lenient_u64(&next).ok().flatten().ok_or_else(|| {
                self.http
                    .error(Failure::Protocol(format!("nextid answered {next}")))
            })?;
            let form = self.create_form(guest, vmid, new, image);
            let what = format!("guest {}/{vmid}", guest.path());
            match self.run(Method::POST, &path, &[], &form, &what).await {
                Ok(()) => return self.fetch(guest, vmid).await,
                Err(error)
                    if attempt < VMID_ATTEMPTS
                        && matches!(&error.failure, Failure::Conflict { detail } if detail.contains("already exists")) =>
                {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn images(&self) -> Result<Vec<OsImage>, ProviderError> {
        let mut images: Vec<OsImage> = self
            .volumes("vztmpl")
            .await?
            .into_iter()
            .map(|volid| OsImage {
                name: volume_name(&volid),
                image: Image::Template(volid),
            })
            .collect();
        images.extend(self.volumes("iso").await?.into_iter().map(|volid| OsImage {
            name: format!("{} (installer)", volume_name(&volid)),
            image: Image::Iso(volid),
        }));
        Ok(images)
    }

    fn access(&self) -> Access {
        Access {
            ssh_keys: true,
            root_password: true,
        }
    }

    async fn resize(&self, id: &RemoteId, to: &Resources) -> Result<(), ProviderError> {
        to.check_for(self)?;
        let (guest, vmid) = self.parse_id(id)?;
        let what = format!("guest {id}");
        let status = self.current(guest, vmid).await?;
        let disk_gib = status.maxdisk.unwrap_or(0) / GIB;
        if to.disk_gib < disk_gib {
            return Err(self.http.error(Failure::Rejected {
                detail: format!("the disk has {disk_gib} GiB and Proxmox cannot shrink it"),
            }));
        }
        self.set_cores_and_memory(guest, vmid, to.vcpus.into(), to.memory_mib, &what)
            .await?;
        if to.disk_gib > disk_gib
            && let Err(error) = self.grow_disk(guest, vmid, to.disk_gib, &what).await
        {
            // Cores and memory were changed and can be put back (a disk cannot shrink), so
            // that a failed resize leaves the guest at the size it is billed for.
            // What the guest had before, read as every listing reads it.
            let before = remote_server(guest, vmid, &status, None).resources;
            let undone = self
                .set_cores_and_memory(guest, vmid, before.vcpus.into(), before.memory_mib, &what)
                .await;
            if let Err(undo) = undone {
                tracing::error!(server = %id, %error, %undo,
                    "a resize failed at the disk and its new cores and memory could not be put back");
            }
            return Err(error);
        }
        Ok(())
    }

    async fn delete(&self, id: &RemoteId) -> Result<(), ProviderError> {
        let (guest, vmid) = self.parse_id(id)?;
        match self.act(id, PowerAction::Poweroff).await {
            Ok(()) => {}
            Err(error) if error.is_not_found() => return Ok(()),
            Err(error) => return Err(error),
        }
        let query = [
            ("purge", "1".to_owned()),
            ("destroy-unreferenced-disks", "1".to_owned()),
        ];
        let path = self.guest_path(guest, vmid);
        match self
            .run(Method::DELETE, &path, &query, &[], &format!("guest {id}"))
            .await
        {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn usage(&self, id: &RemoteId) -> Result<Option<Usage>, ProviderError> {
        let (guest, vmid) = self.parse_id(id)?;
        let status = self.current(guest, vmid).await?;
        Ok(Some(Usage {
            rx_bytes: status.netin.unwrap_or(0),
            tx_bytes: status.netout.unwrap_or(0),
            period_start: None,
            limit_gib: None,
        }))
    }

    async fn health(&self) -> Result<Health, ProviderError> {
        let started = Instant::now();
        let reply = self
            .call(Call::Read, Method::GET, "version", &[], &[])
            .await?;
        let version: Version = self.data(&reply, "version")?;
        let reply = self
            .call(Call::Read, Method::GET, "nodes", &[], &[])
            .await?;
        let nodes: Vec<NodeEntry> = self.data(&reply, "node list")?;
        let node = nodes
            .iter()
            .find(|entry| entry.node == self.node)
            .ok_or_else(|| {
                self.http.error(Failure::NotFound {
                    what: format!(
                        "node {:?} (check providers.{}.node)",
                        self.node,
                        self.name()
                    ),
                })
            })?;
        let node_status = node.status.clone().unwrap_or_else(|| "unknown".to_owned());
        if node_status != "online" {
            return Err(self.http.error(Failure::ProviderFailed {
                status: 503,
                detail: format!("node {} is {node_status}", self.node),
            }));
        }
        Ok(Health {
            latency: started.elapsed(),
            detail: format!(
                "Proxmox VE {}, node {} online",
                version.version.unwrap_or_default(),
                self.node
            ),
        })
    }
}

#[cfg(test)]
mod tests;
