//! Email addresses: valid once they exist, unique without regard to case.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A syntactically plausible email address as the person typed it (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Checks the shape people and mail servers agree on: one `@`, a non-empty local part, a
    /// domain with a dot, no spaces or control characters, at most 254 characters. Whether the
    /// mailbox exists is proved by the verification code, not here.
    pub fn parse(text: &str) -> Result<Self> {
        let email = text.trim();
        let bad =
            |why: &str| Error::invalid("email", format!("{why}; write it like name@example.com"));
        if email.is_empty() {
            return Err(bad("the email address is empty"));
        }
        if email.chars().count() > 254 {
            return Err(bad("the email address is longer than 254 characters"));
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("an email address has no spaces"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(bad("an email address needs an @"));
        };
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return Err(bad("that is not an email address"));
        }
        let labels_ok = domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if !domain.contains('.') || !labels_ok {
            return Err(bad("the part after @ is not a domain"));
        }
        Ok(Self(email.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that makes two addresses the same account: `Alice@Example.COM` and
    /// `alice@example.com` are one person.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Email::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in [
            "a@example.com",
            " Alice.Smith+vps@Mail.Example.co.uk ",
            "x@xn--bcher-kva.de",
        ] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "a@b",
            "a b@example.com",
            "a@@example.com",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn case_does_not_make_a_second_account() {
        let a = Email::parse("Alice@Example.COM").expect("valid");
        let b = Email::parse("alice@example.com").expect("valid");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice@Example.COM");
    }
}
