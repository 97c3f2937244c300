//! Webhooks as PayPal sends them: events, signatures, the certificate, forgeries, and the
//! verify-webhook-signature API.
//!
//! PayPal signs `transmission_id|transmission_time|webhook_id|crc32(raw body)` (the CRC-32 of
//! the exact bytes, as an unsigned decimal) with RSA PKCS#1 v1.5 over SHA-256, and names the
//! certificate holding the public key in `PAYPAL-CERT-URL`. The fake does the same with its own
//! 2048-bit key. Its certificate (CN=messageverificationcerts.sandbox.paypal.com) is issued by
//! the fake's own CA, a root and an intermediate, and served at `/v1/notifications/certs/{id}`
//! as PEM, leaf first, then the intermediate; a receiver trusts the root
//! ([`super::FakePaypal::root_pem`]).
//!
//! An attacker's key and certificate are generated beside PayPal's; the attacker's certificate
//! is served by a second server under another host name (`localhost` and another port), the
//! host a forged `PAYPAL-CERT-URL` points at. PayPal's own host also serves, at other ids,
//! certificates a receiver must not trust: expired, not yet valid, from an unknown CA,
//! self-signed, and a chain through a look-alike intermediate.

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::RsaPrivateKey;
use rsa::pkcs1v15::{Signature, SigningKey};
use rsa::signature::{Keypair, SignatureEncoding, Signer, Verifier};
use serde_json::{Value, json};
use sha2::Sha256;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::EncodePem;
use x509_cert::der::asn1::{Ia5String, ObjectIdentifier};
use x509_cert::der::pem::LineEnding;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, SubjectAltName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

use super::api::{Exchange, Reply};
use super::{Shared, books, specs};
use crate::server::{self, Call, Running};

/// The signing keys and certificates: PayPal's, its CA's, and an attacker's.
pub(super) struct Keys {
    pub paypal: SigningKey<Sha256>,
    /// PayPal's certificate chain as served: the leaf, then the intermediate.
    pub paypal_cert: String,
    /// The root of the fake's CA, self-signed: what a receiver trusts.
    pub root_cert: String,
    pub forger: SigningKey<Sha256>,
    /// The attacker's self-signed certificate, in PayPal's name.
    pub forger_cert: String,
    /// PayPal's key in a certificate from PayPal's CA that expired yesterday.
    pub expired_cert: String,
    /// PayPal's key in a certificate from PayPal's CA that is valid from tomorrow.
    pub not_yet_valid_cert: String,
    /// The attacker's key in PayPal's name, from the attacker's own root, served with it.
    pub unknown_ca_cert: String,
    /// The attacker's key in PayPal's name, from an intermediate the attacker made with the
    /// names of PayPal's intermediate and root, served with it.
    pub lookalike_cert: String,
}

/// The keys, generated once per test process: a 2048-bit RSA key takes a noticeable moment to
/// generate, and every fake in the process may share them.
pub(super) async fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    if let Some(keys) = KEYS.get() {
        return keys;
    }
    tokio::task::spawn_blocking(|| KEYS.get_or_init(Keys::generate))
        .await
        .expect("generate the fake PayPal's keys")
}

const PAYPAL_SUBJECT: &str =
    "CN=messageverificationcerts.sandbox.paypal.com,O=PayPal Inc.,L=San Jose,ST=California,C=US";
const ROOT_SUBJECT: &str = "CN=Fake PayPal Test Root CA,O=hostdeck-fakes";
const INTERMEDIATE_SUBJECT: &str = "CN=Fake PayPal Test Issuing CA,O=hostdeck-fakes";
const FORGER_ROOT_SUBJECT: &str = "CN=Forger Root CA,O=Not PayPal";
const DAY: Duration = Duration::from_secs(24 * 3600);

impl Keys {
    fn generate() -> Keys {
        // Four keys at once: each takes a while, and the machine has more than one core.
        let mut keys: Vec<SigningKey<Sha256>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4).map(|_| scope.spawn(signing_key)).collect();
            workers
                .into_iter()
                .map(|worker| worker.join().expect("generate an RSA key"))
                .collect()
        });
        let (Some(intermediate), Some(root), Some(forger), Some(paypal)) =
            (keys.pop(), keys.pop(), keys.pop(), keys.pop())
        else {
            panic!("four keys were generated");
        };
        let name = |text: &str| Name::from_str(text).expect("a certificate name");
        let now = SystemTime::now();
        let from_now = Validity {
            not_before: time(now - Duration::from_secs(3600)),
            not_after: time(now + 365 * DAY),
        };
        let years = Validity {
            not_before: time(now - 365 * DAY),
            not_after: time(now + 10 * 365 * DAY),
        };
        let root_cert = issue(Profile::Root, ROOT_SUBJECT, &root, years, &root);
        let intermediate_cert = issue(
            Profile::SubCA {
                issuer: name(ROOT_SUBJECT),
                path_len_constraint: Some(0),
            },
            INTERMEDIATE_SUBJECT,
            &intermediate,
            years,
            &root,
        );
        let leaf = |key: &SigningKey<Sha256>, validity: Validity, issuer: &str, by| {
            issue(
                leaf_profile(name(issuer)),
                PAYPAL_SUBJECT,
                key,
                validity,
                by,
            )
        };
        let genuine = leaf(&paypal, from_now, INTERMEDIATE_SUBJECT, &intermediate);
        let expired = leaf(
            &paypal,
            Validity {
                not_before: time(now - 30 * DAY),
                not_after: time(now - DAY),
            },
            INTERMEDIATE_SUBJECT,
            &intermediate,
        );
        let not_yet_valid = leaf(
            &paypal,
            Validity {
                not_before: time(now + DAY),
                not_after: time(now + 30 * DAY),
            },
            INTERMEDIATE_SUBJECT,
            &intermediate,
        );
        let forger_root = issue(Profile::Root, FORGER_ROOT_SUBJECT, &forger, years, &forger);
        let unknown_ca = leaf(&forger, from_now, FORGER_ROOT_SUBJECT, &forger);
        let lookalike_intermediate = issue(
            Profile::SubCA {
                issuer: name(ROOT_SUBJECT),
                path_len_constraint: Some(0),
            },
            INTERMEDIATE_SUBJECT,
            &forger,
            years,
            &forger,
        );
        let lookalike = leaf(&forger, from_now, INTERMEDIATE_SUBJECT, &forger);
        Keys {
            paypal_cert: format!("{genuine}{intermediate_cert}"),
            root_cert,
            expired_cert: format!("{expired}{intermediate_cert}"),
            not_yet_valid_cert: format!("{not_yet_valid}{intermediate_cert}"),
            unknown_ca_cert: format!("{unknown_ca}{forger_root}"),
            lookalike_cert: format!("{lookalike}{lookalike_intermediate}"),
            paypal,
            forger_cert: self_signed(&forger, PAYPAL_SUBJECT),
            forger,
        }
    }
}

fn signing_key() -> SigningKey<Sha256> {
    let key = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("generate an RSA key");
    SigningKey::<Sha256>::new(key)
}

fn time(at: SystemTime) -> Time {
    Time::try_from(at).expect("a certificate time")
}

/// A TLS leaf issued by `issuer`, as PayPal's message-verification certificates are.
fn leaf_profile(issuer: Name) -> Profile {
    Profile::Leaf {
        issuer,
        enable_key_agreement: false,
        enable_key_encipherment: true,
    }
}

/// A certificate for `key` named `subject`, signed by `by`, as PEM. Leaves carry the name as a
/// DNS name too, and the TLS server and client usages, as a public CA's TLS certificate does.
fn issue(
    profile: Profile,
    subject: &str,
    key: &SigningKey<Sha256>,
    validity: Validity,
    by: &SigningKey<Sha256>,
) -> String {
    let is_leaf = matches!(profile, Profile::Leaf { .. });
    let subject_name = Name::from_str(subject).expect("a certificate subject");
    let public_key =
        SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).expect("encode the public key");
    let serial: u32 = rand::random::<u32>() | 1;
    let mut builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        subject_name,
        public_key,
        by,
    )
    .expect("start a certificate");
    if is_leaf {
        let host = subject
            .trim_start_matches("CN=")
            .split(',')
            .next()
            .unwrap_or_default();
        builder
            .add_extension(&SubjectAltName(vec![GeneralName::DnsName(
                Ia5String::new(host).expect("a DNS name"),
            )]))
            .expect("add the DNS name");
        builder
            .add_extension(&ExtendedKeyUsage(vec![
                ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1"),
                ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.2"),
            ]))
            .expect("add the key usages");
    }
    builder
        .build::<Signature>()
        .expect("sign the certificate")
        .to_pem(LineEnding::LF)
        .expect("encode the certificate")
}

/// A self-signed certificate for `key`, valid from now for a year, as PEM.
fn self_signed(key: &SigningKey<Sha256>, subject: &str) -> String {
    let subject = Name::from_str(subject).expect("a certificate subject");
    let public_key =
        SubjectPublicKeyInfoOwned::from_key(key.verifying_key()).expect("encode the public key");
    let serial: u32 = rand::random::<u32>() | 1;
    let validity = Validity::from_now(Duration::from_secs(365 * 24 * 3600)).expect("a validity");
    let profile = Profile::Leaf {
        issuer: subject.clone(),
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        subject,
        public_key,
        key,
    )
    .expect("start a certificate");
    builder
        .build::<Signature>()
        .expect("sign the certificate")
        .to_pem(LineEnding::LF)
        .expect("encode the certificate")
}

/// The certificates the fake serves on its own host, each at its own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Served {
    Genuine,
    Expired,
    NotYetValid,
    UnknownCa,
    SelfSigned,
    Lookalike,
}

impl Served {
    pub(super) const ALL: [Served; 6] = [
        Served::Genuine,
        Served::Expired,
        Served::NotYetValid,
        Served::UnknownCa,
        Served::SelfSigned,
        Served::Lookalike,
    ];

    /// The id it is served at: PayPal's certificate id, and a suffix for the others.
    pub(super) fn id(self, cert_id: &str) -> String {
        let suffix = match self {
            Served::Genuine => return cert_id.to_owned(),
            Served::Expired => "expired",
            Served::NotYetValid => "not-yet-valid",
            Served::UnknownCa => "unknown-ca",
            Served::SelfSigned => "self-signed",
            Served::Lookalike => "lookalike",
        };
        format!("{cert_id}-{suffix}")
    }

    pub(super) fn pem(self, keys: &Keys) -> &str {
        match self {
            Served::Genuine => &keys.paypal_cert,
            Served::Expired => &keys.expired_cert,
            Served::NotYetValid => &keys.not_yet_valid_cert,
            Served::UnknownCa => &keys.unknown_ca_cert,
            Served::SelfSigned => &keys.forger_cert,
            Served::Lookalike => &keys.lookalike_cert,
        }
    }
}

/// Starts the "other host" that serves the attacker's certificate at any path.
pub(super) async fn spawn_foreign_host(shared: &Arc<Shared>) -> Running {
    let recorder = shared.foreign_recorder.clone();
    let pem = shared.keys.forger_cert.clone();
    let log = recorder.clone();
    let router = Router::new().fallback(move |request: Request| {
        let log = log.clone();
        let pem = pem.clone();
        async move {
            log.record(Call {
                method: request.method().clone(),
                uri: request.uri().to_string(),
                headers: request.headers().clone(),
                body: Value::Null,
                problems: Vec::new(),
            });
            ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response()
        }
    });
    server::spawn(router, &recorder).await
}

/// One webhook POST the fake sent, and what the receiver answered.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    /// The headers sent, PayPal's `PAYPAL-*` among them.
    pub headers: Vec<(String, String)>,
    /// The exact bytes sent.
    pub body: Vec<u8>,
    /// The receiver's status; 0 when it did not answer.
    pub status: u16,
    /// The receiver's answer, or why there was none.
    pub answer: String,
}

impl Delivery {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn transmission_id(&self) -> &str {
        self.header("PAYPAL-TRANSMISSION-ID").unwrap_or_default()
    }

    /// Whether PayPal would count it delivered (any 2xx) and stop retrying.
    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// One way to get a webhook wrong. Each is a delivery a receiver must refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgery {
    /// Signed by another key, naming PayPal's genuine certificate.
    OtherKey,
    /// No `PAYPAL-TRANSMISSION-SIG` header.
    MissingSignature,
    /// The signature cut to half its length.
    TruncatedSignature,
    /// Genuinely signed, then one byte of the body changed (a digit of the amount if there is
    /// one, so the body stays valid JSON and says more money).
    BodyChanged,
    /// Signed by the attacker's key, with `PAYPAL-CERT-URL` on another host that serves the
    /// attacker's certificate: only a receiver that keeps to its allow-list refuses it.
    ForeignCertUrl,
    /// As `ForeignCertUrl`, but the URL starts with the genuine host as user info
    /// (`http://127.0.0.1:PORT@localhost:OTHER/...`), which fools a prefix check.
    CertUrlUserinfo,
    /// Genuinely signed, but for another webhook id.
    WrongWebhookId,
    /// Signed by PayPal's key, naming a certificate for that key from PayPal's CA that expired
    /// yesterday (served on PayPal's host).
    ExpiredCert,
    /// As `ExpiredCert`, with a certificate that is valid only from tomorrow.
    NotYetValidCert,
    /// Signed by the attacker's key, naming a certificate on PayPal's host in PayPal's name
    /// from the attacker's own root, which comes along in the PEM.
    UnknownCaCert,
    /// Signed by the attacker's key, naming the attacker's self-signed certificate in PayPal's
    /// name on PayPal's host.
    SelfSignedCert,
    /// Signed by the attacker's key, naming a chain on PayPal's host through an intermediate
    /// with the names of PayPal's intermediate and root, made with the attacker's key.
    LookalikeChain,
}

impl Forgery {
    pub const ALL: [Forgery; 12] = [
        Forgery::OtherKey,
        Forgery::MissingSignature,
        Forgery::TruncatedSignature,
        Forgery::BodyChanged,
        Forgery::ForeignCertUrl,
        Forgery::CertUrlUserinfo,
        Forgery::WrongWebhookId,
        Forgery::ExpiredCert,
        Forgery::NotYetValidCert,
        Forgery::UnknownCaCert,
        Forgery::SelfSignedCert,
        Forgery::LookalikeChain,
    ];

    /// Whether its signature matches the key of the certificate it names: only trust in the
    /// certificate itself (its chain and dates) tells it from a genuine delivery.
    pub fn needs_a_trusted_certificate(self) -> bool {
        matches!(
            self,
            Forgery::ExpiredCert
                | Forgery::NotYetValidCert
                | Forgery::UnknownCaCert
                | Forgery::SelfSignedCert
                | Forgery::LookalikeChain
        )
    }
}

/// A transmission ready to send.
pub(super) struct Signed {
    transmission_id: String,
    time: String,
    signature: Option<String>,
    cert_url: String,
    body: Vec<u8>,
}

/// What PayPal signs.
fn message(transmission_id: &str, time: &str, webhook_id: &str, body: &[u8]) -> String {
    const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    format!(
        "{transmission_id}|{time}|{webhook_id}|{}",
        CRC32.checksum(body)
    )
}

fn signature(key: &SigningKey<Sha256>, message: &str) -> String {
    STANDARD.encode(key.sign(message.as_bytes()).to_bytes())
}

/// A transmission id shaped like PayPal's (a time-based UUID).
fn transmission_id() -> String {
    format!(
        "{}-{}-11f0-{}-{}",
        books::hex(8),
        books::hex(4),
        books::hex(4),
        books::hex(12)
    )
}

fn body_of(event: &Value) -> Vec<u8> {
    serde_json::to_vec(event).expect("serialise a webhook event")
}

pub(super) fn sign(shared: &Shared, event: &Value, webhook_id: &str) -> Signed {
    allowed_by_spec(|| sign_once(shared, event, webhook_id))
}

/// The verify API's spec takes only signatures that start with a letter or digit
/// (`^(?!\d+$)\w+\S+`), and base64 may start with `+` or `/`. A signature is fixed by its
/// message, so a fresh transmission id is drawn until the spec allows it (one in 32 needs it).
fn allowed_by_spec(mut attempt: impl FnMut() -> Signed) -> Signed {
    loop {
        let signed = attempt();
        let allowed = signed
            .signature
            .as_deref()
            .is_none_or(|signature| signature.starts_with(|c: char| c.is_ascii_alphanumeric()));
        if allowed {
            return signed;
        }
    }
}

fn sign_once(shared: &Shared, event: &Value, webhook_id: &str) -> Signed {
    let body = body_of(event);
    let transmission_id = transmission_id();
    let time = books::now();
    let signature = signature(
        &shared.keys.paypal,
        &message(&transmission_id, &time, webhook_id, &body),
    );
    Signed {
        transmission_id,
        time,
        signature: Some(signature),
        cert_url: shared.cert_url(),
        body,
    }
}

pub(super) fn forge(shared: &Shared, forgery: Forgery, event: &Value, webhook_id: &str) -> Signed {
    allowed_by_spec(|| forge_once(shared, forgery, event, webhook_id))
}

fn forge_once(shared: &Shared, forgery: Forgery, event: &Value, webhook_id: &str) -> Signed {
    let mut signed = sign_once(shared, event, webhook_id);
    let foreign_path = format!("/v1/notifications/certs/{}", shared.cert_id);
    let foreign = shared.foreign_url.get().map_or("", String::as_str);
    let by_forger = |signed: &Signed| {
        Some(signature(
            &shared.keys.forger,
            &message(
                &signed.transmission_id,
                &signed.time,
                webhook_id,
                &signed.body,
            ),
        ))
    };
    match forgery {
        Forgery::OtherKey => signed.signature = by_forger(&signed),
        Forgery::MissingSignature => signed.signature = None,
        Forgery::TruncatedSignature => {
            signed.signature = signed
                .signature
                .map(|full| full[..full.len() / 2].to_owned());
        }
        Forgery::BodyChanged => change_one_byte(&mut signed.body),
        Forgery::ForeignCertUrl => {
            signed.signature = by_forger(&signed);
            signed.cert_url = format!("{foreign}{foreign_path}");
        }
        Forgery::CertUrlUserinfo => {
            signed.signature = by_forger(&signed);
            let genuine_host = shared.base_url().trim_start_matches("http://");
            let foreign_host = foreign.trim_start_matches("http://");
            signed.cert_url = format!("http://{genuine_host}@{foreign_host}{foreign_path}");
        }
        Forgery::WrongWebhookId => {
            let other = format!("{}X", books::resource_id());
            signed.signature = Some(signature(
                &shared.keys.paypal,
                &message(&signed.transmission_id, &signed.time, &other, &signed.body),
            ));
        }
        Forgery::ExpiredCert => signed.cert_url = shared.served_url(Served::Expired),
        Forgery::NotYetValidCert => signed.cert_url = shared.served_url(Served::NotYetValid),
        Forgery::UnknownCaCert => {
            signed.signature = by_forger(&signed);
            signed.cert_url = shared.served_url(Served::UnknownCa);
        }
        Forgery::SelfSignedCert => {
            signed.signature = by_forger(&signed);
            signed.cert_url = shared.served_url(Served::SelfSigned);
        }
        Forgery::LookalikeChain => {
            signed.signature = by_forger(&signed);
            signed.cert_url = shared.served_url(Served::Lookalike);
        }
    }
    signed
}

/// Changes one byte: a digit of the first amount when there is one.
fn change_one_byte(body: &mut [u8]) {
    let needle = b"\"value\":\"";
    let amount = body
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|start| start + needle.len())
        .filter(|&index| body.get(index).is_some_and(u8::is_ascii_digit));
    let index = amount
        .or_else(|| body.iter().position(u8::is_ascii_digit))
        .or_else(|| body.iter().position(u8::is_ascii_alphabetic))
        .expect("a webhook body with something to change");
    body[index] = match body[index] {
        b'9' => b'8',
        b'z' | b'Z' => body[index] - 1,
        other => other + 1,
    };
}

pub(super) async fn send(
    shared: &Shared,
    http: &reqwest::Client,
    url: &str,
    signed: Signed,
) -> Delivery {
    shared
        .books()
        .transmissions
        .insert(signed.transmission_id.clone(), signed.body.clone());
    let mut headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        (
            "User-Agent".to_owned(),
            "PayPal/AUHD-214.0-58609581".to_owned(),
        ),
        ("Correlation-Id".to_owned(), books::hex(13)),
        ("PAYPAL-TRANSMISSION-ID".to_owned(), signed.transmission_id),
        ("PAYPAL-TRANSMISSION-TIME".to_owned(), signed.time),
        ("PAYPAL-CERT-URL".to_owned(), signed.cert_url),
        ("PAYPAL-AUTH-ALGO".to_owned(), "SHA256withRSA".to_owned()),
    ];
    if let Some(signature) = signed.signature {
        headers.push(("PAYPAL-TRANSMISSION-SIG".to_owned(), signature));
    }
    let delivery = Delivery {
        url: url.to_owned(),
        headers,
        body: signed.body,
        status: 0,
        answer: String::new(),
    };
    resend(http, &delivery).await
}

pub(super) async fn resend(http: &reqwest::Client, delivery: &Delivery) -> Delivery {
    let mut request = http.post(&delivery.url).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (0, format!("no answer: {error}")),
    };
    Delivery {
        status,
        answer,
        ..delivery.clone()
    }
}

/// An event as PayPal wraps a resource.
pub(super) fn event(
    shared: &Shared,
    event_type: &str,
    resource_type: &str,
    resource: Value,
) -> Value {
    let id = format!("WH-{}-{}", books::resource_id(), books::resource_id());
    let base = shared.base_url();
    let amount = &resource["amount"];
    let what = match event_type {
        "PAYMENT.CAPTURE.COMPLETED" => "Payment completed",
        "PAYMENT.CAPTURE.REFUNDED" => "A capture payment was refunded",
        "PAYMENT.CAPTURE.REVERSED" => "A capture payment was reversed",
        "CHECKOUT.ORDER.APPROVED" => "An order has been approved by buyer",
        other => other,
    };
    let summary = match (amount["value"].as_str(), amount["currency_code"].as_str()) {
        (Some(value), Some(currency)) => format!("{what} for {value} {currency}"),
        _ => what.to_owned(),
    };
    let event = json!({
        "id": id,
        "event_version": "1.0",
        "create_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "resource_type": resource_type,
        "resource_version": "2.0",
        "event_type": event_type,
        "summary": summary,
        "resource": resource,
        "links": [
            {"href": format!("{base}/v1/notifications/webhooks-events/{id}"), "rel": "self", "method": "GET"},
            {"href": format!("{base}/v1/notifications/webhooks-events/{id}/resend"), "rel": "resend", "method": "POST"},
        ],
    });
    let problems = specs().webhooks.check_response(
        &axum::http::Method::GET,
        &format!("/v1/notifications/webhooks-events/{id}"),
        200,
        &event,
    );
    assert!(
        problems.is_empty(),
        "the fake built an event its spec does not allow: {problems:?}"
    );
    event
}

pub(super) fn capture_event(shared: &Shared, event_type: &str, capture_id: &str) -> Value {
    let resource = {
        let books = shared.books();
        let capture = books
            .captures
            .get(capture_id)
            .unwrap_or_else(|| panic!("the fake PayPal has no capture {capture_id}"));
        books.capture_json(capture, shared.base_url(), true)
    };
    check_resource(&format!("/v2/payments/captures/{capture_id}"), &resource);
    event(shared, event_type, "capture", resource)
}

pub(super) fn refund_event(shared: &Shared, event_type: &str, refund_id: &str) -> Value {
    let resource = {
        let books = shared.books();
        let refund = books
            .refunds
            .get(refund_id)
            .unwrap_or_else(|| panic!("the fake PayPal has no refund {refund_id}"));
        books.refund_json(refund, shared.base_url())
    };
    check_resource(&format!("/v2/payments/refunds/{refund_id}"), &resource);
    event(shared, event_type, "refund", resource)
}

pub(super) fn order_event(shared: &Shared, event_type: &str, order_id: &str) -> Value {
    let resource = {
        let books = shared.books();
        let order = books
            .orders
            .get(order_id)
            .unwrap_or_else(|| panic!("the fake PayPal has no order {order_id}"));
        books.order_json(order, shared.base_url())
    };
    check_resource(&format!("/v2/checkout/orders/{order_id}"), &resource);
    event(shared, event_type, "checkout-order", resource)
}

/// An event's resource must read as the API's own `GET` of it would.
fn check_resource(path: &str, resource: &Value) {
    let spec = super::spec_for(path).expect("a documented resource");
    let problems = spec.check_response(&axum::http::Method::GET, path, 200, resource);
    assert!(
        problems.is_empty(),
        "the fake built a webhook resource its spec does not allow: {problems:?}"
    );
}

impl Shared {
    /// `POST /v1/notifications/verify-webhook-signature`: SUCCESS only for a transmission
    /// signed by the fake's key, for a registered webhook, naming the fake's certificate.
    pub(super) fn verify_webhook_signature(&self, ex: &Exchange) -> Reply {
        let request = ex.json.clone().unwrap_or_default();
        let status = if self.verifies(&request) {
            "SUCCESS"
        } else {
            "FAILURE"
        };
        Reply::Json(StatusCode::OK, json!({"verification_status": status}))
    }

    fn verifies(&self, request: &Value) -> bool {
        let field = |name: &str| request[name].as_str().unwrap_or_default();
        let (transmission_id, time, webhook_id) = (
            field("transmission_id"),
            field("transmission_time"),
            field("webhook_id"),
        );
        if field("auth_algo") != "SHA256withRSA" || field("cert_url") != self.cert_url() {
            return false;
        }
        let Ok(bytes) = STANDARD.decode(field("transmission_sig")) else {
            return false;
        };
        let Ok(signature) = Signature::try_from(bytes.as_slice()) else {
            return false;
        };
        let books = self.books();
        if !books.webhooks.contains(webhook_id) {
            return false;
        }
        let event = &request["webhook_event"];
        // The bytes PayPal sent when the event is the one delivered, and a re-serialisation
        // otherwise (which verifies only if it happens to match the signed bytes).
        let mut candidates = Vec::new();
        if let Some(raw) = books.transmissions.get(transmission_id)
            && serde_json::from_slice::<Value>(raw).ok().as_ref() == Some(event)
        {
            candidates.push(raw.clone());
        }
        candidates.push(body_of(event));
        let key = self.keys.paypal.verifying_key();
        candidates.iter().any(|raw| {
            key.verify(
                message(transmission_id, time, webhook_id, raw).as_bytes(),
                &signature,
            )
            .is_ok()
        })
    }
}
