//! The asker's own account as the model may see it: only for a linked customer, only their
//! own servers and states, balance and hours left, and the incidents and maintenance acting
//! now that touch them (`Status::affecting`: their servers' providers, and what every customer
//! relies on), so answers mention a known problem. Reached through the services with the
//! asker's own [`Actor`], so the services' ownership checks hold here too; nobody else's data
//! can be read this way.

use std::sync::Arc;

use crate::error::Result;
use crate::ledger::Ledger;
use crate::money::Currency;
use crate::policy::Actor;
use crate::servers::{Owners, Servers};
use crate::status::Status;
use crate::store::Store;
use crate::users::Users;

/// Servers listed by name at most; the rest are counted.
const SERVERS_NAMED: usize = 15;
/// Incidents listed at most, and how much of each one's latest update is told.
const INCIDENTS_NAMED: usize = 5;
const UPDATE_CHARS: usize = 300;

/// What the assistant may tell the model about the person asking.
#[async_trait::async_trait]
pub trait AskerFacts: Send + Sync {
    /// A few lines about the actor's own account, or `None` when they are not a linked
    /// customer. Never anyone else's data.
    async fn describe(&self, actor: &Actor) -> Result<Option<String>>;
}

/// [`AskerFacts`] over the platform's own services.
#[derive(Clone)]
pub struct OwnAccount {
    pub users: Users,
    pub servers: Servers,
    pub ledger: Ledger,
    pub store: Arc<dyn Store>,
    pub currency: Currency,
    pub status: Status,
}

#[async_trait::async_trait]
impl AskerFacts for OwnAccount {
    async fn describe(&self, actor: &Actor) -> Result<Option<String>> {
        let Some(id) = actor.user else {
            return Ok(None);
        };
        let user = self.users.get(actor, id).await?;
        let servers = self.servers.list(actor, Owners::Own).await?;
        let balance = self.ledger.balance(actor, &user).await?;
        let burn = crate::burn_rate::burn_rate_of(self.store.as_ref(), id).await?;
        let named: Vec<String> = servers
            .iter()
            .take(SERVERS_NAMED)
            .map(|server| {
                let suspended = if server.suspended_at.is_some() {
                    ", suspended"
                } else {
                    ""
                };
                format!("{} ({}{suspended})", server.name, server.state.as_str())
            })
            .collect();
        let more = servers.len().saturating_sub(SERVERS_NAMED);
        let mut lines = vec![format!(
            "servers: {}{}{}",
            servers.len(),
            if named.is_empty() { "" } else { ": " },
            named.join(", ")
        )];
        if more > 0 {
            lines.push(format!("and {more} more servers"));
        }
        lines.push(format!("balance: {}", balance.display(&self.currency)));
        match burn.hours_left(balance) {
            Some(hours) => lines.push(format!("hours of credit left at the current rate: {hours}")),
            None => lines.push("hours of credit left: nothing is billed right now".into()),
        }
        let providers: Vec<&str> = servers
            .iter()
            .map(|server| server.provider.as_str())
            .collect();
        let incidents = self.status.affecting_now(&providers).await?;
        if incidents.is_empty() {
            lines.push("active incidents affecting them: none".into());
        }
        for incident in incidents.iter().take(INCIDENTS_NAMED) {
            let latest: String = incident
                .latest()
                .unwrap_or_default()
                .chars()
                .take(UPDATE_CHARS)
                .collect();
            lines.push(format!(
                "active incident affecting them: {}; latest update: {latest}",
                incident.line()
            ));
        }
        Ok(Some(lines.join("\n")))
    }
}
