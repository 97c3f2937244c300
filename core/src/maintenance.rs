//! Maintenance mode, kept in the database so every replica sees the same.
//!
//! Maintenance mode shows everyone but admins a maintenance notice, at every door: who it lets
//! in is decided here ([`MaintenanceState::admits`], [`Maintenance::admit`]), the doors only
//! ask. It is read on every request, so each process caches it for two seconds; a change made
//! here takes effect in this process at once and in the others within that time.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::policy::{Actor, Permission, Role};
use crate::store::Store;

const MAINTENANCE: &str = "maintenance";
const CACHE_FOR: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaintenanceState {
    pub enabled: bool,
    /// What people see while it is on.
    pub message: String,
    pub since: Option<DateTime<Utc>>,
}

impl MaintenanceState {
    /// Whether `actor` (`None`: nobody signed in) may go on in this state: anyone while
    /// maintenance is off; while it is on, only a signed-in admin (who must be able to turn it
    /// off again) and the platform itself.
    pub fn admits(&self, actor: Option<&Actor>) -> bool {
        !self.enabled
            || actor.is_some_and(|actor| {
                actor.is_trusted() || (actor.user.is_some() && actor.roles.contains(Role::Admin))
            })
    }

    /// Whether a Discord member may go on: while maintenance is on, only a member whose Discord
    /// roles make them an admin *and* whose linked account is itself an admin. A Discord role
    /// alone, on a member linked to a customer account, lets nobody past maintenance.
    pub fn admits_member(&self, actor: &Actor, account_role: Option<Role>) -> bool {
        !self.enabled || (self.admits(Some(actor)) && account_role == Some(Role::Admin))
    }

    /// The refusal people see while maintenance keeps them out.
    pub fn refusal(&self, company: &str) -> Error {
        Error::Unavailable(format!("{company} is under maintenance: {}", self.message))
    }
}

#[derive(Clone)]
pub struct Maintenance {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    cache: Arc<RwLock<Option<(Instant, MaintenanceState)>>>,
}

impl Maintenance {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, audit: Audit) -> Self {
        Self {
            store,
            clock,
            audit,
            cache: Arc::new(RwLock::new(None)),
        }
    }

    /// The current state (public: the maintenance page shows its message to everyone).
    pub async fn current(&self) -> Result<MaintenanceState> {
        if let Some((at, state)) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(state.clone());
        }
        let state = match self.store.settings().setting(MAINTENANCE).await? {
            Some(text) => serde_json::from_str(&text)
                .map_err(|error| Error::internal("reading maintenance mode", error))?,
            None => MaintenanceState::default(),
        };
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), state.clone()));
        Ok(state)
    }

    /// `Ok` when maintenance lets `actor` in ([`MaintenanceState::admits`]), otherwise
    /// `unavailable` saying that `company` is under maintenance and why. When the state cannot
    /// be read, the request goes on: without the database it fails on its own.
    pub async fn admit(&self, actor: Option<&Actor>, company: &str) -> Result<()> {
        match self.current().await {
            Ok(state) if !state.admits(actor) => Err(state.refusal(company)),
            _ => Ok(()),
        }
    }

    /// [`Maintenance::admit`] for a Discord member ([`MaintenanceState::admits_member`]):
    /// `account_role` is the role of the member's linked account, if any.
    pub async fn admit_member(
        &self,
        actor: &Actor,
        account_role: Option<Role>,
        company: &str,
    ) -> Result<()> {
        match self.current().await {
            Ok(state) if !state.admits_member(actor, account_role) => Err(state.refusal(company)),
            _ => Ok(()),
        }
    }

    /// The state as the admin pages show it: for those who may change it.
    pub async fn status(&self, actor: &Actor) -> Result<MaintenanceState> {
        actor.require(Permission::ManageMaintenance)?;
        self.current().await
    }

    pub async fn enable(&self, actor: &Actor, message: &str) -> Result<MaintenanceState> {
        actor.require(Permission::ManageMaintenance)?;
        let message = message.trim();
        if message.is_empty() || message.chars().count() > 500 {
            return Err(Error::invalid(
                "message",
                "say in 1 to 500 characters what is happening",
            ));
        }
        crate::text::note("message", "the notice", message, 500)?;
        self.set(
            actor,
            MaintenanceState {
                enabled: true,
                message: message.to_owned(),
                since: Some(self.clock.now()),
            },
        )
        .await
    }

    pub async fn disable(&self, actor: &Actor) -> Result<MaintenanceState> {
        actor.require(Permission::ManageMaintenance)?;
        self.set(actor, MaintenanceState::default()).await
    }

    async fn set(&self, actor: &Actor, state: MaintenanceState) -> Result<MaintenanceState> {
        let text = serde_json::to_string(&state)
            .map_err(|error| Error::internal("saving maintenance mode", error))?;
        self.store
            .settings()
            .put_setting(MAINTENANCE, &text, self.clock.now())
            .await?;
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) =
            Some((Instant::now(), state.clone()));
        let action = if state.enabled {
            "maintenance.enable"
        } else {
            "maintenance.disable"
        };
        self.audit
            .record(
                AuditEntry::new(actor, action)
                    .detail(serde_json::json!({ "message": state.message })),
            )
            .await?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::policy::{RoleSet, Via};

    #[test]
    fn maintenance_admits_only_signed_in_admins_and_the_platform() {
        let on = MaintenanceState {
            enabled: true,
            message: "Upgrading".into(),
            since: None,
        };
        let off = MaintenanceState::default();
        for role in Role::ALL {
            let actor = Actor::user(UserId(1), role, Via::Portal);
            assert!(off.admits(Some(&actor)));
            assert_eq!(on.admits(Some(&actor)), role == Role::Admin, "{role}");
        }
        assert!(off.admits(None));
        assert!(!on.admits(None));
        assert!(on.admits(Some(&Actor::system())));
        assert!(on.admits(Some(&Actor::cli())));
        // A Discord admin role without a linked account is nobody in particular.
        let unlinked = Actor {
            roles: RoleSet::of(&[Role::Admin]),
            ..Actor::anonymous(Via::Discord)
        };
        assert!(!on.admits(Some(&unlinked)));
        // On Discord the admin role must be backed by an admin account.
        let discord_admin = Actor {
            user: Some(UserId(2)),
            roles: RoleSet::of(&[Role::Admin, Role::Customer]),
            ..Actor::anonymous(Via::Discord)
        };
        assert!(on.admits_member(&discord_admin, Some(Role::Admin)));
        assert!(!on.admits_member(&discord_admin, Some(Role::Customer)));
        assert!(!on.admits_member(&discord_admin, None));
        assert!(off.admits_member(&discord_admin, Some(Role::Customer)));
        let refusal = on.refusal("Acme").to_string();
        assert!(
            refusal.contains("Acme is under maintenance: Upgrading"),
            "{refusal}"
        );
    }
}
