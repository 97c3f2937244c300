//! Reading servers: lists from the stored rows, one server with what its provider says now.

use serde::Serialize;

use super::{Server, Servers};
use crate::error::{Error, Result};
use crate::ids::{ServerId, UserId};
use crate::money::Money;
use crate::policy::{Actor, Permission};
use crate::providers::{RemoteServer, Usage};
use crate::store::servers::EventSource;
use crate::store::{Page, Paginated};

/// A server with what its provider says now.
#[derive(Debug, Clone, Serialize)]
pub struct ServerView {
    pub server: Server,
    /// The provider's answer, when it gave one.
    pub live: Option<RemoteServer>,
    pub usage: Option<Usage>,
    /// Why there is no live answer, for people.
    pub live_error: Option<String>,
    /// Usage charged so far.
    pub charged: Money,
}

/// Whose servers a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owners {
    /// The actor's own.
    Own,
    /// One customer's (staff, or the customer themself).
    Of(UserId),
    /// Everybody's (staff).
    Everybody,
}

impl Servers {
    /// Servers not deleted, as stored (the sync keeps them fresh): what lists and autocomplete
    /// answer from, without asking any provider.
    pub async fn list(&self, actor: &Actor, owners: Owners) -> Result<Vec<Server>> {
        let user = match owners {
            Owners::Own => Some(actor.user.ok_or_else(|| {
                Error::Forbidden(
                    "To see your servers, sign in first (on Discord: link your account with \
                     /link)."
                        .into(),
                )
            })?),
            Owners::Of(user) => Some(user),
            Owners::Everybody => None,
        };
        match user {
            Some(user) if actor.user == Some(user) => {
                actor.require(Permission::ReadOwnServers)?;
            }
            _ => {
                if let Err(error) = actor.require(Permission::ReadAnyServer) {
                    return Err(self
                        .refused(
                            actor,
                            "server.list",
                            user.map(|u| format!("user:{u}")),
                            error,
                        )
                        .await);
                }
            }
        }
        self.store.servers().servers_of(user).await
    }

    /// One page of [`Servers::list`] (in id order) and how many there are in all: what the
    /// portal's list and `GET /api/v1/servers` show.
    pub async fn list_page(
        &self,
        actor: &Actor,
        owners: Owners,
        page: Page,
    ) -> Result<Paginated<Server>> {
        let all = self.list(actor, owners).await?;
        let total = u64::try_from(all.len()).unwrap_or(u64::MAX);
        let skip = u64::from(page.page - 1) * u64::from(page.limit);
        let items = all
            .into_iter()
            .skip(usize::try_from(skip).unwrap_or(usize::MAX))
            .take(usize::try_from(page.limit).unwrap_or(usize::MAX))
            .collect();
        Ok(Paginated {
            items,
            page: page.page,
            limit: page.limit,
            total,
        })
    }

    /// One server with its live state, traffic and what it has cost so far.
    pub async fn get(&self, actor: &Actor, id: ServerId) -> Result<ServerView> {
        let mut server = self
            .authorize(
                actor,
                id,
                Permission::ReadOwnServers,
                Permission::ReadAnyServer,
                "server.get",
            )
            .await?;
        let mut view_live = None;
        let mut usage = None;
        let mut live_error = None;
        if let (Some(remote), true) = (server.remote_id.clone(), server.state.is_on_provider()) {
            let provider = self.providers.require(&server.provider)?;
            match provider.server(&remote).await {
                Ok(live) => {
                    if let Some(state) = server.state.observed(live.state) {
                        self.store
                            .servers()
                            .set_server_states(
                                &[(server.id, state)],
                                EventSource::Sync,
                                self.clock.now(),
                            )
                            .await?;
                        server.state = state;
                    }
                    usage = provider.usage(&remote).await.ok().flatten();
                    view_live = Some(live);
                }
                Err(error) => live_error = Some(shown(&Error::from(error))),
            }
        }
        let charged = self.store.servers().server_charged(server.id).await?;
        Ok(ServerView {
            server,
            live: view_live,
            usage,
            live_error,
            charged,
        })
    }
}

/// What a person may read of an error (internal details stay in the log).
pub(super) fn shown(error: &Error) -> String {
    if error.code() == crate::ErrorCode::Internal {
        let reference = crate::error::new_reference();
        tracing::error!(error = %error, reference, "a provider read failed");
        error.public_message(&reference)
    } else {
        error.to_string()
    }
}
