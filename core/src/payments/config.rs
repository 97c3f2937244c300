//! `[paypal]`: where PayPal is, the app's credentials, how webhooks are verified, and the
//! top-up amounts the portal offers. Without `client_id` and `client_secret` payments are off
//! and the portal says so.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::values::serialize_secret;
use crate::money::{Currency, Money};

/// How a webhook's signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookVerification {
    /// PayPal's `verify-webhook-signature` API: one call per delivery.
    Api,
    /// CRC-32 of the raw body and SHA256withRSA with PayPal's certificate, fetched once from
    /// an allow-listed host: no call per delivery.
    Offline,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaypalConfig {
    /// PayPal's REST address: `https://api-m.paypal.com` (live) or
    /// `https://api-m.sandbox.paypal.com` (sandbox).
    pub base_url: url::Url,
    /// The REST app's client id. With `client_secret` it turns payments on.
    pub client_id: Option<String>,
    #[serde(serialize_with = "serialize_secret")]
    pub client_secret: Option<SecretString>,
    /// The id of the webhook configured in the PayPal app (letters and digits). Deliveries are
    /// refused until it is set.
    pub webhook_id: Option<String>,
    pub webhook_verification: WebhookVerification,
    /// Hosts a webhook's `PAYPAL-CERT-URL` may point at (offline verification).
    pub cert_hosts: Vec<String>,
    /// A PEM file of the root certificates PayPal's webhook certificate must chain to (offline
    /// verification). Unset: the Mozilla roots that browsers trust.
    pub cert_roots: Option<PathBuf>,
    /// How far a delivery's `PAYPAL-TRANSMISSION-TIME` may be from now, either way, for it to
    /// be taken: an older (replayed) or a future transmission is refused. PayPal signs every
    /// delivery, retries included, when it sends it.
    #[serde(with = "humantime_serde")]
    pub webhook_tolerance: Duration,
    /// The smallest and largest top-up a customer may choose.
    #[serde(with = "crate::config::values::amount")]
    pub min_topup: Money,
    #[serde(with = "crate::config::values::amount")]
    pub max_topup: Money,
    /// The amounts offered as buttons on the top-up page.
    #[serde(with = "crate::config::values::amounts")]
    pub presets: Vec<Money>,
    /// How long one call to PayPal may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for PaypalConfig {
    fn default() -> Self {
        Self {
            base_url: url::Url::parse("https://api-m.paypal.com")
                .unwrap_or_else(|_| unreachable!()),
            client_id: None,
            client_secret: None,
            webhook_id: None,
            webhook_verification: WebhookVerification::Api,
            cert_hosts: vec!["api.paypal.com".into()],
            cert_roots: None,
            webhook_tolerance: Duration::from_secs(300),
            min_topup: Money::from_micros(5_000_000),
            max_topup: Money::from_micros(500_000_000),
            presets: [10, 25, 50, 100]
                .into_iter()
                .map(|units| Money::from_micros(units * 1_000_000))
                .collect(),
            timeout: Duration::from_secs(20),
        }
    }
}

impl PaypalConfig {
    /// Whether payments are on: both credentials are set.
    pub fn enabled(&self) -> bool {
        self.client_id.as_deref().is_some_and(|id| !id.is_empty()) && self.client_secret.is_some()
    }

    /// What is wrong, one line per problem, each naming its key. Amounts are checked against
    /// the decimals PayPal takes for `currency` (the billing currency).
    pub fn problems(&self, currency: &Currency) -> Vec<String> {
        let payable = |amount: Money| super::amounts::paypal_value(amount, currency.code()).is_ok();
        let places = super::amounts::decimals(currency.code());
        let mut problems = Vec::new();
        if !matches!(self.base_url.scheme(), "http" | "https") {
            problems.push("paypal.base_url: expected an https:// address".to_owned());
        }
        if self.client_id.is_some() != self.client_secret.is_some() {
            problems.push(
                "paypal.client_id and paypal.client_secret: set both, or neither to keep \
                 payments off"
                    .to_owned(),
            );
        }
        if let Some(id) = &self.webhook_id
            && (id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            problems.push(
                "paypal.webhook_id: expected the webhook's id from the PayPal app, letters and \
                 digits such as 1JE4291016473214C"
                    .to_owned(),
            );
        }
        if !self.min_topup.is_positive() {
            problems.push("paypal.min_topup: expected more than zero".to_owned());
        }
        if self.max_topup < self.min_topup {
            problems.push("paypal.max_topup: expected at least paypal.min_topup".to_owned());
        }
        if !payable(self.min_topup) || !payable(self.max_topup) {
            problems.push(format!(
                "paypal.min_topup and paypal.max_topup: {currency} amounts have at most {places} \
                 decimal places"
            ));
        }
        for preset in &self.presets {
            if *preset < self.min_topup || *preset > self.max_topup || !payable(*preset) {
                problems.push(format!(
                    "paypal.presets: {} is not a {currency} amount of at most {places} decimal \
                     places between min_topup and max_topup",
                    preset.amount_text()
                ));
            }
        }
        if self.cert_hosts.iter().any(|host| host.trim().is_empty()) {
            problems.push("paypal.cert_hosts: expected host names such as api.paypal.com".into());
        }
        if let Some(path) = &self.cert_roots
            && let Err(problem) = read_roots(path)
        {
            problems.push(format!("paypal.cert_roots: {problem}"));
        }
        if self.webhook_tolerance < Duration::from_secs(30)
            || self.webhook_tolerance > Duration::from_secs(86_400)
        {
            problems.push("paypal.webhook_tolerance: expected between 30s and 1day".to_owned());
        }
        if self.timeout < Duration::from_secs(1) {
            problems.push("paypal.timeout: expected at least 1s".to_owned());
        }
        problems
    }
}

/// The root certificates in the PEM file at `path` (`paypal.cert_roots`).
pub(super) fn read_roots(path: &Path) -> Result<Vec<TrustAnchor<'static>>, String> {
    let shown = path.display();
    let file = std::fs::read(path).map_err(|error| format!("cannot read {shown}: {error}"))?;
    let mut roots = Vec::new();
    for der in CertificateDer::pem_slice_iter(&file) {
        let der = der.map_err(|_| format!("{shown} is not a PEM file of certificates"))?;
        let anchor = webpki::anchor_from_trusted_cert(&der)
            .map_err(|error| format!("{shown} holds a certificate that cannot be read: {error}"))?;
        roots.push(anchor.to_owned());
    }
    if roots.is_empty() {
        return Err(format!(
            "{shown} holds no certificate; expected root certificates as PEM \
             (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::money::Money;

    #[test]
    fn amounts_are_read_as_text_or_whole_numbers_and_checked() {
        let config = Config::from_toml(
            "[paypal]\nmin_topup = \"2.50\"\nmax_topup = 200\npresets = [\"5.00\", 20]\n",
        )
        .expect("valid");
        assert_eq!(config.paypal.min_topup, Money::from_micros(2_500_000));
        assert_eq!(config.paypal.max_topup, Money::from_micros(200_000_000));
        assert_eq!(config.paypal.presets.len(), 2);
        let error = Config::from_toml("[paypal]\nmin_topup = 2.5\n").expect_err("a float");
        assert!(error.to_string().contains("paypal.min_topup"), "{error}");
        let error = Config::from_toml("[paypal]\npresets = [\"1000.00\"]\n").expect_err("too big");
        assert!(error.to_string().contains("paypal.presets"), "{error}");
        let error = Config::from_toml("[paypal]\nclient_id = \"abc\"\n").expect_err("half");
        assert!(error.to_string().contains("client_secret"), "{error}");
        // Cents for dollars, whole yen for yen.
        let error = Config::from_toml("[paypal]\nmin_topup = \"2.505\"\n").expect_err("a mill");
        assert!(
            error.to_string().contains("at most 2 decimal places"),
            "{error}"
        );
        let error = Config::from_toml(
            "[billing]\ncurrency = \"JPY\"\n[paypal]\nmin_topup = \"500.50\"\nmax_topup = 50000\npresets = [\"1000.5\"]\n",
        )
        .expect_err("half a yen");
        assert!(
            error
                .to_string()
                .contains("JPY amounts have at most 0 decimal places"),
            "{error}"
        );
        assert!(
            error.to_string().contains("paypal.presets: 1000.50"),
            "{error}"
        );
        Config::from_toml(
            "[billing]\ncurrency = \"JPY\"\n[paypal]\nmin_topup = 500\nmax_topup = 50000\npresets = [1000]\n",
        )
        .expect("whole yen");
        let error =
            Config::from_toml("[paypal]\nwebhook_id = \"a-b\"\n").expect_err("bad webhook id");
        assert!(error.to_string().contains("paypal.webhook_id"), "{error}");
    }
}
