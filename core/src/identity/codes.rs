//! The six-digit codes sent by email (verification, reset): made, stored as a hash, refused
//! alike when wrong or expired.

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::ids::UserId;

pub(super) fn code_hash(purpose: &str, user: UserId, secret: &str) -> String {
    let digest = Sha256::digest(format!("{purpose}:{user}:{}", secret.trim()).as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn six_digits() -> String {
    format!("{:06}", rand::thread_rng().gen_range(0..1_000_000))
}

pub(super) fn wrong_code() -> Error {
    Error::invalid(
        "code",
        "that code is not right or has expired; ask for a new one",
    )
}
