//! [`SshKeyStore`] for both engines: plain `$N` SQL, like the rest of [`super::SqlStore`].

use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::records::ssh_keys::{NewSshKey, SavedSshKey, SshKeyId, SshPublicKey};
use crate::store::ssh_keys::SshKeyStore;

const COLUMNS: &str = "SELECT id, user_id, name, public_key, fingerprint, created_at FROM ssh_keys";

#[hostdeck_macros::row_bounds]
fn key_from_row<R: Row>(row: &R) -> Result<SavedSshKey> {
    let line: String = row.try_get("public_key")?;
    Ok(SavedSshKey {
        id: SshKeyId(row.try_get("id")?),
        user: UserId(row.try_get("user_id")?),
        name: row.try_get("name")?,
        key: SshPublicKey::parse(&line)
            .map_err(|error| Error::internal("reading a saved SSH key", error.to_string()))?,
        fingerprint: row.try_get("fingerprint")?,
        created_at: row.try_get("created_at")?,
    })
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> SshKeyStore for SqlStore<DB> {
    async fn insert_ssh_key(&self, key: &NewSshKey, max: usize) -> Result<SavedSshKey> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "SELECT id FROM users WHERE id = $1{}",
            DB::FOR_UPDATE
        ))
        .bind(key.user.0)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no user {}.", key.user)))?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS saved FROM ssh_keys WHERE user_id = $1")
            .bind(key.user.0)
            .fetch_one(&mut *tx)
            .await?
            .try_get("saved")?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= max {
            tx.rollback().await?;
            return Err(Error::Conflict(format!(
                "An account keeps at most {max} keys; delete one you no longer use first."
            )));
        }
        let row = sqlx::query(
            "INSERT INTO ssh_keys (user_id, name, public_key, fingerprint, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, fingerprint) DO NOTHING RETURNING id",
        )
        .bind(key.user.0)
        .bind(key.name.clone())
        .bind(key.key.as_str().to_owned())
        .bind(key.fingerprint.clone())
        .bind(key.created_at)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(Error::Conflict(
                "That key is already saved on your account.".into(),
            ));
        };
        tx.commit().await?;
        Ok(SavedSshKey {
            id: SshKeyId(row.try_get("id")?),
            user: key.user,
            name: key.name.clone(),
            key: key.key.clone(),
            fingerprint: key.fingerprint.clone(),
            created_at: key.created_at,
        })
    }

    async fn ssh_keys_of(&self, user: UserId) -> Result<Vec<SavedSshKey>> {
        let rows = sqlx::query(&format!("{COLUMNS} WHERE user_id = $1 ORDER BY id"))
            .bind(user.0)
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    async fn ssh_key(&self, id: SshKeyId) -> Result<Option<SavedSshKey>> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(key_from_row).transpose()
    }

    async fn delete_ssh_key(&self, user: UserId, id: SshKeyId) -> Result<bool> {
        let row = sqlx::query("DELETE FROM ssh_keys WHERE id = $1 AND user_id = $2 RETURNING id")
            .bind(id.0)
            .bind(user.0)
            .fetch_optional(&self.writer)
            .await?;
        Ok(row.is_some())
    }
}
