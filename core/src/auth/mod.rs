//! Authentication: passwords, sessions, API keys, two-factor codes, and the counters that slow
//! down guessing. [`Auth`] turns a presented token into the [`Actor`] core checks.

pub mod api_keys;
pub mod config;
pub mod password;
pub mod sessions;
pub mod throttle;
pub mod totp;

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::Result;
use crate::policy::{Actor, RoleSet, Via};
use crate::records::users::User;

use api_keys::{ApiKeyInfo, ApiKeys};
use sessions::Sessions;
use throttle::{SlidingWindow, Verdict};

/// Who presented a token, and how.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub actor: Actor,
    pub user: User,
    /// The session, when signed in with a session token.
    pub session: Option<String>,
    /// The key, when signed in with an API key.
    pub api_key: Option<ApiKeyInfo>,
    /// The key's or session's rate-limit state after this request.
    pub rate: Option<Verdict>,
}

/// What became of a presented token.
#[derive(Debug, Clone)]
pub enum Presented {
    Valid(Box<Authenticated>),
    /// Not a live session or key (expired, revoked, forged, malformed): sign in again.
    Invalid,
    /// A live key or session over its limit.
    RateLimited(Verdict),
}

#[derive(Clone)]
pub struct Auth {
    pub sessions: Sessions,
    pub api_keys: ApiKeys,
    clock: Arc<dyn Clock>,
    /// Per process (see `throttle`): every request passes these.
    key_limits: Arc<SlidingWindow<i64>>,
    session_limits: Arc<SlidingWindow<String>>,
}

impl Auth {
    pub fn new(
        sessions: Sessions,
        api_keys: ApiKeys,
        clock: Arc<dyn Clock>,
        key_requests_per_minute: u32,
        session_requests_per_minute: u32,
    ) -> Self {
        let minute = Duration::from_secs(60);
        Self {
            sessions,
            api_keys,
            clock,
            key_limits: Arc::new(SlidingWindow::new(key_requests_per_minute, minute)),
            session_limits: Arc::new(SlidingWindow::new(session_requests_per_minute, minute)),
        }
    }

    /// Resolves a bearer token or session cookie value. `via` is the door it came through.
    pub async fn authenticate(&self, token: &str, via: Via) -> Result<Presented> {
        if token.starts_with(api_keys::PREFIX) {
            let Some((key, owner)) = self.api_keys.authenticate(token).await? else {
                return Ok(Presented::Invalid);
            };
            let verdict = self.key_limits.hit(&key.id, self.clock.now());
            if !verdict.allowed {
                return Ok(Presented::RateLimited(verdict));
            }
            let actor = Actor {
                user: Some(owner.user.id),
                roles: RoleSet::of(&[owner.user.role]),
                scopes: Some(key.scopes),
                via: Via::Api,
                two_factor: owner.user.two_factor,
            };
            return Ok(Presented::Valid(Box::new(Authenticated {
                actor,
                user: owner.user,
                session: None,
                api_key: Some(key),
                rate: Some(verdict),
            })));
        }
        let Some(valid) = self.sessions.validate(token).await? else {
            return Ok(Presented::Invalid);
        };
        let verdict = self.session_limits.hit(&valid.session.id, self.clock.now());
        if !verdict.allowed {
            return Ok(Presented::RateLimited(verdict));
        }
        let actor = Actor {
            user: Some(valid.user.user.id),
            roles: RoleSet::of(&[valid.user.user.role]),
            scopes: None,
            via,
            two_factor: valid.session.two_factor,
        };
        Ok(Presented::Valid(Box::new(Authenticated {
            actor,
            user: valid.user.user,
            session: Some(valid.session.id),
            api_key: None,
            rate: Some(verdict),
        })))
    }
}
