//! The fake PayPal, driven over HTTP the way hostdeck drives the real one.
//!
//! Webhook signatures are checked here independently of the fake's own code: the message is
//! rebuilt with a CRC-32 written out below, the certificate is fetched from the URL the delivery
//! names and parsed by webpki, and the signature is checked with ring.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use super::*;
use crate::server::{Recorder, Running};

const WEBHOOK_ID: &str = "1JE4291016473214C";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

async fn token(paypal: &FakePaypal) -> String {
    let answer: Value = http()
        .post(format!("{}/v1/oauth2/token", paypal.base_url()))
        .basic_auth(paypal.client_id(), Some(paypal.secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token JSON");
    answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

/// A request to the REST API with a token; answers (status, JSON body).
async fn call(
    paypal: &FakePaypal,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut request = http()
        .request(method, format!("{}{path}", paypal.base_url()))
        .bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("a JSON body")
    };
    (status, json)
}

fn top_up(value: &str) -> Value {
    json!({
        "intent": "CAPTURE",
        "purchase_units": [{
            "reference_id": "topup-41",
            "custom_id": "topup-41",
            "invoice_id": "HD-41",
            "description": "hostdeck credit",
            "amount": {"currency_code": "USD", "value": value},
        }],
        "payment_source": {"paypal": {"experience_context": {
            "return_url": "http://127.0.0.1:9/billing/paypal/return?topup=41",
            "cancel_url": "http://127.0.0.1:9/billing/paypal/cancel",
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING",
        }}},
    })
}

async fn create(paypal: &FakePaypal, token: &str, value: &str) -> String {
    let (status, order) = call(
        paypal,
        token,
        reqwest::Method::POST,
        "/v2/checkout/orders",
        Some(top_up(value)),
        &[],
    )
    .await;
    assert_eq!(status, 201, "{order}");
    order["id"].as_str().expect("an order id").to_owned()
}

async fn capture(paypal: &FakePaypal, token: &str, order_id: &str) -> (u16, Value) {
    call(
        paypal,
        token,
        reqwest::Method::POST,
        &format!("/v2/checkout/orders/{order_id}/capture"),
        None,
        &[("content-type", "application/json")],
    )
    .await
}

/// A paid order: created, approved, captured. Answers the capture id.
async fn paid(paypal: &FakePaypal, token: &str, value: &str) -> String {
    let order_id = create(paypal, token, value).await;
    paypal.approve(&order_id).await;
    let (status, body) = capture(paypal, token, &order_id).await;
    assert_eq!(status, 201, "{body}");
    body["purchase_units"][0]["payments"]["captures"][0]["id"]
        .as_str()
        .expect("a capture id")
        .to_owned()
}

fn issue(body: &Value) -> &str {
    body["details"][0]["issue"].as_str().unwrap_or_default()
}

fn assert_no_problems(paypal: &FakePaypal) {
    assert_eq!(paypal.recorder().problems(), Vec::<String>::new());
}

#[tokio::test]
async fn a_token_is_issued_for_the_right_credentials_and_required_by_the_api() {
    let paypal = FakePaypal::start().await;
    let wrong = http()
        .post(format!("{}/v1/oauth2/token", paypal.base_url()))
        .basic_auth(paypal.client_id(), Some("not-the-secret"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request");
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let refused: Value = wrong.json().await.expect("JSON");
    assert_eq!(refused["error"], "invalid_client");

    let answer: Value = http()
        .post(format!("{}/v1/oauth2/token", paypal.base_url()))
        .basic_auth(paypal.client_id(), Some(paypal.secret()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["expires_in"].as_u64().is_some_and(|secs| secs > 0));
    let token = answer["access_token"].as_str().expect("a token").to_owned();

    let orders = "/v2/checkout/orders/NOSUCHORDER";
    let (status, body) = call(&paypal, "", reqwest::Method::GET, orders, None, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["name"], "AUTHENTICATION_FAILURE");
    let (status, _) = call(&paypal, "made-up", reqwest::Method::GET, orders, None, &[]).await;
    assert_eq!(status, 401);
    let (status, body) = call(&paypal, &token, reqwest::Method::GET, orders, None, &[]).await;
    assert_eq!((status, issue(&body)), (404, "INVALID_RESOURCE_ID"));

    paypal.expire_tokens();
    let (status, _) = call(&paypal, &token, reqwest::Method::GET, orders, None, &[]).await;
    assert_eq!(status, 401, "an expired token is refused");
    let fresh = self::token(&paypal).await;
    let (status, _) = call(&paypal, &fresh, reqwest::Method::GET, orders, None, &[]).await;
    assert_eq!(status, 404);

    assert_eq!(paypal.token_requests(), 3);
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn order_bodies_are_checked_against_the_spec() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let bad = json!({"intent": "CAPTURE", "purchase_units": [{"amount": {"currency_code": "USD", "value": 10}}]});
    let (status, body) = call(
        &paypal,
        &token,
        reqwest::Method::POST,
        "/v2/checkout/orders",
        Some(bad),
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["name"], "INVALID_REQUEST");
    let problems = paypal.recorder().problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("/purchase_units/0/amount/value"),
        "{problems:?}"
    );
    assert!(paypal.orders().is_empty());

    let plain = http()
        .post(format!(
            "{}/v2/checkout/orders/X/capture",
            paypal.base_url()
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("capture");
    assert_eq!(plain.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(paypal.recorder().problems().len(), 2);
}

#[tokio::test]
async fn the_same_request_id_gives_the_same_order() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let headers = [
        ("paypal-request-id", "topup-41-order"),
        ("prefer", "return=representation"),
    ];
    let post = |body| {
        call(
            &paypal,
            &token,
            reqwest::Method::POST,
            "/v2/checkout/orders",
            Some(body),
            &headers,
        )
    };
    let (first_status, first) = post(top_up("10.00")).await;
    let (second_status, second) = post(top_up("10.00")).await;
    assert_eq!((first_status, second_status), (201, 200));
    assert_eq!(first["id"], second["id"]);
    assert_eq!(first["purchase_units"][0]["custom_id"], "topup-41");
    assert_eq!(paypal.orders().len(), 1);
    let order = &paypal.orders()[0];
    assert_eq!(order.amount, Money::new("USD", "10.00"));
    assert_eq!(order.request_id.as_deref(), Some("topup-41-order"));
    assert_no_problems(&paypal);

    let (_, third) = post(top_up("99.00")).await;
    assert_eq!(
        third["id"], first["id"],
        "PayPal answers with the first order"
    );
    assert_eq!(
        paypal.recorder().problems().len(),
        1,
        "a reused id is flagged"
    );
}

#[tokio::test]
async fn an_approved_order_is_captured_once() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let (_, created) = call(
        &paypal,
        &token,
        reqwest::Method::POST,
        "/v2/checkout/orders",
        Some(top_up("10.00")),
        &[],
    )
    .await;
    assert_eq!(created["status"], "CREATED");
    let order_id = created["id"].as_str().expect("an id");
    let approve = created["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|link| link["rel"] == "approve")
        .and_then(|link| link["href"].as_str())
        .expect("an approve link");
    assert_eq!(approve, paypal.approve_url(order_id));

    let page = http()
        .get(approve)
        .send()
        .await
        .expect("the approve page")
        .text()
        .await
        .expect("HTML");
    assert!(page.contains("id=\"pay\"") && page.contains("id=\"cancel\""));
    assert!(page.contains("10.00 USD"));

    let back = paypal.approve(order_id).await;
    assert!(
        back.starts_with("http://127.0.0.1:9/billing/paypal/return?topup=41&token="),
        "{back}"
    );
    assert!(back.contains(&format!("token={order_id}")) && back.contains("PayerID="));
    assert_eq!(
        paypal.order(order_id).map(|order| order.status),
        Some(OrderStatus::Approved)
    );

    let (status, captured) = capture(&paypal, &token, order_id).await;
    assert_eq!(status, 201);
    assert_eq!(captured["status"], "COMPLETED");
    let first = &captured["purchase_units"][0]["payments"]["captures"][0];
    assert_eq!(first["status"], "COMPLETED");
    assert_eq!(
        first["amount"],
        json!({"currency_code": "USD", "value": "10.00"})
    );
    assert_eq!(first["custom_id"], "topup-41");
    let capture_id = first["id"].as_str().expect("a capture id");

    let (status, again) = capture(&paypal, &token, order_id).await;
    assert_eq!(status, 422);
    assert_eq!(again["name"], "UNPROCESSABLE_ENTITY");
    assert_eq!(issue(&again), "ORDER_ALREADY_CAPTURED");

    let (status, read) = call(
        &paypal,
        &token,
        reqwest::Method::GET,
        &format!("/v2/payments/captures/{capture_id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["status"], "COMPLETED");
    assert_eq!(
        read["supplementary_data"]["related_ids"]["order_id"],
        order_id
    );
    let (_, order) = call(
        &paypal,
        &token,
        reqwest::Method::GET,
        &format!("/v2/checkout/orders/{order_id}"),
        None,
        &[],
    )
    .await;
    assert_eq!(order["status"], "COMPLETED");
    assert_eq!(
        order["purchase_units"][0]["payments"]["captures"][0]["id"],
        capture_id
    );
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn a_capture_before_approval_is_refused() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let order_id = create(&paypal, &token, "5.00").await;
    let (status, body) = capture(&paypal, &token, &order_id).await;
    assert_eq!((status, issue(&body)), (422, "ORDER_NOT_APPROVED"));
    assert_eq!(
        paypal.order(&order_id).map(|order| order.status),
        Some(OrderStatus::Created)
    );
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn captures_turn_out_as_the_test_says() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    paypal.next_capture(CaptureOutcome::Pending);
    paypal.next_capture(CaptureOutcome::Declined);
    paypal.next_capture(CaptureOutcome::DifferentAmount(Money::new("EUR", "10.00")));
    paypal.next_capture(CaptureOutcome::InstrumentDeclined);

    let mut seen = Vec::new();
    for _ in 0..3 {
        let order_id = create(&paypal, &token, "10.00").await;
        paypal.approve(&order_id).await;
        let (status, body) = capture(&paypal, &token, &order_id).await;
        assert_eq!(status, 201, "{body}");
        seen.push(body["purchase_units"][0]["payments"]["captures"][0].clone());
    }
    assert_eq!(seen[0]["status"], "PENDING");
    assert_eq!(seen[0]["status_details"]["reason"], "PENDING_REVIEW");
    assert_eq!(seen[1]["status"], "DECLINED");
    assert_eq!(seen[2]["status"], "COMPLETED");
    assert_eq!(
        seen[2]["amount"],
        json!({"currency_code": "EUR", "value": "10.00"})
    );

    let order_id = create(&paypal, &token, "10.00").await;
    paypal.approve(&order_id).await;
    let (status, body) = capture(&paypal, &token, &order_id).await;
    assert_eq!((status, issue(&body)), (422, "INSTRUMENT_DECLINED"));

    let pending = seen[0]["id"].as_str().expect("an id");
    paypal.complete_capture(pending);
    let (_, read) = call(
        &paypal,
        &token,
        reqwest::Method::GET,
        &format!("/v2/payments/captures/{pending}"),
        None,
        &[],
    )
    .await;
    assert_eq!(read["status"], "COMPLETED");
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn refunds_are_partial_then_full_and_never_more() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let capture_id = paid(&paypal, &token, "10.00").await;
    let refund = |body: Option<Value>, request_id: &'static str| {
        let path = format!("/v2/payments/captures/{capture_id}/refund");
        let token = token.clone();
        let paypal = &paypal;
        async move {
            call(
                paypal,
                &token,
                reqwest::Method::POST,
                &path,
                body,
                &[
                    ("content-type", "application/json"),
                    ("paypal-request-id", request_id),
                ],
            )
            .await
        }
    };
    let (status, part) = refund(
        Some(json!({"amount": {"currency_code": "USD", "value": "4.00"}, "note_to_payer": "Unused days"})),
        "refund-1",
    )
    .await;
    assert_eq!(status, 201, "{part}");
    assert_eq!(part["status"], "COMPLETED");
    assert_eq!(part["amount"]["value"], "4.00");
    let up = part["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|link| link["rel"] == "up")
        .and_then(|link| link["href"].as_str())
        .expect("an up link");
    assert!(up.ends_with(&format!("/v2/payments/captures/{capture_id}")));
    assert_eq!(
        paypal.capture(&capture_id).map(|c| c.status),
        Some(CaptureStatus::PartiallyRefunded)
    );

    let (status, same) = refund(
        Some(json!({"amount": {"currency_code": "USD", "value": "4.00"}, "note_to_payer": "Unused days"})),
        "refund-1",
    )
    .await;
    assert_eq!(
        (status, &same["id"]),
        (201, &part["id"]),
        "a retried refund is not a second one"
    );

    let (status, body) = refund(
        Some(json!({"amount": {"currency_code": "USD", "value": "6.01"}})),
        "refund-2",
    )
    .await;
    assert_eq!((status, issue(&body)), (422, "REFUND_AMOUNT_EXCEEDED"));
    let (status, body) = refund(
        Some(json!({"amount": {"currency_code": "EUR", "value": "1.00"}})),
        "refund-3",
    )
    .await;
    assert_eq!(
        (status, issue(&body)),
        (422, "REFUND_CAPTURE_CURRENCY_MISMATCH")
    );

    let (status, rest) = refund(None, "refund-4").await;
    assert_eq!(status, 201);
    assert_eq!(rest["amount"]["value"], "6.00");
    let capture = paypal.capture(&capture_id).expect("the capture");
    assert_eq!(capture.status, CaptureStatus::Refunded);
    assert_eq!(capture.refund_ids.len(), 2);
    let (status, body) = refund(None, "refund-5").await;
    assert_eq!((status, issue(&body)), (422, "CAPTURE_FULLY_REFUNDED"));
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn cancel_sends_the_buyer_to_the_cancel_url() {
    let paypal = FakePaypal::start().await;
    let token = token(&paypal).await;
    let legacy = json!({
        "intent": "CAPTURE",
        "purchase_units": [{"amount": {"currency_code": "USD", "value": "3.00"}}],
        "application_context": {"return_url": "http://127.0.0.1:9/ok", "cancel_url": "http://127.0.0.1:9/no"},
    });
    let (_, order) = call(
        &paypal,
        &token,
        reqwest::Method::POST,
        "/v2/checkout/orders",
        Some(legacy),
        &[],
    )
    .await;
    let order_id = order["id"].as_str().expect("an id");
    let back = paypal.cancel(order_id).await;
    assert_eq!(back, format!("http://127.0.0.1:9/no?token={order_id}"));
    assert_eq!(
        paypal.order(order_id).map(|o| o.status),
        Some(OrderStatus::Created)
    );
    assert_no_problems(&paypal);
}

/// Webhooks as a receiver gets them: headers and raw bytes.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    _running: Running,
}

impl Receiver {
    async fn start() -> Self {
        let got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
        let log = got.clone();
        let router = Router::new().route(
            "/webhooks/paypal",
            post(move |headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    log.lock().expect("the log").push((headers, body));
                    StatusCode::OK
                }
            }),
        );
        let running = crate::server::spawn(router, &Recorder::default()).await;
        Self {
            url: format!("{}/webhooks/paypal", running.base_url()),
            got,
            _running: running,
        }
    }

    fn last(&self) -> (HeaderMap, Bytes) {
        self.got
            .lock()
            .expect("the log")
            .last()
            .cloned()
            .expect("a delivery")
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it), written out so the check does not
/// share the fake's code.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// What a careful receiver does with a delivery: certificate only from the allowed host and
/// only if it chains to `root` (PEM) within its dates, message rebuilt from the raw bytes,
/// signature checked with the certificate's key. `None` leaves a check out.
async fn verify_offline(
    allowed: Option<&str>,
    root: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    webhook_id: &str,
) -> Result<(), String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .ok_or(format!("no {name}"))
    };
    if get("paypal-auth-algo")? != "SHA256withRSA" {
        return Err("unknown algorithm".into());
    }
    let cert_url = url::Url::parse(get("paypal-cert-url")?).map_err(|e| e.to_string())?;
    if let Some(allowed) = allowed {
        let allowed = url::Url::parse(allowed).map_err(|e| e.to_string())?;
        if cert_url.host_str() != allowed.host_str()
            || cert_url.port_or_known_default() != allowed.port_or_known_default()
            || !cert_url.username().is_empty()
            || cert_url.password().is_some()
        {
            return Err(format!("certificate host not allowed: {cert_url}"));
        }
    }
    let pem = reqwest::get(cert_url.as_str())
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let (der, intermediates) = chain.split_first().ok_or("no certificate")?;
    let cert = webpki::EndEntityCert::try_from(der).map_err(|e| e.to_string())?;
    if let Some(root) = root {
        let root = CertificateDer::from_pem_slice(root.as_bytes()).map_err(|e| e.to_string())?;
        let anchor = webpki::anchor_from_trusted_cert(&root).map_err(|e| e.to_string())?;
        cert.verify_for_usage(
            &[webpki::ring::RSA_PKCS1_2048_8192_SHA256],
            &[anchor],
            intermediates,
            rustls_pki_types::UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| format!("untrusted certificate: {e}"))?;
    }
    let signature = STANDARD
        .decode(get("paypal-transmission-sig")?)
        .map_err(|e| e.to_string())?;
    let message = format!(
        "{}|{}|{webhook_id}|{}",
        get("paypal-transmission-id")?,
        get("paypal-transmission-time")?,
        crc32(body)
    );
    cert.verify_signature(
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        message.as_bytes(),
        &signature,
    )
    .map_err(|e| format!("bad signature: {e}"))
}

#[tokio::test]
async fn delivered_webhooks_verify_offline_and_forgeries_do_not() {
    let paypal = FakePaypal::start().await;
    let receiver = Receiver::start().await;
    let token = token(&paypal).await;
    let capture_id = paid(&paypal, &token, "10.00").await;
    let event = paypal.capture_completed_event(&capture_id);
    assert_eq!(event["event_type"], "PAYMENT.CAPTURE.COMPLETED");
    assert_eq!(event["resource"]["id"], capture_id.as_str());
    assert!(event["resource"]["supplementary_data"]["related_ids"]["order_id"].is_string());
    let allowed = Some(paypal.base_url());
    let root = Some(paypal.root_pem());
    assert_eq!(
        paypal.cert_pem().matches("BEGIN CERTIFICATE").count(),
        2,
        "the leaf and its intermediate"
    );

    let delivery = paypal.deliver(&event, &receiver.url, WEBHOOK_ID).await;
    assert!(delivery.accepted(), "{delivery:?}");
    let (headers, body) = receiver.last();
    assert_eq!(body.as_ref(), delivery.body.as_slice());
    let received: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(received, event);
    verify_offline(allowed.as_deref(), root, &headers, &body, WEBHOOK_ID)
        .await
        .expect("a genuine delivery verifies");
    assert!(
        verify_offline(allowed.as_deref(), root, &headers, &body, "9WRONGWEBHOOK9")
            .await
            .is_err(),
        "the webhook id is part of what is signed"
    );

    for forgery in Forgery::ALL {
        paypal
            .deliver_forged(forgery, &event, &receiver.url, WEBHOOK_ID)
            .await;
        let (headers, body) = receiver.last();
        let outcome = verify_offline(allowed.as_deref(), root, &headers, &body, WEBHOOK_ID).await;
        assert!(outcome.is_err(), "{forgery:?} verified");
        if matches!(forgery, Forgery::ForeignCertUrl | Forgery::CertUrlUserinfo) {
            // Without the allow-list the attacker's certificate would vouch for the forgery.
            verify_offline(None, None, &headers, &body, WEBHOOK_ID)
                .await
                .unwrap_or_else(|e| {
                    panic!("{forgery:?} is a working attack without the allow-list: {e}")
                });
        }
        if forgery.needs_a_trusted_certificate() {
            // Refused for the certificate alone: without the chain and dates it verifies.
            let reason = outcome.err().unwrap_or_default();
            assert!(
                reason.starts_with("untrusted certificate"),
                "{forgery:?}: {reason}"
            );
            verify_offline(allowed.as_deref(), None, &headers, &body, WEBHOOK_ID)
                .await
                .unwrap_or_else(|e| {
                    panic!("{forgery:?} is a working attack without the chain check: {e}")
                });
        }
    }
    assert_eq!(paypal.foreign_cert_fetches(), 2);
    assert_eq!(
        paypal.cert_fetches(),
        7,
        "one per check that reached the allowed host"
    );

    let refund = paypal.refund_in_dashboard(&capture_id, Some(Money::new("USD", "2.50")));
    let refunded = paypal.capture_refunded_event(&refund.id);
    assert_eq!(refunded["resource"]["amount"]["value"], "2.50");
    assert!(
        refunded["resource"]["links"]
            .as_array()
            .expect("links")
            .iter()
            .any(|link| link["rel"] == "up"
                && link["href"]
                    .as_str()
                    .is_some_and(|href| href.ends_with(&capture_id)))
    );
    let reversal = paypal.reverse(&capture_id);
    assert_eq!(reversal.amount, Money::new("USD", "7.50"));
    let reversed = paypal.capture_reversed_event(&reversal.id);
    assert_eq!(reversed["event_type"], "PAYMENT.CAPTURE.REVERSED");
    let delivered = paypal.deliver(&reversed, &receiver.url, WEBHOOK_ID).await;
    let (headers, body) = receiver.last();
    verify_offline(allowed.as_deref(), root, &headers, &body, WEBHOOK_ID)
        .await
        .expect("a reversal verifies");
    let replayed = paypal.replay(&delivered).await;
    assert_eq!(replayed.transmission_id(), delivered.transmission_id());
    assert_eq!(receiver.got.lock().expect("the log").len(), 15);
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn the_verify_api_answers_success_only_for_genuine_deliveries() {
    let paypal = FakePaypal::start().await;
    paypal.register_webhook(WEBHOOK_ID);
    let receiver = Receiver::start().await;
    let token = token(&paypal).await;
    let order_id = create(&paypal, &token, "10.00").await;
    paypal.approve(&order_id).await;
    let event = paypal.order_approved_event(&order_id);
    assert_eq!(event["resource"]["status"], "APPROVED");

    let verify = |delivery: Delivery, webhook_id: &'static str| {
        let token = token.clone();
        let paypal = &paypal;
        async move {
            let header = |name: &str| delivery.header(name).unwrap_or_default().to_owned();
            let request = json!({
                "auth_algo": header("PAYPAL-AUTH-ALGO"),
                "cert_url": header("PAYPAL-CERT-URL"),
                "transmission_id": header("PAYPAL-TRANSMISSION-ID"),
                "transmission_sig": header("PAYPAL-TRANSMISSION-SIG"),
                "transmission_time": header("PAYPAL-TRANSMISSION-TIME"),
                "webhook_id": webhook_id,
                "webhook_event": serde_json::from_slice::<Value>(&delivery.body).expect("JSON"),
            });
            let (status, body) = call(
                paypal,
                &token,
                reqwest::Method::POST,
                "/v1/notifications/verify-webhook-signature",
                Some(request),
                &[],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            body["verification_status"]
                .as_str()
                .expect("a status")
                .to_owned()
        }
    };

    let genuine = paypal.deliver(&event, &receiver.url, WEBHOOK_ID).await;
    assert_eq!(verify(genuine.clone(), WEBHOOK_ID).await, "SUCCESS");
    assert_eq!(
        verify(genuine, "7UNREGISTERED7").await,
        "FAILURE",
        "a webhook id the merchant never registered"
    );
    for forgery in [
        Forgery::OtherKey,
        Forgery::TruncatedSignature,
        Forgery::BodyChanged,
        Forgery::ForeignCertUrl,
        Forgery::WrongWebhookId,
        Forgery::ExpiredCert,
        Forgery::UnknownCaCert,
    ] {
        let forged = paypal
            .deliver_forged(forgery, &event, &receiver.url, WEBHOOK_ID)
            .await;
        assert_eq!(verify(forged, WEBHOOK_ID).await, "FAILURE", "{forgery:?}");
    }
    assert_no_problems(&paypal);
}

#[tokio::test]
async fn a_refused_delivery_is_retried_until_accepted() {
    let paypal = FakePaypal::start().await;
    let receiver = Receiver::start().await;
    let token = token(&paypal).await;
    let capture_id = paid(&paypal, &token, "1.00").await;
    let event = paypal.capture_completed_event(&capture_id);
    let missing = format!("{}/nowhere", receiver.url);
    let refused = paypal
        .deliver_until_accepted(&event, &missing, WEBHOOK_ID, 3)
        .await;
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|delivery| delivery.status == 404));
    assert_ne!(refused[0].transmission_id(), refused[1].transmission_id());
    let accepted = paypal
        .deliver_until_accepted(&event, &receiver.url, WEBHOOK_ID, 3)
        .await;
    assert_eq!(accepted.len(), 1);
    assert_no_problems(&paypal);
}
