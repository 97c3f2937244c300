//! Registration: an account made inactive, verified by a code sent to its address; a taken
//! address answers exactly like a free one.

use secrecy::SecretString;

use super::throttles::{MAIL_ASKS_PER_ADDRESS, SIGN_UPS_PER_ADDRESS};
use super::{Client, Identity};
use crate::audit::AuditEntry;
use crate::auth::password;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::notify::EmailMessage;
use crate::policy::{Actor, Role, Via};
use crate::records::users::{NewUser, User};

const VERIFY_EMAIL: &str = "verify_email";

const VERIFY_CODE_TTL: chrono::Duration = chrono::Duration::minutes(30);

impl Identity {
    /// Registers a customer and emails a verification code. A taken address answers the same,
    /// and its owner gets an email saying someone tried.
    pub async fn register(
        &self,
        email: &str,
        password: SecretString,
        client: &Client,
    ) -> Result<()> {
        let email = Email::parse(email)?;
        self.check_new_password(&password, email.as_str())?;
        self.throttle_email(&SIGN_UPS_PER_ADDRESS, &email, client)
            .await?;
        let hash = password::hash(password).await?;
        let now = self.clock.now();
        let new = NewUser {
            email: email.clone(),
            role: Role::Customer,
            password_hash: Some(hash),
            email_verified: false,
        };
        match self.store.users().insert_user(&new, now).await {
            Ok(user) => {
                self.audit
                    .record(
                        AuditEntry::new(&Actor::anonymous(Via::Portal), "user.register")
                            .target(format!("user:{}", user.id)),
                    )
                    .await?;
                self.send_verification(&user).await
            }
            Err(Error::Conflict(_)) => {
                let Some(existing) = self.store.auth().user_auth_by_email(&email).await? else {
                    return Ok(());
                };
                if existing.user.email_verified_at.is_none() {
                    return self.send_verification(&existing.user).await;
                }
                self.outbox
                    .email(
                        &existing.user.email,
                        EmailMessage {
                            subject: format!("Someone tried to register with your email at {}", self.company()),
                            text: format!(
                                "Hello,\n\nSomeone tried to create a {company} account with this email address, \
                                 which already has one. If it was you, sign in at {url} or reset your password \
                                 there. If not, you can ignore this email.\n\n{company}\n",
                                company = self.company(),
                                url = self.portal_url("/login"),
                            ),
                        },
                    )
                    .await
            }
            Err(other) => Err(other),
        }
    }

    async fn send_verification(&self, user: &User) -> Result<()> {
        let code = self
            .new_emailed_code(VERIFY_EMAIL, user.id, None, VERIFY_CODE_TTL)
            .await?;
        self.outbox
            .email(
                &user.email,
                EmailMessage {
                    subject: format!("Your {} verification code: {code}", self.company()),
                    text: format!(
                        "Hello,\n\nYour verification code is {code}\n\nEnter it at {url} within 30 minutes \
                         to finish creating your {company} account. If you did not sign up, ignore this email.\n\n{company}\n",
                        company = self.company(),
                        url = self.portal_url("/verify"),
                    ),
                },
            )
            .await
    }

    /// Sends a fresh code to an unverified address (and silently nothing otherwise).
    pub async fn resend_verification(&self, email: &str, client: &Client) -> Result<()> {
        let email = Email::existing(email)?;
        self.throttle_email(&MAIL_ASKS_PER_ADDRESS, &email, client)
            .await?;
        match self.store.auth().user_auth_by_email(&email).await? {
            Some(found) if found.user.email_verified_at.is_none() => {
                self.send_verification(&found.user).await
            }
            _ => Ok(()),
        }
    }

    /// Confirms the address with the emailed code.
    pub async fn verify_email(&self, email: &str, code: &str, client: &Client) -> Result<User> {
        let email = Email::existing(email)?;
        let user = self
            .use_emailed_code(VERIFY_EMAIL, &email, code, client)
            .await?;
        if self
            .store
            .users()
            .mark_email_verified(user.id, self.clock.now())
            .await?
        {
            self.audit
                .record(
                    AuditEntry::new(&Actor::anonymous(Via::Portal), "user.verify_email")
                        .target(format!("user:{}", user.id)),
                )
                .await?;
            crate::billing::grant_signup_credit(
                self.store.as_ref(),
                &self.config,
                &user,
                self.clock.now(),
            )
            .await?;
        }
        self.store
            .users()
            .user(user.id)
            .await?
            .ok_or_else(|| Error::NotFound("The account is gone.".into()))
    }
}
