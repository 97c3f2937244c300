//! How people get and keep access: registration with an emailed code, sign-in (throttled, with
//! two-factor when turned on), password reset by emailed link or code, password change, and
//! two-factor enrolment.
//!
//! Guessing is throttled per client address, and per account *and* address, so a stranger
//! hammering an account from elsewhere neither gets far nor locks its owner out; the counts are
//! shared by every replica and each attempt is counted before its secret is checked (see
//! `auth::throttle`). Mail sent on request (sign-up, "resend the code", "forgot my password")
//! is limited per requesting address, and the allowance of each recipient is counted per
//! requesting address too: a stranger can use up only their own share of someone's mail, never
//! the share of the owner asking from their own address.
//!
//! Nothing here tells a stranger whether an email has an account: registering a taken address
//! and asking a reset for an unknown one answer exactly like the real thing, and a sign-in with
//! an unknown email checks a dummy hash so it takes as long as a wrong password.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditEntry, AuditOutcome};
use crate::auth::api_keys::ApiKeys;
use crate::auth::sessions::{IssuedSession, Sessions};
use crate::auth::throttle::{Limit, SharedThrottle, Taken, minutes};
use crate::auth::{password, totp};
use crate::clock::Clock;
use crate::config::Config;
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::notify::{EmailMessage, Outbox};
use crate::policy::{Actor, Permission, Role, Via};
use crate::store::{CodeCheck, NewCode, Store};
use crate::users::{NewUser, User, UserAuth, UserStatus};

const VERIFY_EMAIL: &str = "verify_email";
const RESET_PASSWORD: &str = "reset_password";
const VERIFY_CODE_TTL: chrono::Duration = chrono::Duration::minutes(30);
const RESET_TTL: chrono::Duration = chrono::Duration::minutes(30);
const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
const HOUR: Duration = Duration::from_secs(3600);
/// Sign-ins from one address against one account before that pair must wait. A right password
/// gives its attempt back.
const SIGN_INS_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "sign_in.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
/// Sign-ins from one address, across accounts, before it must wait.
const SIGN_INS_PER_ADDRESS: Limit = Limit {
    name: "sign_in.address",
    max: 30,
    window: FAILURE_WINDOW,
};
/// Tries at an emailed code (verification, reset) from one address for one account, and from
/// one address across accounts; each code also dies after a few wrong tries (the store's
/// `CODE_ATTEMPTS`). A right code gives its try back.
const CODE_TRIES_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "code.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
const CODE_TRIES_PER_ADDRESS: Limit = Limit {
    name: "code.address",
    max: 30,
    window: FAILURE_WINDOW,
};
/// Checks of the current password (and code) by a signed-in caller, per account and address:
/// a stolen session must not be a way to guess the password.
const PASSWORD_CHECKS_PER_ACCOUNT_AND_ADDRESS: Limit = Limit {
    name: "current_password.account_address",
    max: 5,
    window: FAILURE_WINDOW,
};
/// Sign-ups from one address.
const SIGN_UPS_PER_ADDRESS: Limit = Limit {
    name: "sign_up.address",
    max: 5,
    window: HOUR,
};
/// Asks for mail ("resend the code", "forgot my password") from one address.
const MAIL_ASKS_PER_ADDRESS: Limit = Limit {
    name: "mail.address",
    max: 10,
    window: HOUR,
};
/// Emails (codes, resets) one recipient is sent at the request of one address.
const EMAILS_PER_RECIPIENT_AND_ADDRESS: Limit = Limit {
    name: "mail.recipient_address",
    max: 5,
    window: HOUR,
};

/// Where a request came from, for throttling and the session list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub address: String,
    pub user_agent: String,
}

impl Client {
    pub fn describe(&self) -> String {
        format!("{} {}", self.address, self.user_agent)
    }

    /// The address as a throttle subject. An IPv6 client counts by its /64 (one subscriber
    /// is given a whole /64, so its single addresses would be endless fresh subjects); an
    /// IPv4-mapped IPv6 address counts as the IPv4 address. Anything else counts as written.
    pub fn throttle_key(&self) -> String {
        match self
            .address
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.to_canonical())
        {
            Ok(std::net::IpAddr::V6(ip)) => {
                let network = u128::from(ip) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(network))
            }
            Ok(ip) => ip.to_string(),
            Err(_) => self.address.clone(),
        }
    }
}

/// The answer to a sign-in with a right password.
#[derive(Debug)]
pub enum SignIn {
    Session(IssuedSession),
    /// Two-factor is on: ask for the code and sign in again with it.
    TwoFactorRequired,
}

/// A two-factor secret being enrolled, to show once as a QR code and as text.
#[derive(Debug)]
pub struct Enrolment {
    pub secret: SecretString,
    pub otpauth_url: SecretString,
}

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

#[derive(Clone)]
pub struct Accounts {
    api_keys: ApiKeys,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    outbox: Outbox,
    sessions: Sessions,
    config: Arc<Config>,
    throttle: SharedThrottle,
}

fn code_hash(purpose: &str, user: UserId, secret: &str) -> String {
    let digest = Sha256::digest(format!("{purpose}:{user}:{}", secret.trim()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

fn wrong_credentials() -> Error {
    Error::Unauthenticated("The email or password is not right.".into())
}

fn wrong_code() -> Error {
    Error::invalid(
        "code",
        "that code is not right or has expired; ask for a new one",
    )
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        outbox: Outbox,
        sessions: Sessions,
        api_keys: ApiKeys,
        config: Arc<Config>,
    ) -> Self {
        Self {
            throttle: SharedThrottle::new(store.clone(), clock.clone()),
            api_keys,
            store,
            clock,
            audit,
            outbox,
            sessions,
            config,
        }
    }

    fn company(&self) -> &str {
        &self.config.company.name
    }

    /// The portal's address for links in emails.
    fn portal_url(&self, path: &str) -> String {
        match &self.config.web.public_url {
            Some(url) => format!("{}{path}", url.as_str().trim_end_matches('/')),
            None => format!("http://{}{path}", self.config.web.bind),
        }
    }

    /// Counts a request from `client` that sends mail to `email`: `asks` per address, and the
    /// recipient's allowance per requesting address.
    async fn throttle_email(&self, asks: &Limit, email: &Email, client: &Client) -> Result<()> {
        let address = client.throttle_key();
        let recipient = format!("{}|{address}", email.key());
        self.throttle
            .take_all(
                &[
                    (asks, &address),
                    (&EMAILS_PER_RECIPIENT_AND_ADDRESS, &recipient),
                ],
                |wait| {
                    format!(
                        "Too many requests for email from here; try again in {}.",
                        minutes(wait)
                    )
                },
            )
            .await
            .map(drop)
    }

    /// Counts a try at an emailed code before it is checked.
    async fn throttle_code(
        &self,
        purpose: &str,
        email: &Email,
        client: &Client,
    ) -> Result<Vec<Taken>> {
        let address = client.throttle_key();
        let pair = format!("{purpose}|{}|{address}", email.key());
        self.throttle
            .take_all(
                &[
                    (&CODE_TRIES_PER_ADDRESS, &address),
                    (&CODE_TRIES_PER_ACCOUNT_AND_ADDRESS, &pair),
                ],
                |wait| {
                    format!(
                        "Too many wrong codes; try again in {}, or ask for a new code.",
                        minutes(wait)
                    )
                },
            )
            .await
    }

    async fn give_back(&self, taken: &[Taken]) {
        for slot in taken {
            self.throttle.give_back(slot).await;
        }
    }

    /// Registers a customer and emails a verification code. A taken address answers the same,
    /// and its owner gets an email saying someone tried.
    pub async fn register(
        &self,
        email: &str,
        password: SecretString,
        client: &Client,
    ) -> Result<()> {
        let email = Email::parse(email)?;
        password::check_strength(&password, &[email.as_str(), self.company()])?;
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
        match self.store.insert_user(&new, now).await {
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
                let Some(existing) = self.store.user_auth_by_email(&email).await? else {
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
        let code = six_digits();
        let now = self.clock.now();
        self.store
            .insert_code(&NewCode {
                purpose: VERIFY_EMAIL,
                user: user.id,
                hashes: vec![code_hash(VERIFY_EMAIL, user.id, &code)],
                link: None,
                created_at: now,
                expires_at: now + VERIFY_CODE_TTL,
            })
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
        match self.store.user_auth_by_email(&email).await? {
            Some(found) if found.user.email_verified_at.is_none() => {
                self.send_verification(&found.user).await
            }
            _ => Ok(()),
        }
    }

    /// Confirms the address with the emailed code.
    pub async fn verify_email(&self, email: &str, code: &str, client: &Client) -> Result<User> {
        let email = Email::existing(email)?;
        let taken = self.throttle_code(VERIFY_EMAIL, &email, client).await?;
        let Some(found) = self.store.user_auth_by_email(&email).await? else {
            return Err(wrong_code());
        };
        let user = found.user;
        let hash = code_hash(VERIFY_EMAIL, user.id, code);
        match self
            .store
            .use_code(VERIFY_EMAIL, user.id, &hash, self.clock.now())
            .await?
        {
            CodeCheck::Accepted => {
                self.give_back(&taken).await;
                if self
                    .store
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
                    .user(user.id)
                    .await?
                    .ok_or_else(|| Error::NotFound("The account is gone.".into()))
            }
            CodeCheck::Wrong | CodeCheck::NoCode => Err(wrong_code()),
        }
    }

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
        let found = self.store.user_auth_by_email(&email).await?;
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

    async fn accept_totp(&self, user: &UserAuth, secret: &str, code: &str) -> Result<bool> {
        let Some(step) = totp::matching_step(secret, code, self.clock.now().timestamp())? else {
            return Ok(false);
        };
        self.store.use_totp_step(user.user.id, step).await
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

    /// Emails a reset link and code if the address has an account; answers the same either way.
    pub async fn forgot_password(&self, email: &str, client: &Client) -> Result<()> {
        let email = Email::existing(email)?;
        self.throttle_email(&MAIL_ASKS_PER_ADDRESS, &email, client)
            .await?;
        let Some(found) = self.store.user_auth_by_email(&email).await? else {
            return Ok(());
        };
        if found.user.status != UserStatus::Active {
            return Ok(());
        }
        let user = found.user;
        let token = crate::auth::sessions::random_id();
        let code = six_digits();
        let now = self.clock.now();
        self.store
            .insert_code(&NewCode {
                purpose: RESET_PASSWORD,
                user: user.id,
                hashes: vec![code_hash(RESET_PASSWORD, user.id, &code)],
                link: Some(code_hash(RESET_PASSWORD, user.id, &token)),
                created_at: now,
                expires_at: now + RESET_TTL,
            })
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
        password::check_strength(&new_password, &[email.as_str(), self.company()])?;
        let taken = self.throttle_code(RESET_PASSWORD, &email, client).await?;
        let Some(found) = self.store.user_auth_by_email(&email).await? else {
            return Err(wrong_code());
        };
        let user = found.user;
        let hash = code_hash(RESET_PASSWORD, user.id, secret);
        if self
            .store
            .use_code(RESET_PASSWORD, user.id, &hash, self.clock.now())
            .await?
            != CodeCheck::Accepted
        {
            return Err(wrong_code());
        }
        self.give_back(&taken).await;
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
        password::check_strength(&new_password, &[user.user.email.as_str(), self.company()])?;
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
        self.store.set_password(user.id, &hash, now).await?;
        self.store.revoke_other_sessions(user.id, keep, now).await
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

    async fn own(&self, actor: &Actor) -> Result<UserAuth> {
        let id = actor
            .user
            .ok_or_else(|| Error::Unauthenticated("Sign in first.".into()))?;
        self.store
            .user_auth(id)
            .await?
            .ok_or_else(|| Error::NotFound("Your account is gone.".into()))
    }

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
        if !self.store.confirm_totp(user.user.id, now).await?
            || !self.store.use_totp_step(user.user.id, step).await?
        {
            return Err(Error::Conflict(
                "Two-factor setup changed meanwhile; start again.".into(),
            ));
        }
        self.store
            .revoke_other_sessions(user.user.id, None, now)
            .await?;
        if let Some(session) = session {
            self.sessions.end(session).await?;
        }
        self.audit
            .record(
                AuditEntry::new(actor, "user.two_factor_on")
                    .target(format!("user:{}", user.user.id)),
            )
            .await?;
        self.sessions
            .issue(user.user.id, true, &client.describe())
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
        self.store.disable_totp(user.user.id).await?;
        self.store
            .revoke_other_sessions(user.user.id, None, now)
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "user.two_factor_off")
                    .target(format!("user:{}", user.user.id)),
            )
            .await?;
        self.sessions
            .issue(user.user.id, false, &client.describe())
            .await
    }

    /// Changes how the actor is addressed.
    pub async fn update_profile(&self, actor: &Actor, display_name: Option<&str>) -> Result<User> {
        actor.require(Permission::UpdateOwnProfile)?;
        let user = self.own(actor).await?;
        let name = match display_name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(name) => Some(crate::text::name("display_name", "your name", name, 80)?),
            None => None,
        };
        self.store
            .set_display_name(user.user.id, name.as_deref())
            .await?;
        self.store
            .user(user.user.id)
            .await?
            .ok_or_else(|| Error::NotFound("Your account is gone.".into()))
    }

    /// While no admin exists: a fresh one-time link secret for creating the first one (its hash
    /// is kept, so a restart makes a new link and the old one stops working). `None` once an
    /// admin exists.
    pub async fn first_admin_setup(&self) -> Result<Option<SecretString>> {
        if self.store.count_users_with_role(Role::Admin).await? > 0 {
            return Ok(None);
        }
        let token = crate::auth::sessions::random_id();
        self.store
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
        if self.store.count_users_with_role(Role::Admin).await? > 0 {
            return Err(refused());
        }
        let stored = self.store.setting(SETUP_SETTING).await?.unwrap_or_default();
        if stored.is_empty() || stored != setup_hash(token) {
            return Err(refused());
        }
        let email = Email::parse(email)?;
        password::check_strength(&password, &[email.as_str(), self.company()])?;
        let hash = password::hash(password).await?;
        let user = self
            .store
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

const SETUP_SETTING: &str = "setup.first_admin";

fn setup_hash(token: &str) -> String {
    let digest = Sha256::digest(format!("setup:{token}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Accounts {
    async fn take_password_check(&self, subject: &str, client: &Client) -> Result<Taken> {
        let subject = format!("{subject}|{}", client.throttle_key());
        let taken = self
            .throttle
            .take_all(
                &[(&PASSWORD_CHECKS_PER_ACCOUNT_AND_ADDRESS, &subject)],
                |wait| format!("Too many wrong tries; try again in {}.", minutes(wait)),
            )
            .await?;
        taken
            .into_iter()
            .next()
            .ok_or_else(|| Error::internal("counting a password check", "no slot taken"))
    }

    /// Checks the current password before a change that needs it (password, two-factor off),
    /// counted before the check like a sign-in.
    async fn check_current_password(
        &self,
        user: &UserAuth,
        current: SecretString,
        client: &Client,
    ) -> Result<()> {
        let taken = self
            .take_password_check(&format!("password|{}", user.user.id), client)
            .await?;
        let stored = match &user.password_hash {
            Some(hash) => hash.clone(),
            None => password::dummy_hash().await?,
        };
        if password::verify(current, stored).await? {
            self.throttle.give_back(&taken).await;
            Ok(())
        } else {
            Err(Error::invalid(
                "current_password",
                "your current password is not right",
            ))
        }
    }
}
