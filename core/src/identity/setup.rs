//! The first-admin setup link: a one-time token while no admin exists, and the admin it makes.

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use super::Identity;
use crate::audit::AuditEntry;
use crate::auth::password;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::policy::{Actor, Role, Via};
use crate::records::users::{NewUser, User};

const SETUP_SETTING: &str = "setup.first_admin";

fn setup_hash(token: &str) -> String {
    let digest = Sha256::digest(format!("setup:{token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Identity {
    /// The setup link works only while this is false.
    async fn an_admin_exists(&self) -> Result<bool> {
        Ok(self
            .store
            .users()
            .count_users_with_role(Role::Admin)
            .await?
            > 0)
    }

    /// While no admin exists: a fresh one-time link secret for creating the first one (its hash
    /// is kept, so a restart makes a new link and the old one stops working). `None` once an
    /// admin exists.
    pub async fn first_admin_setup(&self) -> Result<Option<SecretString>> {
        if self.an_admin_exists().await? {
            return Ok(None);
        }
        let token = crate::auth::sessions::random_id();
        self.store
            .settings()
            .put_setting(SETUP_SETTING, &setup_hash(&token), self.clock.now())
            .await?;
        Ok(Some(SecretString::from(token)))
    }

    /// Creates the first admin with the link secret from the log. Refused once any admin exists.
    pub async fn create_first_admin(
        &self,
        token: &str,
        email: &str,
        password: SecretString,
    ) -> Result<User> {
        let refused = || {
            Error::Forbidden("This setup link is not valid (an admin may already exist). Use `hostdeck admin create`.".into())
        };
        if self.an_admin_exists().await? {
            return Err(refused());
        }
        let stored = self
            .store
            .settings()
            .setting(SETUP_SETTING)
            .await?
            .unwrap_or_default();
        if stored.is_empty() || stored != setup_hash(token) {
            return Err(refused());
        }
        let email = Email::parse(email)?;
        self.check_new_password(&password, email.as_str())?;
        let hash = password::hash(password).await?;
        let user = self
            .store
            .users()
            .insert_user(
                &NewUser {
                    email,
                    role: Role::Admin,
                    password_hash: Some(hash),
                    email_verified: true,
                },
                self.clock.now(),
            )
            .await?;
        self.store
            .settings()
            .put_setting(SETUP_SETTING, "", self.clock.now())
            .await?;
        self.audit
            .record(
                AuditEntry::new(&Actor::anonymous(Via::Portal), "user.setup_admin")
                    .target(format!("user:{}", user.id)),
            )
            .await?;
        Ok(user)
    }
}
