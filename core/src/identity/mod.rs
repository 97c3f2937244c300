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

mod codes;
mod passwords;
mod registration;
mod setup;
mod sign_in;
mod throttles;
mod two_factor;

pub use passwords::{KeysOnPasswordChange, PasswordChanged};
pub use sign_in::SignIn;
pub use two_factor::Enrolment;

use std::sync::Arc;

use crate::audit::Audit;
use crate::auth::api_keys::ApiKeys;
use crate::auth::sessions::Sessions;
use crate::auth::throttle::SharedThrottle;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::notify::Outbox;
use crate::policy::{Actor, Permission};
use crate::records::users::{User, UserAuth};
use crate::store::Store;

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

#[derive(Clone)]
pub struct Identity {
    api_keys: ApiKeys,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    outbox: Outbox,
    sessions: Sessions,
    config: Arc<Config>,
    throttle: SharedThrottle,
}

impl Identity {
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
        self.config.web.portal_url(path)
    }

    async fn own(&self, actor: &Actor) -> Result<UserAuth> {
        let id = actor
            .user
            .ok_or_else(|| Error::Unauthenticated("Sign in first.".into()))?;
        self.store
            .auth()
            .user_auth(id)
            .await?
            .ok_or_else(|| Error::NotFound("Your account is gone.".into()))
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
            .users()
            .set_display_name(user.user.id, name.as_deref())
            .await?;
        self.store
            .users()
            .user(user.user.id)
            .await?
            .ok_or_else(|| Error::NotFound("Your account is gone.".into()))
    }
}
