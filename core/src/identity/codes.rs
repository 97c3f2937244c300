//! The six-digit codes sent by email (verification, reset): made, stored as a hash, refused
//! alike when wrong or expired.

use rand::Rng;
use sha2::{Digest, Sha256};

use super::{Client, Identity};
use crate::email::Email;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::records::users::User;
use crate::store::{CodeCheck, NewCode};

fn code_hash(purpose: &str, user: UserId, secret: &str) -> String {
    let digest = Sha256::digest(format!("{purpose}:{user}:{}", secret.trim()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

fn wrong_code() -> Error {
    Error::invalid(
        "code",
        "that code is not right or has expired; ask for a new one",
    )
}

impl Identity {
    /// Stores a fresh six-digit `purpose` code for `user`, valid for `ttl`, with the hash of
    /// `link_token` when a link is sent beside it; returns the code to email.
    pub(super) async fn new_emailed_code(
        &self,
        purpose: &'static str,
        user: UserId,
        link_token: Option<&str>,
        ttl: chrono::Duration,
    ) -> Result<String> {
        let code = six_digits();
        let now = self.clock.now();
        self.store
            .auth()
            .insert_code(&NewCode {
                purpose,
                user,
                hashes: vec![code_hash(purpose, user, &code)],
                link: link_token.map(|token| code_hash(purpose, user, token)),
                created_at: now,
                expires_at: now + ttl,
            })
            .await?;
        Ok(code)
    }

    /// Uses up the `purpose` code emailed to `email`, counting the try against the throttles
    /// (a right code gives it back): the account it was sent to, or [`wrong_code`] alike for a
    /// wrong or expired code and an unknown address.
    pub(super) async fn use_emailed_code(
        &self,
        purpose: &str,
        email: &Email,
        code: &str,
        client: &Client,
    ) -> Result<User> {
        let taken = self.throttle_code(purpose, email, client).await?;
        let Some(found) = self.store.auth().user_auth_by_email(email).await? else {
            return Err(wrong_code());
        };
        let user = found.user;
        let hash = code_hash(purpose, user.id, code);
        if self
            .store
            .auth()
            .use_code(purpose, user.id, &hash, self.clock.now())
            .await?
            != CodeCheck::Accepted
        {
            return Err(wrong_code());
        }
        self.give_back(&taken).await;
        Ok(user)
    }
}
