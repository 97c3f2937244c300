//! Idempotency keys that remember what they were first sent with.
//!
//! A client sends a key so that a retry of the same request does the work once and answers
//! with its first result. The same key with another request is a mistake (a reused key, a
//! changed form): answering the first result would tell the client that what it sent now was
//! done. So each key is kept with a fingerprint of its request, the SHA-256 of the request's
//! fields in a canonical form; the same key with another fingerprint is refused
//! ([`Error::KeyReused`], `idempotency_mismatch`, HTTP 422), in words that name nothing of the
//! first request or whose it was.
//!
//! The key is remembered once the request has passed its checks (a refused request leaves its
//! key free for a corrected one) and before it acts, so two requests racing with one key and
//! different bodies cannot both act. The doors: server creates (API `Idempotency-Key` or `key`,
//! the portal's form key, Discord's interaction id), credit adjustments (API
//! `idempotency_key`, the portal's form key, Discord's `/credits`) and staff refunds. Ticket
//! opens and replies keep their keys beside what they made (`tickets::keys`), with the same
//! fingerprints and [`MISMATCH`].
//!
//! Not here: what the key makes idempotent (ledger keys, create keys), which stays with it.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::Store;

/// What people are told when a key comes back with another request.
pub const MISMATCH: &str = "This idempotency key was already used with a different request. \
     Send exactly the same request to get its result again, or use a new key for a new request.";

/// The fingerprint of a request: SHA-256 of its fields, hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Of the fields of a request, in a fixed order. Each is length-prefixed, so that no two
    /// different requests run together into the same text.
    pub fn of(fields: &[&str]) -> Self {
        let mut hash = Sha256::new();
        for field in fields {
            hash.update((field.len() as u64).to_be_bytes());
            hash.update(field.as_bytes());
        }
        Self(
            hash.finalize()
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Remembers `key` in `scope` with `fingerprint`, or checks it against the fingerprint it was
/// first used with: `Ok(true)` when new, `Ok(false)` when it is the same request again,
/// [`Error::KeyReused`] otherwise.
pub async fn remember(
    store: &dyn Store,
    scope: &str,
    key: &str,
    fingerprint: &Fingerprint,
    at: DateTime<Utc>,
) -> Result<bool> {
    let (first, new) = store
        .idempotency()
        .remember_key(scope, key, fingerprint.as_str(), at)
        .await?;
    if first == fingerprint.as_str() {
        Ok(new)
    } else {
        Err(Error::KeyReused(MISMATCH.to_owned()))
    }
}

/// Frees `key` in `scope` again after the request it was remembered for (by [`remember`],
/// answering `Ok(true)`) was refused, so that a corrected request may use it.
pub async fn forget(
    store: &dyn Store,
    scope: &str,
    key: &str,
    fingerprint: &Fingerprint,
) -> Result<()> {
    store
        .idempotency()
        .forget_key(scope, key, fingerprint.as_str())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_run_together() {
        assert_ne!(Fingerprint::of(&["ab", "c"]), Fingerprint::of(&["a", "bc"]));
        assert_eq!(Fingerprint::of(&["a", "b"]), Fingerprint::of(&["a", "b"]));
        assert_eq!(Fingerprint::of(&[]).as_str().len(), 64);
    }
}
