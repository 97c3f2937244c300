//! Sign-in sessions as signed tokens (JWT, HS256 and nothing else).
//!
//! A token names its session and its user and carries `iss`, `aud`, `iat`, `nbf` and `exp`.
//! Checking one takes two steps: the signature and claims (no database), then the session row
//! and the user (one query) — so a session can be ended (logout), all of a user's sessions can
//! be ended at once (`sessions_valid_after`, set by a password change), and a disabled account
//! stops working at once. The same token serves the portal's cookie and the API's
//! `Authorization: Bearer`.
//!
//! The portal's form tokens come from here too: an HMAC, under a key derived from the signing
//! secret, of what the browser is bound to (its session, or before signing in its visit
//! cookie), so a token taken from one session is worthless in another.

use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::UserId;
pub use crate::records::auth::SessionRecord;
use crate::records::users::{UserAuth, UserStatus};
use crate::store::Store;

pub const ISSUER: &str = "hostdeck";
pub const AUDIENCE: &str = "hostdeck";
/// The settings key under which a generated signing secret is kept.
const SECRET_SETTING: &str = "auth.jwt_secret";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// The session id.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// Whether this sign-in passed two-factor authentication.
    pub mfa: bool,
}

/// A token just issued.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: SecretString,
    pub session_id: String,
    pub expires_at: DateTime<Utc>,
}

/// A token that checked out: its session and its user as they are now.
#[derive(Debug, Clone)]
pub struct ValidSession {
    pub session: SessionRecord,
    pub user: UserAuth,
}

#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    /// The key of form tokens, derived from the signing secret (never the secret itself).
    form_key: Arc<[u8; 32]>,
    ttl: Duration,
}

/// What a form token is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormBinding<'a> {
    /// A signed-in browser: its session id.
    Session(&'a str),
    /// A browser not signed in: the random id of its visit cookie.
    Visit(&'a str),
}

impl Sessions {
    /// Uses `secret` from config, or the one kept in the database (generated on first start).
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        secret: Option<&SecretString>,
        ttl: std::time::Duration,
    ) -> Result<Self> {
        let secret = match secret {
            Some(secret) => secret.expose_secret().as_bytes().to_vec(),
            None => {
                let fresh: [u8; 32] = rand::random();
                let fresh = base64::engine::general_purpose::STANDARD.encode(fresh);
                let kept = store
                    .settings()
                    .insert_setting_if_absent(SECRET_SETTING, &fresh, clock.now())
                    .await?;
                kept.into_bytes()
            }
        };
        let mut form_key = Sha256::new();
        form_key.update(b"hostdeck form token key\0");
        form_key.update(&secret);
        Ok(Self {
            store,
            clock,
            form_key: Arc::new(form_key.finalize().into()),
            encoding: Arc::new(EncodingKey::from_secret(&secret)),
            decoding: Arc::new(DecodingKey::from_secret(&secret)),
            ttl: Duration::from_std(ttl)
                .map_err(|error| Error::internal("reading auth.session_ttl", error))?,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The MAC of `binding`; `None` never happens (HMAC takes a key of any length).
    fn form_mac(&self, binding: FormBinding<'_>) -> Option<Hmac<Sha256>> {
        let (kind, id) = match binding {
            FormBinding::Session(id) => ("session", id),
            FormBinding::Visit(id) => ("visit", id),
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.form_key.as_slice()).ok()?;
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(id.as_bytes());
        Some(mac)
    }

    /// The form token of a session or a visit.
    pub fn form_token(&self, binding: FormBinding<'_>) -> String {
        self.form_mac(binding)
            .map(|mac| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
            })
            .unwrap_or_default()
    }

    /// Whether `presented` is the form token of `binding` (compared in constant time).
    pub fn form_token_matches(&self, binding: FormBinding<'_>, presented: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(presented) else {
            return false;
        };
        !bytes.is_empty()
            && self
                .form_mac(binding)
                .is_some_and(|mac| mac.verify_slice(&bytes).is_ok())
    }

    /// Starts a session for `user`.
    pub async fn issue(
        &self,
        user: UserId,
        two_factor: bool,
        client: &str,
    ) -> Result<IssuedSession> {
        let now = self.clock.now();
        let id = random_id();
        let expires_at = now + self.ttl;
        let record = SessionRecord {
            id: id.clone(),
            user,
            two_factor,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        self.store.auth().insert_session(&record, client).await?;
        let claims = Claims {
            sub: user.to_string(),
            sid: id.clone(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            mfa: two_factor,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|error| Error::internal("signing a session token", error))?;
        Ok(IssuedSession {
            token: SecretString::from(token),
            session_id: id,
            expires_at,
        })
    }

    /// Checks a token and returns its live session. Every failure is the same `forbidden`-free
    /// answer, `None`: the caller says "sign in again" without telling an attacker why.
    pub async fn validate(&self, token: &str) -> Result<Option<ValidSession>> {
        let Some(claims) = self.claims(token) else {
            return Ok(None);
        };
        let Some((session, user)) = self.store.auth().session_with_user(&claims.sid).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let issued = DateTime::from_timestamp(claims.iat, 0).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let valid = session.user.to_string() == claims.sub
            && session.two_factor == claims.mfa
            && session.revoked_at.is_none()
            && session.expires_at > now
            && user.user.status == UserStatus::Active
            && user
                .sessions_valid_after
                .is_none_or(|after| issued >= after.trunc_subsecs_floor());
        Ok(valid.then_some(ValidSession { session, user }))
    }

    /// The claims of a well-signed, current token; `None` for anything else.
    fn claims(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // exp and nbf are checked below against our clock; the library would use the wall clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation).ok()?;
        // The clock of record is ours, not the library's wall clock.
        let now = self.clock.now().timestamp();
        (data.claims.exp > now && data.claims.nbf <= now && data.claims.iat <= now)
            .then_some(data.claims)
    }

    /// Ends one session (logout).
    pub async fn end(&self, session_id: &str) -> Result<()> {
        self.store
            .auth()
            .revoke_session(session_id, self.clock.now())
            .await
    }
}

trait FloorSeconds {
    fn trunc_subsecs_floor(self) -> Self;
}

impl FloorSeconds for DateTime<Utc> {
    /// Tokens carry whole seconds; compare at that precision so a token issued in the same second
    /// as a password change (the new session's own token) stays valid.
    fn trunc_subsecs_floor(self) -> Self {
        DateTime::from_timestamp(self.timestamp(), 0).unwrap_or(self)
    }
}

/// 128 random bits, URL-safe.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
