//! Is this delivery really from PayPal? Both ways PayPal documents, chosen by
//! `paypal.webhook_verification`:
//!
//! - `api`: ask PayPal's `verify-webhook-signature`.
//! - `offline`: the signed message is `transmission_id|transmission_time|webhook_id|crc32`,
//!   the CRC-32 of the exact bytes received as an unsigned decimal; the signature is RSA
//!   PKCS#1 v1.5 with SHA-256 by the key of the X.509 certificate at `PAYPAL-CERT-URL`. That
//!   URL is only followed to a host in `paypal.cert_hosts` (compared as parsed, so user info
//!   or a look-alike prefix cannot sneak another host in), and each certificate is fetched once.
//!
//! The signature check uses rustls-webpki over ring, both already in the build for TLS.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::Method;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::config::{PaypalConfig, WebhookVerification};
use super::paypal::{PaypalClient, PaypalError};

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

pub struct Verifier {
    mode: WebhookVerification,
    webhook_id: Option<String>,
    cert_hosts: Vec<String>,
    http: reqwest::Client,
    /// DER certificates by URL.
    certs: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl Verifier {
    pub fn new(config: &PaypalConfig) -> Result<Self, crate::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| crate::Error::internal("building the certificate client", error))?;
        Ok(Self {
            mode: config.webhook_verification,
            webhook_id: config.webhook_id.clone(),
            cert_hosts: config
                .cert_hosts
                .iter()
                .map(|host| host.trim().to_ascii_lowercase())
                .collect(),
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
                check_signature(&certificate, message.as_bytes(), &signature)
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

    async fn certificate(&self, cert_url: &str) -> Result<Arc<Vec<u8>>, Rejection> {
        let url = url::Url::parse(cert_url)
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL is not a URL".into()))?;
        if !self.allowed(&url) {
            return Err(Rejection::Forged(format!(
                "PAYPAL-CERT-URL points at {}, which is not in paypal.cert_hosts",
                url.host_str().unwrap_or("no host")
            )));
        }
        let key = url.to_string();
        if let Some(der) = self.cached(&key) {
            return Ok(der);
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
        let der = CertificateDer::from_pem_slice(&bytes)
            .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no PEM certificate".into()))?;
        let der = Arc::new(der.as_ref().to_vec());
        let mut certs = self
            .certs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if certs.len() >= CERT_CACHE {
            certs.clear();
        }
        certs.insert(key, der.clone());
        Ok(der)
    }

    fn cached(&self, key: &str) -> Option<Arc<Vec<u8>>> {
        self.certs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(key)
            .cloned()
    }
}

/// RSA PKCS#1 v1.5 SHA-256 over `message` by the key of `certificate` (DER).
fn check_signature(certificate: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Rejection> {
    let der = CertificateDer::from(certificate);
    let cert = webpki::EndEntityCert::try_from(&der)
        .map_err(|_| Rejection::Forged("PAYPAL-CERT-URL holds no usable certificate".into()))?;
    cert.verify_signature(webpki::ring::RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| Rejection::Forged("the signature does not match the delivery".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(hosts: &[&str]) -> Verifier {
        let config = PaypalConfig {
            cert_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
            ..PaypalConfig::default()
        };
        Verifier::new(&config).expect("a verifier")
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
