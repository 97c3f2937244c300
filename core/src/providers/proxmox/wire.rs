//! Proxmox's side of the wire: the answers read (statuses, tasks, volumes), the parameters
//! written (power steps, SSH keys, volume names), and its refusals sorted into [`Failure`]s.

use std::net::Ipv4Addr;

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::providers::http::Reply;
use crate::providers::{
    CreateKey, Failure, NewServer, PowerAction, RemoteId, RemoteServer, Resources, ServerState,
};

pub(super) const MIB: u64 = 1024 * 1024;
pub(super) const GIB: u64 = 1024 * MIB;

/// Which half of the API a guest lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guest {
    Qemu,
    Lxc,
}

impl Guest {
    pub(super) fn path(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Lxc => "lxc",
        }
    }
}

/// A guest as the list and `status/current` show it.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Status {
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) vmid: Option<u64>,
    pub(super) name: Option<String>,
    pub(super) status: Option<String>,
    pub(super) qmpstatus: Option<String>,
    pub(super) lock: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub(super) cpus: Option<f64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) maxmem: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) maxdisk: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) netin: Option<u64>,
    #[serde(default, deserialize_with = "lenient_u64")]
    pub(super) netout: Option<u64>,
    pub(super) tags: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TaskStatus {
    pub(super) status: String,
    pub(super) exitstatus: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Version {
    pub(super) version: Option<String>,
}

/// A volume of `GET .../storage/{storage}/content`.
#[derive(Debug, Deserialize)]
pub(super) struct Volume {
    pub(super) volid: String,
    pub(super) content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct NodeEntry {
    pub(super) node: String,
    pub(super) status: Option<String>,
}

/// Proxmox sends numbers as numbers or as strings (container ids, `nextid`).
#[expect(
    clippy::cast_possible_truncation,
    reason = "a float `as` an integer saturates, which is what a count sent as a float wants"
)]
pub(super) fn lenient_u64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

pub(super) fn lenient_f64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Value>::deserialize(deserializer)? {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

/// Where a guest is, for deciding which action to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Now {
    Stopped,
    Running,
    Paused,
    Locked(String),
}

pub(super) fn now_of(status: &Status) -> Now {
    if let Some(lock) = &status.lock {
        return Now::Locked(lock.clone());
    }
    match (status.status.as_deref(), status.qmpstatus.as_deref()) {
        (Some("stopped"), _) => Now::Stopped,
        (_, Some("paused")) => Now::Paused,
        _ => Now::Running,
    }
}

pub(super) fn state_of(status: &Status) -> ServerState {
    if status.lock.as_deref() == Some("create") {
        return ServerState::Building;
    }
    match (status.status.as_deref(), status.qmpstatus.as_deref()) {
        (Some("running"), Some("paused")) => ServerState::Suspended,
        (Some("running"), _) => ServerState::Running,
        (Some("stopped"), _) => ServerState::Stopped,
        _ => ServerState::Unknown,
    }
}

/// The Proxmox actions, in order, that take a guest from `now` to what `action` wants.
pub(super) fn steps(action: PowerAction, now: &Now) -> Result<&'static [&'static str], Failure> {
    Ok(match (action, now) {
        (_, Now::Locked(lock)) => {
            return Err(Failure::Busy {
                detail: format!("the guest is locked ({lock})"),
            });
        }
        (PowerAction::Boot, Now::Running)
        | (PowerAction::Shutdown | PowerAction::Poweroff, Now::Stopped) => &[],
        (PowerAction::Boot | PowerAction::Restart, Now::Stopped) => &["start"],
        (PowerAction::Boot, Now::Paused) => &["resume"],
        (PowerAction::Shutdown, Now::Running) => &["shutdown"],
        (PowerAction::Shutdown | PowerAction::Poweroff, Now::Paused)
        | (PowerAction::Poweroff, Now::Running) => &["stop"],
        (PowerAction::Restart, Now::Running) => &["reboot"],
        (PowerAction::Restart, Now::Paused) => &["stop", "start"],
    })
}

/// Addresses set in a container's `net0..` (`ip=10.0.0.5/24`) or a VM's cloud-init
/// `ipconfig0..`.
pub(super) fn addresses(config: &Map<String, Value>) -> Vec<Ipv4Addr> {
    let mut keys: Vec<&String> = config
        .keys()
        .filter(|key| key.starts_with("net") || key.starts_with("ipconfig"))
        .collect();
    keys.sort();
    keys.into_iter()
        .filter_map(|key| config.get(key).and_then(Value::as_str))
        .flat_map(|value| value.split(','))
        .filter_map(|part| part.strip_prefix("ip="))
        .filter_map(|ip| ip.split('/').next().and_then(|ip| ip.parse().ok()))
        .collect()
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "a float `as` an integer saturates, which is what a count sent as a float wants"
)]
pub(super) fn remote_server(
    guest: Guest,
    vmid: u64,
    status: &Status,
    config: Option<&Map<String, Value>>,
) -> RemoteServer {
    let text = |key: &str| {
        config
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let name = status
        .name
        .clone()
        .or_else(|| text("name"))
        .or_else(|| text("hostname"))
        .unwrap_or_else(|| format!("{}{vmid}", guest.path()));
    let hostname = match guest {
        Guest::Lxc => text("hostname").or_else(|| Some(name.clone())),
        Guest::Qemu => Some(name.clone()),
    };
    let tags = status.tags.clone().or_else(|| text("tags"));
    RemoteServer {
        remote_id: RemoteId::new(format!("{}/{vmid}", guest.path())),
        name,
        hostname,
        state: state_of(status),
        resources: Resources {
            vcpus: status.cpus.map_or(0, |cpus| cpus.ceil().max(0.0) as u32),
            memory_mib: status.maxmem.unwrap_or(0) / MIB,
            disk_gib: status.maxdisk.unwrap_or(0) / GIB,
        },
        ipv4: config.map(addresses).unwrap_or_default(),
        key: tags.as_deref().and_then(CreateKey::find_in),
        owner: None,
    }
}

/// The failure a non-success reply describes, from its status, reason phrase and body.
pub(super) fn failure_of(reply: &Reply, what: &str) -> Failure {
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    let message = reply
        .reason
        .clone()
        .or_else(|| {
            body.get("message")
                .and_then(Value::as_str)
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| {
            reply
                .status
                .canonical_reason()
                .unwrap_or("no reason given")
                .to_owned()
        });
    let status = reply.status.as_u16();
    match status {
        400 => {
            let params: Vec<String> = body
                .get("errors")
                .and_then(Value::as_object)
                .map(|errors| {
                    errors
                        .iter()
                        .map(|(param, text)| {
                            format!("{param}: {}", text.as_str().unwrap_or_default().trim())
                        })
                        .collect()
                })
                .unwrap_or_default();
            Failure::Rejected {
                detail: if params.is_empty() {
                    message
                } else {
                    format!("{message} {}", params.join("; "))
                },
            }
        }
        500 => refusal(&message, what).unwrap_or(Failure::ProviderFailed {
            status,
            detail: message,
        }),
        501 => Failure::Protocol(format!("HTTP 501: {message}")),
        _ => reply
            .common_failure(&message)
            .unwrap_or(Failure::ProviderFailed {
                status,
                detail: message,
            }),
    }
}

/// What Proxmox's words say, when they say something more specific than "it failed".
pub(super) fn refusal(message: &str, what: &str) -> Option<Failure> {
    let lower = message.to_ascii_lowercase();
    let detail = message.trim().to_owned();
    if lower.contains("does not exist") || lower.contains("no such vm") {
        Some(Failure::NotFound {
            what: what.to_owned(),
        })
    } else if lower.contains("is locked") || lower.contains("can't lock") {
        Some(Failure::Busy { detail })
    } else if Failure::mentions_limit(&lower) {
        Some(Failure::Limit { detail })
    } else if Failure::mentions_conflict(&lower) {
        Some(Failure::Conflict { detail })
    } else {
        None
    }
}

/// Text as Perl's `uri_escape` writes it, which the schema's `urlencoded` format reads back:
/// every byte but letters, digits and `-._~` as `%XX`.
pub(super) fn url_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

/// The customer's keys, one a line, as `ssh-public-keys` and `sshkeys` take them.
pub(super) fn keys_text(new: &NewServer) -> String {
    new.ssh_keys
        .iter()
        .map(|key| key.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// What people see of a volume: its file name (`debian-12-standard_12.7-1_amd64.tar.zst`).
pub(super) fn volume_name(volid: &str) -> String {
    volid.rsplit('/').next().unwrap_or(volid).to_owned()
}

/// A volume id as Proxmox names one (`local:iso/debian-12.iso`): nothing that could leak into
/// the property string it is written into.
pub(super) fn volume_ok(volume: &str) -> bool {
    volume.split_once(':').is_some_and(|(storage, path)| {
        !storage.is_empty()
            && !path.is_empty()
            && !volume.contains([',', '=', ';'])
            && !volume.chars().any(char::is_whitespace)
    })
}
