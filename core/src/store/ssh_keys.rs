//! The SSH public keys saved on accounts (`ssh_keys`). A trait of its own beside
//! [`super::Store`] (reached through [`super::Store::ssh_keys`]). Only public keys are kept; a
//! key line is stored as [`SshPublicKey`] wrote it.

use crate::error::Result;
use crate::ids::UserId;
use crate::records::ssh_keys::{NewSshKey, SavedSshKey, SshKeyId};

#[async_trait::async_trait]
pub trait SshKeyStore: Send + Sync {
    /// Saves a key, if the account keeps fewer than `max` (counted and inserted in one write
    /// transaction, the account's row locked, so that keys added at once cannot pass it). The
    /// same fingerprint twice on one account, or a full account, is a `conflict`.
    async fn insert_ssh_key(&self, key: &NewSshKey, max: usize) -> Result<SavedSshKey>;
    /// The keys of `user`, oldest first.
    async fn ssh_keys_of(&self, user: UserId) -> Result<Vec<SavedSshKey>>;
    /// One key, whoever owns it (the caller checks the owner).
    async fn ssh_key(&self, id: SshKeyId) -> Result<Option<SavedSshKey>>;
    /// Deletes a key of `user`; `false` when `user` has no such key.
    async fn delete_ssh_key(&self, user: UserId, id: SshKeyId) -> Result<bool>;
}
