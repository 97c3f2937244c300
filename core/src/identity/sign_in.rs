//! Signing in (throttled, two-factor when turned on, an unknown email as slow as a wrong
//! password) and out.

use secrecy::SecretString;

use super::throttles::{SIGN_INS_PER_ACCOUNT_AND_ADDRESS, SIGN_INS_PER_ADDRESS};
use super::{Client, Identity};
use crate::audit::{AuditEntry, AuditOutcome};
use crate::auth::sessions::IssuedSession;
use crate::auth::throttle::minutes;
use crate::auth::{password, totp};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::policy::{Actor, Via};
use crate::records::users::{User, UserAuth, UserStatus};

/// The answer to a sign-in with a right password.
#[derive(Debug)]
pub enum SignIn {
    Session(IssuedSession),
    /// Two-factor is on: ask for the code and sign in again with it.
    TwoFactorRequired,
}

fn wrong_credentials() -> Error {
    Error::Unauthenticated("The email or password is not right.".into())
}

impl Identity {
    /// Signs in. Throttled per account-and-address and per address, so someone hammering an
    /// account from elsewhere does not lock its owner out.
    pub async fn sign_in(
        &self,
        email: &str,
        password: SecretString,
        code: Option<&str>,
        client: &Client,
    ) -> Result<SignIn> {
        let email = Email::existing(email)?;
        // The attempt takes its slots before the password is checked, so attempts sent at once
        // cannot all pass a check made before any of them is counted.
        let address = client.throttle_key();
        let pair = format!("{}|{address}", email.key());
        let taken = self
            .throttle
            .take_all(
                &[
                    (&SIGN_INS_PER_ADDRESS, &address),
                    (&SIGN_INS_PER_ACCOUNT_AND_ADDRESS, &pair),
                ],
                |wait| format!("Too many failed sign-ins; try again in {}.", minutes(wait)),
            )
            .await?;
        let found = self.store.auth().user_auth_by_email(&email).await?;
        let stored = match found.as_ref().and_then(|f| f.password_hash.clone()) {
            Some(hash) => hash,
            None => password::dummy_hash().await?,
        };
        let matches = password::verify(password, stored).await?;
        let user = match found {
            Some(found) if matches && found.user.status == UserStatus::Active => found,
            other => {
                if let Some(found) = other {
                    self.audit_sign_in(
                        &found.user,
                        AuditOutcome::Denied,
                        "wrong password or disabled",
                    )
                    .await;
                }
                return Err(wrong_credentials());
            }
        };
        if user.user.email_verified_at.is_none() {
            self.give_back(&taken).await;
            return Err(Error::Forbidden(format!(
                "Verify your email first: enter the code we sent to {}, or ask for a new one.",
                user.user.email
            )));
        }
        let mut two_factor = false;
        if let Some(secret) = &user.totp_secret {
            let Some(code) = code.filter(|c| !c.trim().is_empty()) else {
                self.give_back(&taken).await;
                return Ok(SignIn::TwoFactorRequired);
            };
            if !self.accept_totp(&user, secret, code).await? {
                self.audit_sign_in(&user.user, AuditOutcome::Denied, "wrong two-factor code")
                    .await;
                return Err(Error::Unauthenticated(
                    "The two-factor code is not right.".into(),
                ));
            }
            two_factor = true;
        }
        self.throttle
            .clear(&SIGN_INS_PER_ACCOUNT_AND_ADDRESS, &pair)
            .await;
        self.give_back(&taken[..1]).await;
        let session = self
            .sessions
            .issue(user.user.id, two_factor, &client.describe())
            .await?;
        self.audit_sign_in(&user.user, AuditOutcome::Ok, "").await;
        Ok(SignIn::Session(session))
    }

    pub(super) async fn accept_totp(
        &self,
        user: &UserAuth,
        secret: &str,
        code: &str,
    ) -> Result<bool> {
        let Some(step) = totp::matching_step(secret, code, self.clock.now().timestamp())? else {
            return Ok(false);
        };
        self.store.auth().use_totp_step(user.user.id, step).await
    }

    async fn audit_sign_in(&self, user: &User, outcome: AuditOutcome, why: &str) {
        let actor = Actor::user(user.id, user.role, Via::Portal);
        let mut entry = AuditEntry::new(&actor, "user.sign_in")
            .target(format!("user:{}", user.id))
            .outcome(outcome);
        if !why.is_empty() {
            entry = entry.detail(serde_json::json!({ "reason": why }));
        }
        if let Err(error) = self.audit.record(entry).await {
            tracing::error!(%error, "could not audit a sign-in");
        }
    }

    /// Ends the session the actor signed in with.
    pub async fn sign_out(&self, session: &str) -> Result<()> {
        self.sessions.end(session).await
    }
}
