//! Is this delivery really from PayPal? Both ways PayPal documents, chosen by
//! `paypal.webhook_verification`:
//!
//! - `api`: ask PayPal's `verify-webhook-signature`.
//! - `offline`: the signed message is `transmission_id|transmission_time|webhook_id|crc32`,
//!   the CRC-32 of the exact bytes received as an unsigned decimal; the signature is RSA
//!   PKCS#1 v1.5 with SHA-256 by the key of the X.509 certificate at `PAYPAL-CERT-URL`. That
//!   URL is only followed to a host in `paypal.cert_hosts` (compared as parsed, so user info
//!   or a look-alike prefix cannot sneak another host in).
//!
//! The certificate is trusted as PayPal's SDKs trust it: the PEM at the URL is the leaf, then
//! any intermediates; the leaf must chain to a root in `paypal.cert_roots` (default: the Mozilla
//! roots browsers trust) for TLS server use, be within its dates (and so must the intermediates
//! on the way), and name PayPal's message-verification service (a subject CN that starts with
//! `messageverificationcerts` and ends with `.paypal.com`, the rule of PayPal's Java SDK). The
//! chain is checked once per certificate URL; the cached result keeps the dates of the path and
//! is dropped once they pass, so an expired certificate is fetched and refused again.
//!
//! `PAYPAL-TRANSMISSION-TIME` must be an RFC 3339 time within `paypal.webhook_tolerance`
//! (default 5 minutes) of now, either way, in both modes: a delivery captured and sent again
//! later, or signed for a time yet to come, is refused before its signature is even looked at.
//! PayPal signs each delivery, its retries for three days included, when it sends it, so a
//! genuine one is always fresh. PayPal's own SDKs check no time at all; the window is
//! hostdeck's (5 minutes, as webhook receivers commonly allow for clock skew). Events are
//! still stored and credited once by their id, so a replay within the window is harmless.
//!
//! The checks use rustls-webpki over ring, both already in the build for TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use reqwest::Method;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use serde_json::{Value, json};
use x509_cert::der::Decode;

use super::config::{PaypalConfig, WebhookVerification, read_roots};
use super::paypal::{PaypalClient, PaypalError};
use crate::clock::Clock;

/// The `PAYPAL-*` headers of a delivery, as received (any may be missing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookHeaders {
    pub transmission_id: Option<String>,
    pub transmission_time: Option<String>,
    pub transmission_sig: Option<String>,
    pub cert_url: Option<String>,
    pub auth_algo: Option<String>,
}

/// Why a delivery was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not from PayPal, or not intact: refuse it (PayPal would not send it this way).
    Forged(String),
    /// hostdeck could not check it now (PayPal or its certificate host did not answer, or
    /// webhooks are not configured): answer so that PayPal delivers it again later.
    Unavailable(String),
}

/// Certificates kept at most; PayPal rotates them rarely.
const CERT_CACHE: usize = 16;
const CERT_MAX_BYTES: usize = 64 * 1024;
/// Certificates in one PEM at most: the leaf and its intermediates.
const CHAIN_MAX: usize = 8;

/// What a certificate on the way from PayPal's leaf to a root may be signed with: the
/// algorithms rustls takes from a TLS server, by ring.
static CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
];

/// A certificate that chained to a trusted root, kept while its path is within its dates.
#[derive(Debug)]
struct TrustedCert {
    /// The leaf, whose key signs the deliveries.
    leaf: CertificateDer<'static>,
    /// The latest notBefore and the earliest notAfter of the leaf and the intermediates its
    /// path went through: outside them the path would not verify any more.
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
}

impl TrustedCert {
    fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now <= self.valid_until
    }
}

pub struct Verifier {
    mode: WebhookVerification,
    webhook_id: Option<String>,
    cert_hosts: Vec<String>,
    /// How far a transmission time may be from now, either way.
    tolerance: chrono::Duration,
    /// What PayPal's certificate must chain to: `paypal.cert_roots`, or Mozilla's roots.
    roots: Vec<TrustAnchor<'static>>,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
    /// Verified certificates by URL.
    certs: Mutex<HashMap<String, Arc<TrustedCert>>>,
}

impl Verifier {
    pub fn new(config: &PaypalConfig, clock: Arc<dyn Clock>) -> Result<Self, crate::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| crate::Error::internal("building the certificate client", error))?;
        let roots = match &config.cert_roots {
            Some(path) => read_roots(path).map_err(|problem| {
                crate::Error::invalid("paypal.cert_roots", format!("paypal.cert_roots: {problem}"))
            })?,
            None => webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        Ok(Self {
            mode: config.webhook_verification,
            webhook_id: config.webhook_id.clone(),
            cert_hosts: config
                .cert_hosts
                .iter()
                .map(|host| host.trim().to_ascii_lowercase())
                .collect(),
            tolerance: chrono::Duration::from_std(config.webhook_tolerance)
                .unwrap_or_else(|_| chrono::Duration::minutes(5)),
            roots,
            clock,
            http,
            certs: Mutex::new(HashMap::new()),
        })
    }

    /// `Ok` when `body` with `headers` is a genuine delivery for this platform's webhook.
    pub async fn verify(
        &self,
        client: Option<&PaypalClient>,
        headers: &WebhookHeaders,
        body: &[u8],
    ) -> Result<(), Rejection> {
        let Some(webhook_id) = self.webhook_id.as_deref() else {
            return Err(Rejection::Unavailable(
                "PayPal webhooks are not configured: set paypal.webhook_id".into(),
            ));
        };
        let field = |value: &Option<String>, name: &str| {
            value
                .as_deref()
                .filter(|value| !value.trim().is_empty())
                .map(str::to_owned)
                .ok_or_else(|| Rejection::Forged(format!("the {name} header is missing")))
        };
        let transmission_id = field(&headers.transmission_id, "PAYPAL-TRANSMISSION-ID")?;
        let time = field(&headers.transmission_time, "PAYPAL-TRANSMISSION-TIME")?;
        let signature = field(&headers.transmission_sig, "PAYPAL-TRANSMISSION-SIG")?;
        let cert_url = field(&headers.cert_url, "PAYPAL-CERT-URL")?;
        let algo = field(&headers.auth_algo, "PAYPAL-AUTH-ALGO")?;
        if algo != "SHA256withRSA" {
            return Err(Rejection::Forged(format!(
                "unsupported PAYPAL-AUTH-ALGO {algo:?}"
            )));
        }
        let Ok(sent) = DateTime::parse_from_rfc3339(&time) else {
            return Err(Rejection::Forged(
                "PAYPAL-TRANSMISSION-TIME is not an RFC 3339 time".into(),
            ));
        };
        let now = self.clock.now();
        let sent = sent.with_timezone(&Utc);
        if sent < now - self.tolerance {
            return Err(Rejection::Forged(format!(
                "PAYPAL-TRANSMISSION-TIME {time} is more than {} old: a replay, or a clock out of \
                 sync",
                humantime_serde::re::humantime::format_duration(
                    self.tolerance.to_std().unwrap_or_default()
                )
            )));
        }
        if sent > now + self.tolerance {
            return Err(Rejection::Forged(format!(
                "PAYPAL-TRANSMISSION-TIME {time} is more than {} ahead of this server's clock",
                humantime_serde::re::humantime::format_duration(
                    self.tolerance.to_std().unwrap_or_default()
                )
            )));
        }
        match self.mode {
            WebhookVerification::Offline => {
                let signature = STANDARD
                    .decode(signature.trim())
                    .map_err(|_| Rejection::Forged("the signature is not base64".into()))?;
                let certificate = self.certificate(&cert_url).await?;
                let message = format!(
                    "{transmission_id}|{time}|{webhook_id}|{}",
                    crc32fast::hash(body)
                );
                check_signature(&certificate.leaf, message.as_bytes(), &signature)
            }
            WebhookVerification::Api => {
                let Some(client) = client else {
                    return Err(Rejection::Unavailable(
                        "payments are not configured: set paypal.client_id and paypal.client_secret"
                            .into(),
                    ));
                };
                let event: Value = serde_json::from_slice(body)
                    .map_err(|_| Rejection::Forged("the body is not JSON".into()))?;
                let request = json!({
                    "auth_algo": algo,
                    "cert_url": cert_url,
                    "transmission_id": transmission_id,
                    "transmission_sig": signature,
                    "transmission_time": time,
                    "webhook_id": webhook_id,
                    "webhook_event": event,
                });
                let answer = client
                    .call(
                        Method::POST,
                        "/v1/notifications/verify-webhook-signature",
                        Some(&request),
                        None,
                    )
                    .await;
                match answer {
                    Ok(answer) if answer["verification_status"] == "SUCCESS" => Ok(()),
                    Ok(_) => Err(Rejection::Forged(
                        "PayPal did not verify the signature".into(),
                    )),
                    Err(PaypalError::Refused {
                        status: 400 | 422,
                        message,
                        ..
                    }) => Err(Rejection::Forged(format!(
                        "PayPal refused to verify it: {message}"
                    ))),
                    Err(other) => Err(Rejection::Unavailable(format!(
                        "PayPal could not verify the signature now: {}",
                        crate::Error::from(other)
                    ))),
                }
            }
        }
    }

    /// Whether `url` may be fetched: http(s), no user info, a host in `cert_hosts`. Plain
    /// http is allowed only to a loopback address (a test double of PayPal).
    fn allowed(&self, url: &url::Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host.to_ascii_lowercase();
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
        let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
        scheme_ok
            && url.username().is_empty()
            && url.password().is_none()
            && self.cert_hosts.contains(&host)
    }

    async fn certificate(&self, cert_url: &str) -> Result<Arc<TrustedCert>, Rejection> {
        let url = url::Url::parse(cert_url)
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL is not a URL".into()))?;
        if !self.allowed(&url) {
            return Err(Rejection::Forged(format!(
                "PAYPAL-CERT-URL points at {}, which is not in paypal.cert_hosts",
                url.host_str().unwrap_or("no host")
            )));
        }
        let key = url.to_string();
        if let Some(trusted) = self.cached(&key, self.clock.now()) {
            return Ok(trusted);
        }
        let response =
            self.http.get(url).send().await.map_err(|_| {
                Rejection::Unavailable("the certificate host did not answer".into())
            })?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(if status.is_server_error() {
                Rejection::Unavailable(format!("the certificate host answered {status}"))
            } else {
                Rejection::Forged(format!("no certificate at PAYPAL-CERT-URL ({status})"))
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|_| Rejection::Unavailable("the certificate could not be read".into()))?;
        if bytes.len() > CERT_MAX_BYTES {
            return Err(Rejection::Forged("the certificate is too large".into()));
        }
        let chain = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no PEM certificate".into()))?;
        let trusted = Arc::new(self.trust(&chain, self.clock.now())?);
        let mut certs = self
            .certs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if certs.len() >= CERT_CACHE {
            certs.clear();
        }
        certs.insert(key, trusted.clone());
        Ok(trusted)
    }

    /// The certificate verified for `key`, while its path is within its dates; one whose dates
    /// have passed is dropped, so that it is fetched and judged again.
    fn cached(&self, key: &str, now: DateTime<Utc>) -> Option<Arc<TrustedCert>> {
        let mut certs = self
            .certs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match certs.get(key) {
            Some(trusted) if trusted.valid_at(now) => Some(trusted.clone()),
            Some(_) => {
                certs.remove(key);
                None
            }
            None => None,
        }
    }

    /// Whether `chain` (the leaf first, then intermediates in any order) is PayPal's
    /// message-verification certificate, chained to a trusted root and within its dates at
    /// `now`.
    fn trust(
        &self,
        chain: &[CertificateDer<'static>],
        now: DateTime<Utc>,
    ) -> Result<TrustedCert, Rejection> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(Rejection::Forged(
                "PAYPAL-CERT-URL holds no PEM certificate".into(),
            ));
        };
        if chain.len() > CHAIN_MAX {
            return Err(Rejection::Forged(
                "PAYPAL-CERT-URL holds too many certificates".into(),
            ));
        }
        let end_entity = webpki::EndEntityCert::try_from(leaf)
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no usable certificate".into()))?;
        let time = UnixTime::since_unix_epoch(Duration::from_secs(
            u64::try_from(now.timestamp()).unwrap_or_default(),
        ));
        // PayPal's message-verification certificates are TLS server certificates from a public
        // CA, and Mozilla's roots vouch for server authentication only: a leaf without an
        // extended key usage passes (RFC 5280), one that lists usages must list serverAuth.
        let path = end_entity
            .verify_for_usage(
                CHAIN_ALGORITHMS,
                &self.roots,
                intermediates,
                time,
                webpki::KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(untrusted)?;
        let leaf_fields = x509_cert::Certificate::from_der(leaf.as_ref())
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no usable certificate".into()))?;
        if !names_paypal(&leaf_fields) {
            return Err(Rejection::Forged(
                "the certificate at PAYPAL-CERT-URL is not PayPal's message-verification \
                 certificate (its CN is not messageverificationcerts…paypal.com)"
                    .into(),
            ));
        }
        let mut trusted = TrustedCert {
            leaf: leaf.clone(),
            valid_from: DateTime::<Utc>::MIN_UTC,
            valid_until: DateTime::<Utc>::MAX_UTC,
        };
        let on_path = std::iter::once(Ok(leaf_fields)).chain(
            path.intermediate_certificates()
                .map(|cert| x509_cert::Certificate::from_der(cert.der().as_ref())),
        );
        for cert in on_path {
            let cert = cert.map_err(|_| {
                Rejection::Forged("PAYPAL-CERT-URL holds a malformed certificate".into())
            })?;
            let validity = cert.tbs_certificate.validity;
            trusted.valid_from = trusted.valid_from.max(date(validity.not_before));
            trusted.valid_until = trusted.valid_until.min(date(validity.not_after));
        }
        Ok(trusted)
    }
}

/// Why a chain is not trusted, for the log of refused deliveries.
fn untrusted(error: webpki::Error) -> Rejection {
    let at = |time: UnixTime| {
        i64::try_from(time.as_secs())
            .ok()
            .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
            .map_or_else(|| "an unreadable time".to_owned(), |time| time.to_rfc3339())
    };
    Rejection::Forged(match error {
        webpki::Error::CertExpired { not_after, .. } => format!(
            "the certificate at PAYPAL-CERT-URL, or one on its way to the root, expired at {}",
            at(not_after)
        ),
        webpki::Error::CertNotValidYet { not_before, .. } => format!(
            "the certificate at PAYPAL-CERT-URL, or one on its way to the root, is not valid \
             before {}",
            at(not_before)
        ),
        webpki::Error::UnknownIssuer => "the certificate at PAYPAL-CERT-URL does not chain to a \
                                         trusted root (paypal.cert_roots)"
            .to_owned(),
        other => format!("the certificate at PAYPAL-CERT-URL is not trusted: {other}"),
    })
}

/// A certificate time as a UTC date.
fn date(time: x509_cert::time::Time) -> DateTime<Utc> {
    i64::try_from(time.to_unix_duration().as_secs())
        .ok()
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether the subject names PayPal's message-verification service: a common name that
/// starts with `messageverificationcerts` and ends with `.paypal.com`, as PayPal's Java SDK
/// requires (`messageverificationcerts.paypal.com` live, `.sandbox.paypal.com` in the sandbox).
fn names_paypal(cert: &x509_cert::Certificate) -> bool {
    use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
    const COMMON_NAME: x509_cert::der::asn1::ObjectIdentifier =
        x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");
    cert.tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|attribute| attribute.oid == COMMON_NAME)
        .filter_map(|attribute| {
            attribute
                .value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|text| text.as_str().to_owned())
                .or_else(|_| {
                    attribute
                        .value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|text| text.as_str().to_owned())
                })
                .ok()
        })
        .any(|name| {
            let name = name.to_ascii_lowercase();
            name.starts_with("messageverificationcerts") && name.ends_with(".paypal.com")
        })
}

/// RSA PKCS#1 v1.5 SHA-256 over `message` by the key of `certificate`.
fn check_signature(
    certificate: &CertificateDer<'_>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), Rejection> {
    let cert = webpki::EndEntityCert::try_from(certificate)
        .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no usable certificate".into()))?;
    cert.verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| Rejection::Forged("the signature does not match the delivery".into()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    use crate::clock::ManualClock;

    fn verifier(hosts: &[&str]) -> Verifier {
        let config = PaypalConfig {
            cert_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..PaypalConfig::default()
        };
        Verifier::new(
            &config,
            Arc::new(ManualClock::new(at("2026-06-01T00:00:00Z"))),
        )
        .expect("a verifier")
    }

    fn at(time: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(time)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn testdata(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/payments/testdata")
            .join(name)
    }

    /// A verifier that trusts only the test root (testdata/README.md).
    fn trusting_test_root() -> Verifier {
        let config = PaypalConfig {
            cert_roots: Some(testdata("root.pem")),
            ..PaypalConfig::default()
        };
        Verifier::new(
            &config,
            Arc::new(ManualClock::new(at("2026-06-01T00:00:00Z"))),
        )
        .expect("a verifier")
    }

    fn chain(name: &str) -> Vec<CertificateDer<'static>> {
        let pem = std::fs::read(testdata(name)).expect("a test certificate");
        CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .expect("PEM")
    }

    fn forged(outcome: Result<TrustedCert, Rejection>) -> String {
        match outcome {
            Err(Rejection::Forged(reason)) => reason,
            other => panic!("expected a forgery, got {other:?}"),
        }
    }

    /// The test leaf key's signature of `T-1|2026-06-01T00:00:00Z|WH1|12345`.
    const SIGNED: &str = "Qf7opwN2h+RpOSsWBYvot0xDci5//fZGsL22oBhBhnJ+nleBu/3m9zmbmb1Z4jBtszGfgBrlodtKiZ1BR45pH9KE4pMuvDy7nfR6Kp+l/SnZmY/AAsyjCtlCCes81DuH61HBKxL7xTNC5mtDJjrNQUOSKEU/yMVs+Hf4jBBuDPE5jR14o5ERHZfi21oCEG2T66CsfyJb7zZ2xx+JgPyJHDSvMF+/0PGZT0KTZBLLXGfYeIjxp2H1vkmFJyX18m4AGeVC0htzKoXDn1KdEQdJwocoavxIThrILrPy6EHRVP3csdglhh4v96Yo011kldzFGyxC8P9RUq7WCTHu9bAupA==";

    #[test]
    fn a_leaf_that_chains_to_the_configured_root_is_trusted_within_its_dates() {
        let verifier = trusting_test_root();
        let trusted = verifier
            .trust(&chain("chain.pem"), at("2026-06-01T00:00:00Z"))
            .expect("the test chain is trusted");
        assert_eq!(trusted.valid_from, at("2026-01-01T00:00:00Z"));
        assert_eq!(trusted.valid_until, at("2027-01-01T00:00:00Z"));
        // Public CAs write the name as a PrintableString, openssl as UTF8String: both count.
        verifier
            .trust(&chain("printable-name.pem"), at("2026-06-01T00:00:00Z"))
            .expect("a PrintableString common name is read too");
        let signature = STANDARD.decode(SIGNED).expect("base64");
        check_signature(
            &trusted.leaf,
            b"T-1|2026-06-01T00:00:00Z|WH1|12345",
            &signature,
        )
        .expect("the leaf's key signed it");
        assert!(
            check_signature(
                &trusted.leaf,
                b"T-1|2026-06-01T00:00:00Z|WH1|12346",
                &signature
            )
            .is_err()
        );
    }

    #[test]
    fn untrusted_chains_are_forgeries_with_the_reason() {
        let verifier = trusting_test_root();
        let now = at("2026-06-01T00:00:00Z");
        let reason = forged(verifier.trust(&chain("expired.pem"), now));
        assert!(
            reason.contains("expired at 2025-01-01T00:00:00+00:00"),
            "{reason}"
        );
        let reason = forged(verifier.trust(&chain("future.pem"), now));
        assert!(
            reason.contains("not valid before 2030-01-01T00:00:00+00:00"),
            "{reason}"
        );
        // A CA nobody configured, even when its own root comes along in the PEM.
        let reason = forged(verifier.trust(&chain("stranger.pem"), now));
        assert!(
            reason.contains("does not chain to a trusted root"),
            "{reason}"
        );
        // The genuine leaf without the intermediate that links it to the root.
        let reason = forged(verifier.trust(&chain("leaf-only.pem"), now));
        assert!(
            reason.contains("does not chain to a trusted root"),
            "{reason}"
        );
        // Signed by the trusted CA, but for another name.
        let reason = forged(verifier.trust(&chain("other-name.pem"), now));
        assert!(reason.contains("not PayPal's"), "{reason}");
        // Leaf and intermediate swapped: the intermediate is no end-entity certificate.
        let mut swapped = chain("chain.pem");
        swapped.reverse();
        forged(verifier.trust(&swapped, now));
        forged(verifier.trust(&[], now));
        // The Mozilla roots (the default) do not know the test root.
        let mozilla = self::verifier(&[]);
        let reason = forged(mozilla.trust(&chain("chain.pem"), now));
        assert!(
            reason.contains("does not chain to a trusted root"),
            "{reason}"
        );
    }

    #[test]
    fn a_cached_certificate_is_dropped_once_its_path_expires() {
        let verifier = trusting_test_root();
        let key = "https://api.paypal.com/v1/notifications/certs/CERT-1";
        // The leaf runs to 2027, its intermediate only to 2026-09-01: the path ends first.
        let trusted = verifier
            .trust(&chain("short-intermediate.pem"), at("2026-06-01T00:00:00Z"))
            .expect("trusted in June");
        assert_eq!(trusted.valid_until, at("2026-09-01T00:00:00Z"));
        verifier
            .certs
            .lock()
            .expect("the cache")
            .insert(key.to_owned(), Arc::new(trusted));
        assert!(verifier.cached(key, at("2026-08-31T23:59:59Z")).is_some());
        assert!(verifier.cached(key, at("2026-09-01T00:00:01Z")).is_none());
        assert!(
            verifier.certs.lock().expect("the cache").is_empty(),
            "an expired certificate is evicted"
        );
        // Fetched again, it is judged again and refused.
        let reason =
            forged(verifier.trust(&chain("short-intermediate.pem"), at("2026-09-01T00:00:01Z")));
        assert!(reason.contains("expired at 2026-09-01"), "{reason}");
    }

    #[test]
    fn roots_are_read_from_pem_and_a_bad_file_is_explained() {
        assert_eq!(
            read_roots(&testdata("root.pem"))
                .expect("the test root")
                .len(),
            1
        );
        assert_eq!(
            read_roots(&testdata("chain.pem"))
                .expect("two certificates")
                .len(),
            2
        );
        let missing = read_roots(&testdata("missing.pem")).expect_err("no such file");
        assert!(missing.contains("cannot read"), "{missing}");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let empty = dir.path().join("roots.pem");
        std::fs::write(&empty, "not a certificate\n").expect("write");
        let problem = read_roots(&empty).expect_err("no certificate");
        assert!(problem.contains("holds no certificate"), "{problem}");
        let config = PaypalConfig {
            cert_roots: Some(empty),
            ..PaypalConfig::default()
        };
        let error = Verifier::new(&config, Arc::new(crate::clock::SystemClock))
            .err()
            .expect("a bad roots file stops the verifier");
        assert!(error.to_string().contains("paypal.cert_roots"), "{error}");
        let problems = config.problems(&crate::money::Currency::default());
        assert!(
            problems.iter().any(|p| p.starts_with("paypal.cert_roots:")),
            "{problems:?}"
        );
    }

    #[tokio::test]
    async fn a_transmission_time_that_is_not_rfc_3339_is_a_forgery() {
        let config = PaypalConfig {
            webhook_id: Some("WH1".into()),
            webhook_verification: WebhookVerification::Offline,
            ..PaypalConfig::default()
        };
        let now = DateTime::parse_from_rfc3339("2026-06-01T00:00:00Z")
            .expect("a time")
            .with_timezone(&Utc);
        let verifier = Verifier::new(&config, Arc::new(crate::clock::ManualClock::new(now)))
            .expect("a verifier");
        let headers = |time: &str| WebhookHeaders {
            transmission_id: Some("T-1".into()),
            transmission_time: Some(time.into()),
            transmission_sig: Some(SIGNED.into()),
            // Not on the allow-list, so a time that passes is refused for its URL instead.
            cert_url: Some("https://evil.example/cert".into()),
            auth_algo: Some("SHA256withRSA".into()),
        };
        for bad in [
            "yesterday",
            "1780272000",
            "2026-06-01 00:00:00",
            "2026-06-01T00:00:00",
            "Mon, 01 Jun 2026 00:00:00 GMT",
        ] {
            let outcome = verifier.verify(None, &headers(bad), b"{}").await;
            assert_eq!(
                outcome,
                Err(Rejection::Forged(
                    "PAYPAL-TRANSMISSION-TIME is not an RFC 3339 time".into()
                )),
                "{bad}"
            );
        }
        // Times within five minutes of now either way pass; this one fails on its URL.
        for good in [
            "2026-06-01T00:00:00Z",
            "2026-06-01T02:04:59.123+02:00",
            "2026-05-31T23:55:00Z",
        ] {
            let outcome = verifier.verify(None, &headers(good), b"{}").await;
            let Err(Rejection::Forged(reason)) = outcome else {
                panic!("{good}: {outcome:?}");
            };
            assert!(reason.contains("paypal.cert_hosts"), "{good}: {reason}");
        }
        // A transmission years or minutes old, or from the future, is refused before anything
        // else is looked at.
        for (stale, why) in [
            ("2019-01-01T00:00:00Z", "more than 5m old"),
            ("2026-05-31T23:54:59Z", "more than 5m old"),
            ("2026-06-01T00:05:01Z", "ahead of this server's clock"),
            ("2031-06-01T00:00:00Z", "ahead of this server's clock"),
        ] {
            let outcome = verifier.verify(None, &headers(stale), b"{}").await;
            let Err(Rejection::Forged(reason)) = outcome else {
                panic!("{stale}: {outcome:?}");
            };
            assert!(reason.contains(why), "{stale}: {reason}");
        }
    }

    #[test]
    fn only_allow_listed_hosts_are_followed() {
        let verifier = verifier(&["api.paypal.com", "127.0.0.1"]);
        let allowed = |text: &str| verifier.allowed(&url::Url::parse(text).expect("a URL"));
        assert!(allowed(
            "https://api.paypal.com/v1/notifications/certs/CERT-1"
        ));
        assert!(allowed(
            "https://API.PAYPAL.COM/v1/notifications/certs/CERT-1"
        ));
        assert!(allowed(
            "http://127.0.0.1:4000/v1/notifications/certs/CERT-1"
        ));
        assert!(!allowed(
            "http://api.paypal.com/v1/notifications/certs/CERT-1"
        ));
        assert!(!allowed("https://api.paypal.com.evil.example/cert"));
        assert!(!allowed("https://evil.example/api.paypal.com"));
        assert!(!allowed("https://api.paypal.com@evil.example/cert"));
        assert!(!allowed("https://user@api.paypal.com/cert"));
        assert!(!allowed("http://127.0.0.1:4000@localhost:5000/cert"));
        assert!(!allowed("http://localhost:4000/cert"));
    }
}
