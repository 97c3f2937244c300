//! SSH public keys: what a customer may hand to a provider to log in to a new server, and the
//! keys saved on their account to choose at a create.
//!
//! What lives here: [`SshPublicKey`], an OpenSSH public key line that is valid once it exists
//! (one line, no options, an allowed type whose blob says the same type, RSA of at least 2048
//! bits, bounded length), and [`SshKeys`], the saved keys of an account (add, list, delete),
//! each change audited. What does not: sending keys to a platform (each provider writes them
//! into its own field, see [`crate::providers`]) and choosing keys at a create (that is
//! [`crate::servers`], which reads saved keys through the store and checks they are the
//! creator's).

use std::sync::Arc;

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission};
pub use crate::records::ssh_keys::{
    ALLOWED_TYPES, MAX_COMMENT, MAX_LINE, MAX_SAVED, MIN_RSA_BITS, NewSshKey, SavedSshKey,
    SshKeyId, SshPublicKey,
};
use crate::store::Store;

/// The saved SSH keys of accounts.
#[derive(Clone)]
pub struct SshKeys {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
}

impl SshKeys {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, audit: Audit) -> Self {
        Self {
            store,
            clock,
            audit,
        }
    }

    /// The actor's saved keys, oldest first.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<SavedSshKey>> {
        actor.require(Permission::ReadOwnProfile)?;
        let user = signed_in(actor)?;
        self.store.ssh_keys().ssh_keys_of(user).await
    }

    /// Saves a key on the actor's account. The same key twice is a conflict.
    pub async fn add(&self, actor: &Actor, name: &str, key: &str) -> Result<SavedSshKey> {
        actor.require(Permission::UpdateOwnProfile)?;
        let user = signed_in(actor)?;
        let name = crate::text::name("name", "The key's name (such as laptop)", name, 64)?;
        let key = SshPublicKey::parse(key)?;
        let fingerprint = key.fingerprint();
        let saved = self.store.ssh_keys().ssh_keys_of(user).await?;
        if saved.iter().any(|other| other.fingerprint == fingerprint) {
            return Err(Error::Conflict(
                "That key is already saved on your account.".into(),
            ));
        }
        // A first answer for the common case; the store counts again with the insert.
        if saved.len() >= MAX_SAVED {
            return Err(Error::Conflict(format!(
                "An account keeps at most {MAX_SAVED} keys; delete one you no longer use first."
            )));
        }
        let new = NewSshKey {
            user,
            name,
            key,
            fingerprint: fingerprint.clone(),
            created_at: self.clock.now(),
        };
        let saved = self
            .store
            .ssh_keys()
            .insert_ssh_key(&new, MAX_SAVED)
            .await?;
        self.audit
            .record(
                AuditEntry::new(actor, "ssh_key.add")
                    .target(format!("ssh_key:{}", saved.id))
                    .detail(serde_json::json!({
                        "name": saved.name,
                        "fingerprint": fingerprint,
                    })),
            )
            .await?;
        Ok(saved)
    }

    /// Deletes one of the actor's saved keys. Servers made with it keep it.
    pub async fn delete(&self, actor: &Actor, id: SshKeyId) -> Result<()> {
        actor.require(Permission::UpdateOwnProfile)?;
        let user = signed_in(actor)?;
        if !self.store.ssh_keys().delete_ssh_key(user, id).await? {
            return Err(Error::NotFound(format!("You have no saved SSH key {id}.")));
        }
        self.audit
            .record(AuditEntry::new(actor, "ssh_key.delete").target(format!("ssh_key:{id}")))
            .await?;
        Ok(())
    }
}

fn signed_in(actor: &Actor) -> Result<UserId> {
    actor
        .user
        .ok_or_else(|| Error::Forbidden("To keep SSH keys, sign in first.".into()))
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG7Yq6m3ZqS0Rk9w8b7z0o0dM8b3fJtq8XoXk2nS3yYc ana@laptop";

    fn blob(parts: &[&[u8]]) -> String {
        let mut bytes = Vec::new();
        for part in parts {
            bytes.extend_from_slice(&u32::try_from(part.len()).expect("short").to_be_bytes());
            bytes.extend_from_slice(part);
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn rsa(bits: usize) -> String {
        let mut modulus = vec![0_u8];
        modulus.push(0x80);
        modulus.extend(std::iter::repeat_n(0x11_u8, bits / 8 - 1));
        format!("ssh-rsa {}", blob(&[b"ssh-rsa", &[1, 0, 1], &modulus]))
    }

    #[test]
    fn good_keys_of_every_type_parse() {
        let key = SshPublicKey::parse(&format!("  {ED25519}  ")).expect("ed25519");
        assert_eq!(key.kind(), "ssh-ed25519");
        assert_eq!(key.comment(), Some("ana@laptop"));
        assert!(key.fingerprint().starts_with("SHA256:"));
        for (curve, length) in [("nistp256", 65), ("nistp384", 97), ("nistp521", 133)] {
            let kind = format!("ecdsa-sha2-{curve}");
            let mut point = vec![4_u8];
            point.extend(std::iter::repeat_n(7_u8, length - 1));
            let line = format!(
                "{kind} {}",
                blob(&[kind.as_bytes(), curve.as_bytes(), &point])
            );
            assert!(SshPublicKey::parse(&line).is_ok(), "{kind}");
        }
        assert!(SshPublicKey::parse(&rsa(2048)).is_ok());
        assert!(SshPublicKey::parse(&rsa(4096)).is_ok());
    }

    #[test]
    fn bad_keys_are_refused() {
        let truncated = &ED25519[..60];
        let inner_mismatch = format!(
            "ssh-ed25519 {}",
            blob(&[b"ssh-rsa", &[1, 0, 1], &[0x80; 256]])
        );
        let options = format!("command=\"/bin/sh\" {ED25519}");
        let no_pty = format!("no-pty,from=\"10.0.0.1\" {ED25519}");
        let newline = ED25519.replace(" ana@", "\nssh-rsa AAAA ana@");
        let huge = format!("ssh-ed25519 {}", "A".repeat(100 * 1024));
        for bad in [
            "",
            "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
            truncated,
            &inner_mismatch,
            &options,
            &no_pty,
            &newline,
            &huge,
            &rsa(1024),
            "ssh-ed25519 not-base64!",
        ] {
            assert!(
                SshPublicKey::parse(bad).is_err(),
                "{:.80}",
                bad.escape_debug()
            );
        }
    }
}
