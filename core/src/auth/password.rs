//! Password hashing with argon2id at OWASP's parameters (19 MiB, 2 iterations, 1 lane).
//!
//! Hashing is deliberately slow, so it runs on tokio's blocking pool and never stalls the
//! threads that answer other requests.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|error| Error::internal("setting up password hashing", error.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Length rules every password must meet.
pub fn check_strength(password: &SecretString) -> Result<()> {
    let length = password.expose_secret().chars().count();
    if length < MIN_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("use at least {MIN_LENGTH} characters"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(Error::invalid(
            "password",
            format!("use at most {MAX_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: SecretString) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()?
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| Error::internal("hashing a password", error.to_string()))
    })
    .await
    .map_err(|error| Error::internal("hashing a password", error))?
}

/// Whether `password` matches `phc`. A malformed stored hash is an internal error, not a "no".
pub async fn verify(password: SecretString, phc: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&phc).map_err(|error| {
            Error::internal("reading a stored password hash", error.to_string())
        })?;
        Ok(argon2()?
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(|error| Error::internal("checking a password", error))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_with_argon2id_and_verifies() {
        let phc = hash(SecretString::from("correct horse battery"))
            .await
            .expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(
            verify(SecretString::from("correct horse battery"), phc.clone())
                .await
                .expect("verify")
        );
        assert!(
            !verify(SecretString::from("wrong horse battery"), phc)
                .await
                .expect("verify")
        );
    }

    #[test]
    fn length_rules() {
        assert!(check_strength(&SecretString::from("short")).is_err());
        assert!(check_strength(&SecretString::from("x".repeat(129))).is_err());
        assert!(check_strength(&SecretString::from("long enough")).is_ok());
    }
}
