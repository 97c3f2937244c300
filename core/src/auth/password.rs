//! Password hashing with argon2id at OWASP's parameters (19 MiB, 2 iterations, 1 lane).
//!
//! Hashing is deliberately slow, so it runs on tokio's blocking pool and never stalls the
//! threads that answer other requests. Strength is judged by zxcvbn (score 3 of 4 or better),
//! which knows common passwords, keyboard walks and the person's own email.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Result<Argon2<'static>> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|error| Error::internal("setting up password hashing", error.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The rules every new password must meet: 8 to 128 characters, and not easy to guess given
/// the words in `context` (the email, the company name).
pub fn check_strength(password: &SecretString, context: &[&str]) -> Result<()> {
    let text = password.expose_secret();
    let length = text.chars().count();
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
    let estimate = zxcvbn::zxcvbn(text, context);
    if estimate.score() < zxcvbn::Score::Three {
        let advice = estimate
            .feedback()
            .map(|feedback| {
                let warning = feedback
                    .warning()
                    .map(|w| format!("{w}. "))
                    .unwrap_or_default();
                let suggestions: Vec<String> = feedback
                    .suggestions()
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                format!("{warning}{}", suggestions.join(" "))
            })
            .unwrap_or_default();
        return Err(Error::invalid(
            "password",
            format!("this password is too easy to guess. {advice}")
                .trim_end()
                .to_owned(),
        ));
    }
    Ok(())
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub async fn hash(password: SecretString) -> Result<String> {
    bounded("hashing a password", move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()?
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| Error::internal("hashing a password", error.to_string()))
    })
    .await
}

/// A job for the hashing threads, with where to send its result.
type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads: one per core, at the lowest scheduling priority, fed through a short
/// queue. Argon2 takes 19 MiB and tens of milliseconds of CPU per password: this way a flood of
/// sign-ins uses the CPU the request handlers leave idle, queues instead of multiplying memory,
/// and never slows the answers to everything else.
fn hashing_threads() -> &'static std::sync::mpsc::SyncSender<Job> {
    static QUEUE: std::sync::OnceLock<std::sync::mpsc::SyncSender<Job>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Job>(cores * 16);
        let receiver = std::sync::Arc::new(std::sync::Mutex::new(receiver));
        for index in 0..cores {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    if let Err(error) = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    ) {
                        tracing::debug!(?error, "password hashing runs at normal priority");
                    }
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a password hashing thread");
            }
        }
        sender
    })
}

/// Runs argon2 work on the hashing threads and waits for it without blocking the runtime.
async fn bounded<T: Send + 'static>(
    context: &'static str,
    job: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    let queue = hashing_threads().clone();
    let job: Job = Box::new(move || {
        let _ = done.send(job());
    });
    // A full queue waits on the blocking pool, not on a runtime thread.
    tokio::task::spawn_blocking(move || queue.send(job))
        .await
        .map_err(|error| Error::internal(context, error))?
        .map_err(|_| Error::internal(context, "the password hashing threads stopped"))?;
    result
        .await
        .map_err(|_| Error::internal(context, "a password hashing job was lost"))?
}

/// Whether `password` matches `phc`. A malformed stored hash is an internal error, not a "no".
pub async fn verify(password: SecretString, phc: String) -> Result<bool> {
    bounded("checking a password", move || {
        let parsed = PasswordHash::new(&phc).map_err(|error| {
            Error::internal("reading a stored password hash", error.to_string())
        })?;
        Ok(argon2()?
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok())
    })
    .await
}

/// A hash of a password nobody has, checked when the email is unknown, so that "no such
/// account" takes as long as "wrong password" and the two cannot be told apart.
pub async fn dummy_hash() -> Result<String> {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY
        .get_or_try_init(|| async {
            let random: [u8; 24] = rand::random();
            hash(SecretString::from(
                base64::engine::general_purpose::STANDARD.encode(random),
            ))
            .await
        })
        .await
        .cloned()
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
    fn length_and_guessability_rules() {
        let context = ["alice@example.com", "hostdeck"];
        for weak in [
            "short",
            "password123",
            "qwertyuiop",
            "alice@example.com1",
            "hostdeck2026",
        ] {
            let error = check_strength(&SecretString::from(weak), &context).expect_err(weak);
            assert!(
                matches!(
                    error,
                    Error::Invalid {
                        field: Some("password"),
                        ..
                    }
                ),
                "{weak}"
            );
        }
        assert!(check_strength(&SecretString::from("x".repeat(129)), &context).is_err());
        assert!(check_strength(&SecretString::from("violet kettle orbit 42"), &context).is_ok());
    }

    #[tokio::test]
    async fn the_dummy_hash_is_a_real_argon2id_hash() {
        let dummy = dummy_hash().await.expect("dummy");
        assert!(dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            !verify(SecretString::from("anything"), dummy)
                .await
                .expect("verify")
        );
    }
}
