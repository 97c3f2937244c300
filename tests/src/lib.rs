//! hostdeck-e2e: what the end-to-end tests and benchmarks share.
//!
//! - [`db`]: a fresh database per test on SQLite or PostgreSQL, and [`on_both_engines!`] to run
//!   one story on both.
//! - [`billing`]: customers and servers written straight into a database, for billing stories.
//! - [`need`]: the rule for tests that need a real service: "skipped: set X" on a developer's
//!   machine, a failure when `CI=true`.
//! - [`app`]: the real platform started in-process on 127.0.0.1 with a port of its own.
//! - [`mail`]: a mailbox that keeps what the platform sends.
//! - [`smtp`]: a real SMTP server (aiosmtpd) for one test, and the messages it received.
//!   Needs `HOSTDECK_TEST_SMTP`: the command that starts aiosmtpd, such as `aiosmtpd` (Debian's
//!   python3-aiosmtpd) or `/usr/bin/python3 -m aiosmtpd`.
//! - [`browser`]: headless Chromium driven over WebDriver, with a screenshot of every page.
//!   Needs `HOSTDECK_TEST_CHROMEDRIVER`: the path of chromedriver (Debian's chromium-driver:
//!   `/usr/bin/chromedriver`, which drives `/usr/bin/chromium`).
//! - [`pdf`]: a PDF read back as text with pdftotext (`HOSTDECK_TEST_PDFTOTEXT`).
//! - [`process`]: the programs those start, each on a free loopback port, killed on drop.
//! - [`paypal`]: the fake PayPal's trust root as a `paypal.cert_roots` file.
//! - [`kb_eval`]: the help search's evaluation set, its figures, and plain BM25 to compare.
//! - [`load`]: the load benchmarks' GET target, fixed-rate and maximum-rate runs, figures.
//!
//! Fakes of the outside services join this crate as the features that call them are built.

pub mod app;
pub mod bench;
pub mod billing;
pub mod bot;
pub mod browser;
pub mod cloud;
pub mod db;
pub mod kb_eval;
pub mod load;
pub mod mail;
pub mod paypal;
pub mod pdf;
pub mod process;
pub mod smtp;

/// Whether this run is CI, where every test must really run.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| !value.is_empty() && value != "false" && value != "0")
}

/// The value of `var`, which a test needs to reach `what`. Without it the test is skipped on a
/// developer's machine (saying so) and fails on CI.
pub fn need(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if is_ci() => panic!("{var} is not set, and CI=true requires {what}"),
        _ => {
            eprintln!("skipped: set {var} to run this test against {what}");
            None
        }
    }
}
