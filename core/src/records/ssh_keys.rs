//! SSH public keys: a key that is valid once it exists, and a saved key as stored. Saving
//! and listing them is [`crate::ssh_keys`].

use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ids::UserId;

/// The longest key line accepted: an RSA key of 16,384 bits is about 2,800 characters.
pub const MAX_LINE: usize = 4096;

/// The longest comment kept after the key.
pub const MAX_COMMENT: usize = 100;

/// The most keys one account may save.
pub const MAX_SAVED: usize = 20;

/// The weakest RSA key accepted.
pub const MIN_RSA_BITS: usize = 2048;

const MAX_RSA_BITS: usize = 16384;

/// The key types accepted, as the first word of the line and inside the blob.
pub const ALLOWED_TYPES: [&str; 5] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
];

/// An OpenSSH public key line, checked: `TYPE BASE64 [COMMENT]`, rewritten with single spaces.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SshPublicKey(String);

impl SshPublicKey {
    /// Parses one public key line as `ssh-keygen` writes it (`~/.ssh/id_ed25519.pub`).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |message: &str| Error::invalid("ssh_key", message.to_owned());
        if text.len() > MAX_LINE {
            return Err(invalid(
                "That is too long for an SSH public key; paste the one line of your .pub file.",
            ));
        }
        let line = text.trim();
        if line.is_empty() {
            return Err(invalid(
                "Paste an SSH public key, the one line of your .pub file.",
            ));
        }
        if line.chars().any(char::is_control) {
            return Err(invalid(
                "An SSH public key is one line, without line breaks or control characters.",
            ));
        }
        let mut words = line.split(' ').filter(|word| !word.is_empty());
        let kind = words.next().unwrap_or_default();
        if !ALLOWED_TYPES.contains(&kind) {
            return Err(invalid(
                "Give the public key line alone, starting with its type (ssh-ed25519, \
                 ecdsa-sha2-nistp256/384/521 or ssh-rsa); options such as command= or from= \
                 are not taken.",
            ));
        }
        let encoded = words.next().unwrap_or_default();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| {
                invalid("The key's base64 part is damaged or cut short; copy the whole line again.")
            })?;
        check_blob(kind, &blob).map_err(|problem| invalid(&problem))?;
        let comment: Vec<&str> = words.collect();
        let comment = comment.join(" ");
        if comment.chars().count() > MAX_COMMENT
            || !comment.chars().all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(invalid(
                "The key's comment (after the key) may have up to 100 plain ASCII characters.",
            ));
        }
        let mut normal = format!("{kind} {encoded}");
        if !comment.is_empty() {
            normal.push(' ');
            normal.push_str(&comment);
        }
        Ok(Self(normal))
    }

    /// The line as stored and sent: `TYPE BASE64 [COMMENT]`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `ssh-ed25519`, ...
    pub fn kind(&self) -> &str {
        self.0.split(' ').next().unwrap_or_default()
    }

    /// The comment after the key, often `user@host`.
    pub fn comment(&self) -> Option<&str> {
        self.0.splitn(3, ' ').nth(2)
    }

    /// `SHA256:...`, as `ssh-keygen -l` shows it.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let encoded = self.0.split(' ').nth(1).unwrap_or_default();
        let blob = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        let digest = Sha256::digest(&blob);
        format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
        )
    }
}

impl fmt::Debug for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SshPublicKey({} {})", self.kind(), self.fingerprint())
    }
}

impl fmt::Display for SshPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Reads the SSH wire encoding: a `u32` length, then that many bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let (length, rest) = self.0.split_first_chunk::<4>()?;
        let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
        if rest.len() < length {
            return None;
        }
        let (value, rest) = rest.split_at(length);
        self.0 = rest;
        Some(value)
    }

    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks that the blob is a well-formed key of `kind` (RFC 4253, 5656, 8709).
fn check_blob(kind: &str, blob: &[u8]) -> std::result::Result<(), String> {
    let damaged = || "The key's base64 part is damaged or cut short; copy the whole line again.";
    let mut reader = Reader(blob);
    let inner = reader.string().ok_or_else(damaged)?;
    if inner != kind.as_bytes() {
        return Err(format!(
            "The key says it is {kind} but its data is of another type; copy the line again."
        ));
    }
    match kind {
        "ssh-ed25519" => {
            let key = reader.string().ok_or_else(damaged)?;
            if key.len() != 32 {
                return Err(damaged().to_owned());
            }
        }
        "ssh-rsa" => {
            let exponent = reader.string().ok_or_else(damaged)?;
            let modulus = reader.string().ok_or_else(damaged)?;
            if exponent.is_empty() || modulus.is_empty() {
                return Err(damaged().to_owned());
            }
            let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
            let bits = match modulus.iter().find(|byte| **byte != 0) {
                Some(first) => (significant - 1) * 8 + (8 - first.leading_zeros() as usize),
                None => 0,
            };
            if bits < MIN_RSA_BITS {
                return Err(format!(
                    "This RSA key has {bits} bits; use one of at least {MIN_RSA_BITS} bits, or \
                     better an ed25519 key (ssh-keygen -t ed25519)."
                ));
            }
            if bits > MAX_RSA_BITS {
                return Err(format!(
                    "RSA keys of more than {MAX_RSA_BITS} bits are not taken."
                ));
            }
        }
        _ => {
            // ecdsa-sha2-nistpNNN: the curve's name, then an uncompressed point.
            let curve = kind.trim_start_matches("ecdsa-sha2-");
            let named = reader.string().ok_or_else(damaged)?;
            if named != curve.as_bytes() {
                return Err(format!(
                    "The key says it is {kind} but names another curve; copy the line again."
                ));
            }
            let point = reader.string().ok_or_else(damaged)?;
            let length = match curve {
                "nistp256" => 65,
                "nistp384" => 97,
                _ => 133,
            };
            if point.len() != length || point.first() != Some(&4) {
                return Err(damaged().to_owned());
            }
        }
    }
    if !reader.done() {
        return Err(damaged().to_owned());
    }
    Ok(())
}

/// A saved key's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct SshKeyId(pub i64);

impl fmt::Display for SshKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key saved on an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SavedSshKey {
    pub id: SshKeyId,
    pub user: UserId,
    /// What its owner calls it (`laptop`).
    pub name: String,
    pub key: SshPublicKey,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}

/// A key to save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSshKey {
    pub user: UserId,
    pub name: String,
    pub key: SshPublicKey,
    pub fingerprint: String,
    pub created_at: DateTime<Utc>,
}
