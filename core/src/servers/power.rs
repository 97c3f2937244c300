//! Power actions (boot, shutdown, restart, poweroff) and deletion.

use super::{Server, ServerStatus, Servers, suspended};
use crate::audit::AuditEntry;
use crate::billing::meter::posting_reference;
use crate::error::{Error, Result};
use crate::ids::ServerId;
use crate::policy::{Actor, Permission};
use crate::providers::PowerAction;
use crate::store::servers::EventSource;

/// A power action by its name (`boot`, `shutdown`, `restart`, `poweroff`), as people type it.
pub fn parse_power_action(text: &str) -> Result<PowerAction> {
    [
        PowerAction::Boot,
        PowerAction::Shutdown,
        PowerAction::Restart,
        PowerAction::Poweroff,
    ]
    .into_iter()
    .find(|action| action.as_str().eq_ignore_ascii_case(text.trim()))
    .ok_or_else(|| {
        Error::invalid(
            "action",
            format!("{text:?} is not a power action; use boot, shutdown, restart or poweroff"),
        )
    })
}

impl Servers {
    /// Boots, shuts down, restarts or powers off a server. Refused while it is suspended.
    pub async fn power(&self, actor: &Actor, id: ServerId, action: PowerAction) -> Result<Server> {
        let server = self
            .authorize(
                actor,
                id,
                Permission::ControlOwnServers,
                Permission::ControlAnyServer,
                "server.power",
            )
            .await?;
        if server.is_suspended() {
            return Err(suspended(
                &server,
                "top up your credit and it starts again.",
            ));
        }
        let (provider, remote) = self.on_provider(&server)?;
        let entry = AuditEntry::new(actor, "server.power")
            .target(posting_reference(id))
            .detail(serde_json::json!({ "action": action.as_str() }));
        if let Err(error) = provider.power(&remote, action).await {
            return Err(self.failed(entry, error).await);
        }
        let state = match action {
            PowerAction::Boot | PowerAction::Restart => ServerStatus::Running,
            PowerAction::Shutdown | PowerAction::Poweroff => ServerStatus::Stopped,
        };
        self.store
            .servers()
            .set_server_states(&[(id, state)], EventSource::Action, self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }

    /// Deletes a server on its provider and stops its billing at the hour.
    pub async fn delete(&self, actor: &Actor, id: ServerId) -> Result<Server> {
        let server = self
            .authorize(
                actor,
                id,
                Permission::DeleteOwnServers,
                Permission::ControlAnyServer,
                "server.delete",
            )
            .await?;
        let entry = AuditEntry::new(actor, "server.delete").target(posting_reference(id));
        if server.state == ServerStatus::Creating {
            return Err(Error::Conflict(format!(
                "{} is still being created; delete it once it is running.",
                server.name
            )));
        }
        if let Some(remote) = &server.remote_id {
            let provider = self.providers.require(&server.provider)?;
            if let Err(error) = provider.delete(remote).await {
                return Err(self.failed(entry, error).await);
            }
        }
        self.store
            .servers()
            .server_deleted(id, EventSource::Action, self.clock.now())
            .await?;
        self.audit.record(entry).await?;
        self.existing(id).await
    }
}
