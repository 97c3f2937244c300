//! Passwords: reset by emailed link or code, changed by their owner (with the current one),
//! and the mail that tells the owner.

use secrecy::SecretString;

use super::throttles::MAIL_ASKS_PER_ADDRESS;
use super::{Client, Identity};
use crate::audit::AuditEntry;
use crate::auth::password;
use crate::auth::sessions::IssuedSession;
use crate::email::Email;
use crate::error::Result;
use crate::notify::EmailMessage;
use crate::policy::{Actor, Permission, Via};
use crate::records::users::{User, UserStatus};

const RESET_PASSWORD: &str = "reset_password";

const RESET_TTL: chrono::Duration = chrono::Duration::minutes(30);

/// What a password change does to the account's API keys. A key is a password of its own that
/// a new password does not change, so the person chooses; the portal's box is ticked (revoke)
/// unless they untick it, and the API revokes unless told to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysOnPasswordChange {
    Revoke,
    Keep,
}

/// A password changed: the caller's new session and what became of sessions and keys.
#[derive(Debug)]
pub struct PasswordChanged {
    /// The caller's new session; every other one ended.
    pub session: IssuedSession,
    /// Keys revoked by this change.
    pub keys_revoked: u64,
    /// Keys that still work (kept at the person's word).
    pub keys_kept: u64,
}

impl PasswordChanged {
    /// What happened, in the words both the portal and the API use.
    pub fn summary(&self) -> String {
        format!("Your password is changed. {}", self.what_else())
    }

    /// What happened to sessions and keys.
    fn what_else(&self) -> String {
        let keys = match (self.keys_revoked, self.keys_kept) {
            (0, 0) => "You have no API keys.".to_owned(),
            (1, 0) => "Your API key was revoked; create a new one for your scripts.".to_owned(),
            (revoked, 0) => format!(
                "All {revoked} of your API keys were revoked; create new ones for your scripts."
            ),
            (_, 1) => "Your API key still works: revoke it if someone else may know it.".to_owned(),
            (_, kept) => {
                format!("Your {kept} API keys still work: revoke any that someone else may know.")
            }
        };
        format!("Every other sign-in was ended. {keys}")
    }
}

impl Identity {
    /// Refuses a password the account at `email` may not choose: easy to guess, or made of its
    /// address or the company's name.
    pub(super) fn check_new_password(&self, password: &SecretString, email: &str) -> Result<()> {
        password::check_strength(password, &[email, self.company()])
    }

    /// Emails a reset link and code if the address has an account; answers the same either way.
    pub async fn forgot_password(&self, email: &str, client: &Client) -> Result<()> {
        let email = Email::existing(email)?;
        self.throttle_email(&MAIL_ASKS_PER_ADDRESS, &email, client)
            .await?;
        let Some(found) = self.store.auth().user_auth_by_email(&email).await? else {
            return Ok(());
        };
        if found.user.status != UserStatus::Active {
            return Ok(());
        }
        let user = found.user;
        let token = crate::auth::sessions::random_id();
        let code = self
            .new_emailed_code(RESET_PASSWORD, user.id, Some(&token), RESET_TTL)
            .await?;
        let link = format!(
            "{}?email={}&token={token}",
            self.portal_url("/reset"),
            url::form_urlencoded::byte_serialize(user.email.as_bytes()).collect::<String>()
        );
        self.outbox
            .email(
                &user.email,
                EmailMessage {
                    subject: format!("Reset your {} password", self.company()),
                    text: format!(
                        "Hello,\n\nTo choose a new password, open this link within 30 minutes:\n\n{link}\n\n\
                         Or enter this code on the reset page: {code}\n\nIf you did not ask for this, ignore \
                         this email; your password stays as it is.\n\n{company}\n",
                        company = self.company(),
                    ),
                },
            )
            .await
    }

    /// Sets a new password with the emailed link token or code, ends every session and revokes
    /// every API key. A reset is how an account is taken back after its password leaked; a key
    /// made by whoever knew the password must not outlive it, and the person is not signed in
    /// to choose, so keys always go (the email and the page say so).
    pub async fn reset_password(
        &self,
        email: &str,
        secret: &str,
        new_password: SecretString,
        client: &Client,
    ) -> Result<()> {
        let email = Email::existing(email)?;
        self.check_new_password(&new_password, email.as_str())?;
        let user = self
            .use_emailed_code(RESET_PASSWORD, &email, secret, client)
            .await?;
        let actor = Actor::user(user.id, user.role, Via::Portal);
        self.replace_password(&user, new_password, None).await?;
        let revoked = self
            .api_keys
            .revoke_all_of(&actor, user.id, "password_reset")
            .await?;
        self.audit
            .record(
                AuditEntry::new(&actor, "user.reset_password")
                    .target(format!("user:{}", user.id))
                    .detail(serde_json::json!({ "api_keys_revoked": revoked })),
            )
            .await?;
        self.password_email(
            &user,
            &format!(
                "Every sign-in was ended{}.",
                if revoked > 0 {
                    " and every API key was revoked; create new keys for your scripts"
                } else {
                    ""
                }
            ),
        )
        .await
    }

    /// Changes the actor's password. Every other session ends and the caller gets a new one;
    /// the API keys are revoked or kept as `keys` says, and the answer says which.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: SecretString,
        new_password: SecretString,
        keys: KeysOnPasswordChange,
        client: &Client,
    ) -> Result<PasswordChanged> {
        actor.require(Permission::ManageOwnSecurity)?;
        let user = self.own(actor).await?;
        self.check_current_password(&user, current, client).await?;
        self.check_new_password(&new_password, user.user.email.as_str())?;
        self.replace_password(&user.user, new_password, None)
            .await?;
        let (keys_revoked, keys_kept) = match keys {
            KeysOnPasswordChange::Revoke => (
                self.api_keys
                    .revoke_all_of(actor, user.user.id, "password_change")
                    .await?,
                0,
            ),
            KeysOnPasswordChange::Keep => (0, self.api_keys.live_count(user.user.id).await?),
        };
        self.audit
            .record(
                AuditEntry::new(actor, "user.change_password")
                    .target(format!("user:{}", user.user.id))
                    .detail(serde_json::json!({
                        "api_keys_revoked": keys_revoked,
                        "api_keys_kept": keys_kept,
                    })),
            )
            .await?;
        let session = self
            .sessions
            .issue(user.user.id, actor.two_factor, &client.describe())
            .await?;
        let changed = PasswordChanged {
            session,
            keys_revoked,
            keys_kept,
        };
        self.password_email(&user.user, &changed.what_else())
            .await?;
        Ok(changed)
    }

    async fn replace_password(
        &self,
        user: &User,
        new_password: SecretString,
        keep: Option<&str>,
    ) -> Result<()> {
        let hash = password::hash(new_password).await?;
        let now = self.clock.now();
        self.store.auth().set_password(user.id, &hash, now).await?;
        self.store
            .auth()
            .revoke_other_sessions(user.id, keep, now)
            .await
    }

    /// Tells the account's owner their password was changed, and what became of sessions and
    /// keys (`what_else`).
    async fn password_email(&self, user: &User, what_else: &str) -> Result<()> {
        self.outbox
            .email(
                &user.email,
                EmailMessage {
                    subject: format!("Your {} password was changed", self.company()),
                    text: format!(
                        "Hello,\n\nThe password of your {company} account was just changed. {what_else}\n\n\
                         If this was not you, reset your password at {url} and contact support.\n\n{company}\n",
                        company = self.company(),
                        url = self.portal_url("/forgot"),
                    ),
                },
            )
            .await
    }
}
