//! Email addresses: valid once they exist, unique without regard to case.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// An email address a mail server accepts: the local part as the person typed it, the domain
/// in its ASCII (IDNA) form, lowercased, so `x@bücher.de` and `x@xn--bcher-kva.de` are one
/// address and one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String, #[serde(skip)] Option<String>);

/// The longest local part (before the @) and the longest address, in octets (RFC 5321 4.5.3.1).
const MAX_LOCAL: usize = 64;
const MAX_ADDRESS: usize = 254;

impl Email {
    /// Checks what mail servers accept, so an address does not bounce for ever: a dot-atom local
    /// part (RFC 5322 `atext` and single dots between them, ASCII, no quoted strings, at most 64
    /// octets), one `@`, and a domain name of letters, digits and hyphens with at least one dot
    /// (an internationalised domain is checked in its IDNA form; IP literals are refused), at
    /// most 254 octets in all. Whether the mailbox exists is proved by the verification code,
    /// not here.
    pub fn parse(text: &str) -> Result<Self> {
        let email = text.trim();
        let bad =
            |why: &str| Error::invalid("email", format!("{why}; write it like name@example.com"));
        if email.is_empty() {
            return Err(bad("the email address is empty"));
        }
        if email
            .chars()
            .any(|c| c.is_whitespace() || crate::text::is_hidden(c))
        {
            return Err(bad(
                "an email address has no spaces or invisible characters",
            ));
        }
        let Some((local, domain)) = email.rsplit_once('@') else {
            return Err(bad("an email address needs an @"));
        };
        if local.is_empty() {
            return Err(bad("the part before @ is empty"));
        }
        if local.len() > MAX_LOCAL {
            return Err(bad("the part before @ is longer than 64 characters"));
        }
        if !is_dot_atom(local) {
            return Err(bad(
                "the part before @ may hold letters, digits, single dots and ! # $ % & ' * + - / = ? ^ _ ` { | } ~ only",
            ));
        }
        let Some(ascii_domain) = mail_domain(domain) else {
            return Err(bad("the part after @ is not a domain name"));
        };
        if local.len() + 1 + ascii_domain.len() > MAX_ADDRESS {
            return Err(bad("the email address is longer than 254 characters"));
        }
        Ok(Self(format!("{local}@{ascii_domain}"), None))
    }

    /// An address already on an account, checked only for its shape as it was before [`parse`]
    /// became strict, so its owner can still sign in, verify and reset. Never used to make an
    /// account or to take a new address. An address [`parse`] accepts is taken in its form; the
    /// text as typed stays a [`former_key`](Email::former_key), for accounts made before
    /// domains were stored in their ASCII form.
    ///
    /// [`parse`]: Email::parse
    pub fn existing(text: &str) -> Result<Self> {
        let email = text.trim();
        let bad = || {
            Error::invalid(
                "email",
                "that is not an email address; write it like name@example.com",
            )
        };
        if email.is_empty()
            || email.chars().count() > MAX_ADDRESS
            || email.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad());
        }
        if let Ok(Self(parsed, _)) = Self::parse(email) {
            let typed = email.to_lowercase();
            let former = (typed != parsed.to_lowercase()).then_some(typed);
            return Ok(Self(parsed, former));
        }
        match email.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
            {
                Ok(Self(email.to_owned(), None))
            }
            _ => Err(bad()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form that makes two addresses the same account: `Alice@Example.COM` and
    /// `alice@example.com` are one person.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }

    /// The key the same address had when it was stored as typed (an internationalised domain
    /// not yet in its ASCII form), if that differs from [`key`](Email::key).
    pub fn former_key(&self) -> Option<&str> {
        self.1.as_deref()
    }

    /// The key an address may have been stored under: the former key when there is one,
    /// otherwise the key itself. Look-ups match either.
    pub fn stored_key(&self) -> String {
        self.former_key().map_or_else(|| self.key(), str::to_owned)
    }
}

/// RFC 5322 `dot-atom-text`: atoms of `atext` joined by single dots.
fn is_dot_atom(local: &str) -> bool {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    local
        .split('.')
        .all(|atom| !atom.is_empty() && atom.chars().all(atext))
}

/// The domain in its ASCII (IDNA) form if mail can be delivered to it by name: two or more
/// labels of 1 to 63 letters, digits or hyphens, no hyphen at either end of a label, a top-level
/// label that is not all digits, at most 253 octets. IP addresses and `[...]` literals are not
/// names.
fn mail_domain(domain: &str) -> Option<String> {
    if domain.is_empty() || domain.starts_with('[') || domain.ends_with('.') {
        return None;
    }
    let ascii = match url::Host::parse(domain).ok()? {
        url::Host::Domain(ascii) => ascii,
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    let ldh = |label: &&str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    let top_is_name = labels
        .last()
        .is_some_and(|top| !top.chars().all(|c| c.is_ascii_digit()));
    (ascii.len() <= 253 && labels.len() >= 2 && labels.iter().all(ldh) && top_is_name)
        .then_some(ascii)
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
            "x@bücher.de",
            "ops+billing@eu.mail.example.com",
            "o'brien@example.ie",
            "first.last@sub-domain.example.org",
            "a!#$%&'*+-/=?^_`{|}~z@example.com",
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
            "<script>@example.com",
            "a<b>@example.com",
            "\"quoted\"@example.com",
            "a(comment)@example.com",
            "a,b@example.com",
            "a;b@example.com",
            "a\\b@example.com",
            "a[b]@example.com",
            ".a@example.com",
            "a.@example.com",
            "a..b@example.com",
            "zoë@example.com",
            "a@[127.0.0.1]",
            "a@[IPv6:::1]",
            "a@127.0.0.1",
            "a@example.com.",
            "a@exa_mple.com",
            "a@example.123",
            "a@ex\u{202E}ample.com",
            "a@example.com>",
            "a@ex<ample.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn length_limits_are_the_mail_servers_own() {
        let label = "d".repeat(63);
        assert!(Email::parse(&format!("{}@example.com", "l".repeat(64))).is_ok());
        assert!(Email::parse(&format!("{}@example.com", "l".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "d".repeat(64))).is_err());
        let long_domain = format!("{label}.{label}.{label}.{}.com", "d".repeat(57));
        assert!(Email::parse(&format!("{}@{long_domain}", "l".repeat(10))).is_err());
    }

    #[test]
    fn an_address_already_on_an_account_can_still_be_looked_up() {
        assert!(Email::parse("<script>@example.com").is_err());
        let kept = Email::existing(" <script>@example.com ").expect("the old shape");
        assert_eq!(kept.as_str(), "<script>@example.com");
        let old = Email::existing("X@Bücher.de").expect("an address");
        assert_eq!(old.key(), "x@xn--bcher-kva.de");
        assert_eq!(old.former_key(), Some("x@bücher.de"));
        assert!(Email::existing("no-at-sign").is_err());
    }

    #[test]
    fn case_does_not_make_a_second_account() {
        let a = Email::parse("Alice@Example.COM").expect("valid");
        let b = Email::parse("alice@example.com").expect("valid");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.as_str(), "Alice@example.com");
    }

    #[test]
    fn an_internationalised_domain_is_one_account_however_it_is_written() {
        let ascii = Email::parse("x@xn--bcher-kva.de").expect("valid");
        for same in [
            "x@bücher.de",
            "x@BÜCHER.de",
            "x@ｂüｃｈｅｒ.ｄｅ",
            "x@XN--BCHER-KVA.DE",
        ] {
            let email = Email::parse(same).expect("valid");
            assert_eq!(email.as_str(), "x@xn--bcher-kva.de", "{same}");
            assert_eq!(email.key(), ascii.key(), "{same}");
        }
    }
}
