//! Who may act on which server: ownership re-checked on every call, refusals and provider
//! failures audited, the provider a server lives on.

use std::sync::Arc;

use super::{Server, ServerStatus, Servers};
use crate::audit::{AuditEntry, AuditOutcome};
use crate::billing::meter::posting_reference;
use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::policy::{Actor, Permission};
use crate::providers::{Provider, ProviderError, RemoteId};
use crate::records::users::User;
use crate::store::servers::EventSource;

impl Servers {
    pub(super) async fn user(&self, id: UserId) -> Result<User> {
        crate::users::existing(self.store.as_ref(), id).await
    }

    pub(super) async fn existing(&self, id: ServerId) -> Result<Server> {
        self.store
            .servers()
            .server(id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no server {id}.")))
    }

    /// The server, if the actor may act on it: the owner with `own`, anybody else with `any`.
    /// Somebody else's server is refused as if it did not exist, and the refusal is audited.
    pub(super) async fn authorize(
        &self,
        actor: &Actor,
        id: ServerId,
        own: Permission,
        any: Permission,
        action: &str,
    ) -> Result<Server> {
        // Somebody who may do this to no server at all is told so (with the scope or role it
        // needs) before any id is looked at.
        if !actor.can(own) && !actor.can(any) {
            let error = actor
                .require(own)
                .err()
                .unwrap_or_else(|| Error::Forbidden("You may not do this.".into()));
            return Err(self
                .refused(actor, action, Some(posting_reference(id)), error)
                .await);
        }
        let server = self.store.servers().server(id).await?;
        match server {
            Some(server) if actor.user.is_some() && actor.user == Some(server.user) => {
                if let Err(error) = actor.require(own) {
                    return Err(self
                        .refused(actor, action, Some(posting_reference(id)), error)
                        .await);
                }
                Ok(server)
            }
            Some(server) if actor.can(any) => Ok(server),
            Some(_) => {
                let error = Error::NotFound(format!("You have no server {id}."));
                Err(self
                    .refused(actor, action, Some(posting_reference(id)), error)
                    .await)
            }
            None => Err(Error::NotFound(format!("You have no server {id}."))),
        }
    }

    /// The provider and remote id of a server that exists there, or why it cannot be acted on.
    pub(super) fn on_provider(&self, server: &Server) -> Result<(Arc<dyn Provider>, RemoteId)> {
        match (&server.remote_id, server.state) {
            (_, ServerStatus::Deleted) => {
                Err(Error::NotFound(format!("{} was deleted.", server.name)))
            }
            (_, ServerStatus::Failed) => Err(Error::Conflict(format!(
                "{} was never created; create it again.",
                server.name
            ))),
            (Some(remote), _) => Ok((self.providers.require(&server.provider)?, remote.clone())),
            (None, _) => Err(Error::Conflict(format!(
                "{} is still being created; try again in a minute.",
                server.name
            ))),
        }
    }

    pub(super) async fn refused(
        &self,
        actor: &Actor,
        action: &str,
        target: Option<String>,
        error: Error,
    ) -> Error {
        self.audit.denied_on(actor, action, target, error).await
    }

    /// Audits a provider failure and hands back the error people see.
    pub(super) async fn failed(&self, entry: AuditEntry, error: ProviderError) -> Error {
        let detail = serde_json::json!({
            "request": entry.detail,
            "error": error.to_string(),
        });
        let entry = entry.outcome(AuditOutcome::Failed).detail(detail);
        if let Err(write_error) = self.audit.record(entry).await {
            tracing::error!(error = %write_error, "could not write an audit entry for a failure");
        }
        tracing::warn!(error = %error, "a provider call failed");
        Error::from(error)
    }
}

pub(super) fn source_of(actor: &Actor) -> EventSource {
    if actor.via == crate::policy::Via::System {
        EventSource::Billing
    } else {
        EventSource::Action
    }
}
