//! The neutral words for servers on a provider, shared by the store, the providers and the
//! server service: a remote id, a size, a state, a power action, a create key. The
//! providers themselves are [`crate::providers`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A server's id on its provider: a VirtFusion server id (`"42"`), a Proxmox guest
/// (`"qemu/100"`, `"lxc/101"`), a Jelastic environment name, a sandbox id. Opaque to
/// everything above the provider that issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RemoteId(String);

impl RemoteId {
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RemoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a server is, as far as its provider says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerState {
    Running,
    Stopped,
    /// Suspended on the provider itself (VirtFusion's suspension, a paused Proxmox VM).
    Suspended,
    /// Being created or installed; actions wait until it is done.
    Building,
    /// The provider did not say, or is between two states.
    Unknown,
}

/// The size of a server. Jelastic counts in cloudlets; its provider converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Resources {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

/// `2 vCPU, 2048 MiB, 40 GiB`, as every front door shows a size.
impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} vCPU, {} MiB, {} GiB",
            self.vcpus, self.memory_mib, self.disk_gib
        )
    }
}

impl Resources {
    /// What a plan may not ask for: nothing at all, or memory no platform can boot in.
    pub fn check(&self) -> crate::error::Result<()> {
        if self.vcpus == 0 {
            return Err(crate::error::Error::invalid(
                "vcpus",
                "A server needs at least 1 vCPU.",
            ));
        }
        if self.memory_mib < 64 {
            return Err(crate::error::Error::invalid(
                "memory_mib",
                "A server needs at least 64 MiB of memory.",
            ));
        }
        if self.disk_gib == 0 {
            return Err(crate::error::Error::invalid(
                "disk_gib",
                "A server needs at least 1 GiB of disk.",
            ));
        }
        Ok(())
    }
}

/// What a power action should leave behind. Each is a no-op when the server is already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    /// Start a stopped server.
    Boot,
    /// Ask the guest OS to shut down (ACPI).
    Shutdown,
    /// Reboot a running server; start a stopped one.
    Restart,
    /// Cut the power, as pulling the plug would.
    Poweroff,
}

impl PowerAction {
    pub const ALL: [PowerAction; 4] = [Self::Boot, Self::Shutdown, Self::Restart, Self::Poweroff];

    /// Whether people are asked before it is done (it interrupts what the server is doing).
    pub const fn needs_confirmation(self) -> bool {
        !matches!(self, Self::Boot)
    }

    /// Its name on a button: `Shut down`.
    pub const fn label(self) -> &'static str {
        match self {
            Self::Boot => "Boot",
            Self::Shutdown => "Shut down",
            Self::Restart => "Restart",
            Self::Poweroff => "Power off",
        }
    }

    /// What it does to the server, for the question asked before it.
    pub const fn describe(self) -> &'static str {
        match self {
            Self::Boot => "The server starts.",
            Self::Shutdown => {
                "The operating system is asked to shut down; unsaved work in it may be lost."
            }
            Self::Restart => "The server restarts; it is offline for a moment.",
            Self::Poweroff => {
                "The power is cut at once, as pulling the plug would; unsaved data is lost."
            }
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Boot => "boot",
            Self::Shutdown => "shutdown",
            Self::Restart => "restart",
            Self::Poweroff => "poweroff",
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A client-chosen key that makes a create idempotent. 6 to 30 characters of lower-case
/// letters, digits and inner hyphens, because it must survive as part of a DNS label, a Proxmox
/// tag and a Jelastic environment name. It travels to the provider as the marker `hd-KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct CreateKey(String);

const MARKER_PREFIX: &str = "hd-";

impl CreateKey {
    pub fn parse(text: &str) -> crate::error::Result<Self> {
        let ok = (6..=30).contains(&text.len())
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !text.starts_with('-')
            && !text.ends_with('-');
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(crate::error::Error::invalid(
                "key",
                "A create key is 6 to 30 lower-case letters, digits or inner hyphens.",
            ))
        }
    }

    /// A fresh random key (20 characters), for a caller that has none of its own.
    pub fn random() -> Self {
        use rand::Rng;
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::thread_rng();
        Self(
            (0..20)
                .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `hd-KEY`: how the key is written into a name, a tag or an environment name.
    pub fn marker(&self) -> String {
        format!("{MARKER_PREFIX}{}", self.0)
    }

    /// The key in a marker found in `text`: `hd-` at the start of a word, then key characters.
    pub fn find_in(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        let mut from = 0;
        while let Some(offset) = text[from..].find(MARKER_PREFIX) {
            let start = from + offset;
            let at_word_start = start == 0 || {
                let before = bytes[start - 1];
                !(before.is_ascii_alphanumeric() || before == b'-')
            };
            let rest = &text[start + MARKER_PREFIX.len()..];
            let run: &str = rest
                .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
                .next()
                .unwrap_or_default();
            if at_word_start && let Ok(key) = Self::parse(run) {
                return Some(key);
            }
            from = start + MARKER_PREFIX.len();
        }
        None
    }
}

impl fmt::Display for CreateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CreateKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}
