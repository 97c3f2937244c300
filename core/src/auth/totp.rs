//! Two-factor authentication with authenticator apps (TOTP, RFC 6238: SHA-1, 6 digits, 30 s).
//!
//! Enrolment keeps the new secret as pending until a code from the app confirms it. A code is
//! accepted once: the last accepted time step is stored, so a code seen over someone's shoulder
//! cannot be replayed within its 30 seconds.

use totp_rs::{Algorithm, Secret, TOTP};

use crate::error::{Error, Result};

/// A new random secret, base32 as apps expect it.
pub fn new_secret() -> String {
    Secret::generate_secret().to_encoded().to_string()
}

fn totp(secret_base32: &str, issuer: &str, account: &str) -> Result<TOTP> {
    let bytes = Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .map_err(|_| {
            Error::internal(
                "reading a two-factor secret",
                "the stored secret is not base32",
            )
        })?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|error| Error::internal("setting up two-factor codes", error.to_string()))
}

/// The `otpauth://` URL an authenticator app scans (as a QR code) or takes by hand.
pub fn provisioning_url(secret_base32: &str, issuer: &str, account: &str) -> Result<String> {
    Ok(totp(secret_base32, issuer, account)?.get_url())
}

/// The time step `code` is valid for at `unix_time` (one step of clock drift either way), or
/// `None` when it is wrong.
pub fn matching_step(secret_base32: &str, code: &str, unix_time: i64) -> Result<Option<i64>> {
    let code = code.trim().replace(' ', "");
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = totp(secret_base32, "hostdeck", "account")?;
    let step = unix_time.div_euclid(30);
    for candidate in [step, step - 1, step + 1] {
        let at = u64::try_from(candidate * 30).unwrap_or(0);
        if constant_time_eq(totp.generate(at).as_bytes(), code.as_bytes()) {
            return Ok(Some(candidate));
        }
    }
    Ok(None)
}

/// The code for `unix_time`, for tests that play the authenticator app.
pub fn code_at(secret_base32: &str, unix_time: i64) -> Result<String> {
    Ok(totp(secret_base32, "hostdeck", "account")?.generate(u64::try_from(unix_time).unwrap_or(0)))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_its_neighbours_only() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).expect("code");
        assert_eq!(
            matching_step(&secret, &code, now).expect("check"),
            Some(now / 30)
        );
        assert_eq!(
            matching_step(&secret, &code, now + 30).expect("check"),
            Some(now / 30)
        );
        assert_eq!(
            matching_step(&secret, &code, now + 95).expect("check"),
            None
        );
        assert_eq!(matching_step(&secret, "12345", now).expect("check"), None);
        assert_eq!(matching_step(&secret, "abcdef", now).expect("check"), None);
    }

    #[test]
    fn the_provisioning_url_names_the_company_and_account() {
        let url =
            provisioning_url(&new_secret(), "Example Hosting", "alice@example.com").expect("url");
        assert!(
            url.starts_with("otpauth://totp/Example%20Hosting:alice%40example.com?"),
            "{url}"
        );
    }
}
