//! Users: customers and staff, one role each, email unique without regard to case.

use std::sync::Arc;

use secrecy::SecretString;

use crate::audit::{Audit, AuditEntry};
use crate::auth::api_keys::KeyCache;
use crate::auth::password;
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission, Role};
pub use crate::records::users::{NewUser, User, UserAuth, UserStatus};
use crate::store::{Page, Paginated, Store};

/// The account `id`, or `not_found` when there is none. The caller has checked who may see it.
pub async fn existing(store: &dyn Store, id: UserId) -> Result<User> {
    store
        .users()
        .user(id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no user {id}.")))
}

/// An account to create, as a person asks for it.
#[derive(Debug)]
pub struct NewAccount {
    pub email: Email,
    pub role: Role,
    pub password: SecretString,
    /// Accounts made by an operator or admin are trusted to own their address.
    pub email_verified: bool,
}

#[derive(Clone)]
pub struct Users {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    /// Forgotten for a user whose role or status changes, so their API keys follow at once.
    keys: KeyCache,
}

impl Users {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, audit: Audit, keys: KeyCache) -> Self {
        Self {
            store,
            clock,
            audit,
            keys,
        }
    }

    /// Creates an account with a wallet. Only admins (and the operator) create accounts this
    /// way; customers register through the portal.
    pub async fn create(&self, actor: &Actor, account: NewAccount) -> Result<User> {
        actor.require(Permission::ManageUsers)?;
        password::check_strength(&account.password, &[account.email.as_str()])?;
        let hash = password::hash(account.password).await?;
        let user = self
            .store
            .users()
            .insert_user(
                &NewUser {
                    email: account.email,
                    role: account.role,
                    password_hash: Some(hash),
                    email_verified: account.email_verified,
                },
                self.clock.now(),
            )
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "user.create")
                    .target(format!("user:{}", user.id))
                    .detail(serde_json::json!({ "role": user.role })),
            )
            .await?;
        Ok(user)
    }

    /// The actor's own account as authentication just loaded it (no second read).
    pub fn own_profile(&self, actor: &Actor, user: &User) -> Result<User> {
        actor.require(Permission::ReadOwnProfile)?;
        if actor.user != Some(user.id) {
            return Err(Error::Forbidden("That is not your account.".into()));
        }
        Ok(user.clone())
    }

    /// One account, for itself or for staff.
    pub async fn get(&self, actor: &Actor, id: UserId) -> Result<User> {
        if actor.user != Some(id) || !actor.can(Permission::ReadOwnProfile) {
            actor.require(Permission::ReadAnyUser)?;
        }
        existing(self.store.as_ref(), id).await
    }

    /// Accounts whose email contains `search`, for staff.
    pub async fn list(
        &self,
        actor: &Actor,
        search: Option<&str>,
        page: Page,
    ) -> Result<Paginated<User>> {
        actor.require(Permission::ReadAnyUser)?;
        self.store.users().list_users(search, page).await
    }

    /// Changes an account's role. An admin cannot demote themselves, so the platform is never
    /// left without one by accident.
    pub async fn set_role(&self, actor: &Actor, id: UserId, role: Role) -> Result<User> {
        actor.require(Permission::ManageUsers)?;
        if actor.user == Some(id) && role != Role::Admin {
            return Err(Error::Conflict(
                "You cannot take away your own admin role; ask another admin.".into(),
            ));
        }
        let before = self.get(actor, id).await?;
        self.store.users().set_user_role(id, role).await?;
        self.keys.forget_user(id);
        self.audit
            .record(
                AuditEntry::new(actor, "user.role")
                    .target(format!("user:{id}"))
                    .detail(serde_json::json!({ "from": before.role, "to": role })),
            )
            .await?;
        Ok(User { role, ..before })
    }

    /// Disables or re-enables an account. Disabling ends its sessions at once; an admin cannot
    /// disable themselves.
    pub async fn set_status(&self, actor: &Actor, id: UserId, status: UserStatus) -> Result<User> {
        actor.require(Permission::ManageUsers)?;
        if actor.user == Some(id) && status == UserStatus::Disabled {
            return Err(Error::Conflict(
                "You cannot disable your own account.".into(),
            ));
        }
        let before = self.get(actor, id).await?;
        self.store
            .users()
            .set_user_status(id, status, self.clock.now())
            .await?;
        self.keys.forget_user(id);
        self.audit
            .record(
                AuditEntry::new(actor, "user.status")
                    .target(format!("user:{id}"))
                    .detail(serde_json::json!({ "from": before.status, "to": status })),
            )
            .await?;
        Ok(User { status, ..before })
    }

    pub async fn count_with_role(&self, role: Role) -> Result<u64> {
        self.store.users().count_users_with_role(role).await
    }
}
