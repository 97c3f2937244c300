//! Attacks on the JSON API: forged, stale and malformed session tokens; a read-only API key
//! trying every write route the router has; a burst over an API key's rate limit; telling known
//! emails from unknown ones by the answer or its timing; and fishing for stored secrets.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Timelike, Utc};
use hostdeck_core::Role;
use hostdeck_core::auth::api_keys;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::policy::Scope;
use hostdeck_e2e::app::{PASSWORD, TestApp, answer, client_from};
use hostdeck_e2e::db::TestDb;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};

/// The signing secret of the platform in the token tests, so they can forge well-signed tokens.
const SIGNING_SECRET: &str = "the platform's signing secret in this test";

const READ_ONLY: &[Scope] = &[
    Scope::ReadUser,
    Scope::ReadBilling,
    Scope::ReadServers,
    Scope::ReadTickets,
];

fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// `claims` signed with `secret` under `algorithm`, the way a forger with that secret would.
fn signed(algorithm: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("a signed token")
}

/// A token with any header, signed with HMAC-SHA256 and `secret`.
fn hand_signed(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", encode_part(header), encode_part(claims));
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )
    .expect("a signature");
    format!("{message}.{signature}")
}

/// `claims` with `changes` laid over them.
fn with(claims: &Value, changes: Value) -> Value {
    let mut claims = claims.clone();
    for (name, value) in changes.as_object().expect("an object") {
        if value.is_null() {
            claims.as_object_mut().expect("claims").remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    claims
}

#[tokio::test]
async fn forged_expired_and_dead_session_tokens_are_all_refused() {
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.auth.jwt_secret = Some(SecretString::from(SIGNING_SECRET));
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;
    let admin = app.user("admin@example.com", Role::Admin).await;
    let ivan = app.user("ivan@example.com", Role::Customer).await;
    let judy = app.user("judy@example.com", Role::Customer).await;
    let kim = app.user("kim@example.com", Role::Customer).await;
    let kim_key = app.api_key(&kim, READ_ONLY).await;

    // Ivan's real token works, and a well-signed copy of its claims works too: the forger's
    // tokens below differ from a good one in one thing each.
    assert_eq!(app.get_as(&ivan.token, "/api/v1/me").await.status(), 200);
    let real = claims_of(&ivan.token);
    let resigned = signed(Algorithm::HS256, &real, SIGNING_SECRET.as_bytes());
    assert_eq!(app.get_as(&resigned, "/api/v1/me").await.status(), 200);
    let (header, payload, signature) = {
        let parts: Vec<&str> = ivan.token.split('.').collect();
        (parts[0], parts[1], parts[2])
    };
    let now = Utc::now().timestamp();
    let mut forged: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, token: String| forged.push((what.to_owned(), token));

    for alg in ["none", "None", "NONE", "nOnE"] {
        let none = encode_part(&json!({ "alg": alg, "typ": "JWT" }));
        add(
            &format!("alg {alg}, unsigned"),
            format!("{none}.{payload}."),
        );
        add(
            &format!("alg {alg}, with the real signature"),
            format!("{none}.{payload}.{signature}"),
        );
        add(
            &format!("alg {alg}, with a junk signature"),
            format!("{none}.{payload}.c2lnbmF0dXJl"),
        );
    }
    add(
        "HS256 with the wrong secret",
        signed(Algorithm::HS256, &real, b"not the platform's secret"),
    );
    add(
        "HS256 with a public key as the secret",
        signed(
            Algorithm::HS256,
            &real,
            b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEd0BNLAGkH1CYXvmz9lp3CqN7kBRi\n-----END PUBLIC KEY-----\n",
        ),
    );
    add(
        "an RS256 header over an HMAC signature",
        hand_signed(
            &json!({ "alg": "RS256", "typ": "JWT" }),
            &real,
            SIGNING_SECRET.as_bytes(),
        ),
    );
    add(
        "HS512 with the real secret",
        signed(Algorithm::HS512, &real, SIGNING_SECRET.as_bytes()),
    );
    add(
        "HS384 with the real secret",
        signed(Algorithm::HS384, &real, SIGNING_SECRET.as_bytes()),
    );
    let resign = |changes: Value| {
        signed(
            Algorithm::HS256,
            &with(&real, changes),
            SIGNING_SECRET.as_bytes(),
        )
    };
    add(
        "expired",
        resign(json!({ "iat": now - 7200, "nbf": now - 7200, "exp": now - 60 })),
    );
    add("not valid yet", resign(json!({ "nbf": now + 3600 })));
    add("issued in the future", resign(json!({ "iat": now + 3600 })));
    add("without an expiry", resign(json!({ "exp": null })));
    add(
        "for another audience",
        resign(json!({ "aud": "someone-else" })),
    );
    add("from another issuer", resign(json!({ "iss": "evil" })));
    add(
        "claiming two-factor the session never passed",
        resign(json!({ "mfa": true })),
    );
    add(
        "well signed, naming another user",
        resign(json!({ "sub": judy.user.id.to_string() })),
    );
    add(
        "well signed, for a session that does not exist",
        resign(json!({ "sid": "AAAAAAAAAAAAAAAAAAAAAA" })),
    );
    add("signature stripped", format!("{header}.{payload}."));
    add("signature segment gone", format!("{header}.{payload}"));
    add(
        "payload names another user, signature kept",
        format!(
            "{header}.{}.{signature}",
            encode_part(&with(&real, json!({ "sub": judy.user.id.to_string() })))
        ),
    );
    add(
        "payload adds an admin role, signature kept",
        format!(
            "{header}.{}.{signature}",
            encode_part(&with(
                &real,
                json!({ "role": "admin", "roles": ["admin"], "mfa": true })
            ))
        ),
    );
    add("a fourth segment", format!("{}.extra", ivan.token));
    add("garbage", "garbage".into());
    add("three dots of garbage", "a.b.c".into());
    add("a key-shaped string", format!("hd_{}", "A".repeat(28)));

    // Ivan signs in on another device and signs out there: that token is over, and so is a
    // fresh signature over its claims.
    let other = app.login("ivan@example.com", PASSWORD).await;
    let logout = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&other), None)
        .await;
    assert_eq!(logout.status(), 204);
    add("the token of a signed-out session", other.clone());
    add(
        "a signed-out session, signed afresh",
        signed(
            Algorithm::HS256,
            &claims_of(&other),
            SIGNING_SECRET.as_bytes(),
        ),
    );

    // Judy changes her password: her earlier tokens end, and a token for her new session
    // dated before the change is refused too.
    let (status, changed) = answer(
        app.post_json(
            Some(&judy.token),
            "/api/v1/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": "amber lantern quietly 77" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let judy_new = changed["token"].as_str().expect("a token").to_owned();
    assert_eq!(app.get_as(&judy_new, "/api/v1/me").await.status(), 200);
    add("a token from before a password change", judy.token.clone());
    let backdated = with(
        &claims_of(&judy_new),
        json!({ "iat": now - 600, "nbf": now - 600 }),
    );
    add(
        "the new session's claims, dated before the change",
        signed(Algorithm::HS256, &backdated, SIGNING_SECRET.as_bytes()),
    );

    // The admin disables Kim: her token and her key stop at once.
    let (status, body) = answer(
        app.send(
            Method::PATCH,
            &format!("/api/v1/admin/users/{}", kim.user.id.0),
            Some(&admin.token),
            Some(&json!({ "status": "disabled" })),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("disabled")),
        "{body}"
    );
    add("the token of a disabled user", kim.token.clone());
    add("the API key of a disabled user", kim_key.clone());

    assert!(forged.len() >= 12);
    let mut bodies = BTreeSet::new();
    let mut accepted = Vec::new();
    for (what, token) in &forged {
        let response = app.get_as(token, "/api/v1/me").await;
        let challenge = response.headers().get("www-authenticate").cloned();
        let (status, body) = answer(response).await;
        if status != 401 {
            accepted.push(format!("{what}: {status} {body}"));
            continue;
        }
        assert_eq!(
            challenge.as_ref().and_then(|v| v.to_str().ok()),
            Some("Bearer error=\"invalid_token\""),
            "{what}"
        );
        bodies.insert(body.to_string());
    }
    assert!(
        accepted.is_empty(),
        "tokens that should have been refused with 401:\n{}",
        accepted.join("\n")
    );
    assert_eq!(
        bodies.len(),
        1,
        "every refusal says the same, so none tells a forger what was wrong: {bodies:#?}"
    );

    // Malformed Authorization headers are refused before any handler runs.
    let malformed: [&[u8]; 5] = [
        b"Bearer ",
        b"Bearer",
        b"Basic aXZhbjpodW50ZXIy",
        b"bearer",
        "Bearer jwt-\u{e9}".as_bytes(),
    ];
    for value in malformed {
        let response = app
            .http
            .get(app.url("/api/v1/me"))
            .header(
                "authorization",
                reqwest::header::HeaderValue::from_bytes(value).expect("a header value"),
            )
            .send()
            .await
            .expect("GET");
        let value = String::from_utf8_lossy(value);
        assert_eq!(response.status(), 401, "Authorization: {value:?}");
    }

    // Claims a forger adds to a well-signed token grant nothing: roles come from the account.
    let boasting = resign(json!({ "role": "admin", "roles": ["admin"], "admin": true }));
    let (status, me) = answer(app.get_as(&boasting, "/api/v1/me").await).await;
    assert_eq!((status, &me["role"]), (200, &json!("customer")));
    assert_eq!(
        app.get_as(&boasting, "/api/v1/admin/users").await.status(),
        403
    );
    // And the tokens that were refused were refused for what they were, not because the
    // platform stopped answering.
    assert_eq!(app.get_as(&ivan.token, "/api/v1/me").await.status(), 200);
}

/// A write route: the method, as the OpenAPI document writes it, and the path template.
type Route = (String, String);

fn write_routes(doc: &Value) -> BTreeMap<Route, Value> {
    let mut routes = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["post", "put", "patch", "delete"] {
            if let Some(operation) = item.get(method) {
                routes.insert((method.to_owned(), path.clone()), operation.clone());
            }
        }
    }
    routes
}

/// A request body the route would accept, built from its schema, with plausible values.
fn example(doc: &Value, schema: &Value, field: &str) -> Value {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference
            .strip_prefix("#/components/schemas/")
            .expect("a local schema");
        return example(doc, &doc["components"]["schemas"][name], field);
    }
    for combinator in ["allOf", "oneOf", "anyOf"] {
        if let Some(choices) = schema[combinator].as_array() {
            let choice = choices
                .iter()
                .find(|choice| choice["type"] != "null")
                .expect("a non-null choice");
            return example(doc, choice, field);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null")
            .expect("a type"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match kind {
        "object" => Value::Object(
            schema["properties"]
                .as_object()
                .map(|properties| {
                    properties
                        .iter()
                        .map(|(name, property)| (name.clone(), example(doc, property, name)))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        "array" => json!([example(doc, &schema["items"], field)]),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        _ if schema["format"] == "date-time" => json!("2099-01-01T00:00:00Z"),
        _ => json!(match field {
            "email" => "someone.new@example.com",
            "password" | "new_password" | "current_password" => PASSWORD,
            "code" | "totp_code" => "123456",
            "scopes" => "read:user",
            "amount" => "1.00",
            "role" => "admin",
            "status" => "disabled",
            "priority" => "normal",
            _ => "written by a read-only key",
        }),
    }
}

/// The path with each `{param}` replaced by the id of a real thing, from `ids` keyed by the
/// collection the parameter is in (`/api/v1/api-keys` for `/api/v1/api-keys/{id}`).
fn fill(path: &str, ids: &BTreeMap<(&str, &str), i64>) -> String {
    let mut filled = String::new();
    let mut collection = String::new();
    for segment in path.split('/').skip(1) {
        match segment
            .strip_prefix('{')
            .and_then(|rest| rest.strip_suffix('}'))
        {
            Some(param) => {
                let id = ids.get(&(collection.as_str(), param)).unwrap_or_else(|| {
                    panic!("{path}: no real id for {{{param}}}; add one to the sweep")
                });
                filled.push_str(&format!("/{id}"));
            }
            None => filled.push_str(&format!("/{segment}")),
        }
        collection.push('/');
        collection.push_str(segment);
    }
    filled
}

/// Routes anyone may call, signed in or not: a key may call them like anyone else.
const PUBLIC_WRITES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/resend-verification"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/forgot-password"),
    ("post", "/api/v1/auth/reset-password"),
    // Anybody may ask; a signed-in caller (any key, no scope needed) asks as themselves.
    ("post", "/api/v1/ask"),
];

/// Write routes that exist today; the sweep must find at least these in the document.
const KNOWN_PROTECTED_WRITES: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/change-password"),
    ("post", "/api/v1/auth/2fa/enroll"),
    ("post", "/api/v1/auth/2fa/confirm"),
    ("post", "/api/v1/auth/2fa/disable"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/api-keys"),
    ("delete", "/api/v1/api-keys/{id}"),
    ("patch", "/api/v1/admin/users/{id}"),
    ("post", "/api/v1/admin/users/{id}/credits"),
    ("post", "/api/v1/admin/maintenance"),
    ("delete", "/api/v1/admin/maintenance"),
    ("post", "/api/v1/paypal/orders"),
    ("post", "/api/v1/paypal/orders/{id}/capture"),
    ("post", "/api/v1/ssh-keys"),
    ("delete", "/api/v1/ssh-keys/{id}"),
    ("put", "/api/v1/kb/articles/{slug}"),
    ("delete", "/api/v1/kb/articles/{slug}"),
];

#[tokio::test]
async fn a_read_only_key_is_refused_on_every_write_route() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let victim = app.user("victim@example.com", Role::Customer).await;
    let lou = app.user("lou@example.com", Role::Customer).await;
    let root = app.user("root@example.com", Role::Admin).await;
    // The admin has two-factor on, so the key's refusals come from its scopes alone.
    let (root_token, _) = app.turn_on_two_factor(&root.token).await;
    let keys = [
        (
            "a customer's read-only key",
            app.api_key(&lou, READ_ONLY).await,
        ),
        (
            "an admin's read-only key",
            app.api_key(&root, READ_ONLY).await,
        ),
    ];

    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("the OpenAPI document");
    let routes = write_routes(&doc);
    let public: BTreeSet<Route> = PUBLIC_WRITES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    let unsecured: BTreeSet<Route> = routes
        .iter()
        .filter(|(_, operation)| {
            // No security, or an empty requirement among them: callable without credentials.
            operation.get("security").is_none_or(|security| {
                security
                    .as_array()
                    .is_some_and(|ways| ways.iter().any(|way| way == &json!({})))
            })
        })
        .map(|(route, _)| route.clone())
        .collect();
    assert_eq!(
        unsecured, public,
        "the write routes documented without authentication are exactly the public ones"
    );
    for (method, path) in KNOWN_PROTECTED_WRITES {
        assert!(
            routes.contains_key(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is missing from the document"
        );
    }

    let mut refused = 0;
    let mut wrong = Vec::new();
    for (whose, key) in &keys {
        let (info, _) = app
            .core()
            .auth
            .api_keys
            .authenticate(key)
            .await
            .expect("look the key up")
            .expect("a live key");
        let ids = BTreeMap::from([
            (("/api/v1/admin/users", "id"), victim.user.id.0),
            (("/api/v1/api-keys", "id"), info.id),
            // Refused for the scope before any order is looked up.
            (("/api/v1/paypal/orders", "id"), 1),
            (("/api/v1/servers", "id"), 1),
            (("/api/v1/servers/{id}/power", "action"), 1),
            (("/api/v1/ssh-keys", "id"), 1),
            (("/api/v1/status/incidents", "id"), 1),
            (("/api/v1/tickets", "id"), 1),
            (("/api/v1/kb/articles", "slug"), 1),
        ]);
        assert_eq!(app.get_as(key, "/api/v1/me").await.status(), 200, "{whose}");
        for ((method, path), operation) in &routes {
            if public.contains(&(method.clone(), path.clone())) {
                continue;
            }
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            let body = schema.is_object().then(|| example(&doc, schema, ""));
            let method_name =
                Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            let (status, answer) = answer(
                app.send(method_name, &fill(path, &ids), Some(key), body.as_ref())
                    .await,
            )
            .await;
            if status != 403 {
                wrong.push(format!(
                    "{whose}: {method} {path} {body:?} -> {status} {answer}"
                ));
                continue;
            }
            refused += 1;
            if info.user == root.user.id {
                let message = answer["error"]["message"].as_str().unwrap_or_default();
                assert!(
                    message.contains("API key"),
                    "{whose}: {method} {path} is refused for the key's scopes: {message}"
                );
            }
        }
        assert_eq!(
            app.get_as(key, "/api/v1/me").await.status(),
            200,
            "{whose} still works after the sweep"
        );
    }
    assert!(
        wrong.is_empty(),
        "write routes a read-only key was not refused with 403:\n{}",
        wrong.join("\n")
    );
    assert_eq!(refused, 2 * (routes.len() - public.len()));

    // Nothing the sweep tried happened.
    let (_, victim_now) = answer(
        app.get_as(
            &root_token,
            &format!("/api/v1/admin/users/{}", victim.user.id.0),
        )
        .await,
    )
    .await;
    assert_eq!(
        (&victim_now["role"], &victim_now["status"]),
        (&json!("customer"), &json!("active"))
    );
    let (_, balance) = answer(app.get_as(&victim.token, "/api/v1/balance").await).await;
    assert_eq!(balance["micros"], 0);
    let (_, maintenance) = answer(app.get_as(&root_token, "/api/v1/admin/maintenance").await).await;
    assert_eq!(maintenance["enabled"], false);
    assert_eq!(app.get_as(&lou.token, "/api/v1/me").await.status(), 200);

    // The public routes need no authentication: with the key or without, they answer alike,
    // and never with 403.
    let (_, key) = &keys[0];
    let calls = [
        (
            "/api/v1/auth/register",
            json!({ "email": "newcomer@example.com", "password": PASSWORD }),
            202,
        ),
        (
            "/api/v1/auth/resend-verification",
            json!({ "email": "newcomer@example.com" }),
            202,
        ),
        (
            "/api/v1/auth/verify-email",
            json!({ "email": "newcomer@example.com", "code": "not-a-code" }),
            422,
        ),
        (
            "/api/v1/auth/login",
            json!({ "email": "lou@example.com", "password": PASSWORD }),
            200,
        ),
        (
            "/api/v1/auth/forgot-password",
            json!({ "email": "lou@example.com" }),
            202,
        ),
        (
            "/api/v1/auth/reset-password",
            json!({ "email": "lou@example.com", "code": "not-a-code", "new_password": "amber lantern quietly 77" }),
            422,
        ),
        (
            "/api/v1/ask",
            json!({ "question": "how do I top up my balance" }),
            200,
        ),
    ];
    let called: BTreeSet<Route> = calls
        .iter()
        .map(|(path, _, _)| ("post".to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(called, public, "every public write route is called");
    for (path, body, expected) in calls {
        let with_key = app.post_json(Some(key), path, &body).await.status();
        let without = app.post_json(None, path, &body).await.status();
        assert_ne!(with_key, 403, "{path}");
        assert_eq!(
            (with_key.as_u16(), without.as_u16()),
            (expected, expected),
            "{path}"
        );
    }
}

/// Waits, if need be, until at least `room` is left in the current UTC minute.
async fn wait_for_room_in_the_minute(room: Duration) {
    let now = Utc::now();
    let into = Duration::from_secs(u64::from(now.second()))
        + Duration::from_nanos(u64::from(now.nanosecond() % 1_000_000_000));
    if into + room > Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_secs(60) - into + Duration::from_millis(50)).await;
    }
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_gets_one_hundred_requests_a_minute() {
    let db = TestDb::sqlite().await;
    let app = Arc::new(TestApp::start(db.core_now().await).await);
    let mona = app.user("mona@example.com", Role::Customer).await;
    let key = app.api_key(&mona, &[Scope::ReadUser]).await;

    wait_for_room_in_the_minute(Duration::from_secs(10)).await;
    let minute = Utc::now().timestamp() / 60;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..150 {
        let (app, key) = (app.clone(), key.clone());
        burst.spawn(async move {
            let response = app.get_as(&key, "/api/v1/me").await;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let (_, body) = answer(response).await;
            (status, headers, body)
        });
    }
    let answers = burst.join_all().await;
    assert_eq!(
        Utc::now().timestamp() / 60,
        minute,
        "the burst must fit in one minute"
    );

    let ok: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == 200)
        .collect();
    let limited: Vec<_> = answers
        .iter()
        .filter(|(status, _, _)| *status == 429)
        .collect();
    assert_eq!(
        (ok.len(), limited.len()),
        (100, 50),
        "statuses: {:?}",
        answers
            .iter()
            .map(|(status, _, _)| status)
            .collect::<Vec<_>>()
    );
    let mut remaining = BTreeSet::new();
    for (_, headers, _) in &ok {
        assert_eq!(header(headers, "ratelimit-limit"), Some(100));
        let reset = header(headers, "ratelimit-reset").expect("RateLimit-Reset");
        assert!((1..=60).contains(&reset), "{reset}");
        remaining.insert(header(headers, "ratelimit-remaining").expect("RateLimit-Remaining"));
    }
    assert_eq!(
        remaining,
        (0..100).collect::<BTreeSet<u64>>(),
        "each allowed request counts down once"
    );
    for (_, headers, body) in &limited {
        let retry_after = header(headers, "retry-after").expect("Retry-After");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(header(headers, "ratelimit-limit"), Some(100));
        assert_eq!(header(headers, "ratelimit-remaining"), Some(0));
        assert_eq!(header(headers, "ratelimit-reset"), Some(retry_after));
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    }

    // Each key has its own allowance, and a session is not an API key.
    let second = app.api_key(&mona, &[Scope::ReadUser]).await;
    assert_eq!(app.get_as(&second, "/api/v1/me").await.status(), 200);
    assert_eq!(app.get_as(&mona.token, "/api/v1/me").await.status(), 200);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn sign_in_answers_alike_and_as_fast_for_unknown_and_known_emails() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    app.user("nina@example.com", Role::Customer).await;
    let known = json!({ "email": "nina@example.com", "password": "not ninas password" });
    let unknown = json!({ "email": "nobody@example.com", "password": "not ninas password" });

    // Two tries of each kind from each of 100 addresses, so no throttle is reached (5 failures
    // per account and address, 30 per address), interleaved so that load on the machine falls
    // on both kinds alike.
    const TRIES: usize = 200;
    let mut times = (Vec::with_capacity(TRIES), Vec::with_capacity(TRIES));
    let mut bodies = BTreeSet::new();
    let try_once = async |client: &reqwest::Client, body: &Value| {
        let started = Instant::now();
        let response = client
            .post(app.url("/api/v1/auth/login"))
            .json(body)
            .send()
            .await
            .expect("POST");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (started.elapsed(), status, text)
    };
    let warm_up = client_from(IpAddr::V4(Ipv4Addr::new(127, 9, 255, 1)));
    try_once(&warm_up, &known).await;
    try_once(&warm_up, &unknown).await;
    let started = Instant::now();
    for address in 0..TRIES / 2 {
        let octets = u8::try_from(address).expect("fewer than 256 addresses");
        let client = client_from(IpAddr::V4(Ipv4Addr::new(127, 9, 0, octets + 1)));
        for round in 0..2 {
            let known_first = (address + round) % 2 == 0;
            for is_known in [known_first, !known_first] {
                let (took, status, text) =
                    try_once(&client, if is_known { &known } else { &unknown }).await;
                assert_eq!(status, 401, "{text}");
                bodies.insert(text);
                if is_known {
                    times.0.push(took);
                } else {
                    times.1.push(took);
                }
            }
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(bodies.len(), 1, "one answer for both: {bodies:#?}");
    let (known, unknown) = (median(times.0), median(times.1));
    let (fast, slow) = (known.min(unknown), known.max(unknown));
    assert!(
        slow.as_secs_f64() <= fast.as_secs_f64() * 1.10,
        "median sign-in time: known email {known:?}, unknown {unknown:?} ({TRIES} tries each, {elapsed:?} in all)"
    );
}

#[tokio::test]
async fn secrets_never_leave_through_the_api() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let root = app.user("root@example.com", Role::Admin).await;
    let mia = app.user("mia@example.com", Role::Customer).await;
    let (root_token, root_secret) = app.turn_on_two_factor(&root.token).await;

    // Mia enrols: the secret is shown to her then, and never again.
    let (mia_token, mia_secret) = app.turn_on_two_factor(&mia.token).await;
    let (status, created) = answer(
        app.post_json(
            Some(&mia_token),
            "/api/v1/api-keys",
            &json!({ "name": "backup script", "scopes": ["read:user", "read:billing"] }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().expect("the key, once").to_owned();
    let key_id = created["api_key"]["id"].as_i64().expect("an id");

    // The platform does keep them, so looking for them below means something.
    let stored = app
        .core()
        .store()
        .auth()
        .user_auth(mia.user.id)
        .await
        .expect("read")
        .expect("mia");
    let password_hash = stored.password_hash.expect("a password hash");
    assert!(password_hash.starts_with("$argon2id$"));
    assert_eq!(stored.totp_secret.as_deref(), Some(mia_secret.as_str()));
    let key_hash = api_keys::hash(&key);
    assert!(
        app.core()
            .store()
            .auth()
            .api_key_by_hash(&key_hash)
            .await
            .expect("read")
            .is_some()
    );

    // Every GET route, as Mia, as her key, and as the admin, and the answers to writes that
    // touch these secrets.
    let doc: Value = app
        .get("/api/openapi.json")
        .await
        .json()
        .await
        .expect("the OpenAPI document");
    let ids = BTreeMap::from([
        (("/api/v1/admin/users", "id"), mia.user.id.0),
        (("/api/v1/api-keys", "id"), key_id),
        (("/api/v1/servers", "id"), 1),
        (("/api/v1/tickets", "id"), 1),
        (("/api/v1/kb/articles", "slug"), 1),
    ]);
    let mut seen = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if item.get("get").is_none() {
            continue;
        }
        let path = fill(path, &ids);
        for token in [&mia_token, &key, &root_token] {
            seen.push((
                format!("GET {path}"),
                app.get_as(token, &path).await.text().await.expect("text"),
            ));
        }
    }
    for (path, token) in [
        ("/api/v1/admin/users?search=mia", &root_token),
        ("/api/v1/api-keys", &mia_token),
    ] {
        seen.push((
            format!("GET {path}"),
            app.get_as(token, path).await.text().await.expect("text"),
        ));
    }
    let enrol_again = app
        .send(
            Method::POST,
            "/api/v1/auth/2fa/enroll",
            Some(&mia_token),
            None,
        )
        .await;
    assert_eq!(enrol_again.status(), 409);
    seen.push((
        "enrolling again".into(),
        enrol_again.text().await.expect("text"),
    ));
    let login = app
        .post_json(
            None,
            "/api/v1/auth/login",
            &json!({ "email": "mia@example.com", "password": PASSWORD }),
        )
        .await;
    seen.push(("signing in".into(), login.text().await.expect("text")));
    let patched = app
        .send(
            Method::PATCH,
            "/api/v1/me",
            Some(&mia_token),
            Some(&json!({ "display_name": "Mia" })),
        )
        .await;
    seen.push((
        "PATCH /api/v1/me".into(),
        patched.text().await.expect("text"),
    ));
    let admin_view = app
        .send(
            Method::PATCH,
            &format!("/api/v1/admin/users/{}", mia.user.id.0),
            Some(&root_token),
            Some(&json!({ "role": "customer" })),
        )
        .await;
    seen.push((
        "PATCH a user".into(),
        admin_view.text().await.expect("text"),
    ));
    assert!(seen.len() > 10);

    let secrets = [
        ("a password hash", "$argon2".to_owned()),
        ("Mia's password hash", password_hash),
        ("Mia's two-factor secret", mia_secret),
        ("the admin's two-factor secret", root_secret),
        ("the API key", key.clone()),
        ("the API key's hash", key_hash),
        ("a stored field name", "password_hash".to_owned()),
        ("a stored field name", "secret_hash".to_owned()),
        ("a stored field name", "totp_secret".to_owned()),
    ];
    for (what, body) in &seen {
        for (secret_name, secret) in &secrets {
            assert!(
                !body.contains(secret.as_str()),
                "{what} shows {secret_name}: {body}"
            );
        }
    }
}
