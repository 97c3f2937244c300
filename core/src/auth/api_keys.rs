//! Personal API keys: `hd_` + 128 random bits + a checksum, shown once, stored as a SHA-256
//! hash. A key acts as its owner narrowed to the key's scopes, and is rate limited per key.
//!
//! The checksum lets a malformed or mistyped key be refused without a database lookup, and lets
//! secret scanners recognise leaked keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission, Scope, Scopes};
pub use crate::records::auth::{ApiKeyInfo, NewApiKey};
use crate::records::users::UserAuth;
use crate::store::Store;

pub const PREFIX: &str = "hd_";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 16 random bytes in base62.
const BODY_LEN: usize = 22;
/// CRC32 of the body in base62.
const CHECK_LEN: usize = 6;
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECK_LEN;
/// Keys a user may hold at once.
const MAX_KEYS_PER_USER: usize = 25;

/// A key just created: the only time its secret is seen.
#[derive(Debug)]
pub struct CreatedApiKey {
    pub key: SecretString,
    pub info: ApiKeyInfo,
}

/// Generates a new key string.
pub fn generate() -> SecretString {
    let mut body = String::with_capacity(BODY_LEN);
    let mut value = u128::from_le_bytes(rand::random());
    for _ in 0..BODY_LEN {
        body.push(char::from(BASE62[(value % 62) as usize]));
        value /= 62;
    }
    SecretString::from(format!("{PREFIX}{body}{}", checksum(&body)))
}

fn checksum(body: &str) -> String {
    let mut value = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = String::with_capacity(CHECK_LEN);
    for _ in 0..CHECK_LEN {
        out.push(char::from(BASE62[(value % 62) as usize]));
        value /= 62;
    }
    out
}

/// Whether `text` has the shape of a key with a matching checksum.
pub fn looks_valid(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != BODY_LEN + CHECK_LEN || !rest.bytes().all(|b| BASE62.contains(&b)) {
        return false;
    }
    let (body, check) = rest.split_at(BODY_LEN);
    checksum(body) == check
}

/// The stored form of a key.
pub fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone)]
pub struct ApiKeys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    cache: KeyCache,
}

/// Keys looked up recently, shared with the services that change what a key may do (a role
/// change or a disabled account forgets the owner's keys at once).
#[derive(Clone, Default)]
pub struct KeyCache(Arc<Mutex<HashMap<String, Cached>>>);

impl KeyCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets every key of `user`.
    pub fn forget_user(&self, user: UserId) {
        self.lock().retain(|_, cached| cached.info.user != user);
    }
}

/// A key looked up less than [`CACHE_FOR`] ago.
#[derive(Clone)]
struct Cached {
    fetched: Instant,
    info: ApiKeyInfo,
    owner: UserAuth,
}

/// How long a looked-up key is trusted without asking the database again. A busy key costs one
/// query a second instead of one per request; a revocation here takes effect at once, and on
/// other replicas (and a role change or disabled account anywhere) within this time.
pub const CACHE_FOR: Duration = Duration::from_secs(1);
/// Keys kept in the cache at most; past this it starts again empty.
const CACHE_SIZE: usize = 10_000;

impl ApiKeys {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        cache: KeyCache,
    ) -> Self {
        Self {
            store,
            clock,
            audit,
            cache,
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock()
    }

    /// The key and owner behind `digest`, from the cache while fresh.
    async fn lookup(&self, digest: &str) -> Result<Option<(ApiKeyInfo, UserAuth)>> {
        if let Some(cached) = self
            .cache()
            .get(digest)
            .filter(|c| c.fetched.elapsed() < CACHE_FOR)
        {
            return Ok(Some((cached.info.clone(), cached.owner.clone())));
        }
        let found = self.store.auth().api_key_by_hash(digest).await?;
        if let Some((info, owner)) = &found {
            let mut cache = self.cache();
            if cache.len() >= CACHE_SIZE {
                cache.clear();
            }
            cache.insert(
                digest.to_owned(),
                Cached {
                    fetched: Instant::now(),
                    info: info.clone(),
                    owner: owner.clone(),
                },
            );
        }
        Ok(found)
    }

    /// Creates a key for the actor. Scopes the actor's role could never use are refused, so a
    /// key never looks more powerful than it is.
    pub async fn create(
        &self,
        actor: &Actor,
        name: &str,
        scopes: &[Scope],
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<CreatedApiKey> {
        actor.require(Permission::ManageApiKeys)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in to create API keys.".into()))?;
        let name = crate::text::name("name", "the key's name", name, 100)?;
        if scopes.is_empty() {
            return Err(Error::invalid("scopes", "choose at least one scope"));
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(Error::invalid(
                "expires_at",
                "the expiry must be in the future",
            ));
        }
        for scope in scopes {
            if !actor.may_grant(*scope) {
                return Err(Error::invalid(
                    "scopes",
                    format!("your role cannot use the {scope} scope"),
                ));
            }
        }
        if self
            .store
            .auth()
            .api_keys_of(user)
            .await?
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count()
            >= MAX_KEYS_PER_USER
        {
            return Err(Error::Conflict(format!(
                "You already have {MAX_KEYS_PER_USER} API keys; revoke one first."
            )));
        }
        let key = generate();
        let text = key.expose_secret();
        let info = self
            .store
            .auth()
            .insert_api_key(&NewApiKey {
                user,
                name,
                prefix: text[..PREFIX.len() + 4].to_owned(),
                last4: text[text.len() - 4..].to_owned(),
                secret_hash: hash(text),
                scopes: Scopes::of(scopes),
                created_at: now,
                expires_at,
            })
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "api_key.create")
                    .target(format!("api_key:{}", info.id))
                    .detail(serde_json::json!({ "scopes": info.scopes.iter().map(Scope::as_str).collect::<Vec<_>>() })),
            )
            .await?;
        Ok(CreatedApiKey { key, info })
    }

    pub async fn list(&self, actor: &Actor) -> Result<Vec<ApiKeyInfo>> {
        actor.require(Permission::ManageApiKeys)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in to see your API keys.".into()))?;
        self.store.auth().api_keys_of(user).await
    }

    pub async fn revoke(&self, actor: &Actor, id: i64) -> Result<()> {
        actor.require(Permission::ManageApiKeys)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in to revoke API keys.".into()))?;
        if !self
            .store
            .auth()
            .revoke_api_key(user, id, self.clock.now())
            .await?
        {
            return Err(Error::NotFound(format!("You have no API key {id}.")));
        }
        self.cache().retain(|_, cached| cached.info.id != id);
        self.audit
            .record(AuditEntry::new(actor, "api_key.revoke").target(format!("api_key:{id}")))
            .await
    }

    /// Revokes every key of `user`, at once on this replica (and on others within
    /// [`CACHE_FOR`]); audited under `actor` with `why`. How many keys were live.
    pub(crate) async fn revoke_all_of(
        &self,
        actor: &Actor,
        user: UserId,
        why: &'static str,
    ) -> Result<u64> {
        let revoked = self
            .store
            .auth()
            .revoke_api_keys_of(user, self.clock.now())
            .await?;
        self.cache.forget_user(user);
        self.audit
            .record(
                AuditEntry::new(actor, "api_key.revoke_all")
                    .target(format!("user:{user}"))
                    .detail(serde_json::json!({ "revoked": revoked, "why": why })),
            )
            .await?;
        Ok(revoked)
    }

    /// How many of `user`'s keys work now (not revoked, not expired).
    pub(crate) async fn live_count(&self, user: UserId) -> Result<u64> {
        let now = self.clock.now();
        Ok(self
            .store
            .auth()
            .api_keys_of(user)
            .await?
            .iter()
            .filter(|key| key.revoked_at.is_none() && key.expires_at.is_none_or(|at| at > now))
            .count() as u64)
    }

    /// The key and its owner, if `text` is a live key of an active user.
    pub async fn authenticate(&self, text: &str) -> Result<Option<(ApiKeyInfo, UserAuth)>> {
        if !looks_valid(text) {
            return Ok(None);
        }
        let digest = hash(text);
        let Some((info, owner)) = self.lookup(&digest).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        let live = info.revoked_at.is_none()
            && info.expires_at.is_none_or(|at| at > now)
            && owner.user.status == crate::records::users::UserStatus::Active;
        if !live {
            return Ok(None);
        }
        // last_used_at is for people, to the minute: write it at most once a minute per key,
        // so a busy key does not turn every read into a write.
        if info
            .last_used_at
            .is_none_or(|at| now - at > chrono::Duration::seconds(60))
        {
            self.store.auth().touch_api_key(info.id, now).await?;
            if let Some(cached) = self.cache().get_mut(&digest) {
                cached.info.last_used_at = Some(now);
            }
        }
        Ok(Some((info, owner)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let key = generate();
        let text = key.expose_secret();
        assert!(text.starts_with("hd_"));
        assert_eq!(text.len(), KEY_LEN);
        assert!(looks_valid(text));
        assert_ne!(generate().expose_secret(), text, "keys are random");
    }

    #[test]
    fn a_mistyped_key_fails_its_checksum() {
        let key = generate();
        let text = key.expose_secret().to_owned();
        let mut chars: Vec<char> = text.chars().collect();
        chars[5] = if chars[5] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!looks_valid(&typo));
        assert!(!looks_valid(&text[..text.len() - 1]));
        assert!(!looks_valid(&text.replacen("hd_", "hx_", 1)));
        assert!(!looks_valid(""));
    }

    #[test]
    fn only_the_hash_is_kept() {
        let digest = hash("hd_example");
        assert_eq!(digest.len(), 64);
        assert_eq!(digest, hash("hd_example"));
    }
}
