//! Two-factor enrolment: a TOTP secret started, confirmed by a first code, turned off with the
//! current password and a code.

use secrecy::SecretString;

use super::{Client, Identity};
use crate::audit::AuditEntry;
use crate::auth::sessions::IssuedSession;
use crate::auth::totp;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission};

/// A two-factor secret being enrolled, to show once as a QR code and as text.
#[derive(Debug)]
pub struct Enrolment {
    pub secret: SecretString,
    pub otpauth_url: SecretString,
}

impl Identity {
    /// Starts two-factor enrolment: a new secret to scan, pending until confirmed.
    pub async fn start_two_factor(&self, actor: &Actor) -> Result<Enrolment> {
        actor.require(Permission::ManageOwnSecurity)?;
        let user = self.own(actor).await?;
        if user.totp_secret.is_some() {
            return Err(Error::Conflict(
                "Two-factor authentication is already on; turn it off first to change it.".into(),
            ));
        }
        let secret = totp::new_secret();
        self.store
            .auth()
            .set_totp_pending(user.user.id, Some(&secret))
            .await?;
        let url = totp::provisioning_url(&secret, self.company(), &user.user.email)?;
        Ok(Enrolment {
            secret: SecretString::from(secret),
            otpauth_url: SecretString::from(url),
        })
    }

    /// Confirms enrolment with a code from the app. The caller's session is replaced by one
    /// that passed two-factor; every other session ends.
    pub async fn confirm_two_factor(
        &self,
        actor: &Actor,
        session: Option<&str>,
        code: &str,
        client: &Client,
    ) -> Result<IssuedSession> {
        actor.require(Permission::ManageOwnSecurity)?;
        let user = self.own(actor).await?;
        let Some(pending) = &user.totp_pending_secret else {
            return Err(Error::Conflict("Start two-factor setup first.".into()));
        };
        let now = self.clock.now();
        let Some(step) = totp::matching_step(pending, code, now.timestamp())? else {
            return Err(Error::invalid(
                "code",
                "that code is not right; check the time on your phone and try the next one",
            ));
        };
        if !self.store.auth().confirm_totp(user.user.id, now).await?
            || !self.store.auth().use_totp_step(user.user.id, step).await?
        {
            return Err(Error::Conflict(
                "Two-factor setup changed meanwhile; start again.".into(),
            ));
        }
        self.store
            .auth()
            .revoke_other_sessions(user.user.id, None, now)
            .await?;
        if let Some(session) = session {
            self.sessions.end(session).await?;
        }
        self.two_factor_turned(actor, user.user.id, true, client)
            .await
    }

    /// Turns two-factor off with the password and a current code; signs out everywhere else and
    /// hands back a session without two-factor.
    pub async fn disable_two_factor(
        &self,
        actor: &Actor,
        current: SecretString,
        code: &str,
        client: &Client,
    ) -> Result<IssuedSession> {
        actor.require(Permission::ManageOwnSecurity)?;
        let user = self.own(actor).await?;
        let Some(secret) = user.totp_secret.clone() else {
            return Err(Error::Conflict(
                "Two-factor authentication is not on.".into(),
            ));
        };
        // One slot for the password and the code together: a right password alone gives
        // nothing back, so the code cannot be guessed behind it.
        let both = self
            .take_password_check(&format!("two_factor_off|{}", user.user.id), client)
            .await?;
        self.check_current_password(&user, current, client).await?;
        if !self.accept_totp(&user, &secret, code).await? {
            return Err(Error::invalid("code", "that code is not right"));
        }
        self.throttle.give_back(&both).await;
        let now = self.clock.now();
        self.store.auth().disable_totp(user.user.id).await?;
        self.store
            .auth()
            .revoke_other_sessions(user.user.id, None, now)
            .await?;
        self.two_factor_turned(actor, user.user.id, false, client)
            .await
    }

    /// Records that `user` turned two-factor `on` or off and hands back the session that goes
    /// with it.
    async fn two_factor_turned(
        &self,
        actor: &Actor,
        user: UserId,
        on: bool,
        client: &Client,
    ) -> Result<IssuedSession> {
        let action = if on {
            "user.two_factor_on"
        } else {
            "user.two_factor_off"
        };
        self.audit
            .record(AuditEntry::new(actor, action).target(format!("user:{user}")))
            .await?;
        self.sessions.issue(user, on, &client.describe()).await
    }
}
