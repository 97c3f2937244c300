//! Servers as stored: a server, its state and price snapshot, and a row to insert. The rules
//! for servers are in [`crate::servers`].

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::records::providers::{CreateKey, PowerAction, RemoteId, Resources, ServerState};

/// Where a server is, as hostdeck records it (`servers.state`). A suspension is recorded beside
/// it ([`Server::suspended_at`]), not as a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerStatus {
    /// The row exists; the provider has been asked (or is about to be).
    Creating,
    /// The provider is installing it.
    Building,
    Running,
    Stopped,
    /// The provider did not say.
    Unknown,
    /// The provider did not make it; nothing was charged.
    Failed,
    Deleted,
}

impl ServerStatus {
    pub const ALL: [ServerStatus; 7] = [
        Self::Creating,
        Self::Building,
        Self::Running,
        Self::Stopped,
        Self::Unknown,
        Self::Failed,
        Self::Deleted,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Building => "building",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Unknown => "unknown",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(text: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| {
                Error::internal(
                    "reading a server",
                    format!("{text:?} is not a server state"),
                )
            })
    }

    /// What a provider's state means here. Suspended on the provider is stopped here: the
    /// suspension itself is hostdeck's record.
    pub fn from_remote(state: ServerState) -> Self {
        match state {
            ServerState::Running => Self::Running,
            ServerState::Stopped | ServerState::Suspended => Self::Stopped,
            ServerState::Building => Self::Building,
            ServerState::Unknown => Self::Unknown,
        }
    }

    /// The state to record when the provider reports `remote` for a server stored as `self`,
    /// or `None` to keep it. A provider that does not say (VirtFusion's listing has no power
    /// state) never overwrites what hostdeck knows, and rows not on the provider are left to
    /// the create flow and deletion.
    pub fn observed(self, remote: ServerState) -> Option<Self> {
        let seen = Self::from_remote(remote);
        (self.is_on_provider() && seen != Self::Unknown && seen != self).then_some(seen)
    }

    /// The power actions that make sense in this state: a running server can be shut down,
    /// restarted or powered off, a stopped one booted; while it is being made, has failed or
    /// is deleted, none; when the provider did not say, any.
    pub const fn allowed_actions(self) -> &'static [PowerAction] {
        match self {
            Self::Running => &[
                PowerAction::Shutdown,
                PowerAction::Restart,
                PowerAction::Poweroff,
            ],
            Self::Stopped => &[PowerAction::Boot],
            Self::Unknown => &PowerAction::ALL,
            Self::Creating | Self::Building | Self::Failed | Self::Deleted => &[],
        }
    }

    /// States a server the provider has made can be in (the sync and power actions may move
    /// it among these).
    pub fn is_on_provider(self) -> bool {
        matches!(
            self,
            Self::Building | Self::Running | Self::Stopped | Self::Unknown
        )
    }
}

/// The price snapshot a server carries: micro-units per `hours` hours, from `since`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rate {
    pub running: i64,
    pub stopped: i64,
    pub hours: i64,
    pub since: DateTime<Utc>,
}

/// A server as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Server {
    pub id: ServerId,
    pub user: UserId,
    /// The provider's configured name; the "location" people choose.
    pub provider: String,
    /// Its id on the provider, once made.
    pub remote_id: Option<RemoteId>,
    pub key: String,
    pub name: String,
    pub hostname: String,
    pub plan: String,
    pub resources: Resources,
    /// `template:ID` or `iso:VOLUME`.
    pub image: String,
    pub location: Option<String>,
    pub state: ServerStatus,
    pub suspended_at: Option<DateTime<Utc>>,
    pub suspend_reason: Option<String>,
    pub rate: Rate,
    pub billed_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub state_changed_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// A row to insert for a new server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewServerRow {
    pub user: UserId,
    pub provider: String,
    pub key: CreateKey,
    pub name: String,
    pub hostname: String,
    pub plan: String,
    pub resources: Resources,
    pub image: String,
    pub location: Option<String>,
    pub rate: Rate,
    pub billed_until: DateTime<Utc>,
}
