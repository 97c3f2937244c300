//! The cluster a fake Proxmox VE holds: nodes, guests (QEMU VMs and LXC containers) and the tasks
//! that change them.
//!
//! Every change is a task with a UPID. A task runs for the configured duration and then takes
//! effect, or fails with an error exit status; tasks advance lazily, whenever the cluster is
//! looked at, so no timer runs in the background. What Proxmox checks before it starts a worker
//! is checked at once (an HTTP 500 with the message); what its worker checks is checked when the
//! task ends (an exit status other than `OK`), following qemu-server and pve-container.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// Which kind of guest, and so which half of the API (`qemu` or `lxc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuestKind {
    Qemu,
    Lxc,
}

impl GuestKind {
    pub fn path(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu",
            GuestKind::Lxc => "lxc",
        }
    }

    fn label(self) -> &'static str {
        match self {
            GuestKind::Qemu => "VM",
            GuestKind::Lxc => "CT",
        }
    }

    fn task_prefix(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qm",
            GuestKind::Lxc => "vz",
        }
    }

    fn config_dir(self) -> &'static str {
        match self {
            GuestKind::Qemu => "qemu-server",
            GuestKind::Lxc => "lxc",
        }
    }
}

/// A guest's run state. `Paused` is a suspended VM (`qmpstatus: paused`) or a frozen container;
/// Proxmox reports both as `status: running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    Running,
    Stopped,
    Paused,
}

/// A guest as the fake holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Guest {
    pub vmid: u32,
    pub node: String,
    pub kind: GuestKind,
    pub name: String,
    pub power: PowerState,
    /// A config lock (`create` while being created, or one a test set, e.g. `backup`).
    pub lock: Option<String>,
    pub memory_mb: u64,
    pub cores: u64,
    pub disk_gb: u64,
    /// The parameters it was created with, as Proxmox keeps them in its config.
    pub config: BTreeMap<String, Value>,
}

/// A task as `GET /nodes/{node}/tasks/{upid}/status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    pub upid: String,
    pub node: String,
    /// `qmstart`, `vzcreate`, ...
    pub kind: String,
    pub vmid: u32,
    pub running: bool,
    /// `OK`, or the error it ended with; `None` while running.
    pub exit_status: Option<String>,
}

/// What went wrong, as pveproxy answers it: an HTTP status and the message it puts in the reason
/// phrase.
#[derive(Debug, Clone, PartialEq)]
pub struct PveError {
    pub status: u16,
    pub message: String,
    /// Per-parameter messages, for a 400 raised by the handler itself.
    pub errors: BTreeMap<String, String>,
}

impl PveError {
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: 500,
            message: message.into(),
            errors: BTreeMap::new(),
        }
    }

    fn parameter(name: &str, message: &str) -> Self {
        Self {
            status: 400,
            message: "Parameter verification failed.".to_owned(),
            errors: BTreeMap::from([(name.to_owned(), message.to_owned())]),
        }
    }
}

/// What a guest action does when its task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Shutdown,
    Reboot,
    Suspend,
    Resume,
}

impl Action {
    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "start" => Action::Start,
            "stop" => Action::Stop,
            "shutdown" => Action::Shutdown,
            "reboot" => Action::Reboot,
            "suspend" => Action::Suspend,
            "resume" => Action::Resume,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Shutdown => "shutdown",
            Action::Reboot => "reboot",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
        }
    }
}

#[derive(Debug, Clone)]
enum Effect {
    Create {
        start: bool,
    },
    Act(Action),
    Destroy,
    /// A disk grown to this many GiB.
    Resize {
        disk: String,
        gib: u64,
    },
}

#[derive(Debug, Clone)]
struct Task {
    info: TaskInfo,
    guest_kind: GuestKind,
    pid: u32,
    pstart: u32,
    starttime: u64,
    ends_at: Instant,
    effect: Effect,
    /// Set by a test: the task ends with this error instead of its effect.
    injected_failure: Option<String>,
}

#[derive(Debug)]
struct GuestRecord {
    guest: Guest,
    started_at: Option<Instant>,
}

/// A volume on a storage: `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub volid: String,
    /// `vztmpl`, `iso`, `backup`, `images`, `rootdir`.
    pub content: String,
    pub size: u64,
    /// The guest a disk or backup belongs to.
    pub vmid: Option<u32>,
}

/// The storages of every node and what is on them: `local` (templates, ISOs, backups) and
/// `local-lvm` (guest disks).
pub fn default_volumes() -> Vec<Volume> {
    let volume = |volid: &str, content: &str, size: u64, vmid: Option<u32>| Volume {
        volid: volid.to_owned(),
        content: content.to_owned(),
        size,
        vmid,
    };
    vec![
        volume(
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "vztmpl",
            126_000_000,
            None,
        ),
        volume(
            "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            "vztmpl",
            141_000_000,
            None,
        ),
        volume(
            "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz",
            "vztmpl",
            3_000_000,
            None,
        ),
        volume("local:iso/debian-12.iso", "iso", 658_505_728, None),
        volume(
            "local:backup/vzdump-lxc-100-2026_01_01-00_00_00.tar.zst",
            "backup",
            210_000_000,
            Some(100),
        ),
        volume(
            "local-lvm:vm-100-disk-0",
            "images",
            34_359_738_368,
            Some(100),
        ),
    ]
}

#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<String>,
    /// What is on the storages, by volume id.
    volumes: Vec<Volume>,
    guests: BTreeMap<u32, GuestRecord>,
    tasks: Vec<Task>,
    task_duration: Duration,
    failures: VecDeque<String>,
    next_pid: u32,
}

/// What a create request asks for, once its parameters passed the schema.
pub struct CreateRequest<'a> {
    pub node: &'a str,
    pub kind: GuestKind,
    pub vmid: u32,
    pub params: &'a BTreeMap<String, Value>,
    pub user: &'a str,
}

impl Cluster {
    pub fn new(node: &str) -> Self {
        Self {
            nodes: vec![node.to_owned()],
            volumes: default_volumes(),
            guests: BTreeMap::new(),
            tasks: Vec::new(),
            task_duration: Duration::from_millis(200),
            failures: VecDeque::new(),
            next_pid: 0x0001_2000,
        }
    }

    pub fn add_volume(&mut self, volume: Volume) {
        self.volumes.retain(|v| v.volid != volume.volid);
        self.volumes.push(volume);
    }

    /// `GET /nodes/{node}/storage/{storage}/content`: a storage's volumes, of one content type
    /// when `content` is given.
    pub fn content_json(&self, storage: &str, content: Option<&str>) -> Result<Value, PveError> {
        if !["local", "local-lvm"].contains(&storage) {
            return Err(PveError::internal(format!(
                "storage '{storage}' does not exist"
            )));
        }
        let prefix = format!("{storage}:");
        Ok(Value::Array(
            self.volumes
                .iter()
                .filter(|v| v.volid.starts_with(&prefix))
                .filter(|v| content.is_none_or(|c| c == v.content))
                .map(|v| {
                    let format = match v.content.as_str() {
                        "iso" => "iso",
                        "images" => "raw",
                        _ => "tzst",
                    };
                    let mut entry = json!({
                        "volid": v.volid, "content": v.content, "format": format,
                        "size": v.size, "ctime": 1_735_689_600,
                    });
                    if let Some(vmid) = v.vmid {
                        entry["vmid"] = json!(vmid);
                    }
                    entry
                })
                .collect(),
        ))
    }

    /// Refuses a volume that is not on its storage, as pve-storage does.
    fn volume_exists(&self, volid: &str) -> Result<(), PveError> {
        if self.volumes.iter().any(|v| v.volid == volid) {
            Ok(())
        } else {
            Err(PveError::internal(format!(
                "volume '{volid}' does not exist"
            )))
        }
    }

    pub fn add_node(&mut self, node: &str) {
        if !self.nodes.iter().any(|n| n == node) {
            self.nodes.push(node.to_owned());
        }
    }

    pub fn set_task_duration(&mut self, duration: Duration) {
        self.task_duration = duration;
    }

    pub fn fail_next_task(&mut self, message: &str) {
        self.failures.push_back(message.to_owned());
    }

    /// Ends every task whose time has come, oldest end first, applying its effect.
    pub fn advance(&mut self, now: Instant) {
        let mut due: Vec<usize> = (0..self.tasks.len())
            .filter(|&i| self.tasks[i].info.running && self.tasks[i].ends_at <= now)
            .collect();
        due.sort_by_key(|&i| (self.tasks[i].ends_at, i));
        for index in due {
            let task = self.tasks[index].clone();
            let outcome = match &task.injected_failure {
                Some(message) => {
                    if matches!(task.effect, Effect::Create { .. }) {
                        self.guests.remove(&task.info.vmid);
                    }
                    Err(message.clone())
                }
                None => self.apply(&task, now),
            };
            let done = &mut self.tasks[index].info;
            done.running = false;
            done.exit_status = Some(outcome.err().unwrap_or_else(|| "OK".to_owned()));
        }
    }

    /// The worker's half of an action: what qemu-server and pve-container check and do once the
    /// task runs.
    fn apply(&mut self, task: &Task, now: Instant) -> Result<(), String> {
        let vmid = task.info.vmid;
        let label = task.guest_kind.label();
        let Some(record) = self.guests.get_mut(&vmid) else {
            return Err(format!(
                "Configuration file 'nodes/{}/{}/{vmid}.conf' does not exist",
                task.info.node,
                task.guest_kind.config_dir()
            ));
        };
        let power = record.guest.power;
        match task.effect {
            Effect::Create { start } => {
                record.guest.lock = None;
                if start {
                    record.guest.power = PowerState::Running;
                    record.started_at = Some(now);
                }
            }
            Effect::Resize { ref disk, gib } => {
                record.guest.disk_gb = gib;
                record.guest.config.insert(
                    disk.clone(),
                    json!(format!("local-lvm:vm-{vmid}-disk-0,size={gib}G")),
                );
            }
            Effect::Destroy => {
                if power != PowerState::Stopped {
                    return Err(format!("{label} {vmid} is running - destroy failed"));
                }
                self.guests.remove(&vmid);
            }
            Effect::Act(action) => match action {
                Action::Start => {
                    if power != PowerState::Stopped {
                        return Err(format!("{label} {vmid} already running"));
                    }
                    record.guest.power = PowerState::Running;
                    record.started_at = Some(now);
                }
                Action::Stop | Action::Shutdown => {
                    record.guest.power = PowerState::Stopped;
                    record.started_at = None;
                }
                Action::Reboot => {
                    if power == PowerState::Stopped {
                        return Err(format!("VM {vmid} not running"));
                    }
                    record.guest.power = PowerState::Running;
                    record.started_at = Some(now);
                }
                Action::Suspend => {
                    if power == PowerState::Stopped {
                        return Err(format!("{label} {vmid} not running"));
                    }
                    record.guest.power = PowerState::Paused;
                }
                Action::Resume => {
                    if power == PowerState::Stopped {
                        return Err(format!("{label} {vmid} not running"));
                    }
                    record.guest.power = PowerState::Running;
                }
            },
        }
        Ok(())
    }

    pub fn has_node(&self, node: &str) -> bool {
        self.nodes.iter().any(|n| n == node)
    }

    pub fn nodes_json(&self) -> Value {
        let memory = 64 * 1024 * 1024 * 1024_u64;
        Value::Array(
            self.nodes
                .iter()
                .map(|node| {
                    json!({
                        "node": node,
                        "status": "online",
                        "cpu": 0.05,
                        "maxcpu": 32,
                        "mem": memory / 4,
                        "maxmem": memory,
                        "uptime": 86_400,
                        "level": "",
                    })
                })
                .collect(),
        )
    }

    /// The guest `vmid` of `kind` on `node`, or the error Proxmox gives when its config file is
    /// not on that node.
    fn find(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<&GuestRecord, PveError> {
        self.guests
            .get(&vmid)
            .filter(|r| r.guest.node == node && r.guest.kind == kind)
            .ok_or_else(|| {
                PveError::internal(format!(
                    "Configuration file 'nodes/{node}/{}/{vmid}.conf' does not exist",
                    kind.config_dir()
                ))
            })
    }

    pub fn list_json(&self, node: &str, kind: GuestKind, now: Instant) -> Value {
        Value::Array(
            self.guests
                .values()
                .filter(|r| r.guest.node == node && r.guest.kind == kind)
                .map(|r| {
                    let mut entry = status_json(r, now);
                    if kind == GuestKind::Lxc {
                        // Real Proxmox lists container ids as strings.
                        entry["vmid"] = json!(r.guest.vmid.to_string());
                    }
                    // The listing carries each guest's tags (PVE 7.3 and later).
                    if let Some(tags) = r.guest.config.get("tags") {
                        entry["tags"] = tags.clone();
                    }
                    entry
                })
                .collect(),
        )
    }

    pub fn status_json(
        &self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        now: Instant,
    ) -> Result<Value, PveError> {
        let record = self.find(node, kind, vmid)?;
        let mut status = status_json(record, now);
        status["ha"] = json!({"managed": 0});
        Ok(status)
    }

    pub fn config_json(&self, node: &str, kind: GuestKind, vmid: u32) -> Result<Value, PveError> {
        let record = self.find(node, kind, vmid)?;
        let mut config: serde_json::Map<String, Value> = record
            .guest
            .config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if let Some(lock) = &record.guest.lock {
            config.insert("lock".to_owned(), json!(lock));
        }
        config.insert(
            "digest".to_owned(),
            json!(format!("{:040x}", u64::from(vmid) * 0x9e37_79b9)),
        );
        Ok(Value::Object(config))
    }

    pub fn resources_json(&self, kind_filter: Option<&str>, now: Instant) -> Value {
        let mut out = Vec::new();
        if kind_filter.is_none_or(|k| k == "node") {
            for node in &self.nodes {
                out.push(json!({
                    "id": format!("node/{node}"),
                    "type": "node",
                    "node": node,
                    "status": "online",
                }));
            }
        }
        if kind_filter.is_none_or(|k| k == "vm") {
            for record in self.guests.values() {
                let guest = &record.guest;
                let mut entry = status_json(record, now);
                entry["id"] = json!(format!("{}/{}", guest.kind.path(), guest.vmid));
                entry["type"] = json!(guest.kind.path());
                entry["node"] = json!(guest.node);
                entry["maxcpu"] = json!(guest.cores);
                out.push(entry);
            }
        }
        Value::Array(out)
    }

    /// `GET /cluster/nextid`: the lowest free id from 100, or whether `wanted` is free. Proxmox
    /// sends the id as a string.
    pub fn next_id(&self, wanted: Option<u32>) -> Result<Value, PveError> {
        if let Some(vmid) = wanted {
            return if self.guests.contains_key(&vmid) {
                Err(PveError::parameter(
                    "vmid",
                    &format!("VM {vmid} already exists"),
                ))
            } else {
                Ok(json!(vmid.to_string()))
            };
        }
        Ok(json!(self.free_vmid_from(100).to_string()))
    }

    pub fn create(&mut self, request: CreateRequest<'_>, now: Instant) -> Result<String, PveError> {
        let CreateRequest {
            node,
            kind,
            vmid,
            params,
            user,
        } = request;
        if let Some(existing) = self.guests.get(&vmid) {
            let taken = format!(
                "{} {vmid} already exists on node '{}'",
                existing.guest.kind.label(),
                existing.guest.node
            );
            return Err(PveError::internal(match kind {
                GuestKind::Qemu => format!("unable to create VM {vmid} - {taken}"),
                GuestKind::Lxc => taken,
            }));
        }
        let text = |key: &str| params.get(key).map(value_text);
        match kind {
            GuestKind::Lxc => self.volume_exists(&text("ostemplate").unwrap_or_default())?,
            GuestKind::Qemu => {
                if let Some(cdrom) = text("ide2")
                    && let Some(file) = cdrom.split(',').next()
                    && file != "none"
                    && file != "cdrom"
                {
                    self.volume_exists(file)?;
                }
            }
        }
        let number = |key: &str, default: u64| {
            text(key)
                .and_then(|t| {
                    let t = t.strip_prefix("current=").unwrap_or(&t).to_owned();
                    t.split(',').next().and_then(|n| n.parse().ok())
                })
                .unwrap_or(default)
        };
        let name = match kind {
            GuestKind::Qemu => text("name").unwrap_or_else(|| format!("VM{vmid}")),
            GuestKind::Lxc => text("hostname").unwrap_or_else(|| format!("CT{vmid}")),
        };
        let disk_gb = match kind {
            GuestKind::Qemu => ["scsi0", "virtio0", "sata0", "ide0"]
                .iter()
                .find_map(|key| text(key).and_then(|d| disk_size(&d)))
                .unwrap_or(0),
            GuestKind::Lxc => text("rootfs").and_then(|d| disk_size(&d)).unwrap_or(4),
        };
        let mut config: BTreeMap<String, Value> = params
            .iter()
            .filter(|(key, _)| {
                !matches!(
                    key.as_str(),
                    "node" | "vmid" | "start" | "password" | "ssh-public-keys" | "storage"
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if kind == GuestKind::Lxc {
            config.remove("ostemplate");
            config.insert("hostname".to_owned(), json!(name));
        }
        let start = params.get("start").is_some_and(truthy);
        self.guests.insert(
            vmid,
            GuestRecord {
                guest: Guest {
                    vmid,
                    node: node.to_owned(),
                    kind,
                    name,
                    power: PowerState::Stopped,
                    lock: Some("create".to_owned()),
                    memory_mb: number("memory", 512),
                    cores: number("cores", 1),
                    disk_gb,
                    config,
                },
                started_at: None,
            },
        );
        Ok(self.spawn_task(
            node,
            kind,
            vmid,
            "create",
            Effect::Create { start },
            user,
            now,
        ))
    }

    /// `PUT .../config`: cores and memory change at once (no task), as on a stopped guest or
    /// with hotplug. The schema has already checked the parameters; a config change on a
    /// locked guest is refused as Proxmox refuses it.
    pub fn update_config(
        &mut self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        params: &BTreeMap<String, Value>,
    ) -> Result<(), PveError> {
        check_lock(&self.find(node, kind, vmid)?.guest)?;
        let Some(record) = self.guests.get_mut(&vmid) else {
            return Err(PveError::internal("the guest went away"));
        };
        for (key, value) in params {
            if matches!(key.as_str(), "node" | "vmid" | "digest" | "skiplock") {
                continue;
            }
            let text = value_text(value);
            match key.as_str() {
                "cores" => record.guest.cores = text.parse().unwrap_or(record.guest.cores),
                "memory" => {
                    let current = text.strip_prefix("current=").unwrap_or(&text);
                    record.guest.memory_mb = current
                        .split(',')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(record.guest.memory_mb);
                }
                _ => {}
            }
            record.guest.config.insert(key.clone(), value.clone());
        }
        Ok(())
    }

    /// `PUT .../resize`: grows a disk the guest has, in a task. `+NG` adds, `NG` is absolute;
    /// a smaller size is refused as Proxmox refuses it.
    pub fn resize_disk(
        &mut self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        params: &BTreeMap<String, Value>,
        user: &str,
        now: Instant,
    ) -> Result<String, PveError> {
        let record = self.find(node, kind, vmid)?;
        check_lock(&record.guest)?;
        let disk = params.get("disk").map(value_text).unwrap_or_default();
        if !record.guest.config.contains_key(&disk) {
            return Err(PveError::parameter(
                "disk",
                "parameter verification failed - no such disk",
            ));
        }
        let size = params.get("size").map(value_text).unwrap_or_default();
        let (add, number) = match size.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, size.as_str()),
        };
        let digits: String = number
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let value: f64 = digits.parse().unwrap_or(0.0);
        let gib = match number.chars().last() {
            Some('T') => value * 1024.0,
            Some('G') => value,
            Some('M') => value / 1024.0,
            Some('K') => value / 1024.0 / 1024.0,
            _ => value / 1024.0 / 1024.0 / 1024.0,
        };
        let current = record.guest.disk_gb;
        let wanted = if add { current as f64 + gib } else { gib };
        if wanted < current as f64 {
            return Err(PveError::internal(format!(
                "unable to shrink disk size (current {current}G, requested {wanted}G)"
            )));
        }
        Ok(self.spawn_task(
            node,
            kind,
            vmid,
            "resize",
            Effect::Resize {
                disk,
                gib: wanted.ceil() as u64,
            },
            user,
            now,
        ))
    }

    /// Starts a power action, after the checks Proxmox makes before it forks a worker.
    pub fn act(
        &mut self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        action: Action,
        user: &str,
        now: Instant,
    ) -> Result<String, PveError> {
        let record = self.find(node, kind, vmid)?;
        let power = record.guest.power;
        check_lock(&record.guest)?;
        let refusal = match (kind, action, power) {
            (GuestKind::Qemu, Action::Shutdown | Action::Reboot, PowerState::Paused) => {
                Some("VM is paused - cannot shutdown".to_owned())
            }
            (
                GuestKind::Qemu,
                Action::Reboot | Action::Suspend | Action::Resume,
                PowerState::Stopped,
            ) => Some(format!("VM {vmid} not running")),
            (GuestKind::Lxc, Action::Start, PowerState::Running | PowerState::Paused) => {
                Some(format!("CT {vmid} already running"))
            }
            (GuestKind::Lxc, Action::Resume, PowerState::Running) => {
                Some(format!("CT {vmid} already running"))
            }
            (
                GuestKind::Lxc,
                Action::Stop | Action::Shutdown | Action::Suspend,
                PowerState::Stopped,
            ) => Some(format!("CT {vmid} not running")),
            (GuestKind::Lxc, Action::Reboot, PowerState::Stopped) => {
                Some(format!("VM {vmid} not running"))
            }
            _ => None,
        };
        if let Some(message) = refusal {
            return Err(PveError::internal(message));
        }
        Ok(self.spawn_task(
            node,
            kind,
            vmid,
            action.word(),
            Effect::Act(action),
            user,
            now,
        ))
    }

    pub fn destroy(
        &mut self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        force: bool,
        user: &str,
        now: Instant,
    ) -> Result<String, PveError> {
        let record = self.find(node, kind, vmid)?;
        check_lock(&record.guest)?;
        if record.guest.power != PowerState::Stopped {
            match kind {
                GuestKind::Qemu => {
                    return Err(PveError::internal(format!(
                        "VM {vmid} is running - destroy failed"
                    )));
                }
                GuestKind::Lxc if !force => {
                    return Err(PveError::internal(format!(
                        "unable to destroy CT {vmid} - container is running"
                    )));
                }
                GuestKind::Lxc => {
                    if let Some(record) = self.guests.get_mut(&vmid) {
                        record.guest.power = PowerState::Stopped;
                    }
                }
            }
        }
        Ok(self.spawn_task(node, kind, vmid, "destroy", Effect::Destroy, user, now))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "the fields of one task as the API names them"
    )]
    fn spawn_task(
        &mut self,
        node: &str,
        kind: GuestKind,
        vmid: u32,
        what: &str,
        effect: Effect,
        user: &str,
        now: Instant,
    ) -> String {
        let pid = self.next_pid;
        self.next_pid += 1;
        let pstart = 0x0100_0000 + pid;
        let starttime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let task_kind = format!("{}{what}", kind.task_prefix());
        let upid = format!(
            "UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_kind}:{vmid}:{user}:"
        );
        self.tasks.push(Task {
            info: TaskInfo {
                upid: upid.clone(),
                node: node.to_owned(),
                kind: task_kind,
                vmid,
                running: true,
                exit_status: None,
            },
            guest_kind: kind,
            pid,
            pstart,
            starttime,
            ends_at: now + self.task_duration,
            effect,
            injected_failure: self.failures.pop_front(),
        });
        upid
    }

    pub fn task(&self, upid: &str) -> Option<TaskInfo> {
        self.tasks
            .iter()
            .find(|t| t.info.upid == upid)
            .map(|t| t.info.clone())
    }

    pub fn tasks(&self) -> Vec<TaskInfo> {
        self.tasks.iter().map(|t| t.info.clone()).collect()
    }

    /// `GET /nodes/{node}/tasks/{upid}/status`. A well-formed UPID the fake never issued is
    /// reported as Proxmox reports a task whose log is gone: stopped, exit status `unknown`.
    pub fn task_status_json(&self, node: &str, upid: &str) -> Result<Value, PveError> {
        let fields: Vec<&str> = upid.split(':').collect();
        if fields.len() < 9 || fields[0] != "UPID" {
            return Err(PveError::internal(format!(
                "unable to parse worker upid '{upid}'"
            )));
        }
        if fields[1] != node {
            return Err(PveError::parameter(
                "upid",
                "task does not belong to this node",
            ));
        }
        let Some(task) = self.tasks.iter().find(|t| t.info.upid == upid) else {
            let hex = |s: &str| i64::from_str_radix(s, 16).unwrap_or(0);
            return Ok(json!({
                "upid": upid,
                "node": fields[1],
                "pid": hex(fields[2]),
                "pstart": hex(fields[3]),
                "starttime": hex(fields[4]),
                "type": fields[5],
                "id": fields[6],
                "user": fields[7],
                "status": "stopped",
                "exitstatus": "unknown",
            }));
        };
        let mut status = json!({
            "upid": task.info.upid,
            "node": task.info.node,
            "pid": task.pid,
            "pstart": task.pstart,
            "starttime": task.starttime,
            "type": task.info.kind,
            "id": task.info.vmid.to_string(),
            "user": fields[7],
            "status": if task.info.running { "running" } else { "stopped" },
        });
        if let Some(exit) = &task.info.exit_status {
            status["exitstatus"] = json!(exit);
        }
        Ok(status)
    }

    pub fn guest(&self, vmid: u32) -> Option<Guest> {
        self.guests.get(&vmid).map(|r| r.guest.clone())
    }

    pub fn guests(&self) -> Vec<Guest> {
        self.guests.values().map(|r| r.guest.clone()).collect()
    }

    pub fn insert_guest(&mut self, guest: Guest, now: Instant) {
        let started_at = (guest.power != PowerState::Stopped).then_some(now);
        self.guests
            .insert(guest.vmid, GuestRecord { guest, started_at });
    }

    pub fn remove_guest(&mut self, vmid: u32) -> bool {
        self.guests.remove(&vmid).is_some()
    }

    pub fn set_power(&mut self, vmid: u32, power: PowerState, now: Instant) {
        if let Some(record) = self.guests.get_mut(&vmid) {
            record.guest.power = power;
            record.started_at = (power != PowerState::Stopped).then_some(now);
        }
    }

    pub fn set_lock(&mut self, vmid: u32, lock: Option<&str>) {
        if let Some(record) = self.guests.get_mut(&vmid) {
            record.guest.lock = lock.map(str::to_owned);
        }
    }

    /// The lowest vmid from `start` on that no guest has.
    pub fn free_vmid_from(&self, start: u32) -> u32 {
        (start.max(100)..)
            .find(|id| !self.guests.contains_key(id))
            .unwrap_or(start)
    }

    pub fn first_node(&self) -> String {
        self.nodes.first().cloned().unwrap_or_default()
    }
}

fn check_lock(guest: &Guest) -> Result<(), PveError> {
    match &guest.lock {
        Some(lock) => Err(PveError::internal(format!(
            "{} is locked ({lock})",
            guest.kind.label()
        ))),
        None => Ok(()),
    }
}

fn status_json(record: &GuestRecord, now: Instant) -> Value {
    let guest = &record.guest;
    let up = guest.power != PowerState::Stopped;
    let uptime = record
        .started_at
        .filter(|_| up)
        .map_or(0, |at| now.saturating_duration_since(at).as_secs());
    let maxmem = guest.memory_mb * 1024 * 1024;
    let mut status = json!({
        "vmid": guest.vmid,
        "name": guest.name,
        "status": if up { "running" } else { "stopped" },
        "cpus": guest.cores,
        "maxmem": maxmem,
        "mem": if up { maxmem / 3 } else { 0 },
        "maxdisk": guest.disk_gb * 1024 * 1024 * 1024,
        "uptime": uptime,
        "cpu": if up { 0.02 } else { 0.0 },
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
    });
    match guest.kind {
        GuestKind::Qemu => {
            status["qmpstatus"] = json!(match guest.power {
                PowerState::Running => "running",
                PowerState::Stopped => "stopped",
                PowerState::Paused => "paused",
            });
            if up {
                status["pid"] = json!(10_000 + guest.vmid);
            }
        }
        GuestKind::Lxc => {
            status["type"] = json!("lxc");
            status["disk"] = json!(0);
            status["maxswap"] = json!(512 * 1024 * 1024);
        }
    }
    if let Some(lock) = &guest.lock {
        status["lock"] = json!(lock);
    }
    status
}

/// A parameter's value as text, the way Proxmox sees every value.
pub fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
        other => other.to_string(),
    }
}

pub fn truthy(value: &Value) -> bool {
    matches!(value_text(value).as_str(), "1")
}

/// `local-lvm:32` (a new 32 GiB volume) or `...,size=32G` in a drive or rootfs property string.
fn disk_size(drive: &str) -> Option<u64> {
    let mut parts = drive.split(',');
    let volume = parts.next()?;
    let volume = volume
        .strip_prefix("file=")
        .or_else(|| volume.strip_prefix("volume="))
        .unwrap_or(volume);
    if volume.contains("media=cdrom") || drive.contains("media=cdrom") {
        return None;
    }
    if let Some((_, size)) = volume.split_once(':')
        && let Ok(gb) = size.parse::<u64>()
    {
        return Some(gb);
    }
    drive.split(',').find_map(|part| {
        let size = part.strip_prefix("size=")?;
        let digits: String = size.chars().take_while(char::is_ascii_digit).collect();
        let n: u64 = digits.parse().ok()?;
        Some(match size.chars().last() {
            Some('T') => n * 1024,
            Some('M') => n / 1024,
            _ => n,
        })
    })
}
