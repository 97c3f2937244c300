//! The REST side of the fake: one entry point that records every request, checks it against
//! the spec that documents it, routes it, and checks the answer against the same spec.
//!
//! The checks run in PayPal's order: authentication, media type, JSON syntax, schema, then the
//! business rules (approval, one capture per order, refund limits).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::books::{self, CaptureRecord, OrderRecord, StoredReply};
use super::{CaptureOutcome, CaptureStatus, Money, OrderStatus, Shared, spec_for, webhooks};
use crate::server::Call;
use crate::spec::Spec;

/// A request as the handlers see it, and what was found wrong with it.
pub(super) struct Exchange {
    pub method: Method,
    pub uri: String,
    pub path: String,
    pub headers: HeaderMap,
    pub raw: Bytes,
    /// The body as JSON; `None` when empty or not JSON.
    pub json: Option<Value>,
    pub problems: Vec<String>,
}

impl Exchange {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    pub fn query(&self, key: &str) -> Option<String> {
        let query = self.uri.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.into_owned())
    }

    pub fn form(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(&self.raw)
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.into_owned())
    }

    fn prefers_representation(&self) -> bool {
        self.header("prefer")
            .is_some_and(|prefer| prefer.contains("return=representation"))
    }

    fn into_call(self) -> Call {
        let body = match self.json {
            Some(json) => json,
            None if self.raw.is_empty() => Value::Null,
            None => Value::String(String::from_utf8_lossy(&self.raw).into_owned()),
        };
        Call {
            method: self.method,
            uri: self.uri,
            headers: self.headers,
            body,
            problems: self.problems,
        }
    }
}

pub(super) enum Reply {
    Json(StatusCode, Value),
    Html(StatusCode, String),
    SeeOther(String),
    Pem(String),
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Reply::Json(status, body) => (status, axum::Json(body)).into_response(),
            Reply::Html(status, page) => (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                page,
            )
                .into_response(),
            Reply::SeeOther(location) => {
                (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
            }
            Reply::Pem(pem) => {
                ([(header::CONTENT_TYPE, "application/x-pem-file")], pem).into_response()
            }
        }
    }
}

/// The one handler of the fake's router.
pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let raw = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let json = if raw.is_empty() {
        None
    } else {
        serde_json::from_slice(&raw).ok()
    };
    let mut exchange = Exchange {
        method: parts.method,
        uri: parts.uri.to_string(),
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        raw,
        json,
        problems: Vec::new(),
    };
    let reply = shared.answer(&mut exchange);
    if let (Reply::Json(status, body), Some(spec)) = (&reply, spec_for(&exchange.path)) {
        let found = spec.check_response(&exchange.method, &exchange.path, status.as_u16(), body);
        exchange.problems.extend(
            found
                .into_iter()
                .map(|problem| format!("the fake's own answer breaks the spec: {problem}")),
        );
    }
    shared.recorder.record(exchange.into_call());
    reply.into_response()
}

impl Shared {
    fn answer(&self, ex: &mut Exchange) -> Reply {
        let path = ex.path.clone();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (ex.method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "oauth2", "token"]) => self.token(ex),
            ("GET", ["v1", "notifications", "certs", cert_id]) => self.certificate(cert_id),
            ("GET", ["checkoutnow"]) => self.checkout_page(ex),
            ("POST", ["checkoutnow", "approve"]) => self.checkout_approve(ex),
            ("GET", ["checkoutnow", "cancel"]) => self.checkout_cancel(ex),
            ("GET", ["checkoutnow", "done"]) => self.checkout_done(),
            // What every browser asks of a site it shows: not a call to PayPal's API.
            ("GET", ["favicon.ico"]) => Reply::Html(StatusCode::NOT_FOUND, String::new()),
            _ => self.rest(ex, &segments),
        }
    }

    /// The calls the published specs document: all need a token.
    fn rest(&self, ex: &mut Exchange, segments: &[&str]) -> Reply {
        let Some(spec) = spec_for(&ex.path) else {
            return self.unknown(ex);
        };
        if !self.authenticated(ex) {
            return error(spec, ex, StatusCode::UNAUTHORIZED, None, None);
        }
        if ex.method == Method::POST
            && let Err(reply) = self.check_body(spec, ex)
        {
            return reply;
        }
        match (ex.method.as_str(), segments) {
            ("POST", ["v2", "checkout", "orders"]) => self.create_order(spec, ex),
            ("GET", ["v2", "checkout", "orders", id]) => self.get_order(spec, ex, id),
            ("POST", ["v2", "checkout", "orders", id, "capture"]) => {
                self.capture_order(spec, ex, id)
            }
            ("GET", ["v2", "payments", "captures", id]) => self.get_capture(spec, ex, id),
            ("POST", ["v2", "payments", "captures", id, "refund"]) => {
                self.refund_capture(spec, ex, id)
            }
            ("GET", ["v2", "payments", "refunds", id]) => self.get_refund(spec, ex, id),
            ("POST", ["v1", "notifications", "verify-webhook-signature"]) => {
                self.verify_webhook_signature(ex)
            }
            _ => self.unknown(ex),
        }
    }

    fn unknown(&self, ex: &mut Exchange) -> Reply {
        ex.problems.push(format!(
            "the fake PayPal has no endpoint {} {}",
            ex.method, ex.path
        ));
        Reply::Json(
            StatusCode::NOT_FOUND,
            json!({"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "debug_id": books::hex(13)}),
        )
    }

    fn authenticated(&self, ex: &Exchange) -> bool {
        ex.header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|token| self.books().token_is_valid(token))
    }

    /// PayPal refuses a POST without `Content-Type: application/json` (415) even when the body
    /// is empty, a body that is not JSON (400), and a body its schema does not allow (400).
    fn check_body(&self, spec: &Spec, ex: &mut Exchange) -> Result<(), Reply> {
        let json_type = ex
            .header("content-type")
            .is_some_and(|value| value.trim_start().starts_with("application/json"));
        if !json_type {
            ex.problems.push(format!(
                "{} {} without Content-Type: application/json (PayPal answers 415)",
                ex.method, ex.path
            ));
            return Err(error(
                spec,
                ex,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                None,
                None,
            ));
        }
        if !ex.raw.is_empty() && ex.json.is_none() {
            ex.problems
                .push(format!("{} {}: the body is not JSON", ex.method, ex.path));
            let issue = first_documented(
                spec,
                ex,
                400,
                &["MALFORMED_REQUEST_JSON", "INVALID_PARAMETER_SYNTAX"],
            );
            return Err(error(spec, ex, StatusCode::BAD_REQUEST, Some(issue), None));
        }
        let found = spec.check_request(&ex.method, &ex.path, ex.json.as_ref());
        if found.is_empty() {
            return Ok(());
        }
        let first = found.first().cloned();
        ex.problems.extend(found);
        let issue = first_documented(
            spec,
            ex,
            400,
            &["INVALID_PARAMETER_SYNTAX", "INVALID_PARAMETER_VALUE"],
        );
        Err(error(spec, ex, StatusCode::BAD_REQUEST, Some(issue), first))
    }

    /// The stored answer to an earlier request with the same `PayPal-Request-Id`, if any.
    fn replay(&self, spec: &Spec, ex: &mut Exchange) -> Option<Reply> {
        let request_id = ex.header("paypal-request-id")?.to_owned();
        let key = (format!("{} {}", ex.method, ex.path), request_id.clone());
        let books = self.books();
        let stored = books.replies.get(&key)?;
        if stored.request != ex.json {
            ex.problems.push(format!(
                "PayPal-Request-Id {request_id} was sent again with a different body; PayPal \
                 answers with the first request's result"
            ));
        }
        // PayPal answers a replay with 200 where the operation documents one.
        let documented_ok = spec
            .operation(&ex.method, &ex.path)
            .is_some_and(|operation| !operation.spec["responses"]["200"].is_null());
        let status = if documented_ok { 200 } else { stored.status };
        Some(Reply::Json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            stored.body.clone(),
        ))
    }

    fn remember(&self, ex: &Exchange, status: StatusCode, body: &Value) {
        if let Some(request_id) = ex.header("paypal-request-id") {
            self.books().replies.insert(
                (format!("{} {}", ex.method, ex.path), request_id.to_owned()),
                StoredReply {
                    request: ex.json.clone(),
                    status: status.as_u16(),
                    body: body.clone(),
                },
            );
        }
    }

    /// `POST /v1/oauth2/token`: HTTP Basic `client_id:secret`, form
    /// `grant_type=client_credentials`.
    fn token(&self, ex: &mut Exchange) -> Reply {
        let form_type = ex.header("content-type").is_some_and(|value| {
            value
                .trim_start()
                .starts_with("application/x-www-form-urlencoded")
        });
        if !form_type {
            ex.problems.push(
                "the token request is not a form (Content-Type: \
                 application/x-www-form-urlencoded)"
                    .into(),
            );
        }
        let credentials = ex
            .header("authorization")
            .and_then(|value| value.strip_prefix("Basic "))
            .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
            .and_then(|decoded| String::from_utf8(decoded).ok());
        let known = credentials
            .as_deref()
            .and_then(|text| text.split_once(':'))
            .is_some_and(|(id, secret)| id == self.client_id && secret == self.secret);
        if !known {
            return Reply::Json(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client", "error_description": "Client Authentication failed"}),
            );
        }
        match ex.form("grant_type").as_deref() {
            Some("client_credentials") => {}
            Some(other) => {
                ex.problems
                    .push(format!("the token request asks for grant_type {other}"));
                return Reply::Json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "unsupported_grant_type", "error_description": format!("{other} is not a supported grant type")}),
                );
            }
            None => {
                ex.problems
                    .push("the token request has no grant_type".into());
                return Reply::Json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}),
                );
            }
        }
        let token = format!("A21AA{}", books::token_text(92));
        let mut books = self.books();
        let lifetime = books.token_lifetime;
        books
            .tokens
            .insert(token.clone(), std::time::Instant::now() + lifetime);
        Reply::Json(
            StatusCode::OK,
            json!({
                "scope": "https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/applications/webhooks https://uri.paypal.com/services/payments/orders/client-side-integration",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": lifetime.as_secs(),
                "nonce": format!("{}{}", books::now(), books::token_text(43)),
            }),
        )
    }

    fn create_order(&self, spec: &Spec, ex: &mut Exchange) -> Reply {
        if let Some(reply) = self.replay(spec, ex) {
            return reply;
        }
        let body = ex.json.clone().unwrap_or_default();
        if body["intent"] != "CAPTURE" {
            ex.problems.push(format!(
                "hostdeck captures at once: intent {} is not CAPTURE",
                body["intent"]
            ));
            return error(
                spec,
                ex,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("UNSUPPORTED_INTENT"),
                Some("/intent".into()),
            );
        }
        let units = body["purchase_units"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if units.len() != 1 {
            ex.problems.push(format!(
                "the fake PayPal handles one purchase unit, not {}",
                units.len()
            ));
        }
        let unit = units.into_iter().next().unwrap_or_default();
        let Some(amount) = Money::from_json(&unit["amount"]) else {
            return error(
                spec,
                ex,
                StatusCode::BAD_REQUEST,
                Some("MISSING_REQUIRED_PARAMETER"),
                Some("/purchase_units/0/amount".into()),
            );
        };
        if let Err(issue) = amount.parse_minor() {
            return error(
                spec,
                ex,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(issue.issue()),
                Some("/purchase_units/0/amount/value".into()),
            );
        }
        let experience = &body["payment_source"]["paypal"]["experience_context"];
        let legacy = &body["application_context"];
        let url_of = |key: &str| {
            experience[key]
                .as_str()
                .or_else(|| legacy[key].as_str())
                .map(str::to_owned)
        };
        let now = books::now();
        let order = OrderRecord {
            id: books::resource_id(),
            status: OrderStatus::Created,
            unit,
            amount,
            return_url: url_of("return_url"),
            cancel_url: url_of("cancel_url"),
            request_id: ex.header("paypal-request-id").map(str::to_owned),
            capture_id: None,
            created: now.clone(),
            updated: now,
        };
        let base = self.base_url();
        let answer = {
            let mut books = self.books();
            let answer = if ex.prefers_representation() {
                books.order_json(&order, base)
            } else {
                books.created_order_json(&order, base)
            };
            books.order_ids.push(order.id.clone());
            books.orders.insert(order.id.clone(), order);
            answer
        };
        self.remember(ex, StatusCode::CREATED, &answer);
        Reply::Json(StatusCode::CREATED, answer)
    }

    fn get_order(&self, spec: &Spec, ex: &Exchange, id: &str) -> Reply {
        let books = self.books();
        match books.orders.get(id) {
            Some(order) => Reply::Json(StatusCode::OK, books.order_json(order, self.base_url())),
            None => not_found(spec, ex),
        }
    }

    fn capture_order(&self, spec: &Spec, ex: &mut Exchange, id: &str) -> Reply {
        if let Some(reply) = self.replay(spec, ex) {
            return reply;
        }
        let base = self.base_url().to_owned();
        let mut guard = self.books();
        let books = &mut *guard;
        let Some(order) = books.orders.get(id) else {
            return not_found(spec, ex);
        };
        match order.status {
            OrderStatus::Created => {
                return error(
                    spec,
                    ex,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("ORDER_NOT_APPROVED"),
                    None,
                );
            }
            OrderStatus::Completed => {
                return error(
                    spec,
                    ex,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("ORDER_ALREADY_CAPTURED"),
                    None,
                );
            }
            OrderStatus::Approved => {}
        }
        let outcome = books
            .next_captures
            .pop_front()
            .unwrap_or(CaptureOutcome::Completed);
        let (status, amount) = match outcome {
            CaptureOutcome::InstrumentDeclined => {
                return error(
                    spec,
                    ex,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Some("INSTRUMENT_DECLINED"),
                    None,
                );
            }
            CaptureOutcome::Completed => (CaptureStatus::Completed, order.amount.clone()),
            CaptureOutcome::Pending => (CaptureStatus::Pending, order.amount.clone()),
            CaptureOutcome::Declined => (CaptureStatus::Declined, order.amount.clone()),
            CaptureOutcome::DifferentAmount(amount) => (CaptureStatus::Completed, amount),
        };
        let capture = CaptureRecord::new(order, status, amount);
        let capture_id = capture.id.clone();
        books.captures.insert(capture_id.clone(), capture);
        let Some(order) = books.orders.get_mut(id) else {
            return not_found(spec, ex);
        };
        order.status = OrderStatus::Completed;
        order.capture_id = Some(capture_id);
        order.updated = books::now();
        let order = &books.orders[id];
        let answer = if ex.prefers_representation() {
            books.order_json(order, &base)
        } else {
            books.captured_order_json(order, &base)
        };
        drop(guard);
        self.remember(ex, StatusCode::CREATED, &answer);
        Reply::Json(StatusCode::CREATED, answer)
    }

    fn get_capture(&self, spec: &Spec, ex: &Exchange, id: &str) -> Reply {
        let books = self.books();
        match books.captures.get(id) {
            Some(capture) => Reply::Json(
                StatusCode::OK,
                books.capture_json(capture, self.base_url(), true),
            ),
            None => not_found(spec, ex),
        }
    }

    fn get_refund(&self, spec: &Spec, ex: &Exchange, id: &str) -> Reply {
        let books = self.books();
        match books.refunds.get(id) {
            Some(refund) => Reply::Json(StatusCode::OK, books.refund_json(refund, self.base_url())),
            None => not_found(spec, ex),
        }
    }

    /// `POST /v2/payments/captures/{id}/refund`: an empty body refunds what is left, an
    /// `amount` refunds part of it.
    fn refund_capture(&self, spec: &Spec, ex: &mut Exchange, id: &str) -> Reply {
        if let Some(reply) = self.replay(spec, ex) {
            return reply;
        }
        let body = ex.json.clone().unwrap_or_default();
        let mut books = self.books();
        let Some(capture) = books.captures.get(id) else {
            return not_found(spec, ex);
        };
        let refusal = match capture.status {
            CaptureStatus::Pending => Some("PENDING_CAPTURE"),
            CaptureStatus::Declined | CaptureStatus::Failed => Some("REFUND_NOT_ALLOWED"),
            CaptureStatus::Refunded => Some("CAPTURE_FULLY_REFUNDED"),
            CaptureStatus::Completed | CaptureStatus::PartiallyRefunded => None,
        };
        if let Some(issue) = refusal {
            return error(
                spec,
                ex,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(issue),
                None,
            );
        }
        let left = capture.amount.minor_units().unwrap_or(0) - books.refunded_minor(capture);
        let amount = match Money::from_json(&body["amount"]) {
            None => capture.amount.with_minor(left),
            Some(asked) => {
                if asked.currency_code != capture.amount.currency_code {
                    return error(
                        spec,
                        ex,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        Some("REFUND_CAPTURE_CURRENCY_MISMATCH"),
                        Some("/amount/currency_code".into()),
                    );
                }
                match asked.parse_minor() {
                    Err(issue) => {
                        return error(
                            spec,
                            ex,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            Some(issue.issue()),
                            Some("/amount/value".into()),
                        );
                    }
                    Ok(minor) if minor > left => {
                        return error(
                            spec,
                            ex,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            Some("REFUND_AMOUNT_EXCEEDED"),
                            Some("/amount/value".into()),
                        );
                    }
                    Ok(_) => asked,
                }
            }
        };
        let text = |key: &str| body[key].as_str().map(str::to_owned);
        let refund_id = books.add_refund(
            id,
            amount,
            text("custom_id"),
            text("invoice_id"),
            text("note_to_payer"),
        );
        let answer = books.refund_json(&books.refunds[&refund_id], self.base_url());
        drop(books);
        self.remember(ex, StatusCode::CREATED, &answer);
        Reply::Json(StatusCode::CREATED, answer)
    }

    fn certificate(&self, cert_id: &str) -> Reply {
        let served = webhooks::Served::ALL
            .into_iter()
            .find(|served| served.id(&self.cert_id) == cert_id);
        if let Some(served) = served {
            Reply::Pem(served.pem(self.keys).to_owned())
        } else {
            Reply::Json(
                StatusCode::NOT_FOUND,
                json!({"name": "RESOURCE_NOT_FOUND", "message": "The specified resource does not exist.", "debug_id": books::hex(13)}),
            )
        }
    }
}

fn not_found(spec: &Spec, ex: &Exchange) -> Reply {
    error(
        spec,
        ex,
        StatusCode::NOT_FOUND,
        Some("INVALID_RESOURCE_ID"),
        None,
    )
}

/// PayPal's error body. The name, message and issue description come from the spec, so the
/// answer is exactly what the spec documents for this operation and status.
fn error(
    spec: &Spec,
    ex: &Exchange,
    status: StatusCode,
    issue: Option<&str>,
    field: Option<String>,
) -> Reply {
    let code = status.as_u16();
    let schema = &spec.doc()["components"]["schemas"][format!("error_{code}")]["properties"];
    let name = schema["name"]["enum"][0].as_str().unwrap_or(match code {
        400 => "INVALID_REQUEST",
        401 => "AUTHENTICATION_FAILURE",
        404 => "RESOURCE_NOT_FOUND",
        415 => "UNSUPPORTED_MEDIA_TYPE",
        422 => "UNPROCESSABLE_ENTITY",
        _ => "INTERNAL_SERVER_ERROR",
    });
    let message = schema["message"]["enum"][0]
        .as_str()
        .unwrap_or("The request failed.");
    let mut body = json!({
        "name": name,
        "message": message,
        "debug_id": books::hex(13),
    });
    if let Some(issue) = issue {
        let mut detail = json!({"issue": issue});
        if let Some(description) = issue_description(spec, ex, code, issue) {
            detail["description"] = json!(description);
        }
        if let Some(field) = field {
            detail["field"] = json!(field);
            detail["location"] = json!("body");
        }
        body["details"] = json!([detail]);
        body["links"] = json!([{
            "href": format!("https://developer.paypal.com/api/rest/reference/orders/v2/errors/#{issue}"),
            "rel": "information_link",
            "method": "GET",
        }]);
    }
    Reply::Json(status, body)
}

/// The issues the operation documents for `status`, each with its fixed description if any.
fn documented_issues(spec: &Spec, ex: &Exchange, status: u16) -> Vec<(String, Option<String>)> {
    let Some(operation) = spec.operation(&ex.method, &ex.path) else {
        return Vec::new();
    };
    let resolve = |value: &Value| -> Value {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            Some(pointer) => spec.doc().pointer(pointer).cloned().unwrap_or_default(),
            None => value.clone(),
        }
    };
    let response = resolve(&operation.spec["responses"][status.to_string()]);
    let schema = &response["content"]["application/json"]["schema"];
    let parts = match schema["allOf"].as_array() {
        Some(parts) => parts.clone(),
        None => vec![schema.clone()],
    };
    parts
        .iter()
        .map(resolve)
        .filter_map(|part| {
            part["properties"]["details"]["items"]["anyOf"]
                .as_array()
                .cloned()
        })
        .flatten()
        .filter_map(|item| {
            let title = item["title"].as_str()?.to_owned();
            let description = item["properties"]["description"]["enum"][0]
                .as_str()
                .map(str::to_owned);
            Some((title, description))
        })
        .collect()
}

fn issue_description(spec: &Spec, ex: &Exchange, status: u16, issue: &str) -> Option<String> {
    documented_issues(spec, ex, status)
        .into_iter()
        .find(|(title, _)| title == issue)
        .and_then(|(_, description)| description)
}

/// The first of `candidates` the operation documents for `status`, so the error stays inside
/// the spec's list.
fn first_documented(
    spec: &Spec,
    ex: &Exchange,
    status: u16,
    candidates: &[&'static str],
) -> &'static str {
    let documented = documented_issues(spec, ex, status);
    candidates
        .iter()
        .find(|candidate| documented.iter().any(|(title, _)| title == *candidate))
        .or(candidates.first())
        .copied()
        .unwrap_or("INVALID_PARAMETER_SYNTAX")
}
