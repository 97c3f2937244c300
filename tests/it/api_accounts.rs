//! Accounts through the JSON API, as customers and staff live them: registering with an emailed
//! code, signing in, the profile, credit and its statement, changing and resetting a password,
//! two-factor, throttled guessing, answers that never tell whether an email has an account,
//! maintenance mode, and a verification email that outlives a mail server outage.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hostdeck_core::Role;
use hostdeck_core::auth::totp;
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::notify::OutboxWorker;
use hostdeck_e2e::app::{PASSWORD, TestApp, answer, client_from};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::mail::{code_in, link_param};
use hostdeck_e2e::on_both_engines;
use reqwest::Method;
use serde_json::{Value, json};

on_both_engines!(a_customer_registers_gets_credit_changes_password_and_signs_out);

/// The password people change to in these stories.
const NEW_PASSWORD: &str = "amber lantern quietly 77";

async fn login(app: &TestApp, body: Value) -> (u16, Value) {
    answer(app.post_json(None, "/api/v1/auth/login", &body).await).await
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    answer(app.get_as(token, path).await).await
}

async fn a_customer_registers_gets_credit_changes_password_and_signs_out(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("admin@example.com", Role::Admin).await;

    // Carol registers and is sent a code.
    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/register",
            &json!({ "email": "carol@example.com", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let mail = app
        .mailbox
        .wait_for("carol@example.com", "verification code")
        .await;
    let code = code_in(&mail.text, 6).expect("a code in the email");
    assert!(
        mail.subject.contains(&code),
        "the code is in the subject: {mail:?}"
    );

    // Until she enters it she cannot sign in, and a wrong code is refused by name.
    let (status, body) = login(
        &app,
        json!({ "email": "carol@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(message.contains("Verify your email"), "{message}");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/verify-email",
            &json!({ "email": "carol@example.com", "code": wrong }),
        )
        .await,
    )
    .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("code")));
    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/verify-email",
            &json!({ "email": "carol@example.com", "code": code }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // She signs in and looks at her account.
    let token = app.login("carol@example.com", PASSWORD).await;
    let (status, me) = get(&app, &token, "/api/v1/me").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["role"], "customer");
    assert_eq!(me["status"], "active");
    assert_eq!(me["email_verified"], true);
    assert_eq!(me["two_factor"], false);
    assert_eq!(me["display_name"], Value::Null);
    let carol = me["id"].as_i64().expect("an id");

    let (status, me) = answer(
        app.send(
            Method::PATCH,
            "/api/v1/me",
            Some(&token),
            Some(&json!({ "display_name": "  Carol Jones " })),
        )
        .await,
    )
    .await;
    assert_eq!((status, &me["display_name"]), (200, &json!("Carol Jones")));
    let (_, me) = get(&app, &token, "/api/v1/me").await;
    assert_eq!(me["display_name"], "Carol Jones");

    let (status, balance) = get(&app, &token, "/api/v1/balance").await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["micros"], 0);
    assert_eq!(balance["currency"], "USD");
    let (_, statement) = get(&app, &token, "/api/v1/transactions").await;
    assert_eq!(statement["total"], 0, "{statement}");

    // The admin credits her 5.00 for an outage; the same request sent twice posts once, and the
    // same key with another amount is refused (the key names one request), not a second
    // posting.
    let credits = format!("/api/v1/admin/users/{carol}/credits");
    let goodwill = json!({
        "amount": "5.00",
        "reason": "goodwill for the outage",
        "idempotency_key": "outage-carol",
    });
    let (status, first) =
        answer(app.post_json(Some(&admin.token), &credits, &goodwill).await).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["new"], true);
    assert_eq!(first["amount"]["micros"], 5_000_000);
    assert_eq!(first["balance_after"]["micros"], 5_000_000);
    let (status, again) =
        answer(app.post_json(Some(&admin.token), &credits, &goodwill).await).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["new"], false);
    assert_eq!(again["posting_id"], first["posting_id"]);
    let other_amount = json!({
        "amount": "7.00",
        "reason": "goodwill for the outage",
        "idempotency_key": "outage-carol",
    });
    let (status, body) = answer(
        app.post_json(Some(&admin.token), &credits, &other_amount)
            .await,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_mismatch", "{body}");

    let (_, balance) = get(&app, &token, "/api/v1/balance").await;
    assert_eq!(balance["micros"], 5_000_000, "{balance}");
    assert_eq!(balance["amount"], "5.00");
    let (_, statement) = get(&app, &token, "/api/v1/transactions").await;
    assert_eq!(statement["total"], 1, "{statement}");
    let line = &statement["items"][0];
    assert_eq!(line["id"], first["posting_id"]);
    assert_eq!(line["kind"], "adjustment");
    assert_eq!(line["amount"]["micros"], 5_000_000);
    assert_eq!(line["balance_after"]["micros"], 5_000_000);
    assert_eq!(line["memo"], "goodwill for the outage");

    // Carol is signed in on her phone too. She changes her password on the laptop: the
    // laptop's old token and the phone's stop working, the new token works.
    let phone = app.login("carol@example.com", PASSWORD).await;
    let (status, changed) = answer(
        app.post_json(
            Some(&token),
            "/api/v1/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    let new_token = changed["token"].as_str().expect("a new token").to_owned();
    assert_eq!(get(&app, &token, "/api/v1/me").await.0, 401);
    assert_eq!(get(&app, &phone, "/api/v1/me").await.0, 401);
    assert_eq!(get(&app, &new_token, "/api/v1/me").await.0, 200);
    app.mailbox
        .wait_for("carol@example.com", "password was changed")
        .await;
    let (status, _) = login(
        &app,
        json!({ "email": "carol@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 401, "the old password no longer works");
    app.login("carol@example.com", NEW_PASSWORD).await;

    // She signs out, and that token is over.
    let signed_out = app
        .send(Method::POST, "/api/v1/auth/logout", Some(&new_token), None)
        .await;
    assert_eq!(signed_out.status(), 204);
    assert_eq!(get(&app, &new_token, "/api/v1/me").await.0, 401);
}

/// How a customer proves the reset email is theirs.
#[derive(Clone, Copy)]
enum ResetWith {
    Code,
    Link,
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_the_emailed_code() {
    a_forgotten_password_is_reset(ResetWith::Code).await;
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_the_emailed_link() {
    a_forgotten_password_is_reset(ResetWith::Link).await;
}

async fn a_forgotten_password_is_reset(with: ResetWith) {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let dave = app.user("dave@example.com", Role::Customer).await;
    let laptop = app.login("dave@example.com", PASSWORD).await;

    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/forgot-password",
            &json!({ "email": "dave@example.com" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let mail = app.mailbox.wait_for("dave@example.com", "Reset your").await;
    let secret = match with {
        ResetWith::Link => {
            assert!(
                link_param(&mail.text, "email").as_deref() == Some("dave@example.com"),
                "the link names the account: {}",
                mail.text
            );
            link_param(&mail.text, "token").expect("a reset link with a token")
        }
        ResetWith::Code => {
            let after = mail.text.split("code").last().expect("text");
            code_in(after, 6).expect("a reset code")
        }
    };

    // A wrong secret changes nothing and is refused by name.
    let reset = |code: &str| json!({ "email": "dave@example.com", "code": code, "new_password": NEW_PASSWORD });
    let (status, body) = answer(
        app.post_json(None, "/api/v1/auth/reset-password", &reset("999999x"))
            .await,
    )
    .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("code")));

    let (status, body) = answer(
        app.post_json(None, "/api/v1/auth/reset-password", &reset(&secret))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // The secret works once; every session ended; only the new password signs in.
    let (status, body) = answer(
        app.post_json(None, "/api/v1/auth/reset-password", &reset(&secret))
            .await,
    )
    .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("code")));
    assert_eq!(get(&app, &dave.token, "/api/v1/me").await.0, 401);
    assert_eq!(get(&app, &laptop, "/api/v1/me").await.0, 401);
    let (status, _) = login(
        &app,
        json!({ "email": "dave@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 401, "the old password no longer works");
    let token = app.login("dave@example.com", NEW_PASSWORD).await;
    assert_eq!(get(&app, &token, "/api/v1/me").await.0, 200);
}

#[tokio::test]
async fn two_factor_guards_sign_in_and_each_code_works_once() {
    let db = TestDb::sqlite().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::start(db.core(clock.clone()).await).await;
    let erin = app.user("erin@example.com", Role::Customer).await;
    let tablet = app.login("erin@example.com", PASSWORD).await;

    // Erin starts enrolment and gets a secret for her app; nothing changes until she confirms.
    let (status, enrolment) = answer(
        app.send(
            Method::POST,
            "/api/v1/auth/2fa/enroll",
            Some(&erin.token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{enrolment}");
    let secret = enrolment["secret"].as_str().expect("a secret").to_owned();
    let url = enrolment["otpauth_url"].as_str().expect("a URL");
    assert!(url.starts_with("otpauth://totp/"), "{url}");
    assert_eq!(
        get(&app, &erin.token, "/api/v1/me").await.1["two_factor"],
        false
    );

    let code_now = || totp::code_at(&secret, clock.now().timestamp()).expect("a code");
    let confirm = |code: String| json!({ "code": code });
    let wrong = if code_now() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, body) = answer(
        app.post_json(
            Some(&erin.token),
            "/api/v1/auth/2fa/confirm",
            &confirm(wrong.into()),
        )
        .await,
    )
    .await;
    assert_eq!((status, &body["error"]["field"]), (422, &json!("code")));

    let first_code = code_now();
    let (status, session) = answer(
        app.post_json(
            Some(&erin.token),
            "/api/v1/auth/2fa/confirm",
            &confirm(first_code.clone()),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["token"].as_str().expect("a token").to_owned();

    // Turning it on signed her out everywhere else.
    assert_eq!(get(&app, &erin.token, "/api/v1/me").await.0, 401);
    assert_eq!(get(&app, &tablet, "/api/v1/me").await.0, 401);
    let (status, me) = get(&app, &token, "/api/v1/me").await;
    assert_eq!((status, &me["two_factor"]), (200, &json!(true)));
    let (status, body) = answer(
        app.send(Method::POST, "/api/v1/auth/2fa/enroll", Some(&token), None)
            .await,
    )
    .await;
    assert_eq!(status, 409, "enrolling twice is refused: {body}");

    // Her password alone is no longer enough.
    let (status, body) = login(
        &app,
        json!({ "email": "erin@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["two_factor_required"], true);
    assert_eq!(body["token"], Value::Null);

    // The code she confirmed with was spent, and so is each code she signs in with.
    let with_code = |code: &str| json!({ "email": "erin@example.com", "password": PASSWORD, "totp_code": code });
    let (status, body) = login(&app, with_code(&first_code)).await;
    assert_eq!(status, 401, "a spent code: {body}");
    clock.advance(chrono::Duration::seconds(30));
    let second_code = code_now();
    let (status, body) = login(&app, with_code(&second_code)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["two_factor_required"], false);
    let signed_in = body["token"].as_str().expect("a token").to_owned();
    let (status, body) = login(&app, with_code(&second_code)).await;
    assert_eq!(status, 401, "the same code twice: {body}");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(message.contains("two-factor"), "{message}");

    // She turns it off with her password and a fresh code.
    clock.advance(chrono::Duration::seconds(30));
    let (status, body) = answer(
        app.post_json(
            Some(&signed_in),
            "/api/v1/auth/2fa/disable",
            &json!({ "current_password": "not my password at all", "code": code_now() }),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (422, &json!("current_password"))
    );
    let (status, body) = answer(
        app.post_json(
            Some(&signed_in),
            "/api/v1/auth/2fa/disable",
            &json!({ "current_password": PASSWORD, "code": code_now() }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().expect("a token");
    assert_eq!(get(&app, token, "/api/v1/me").await.1["two_factor"], false);
    let (status, body) = login(
        &app,
        json!({ "email": "erin@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["two_factor_required"], false);
    assert!(body["token"].is_string(), "{body}");
}

#[tokio::test]
async fn staff_without_two_factor_are_kept_out_of_staff_routes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    for (email, role) in [
        ("sam@example.com", Role::Support),
        ("bill@example.com", Role::Billing),
        ("ada@example.com", Role::Admin),
    ] {
        app.user(email, role).await;
        // Signed in with a password only, staff reach their own account but no staff route.
        let token = app.login(email, PASSWORD).await;
        assert_eq!(get(&app, &token, "/api/v1/me").await.0, 200);
        let (status, body) = get(&app, &token, "/api/v1/admin/users").await;
        assert_eq!(status, 403, "{role}: {body}");
        let message = body["error"]["message"].as_str().expect("a message");
        assert!(message.contains("two-factor"), "{role}: {message}");

        // With two-factor on, the same route opens.
        let (token, _) = app.turn_on_two_factor(&token).await;
        let (status, body) = get(&app, &token, "/api/v1/admin/users").await;
        assert_eq!(status, 200, "{role}: {body}");
    }
    // From now on a password alone no longer makes a session for them.
    let (status, body) = login(
        &app,
        json!({ "email": "ada@example.com", "password": PASSWORD }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["two_factor_required"], true);
    assert_eq!(body["token"], Value::Null);
}

#[tokio::test]
async fn register_forgot_and_resend_answer_alike_whether_or_not_the_email_has_an_account() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    app.user("frank@example.com", Role::Customer).await;

    async fn same_answer(app: &TestApp, path: &str, known: Value, unknown: Value) {
        let known = app.post_json(None, path, &known).await;
        let unknown = app.post_json(None, path, &unknown).await;
        assert_eq!(known.status(), unknown.status(), "{path}");
        assert_eq!(
            known.headers().get("content-type"),
            unknown.headers().get("content-type"),
            "{path}"
        );
        let known = known.text().await.expect("a body");
        let unknown = unknown.text().await.expect("a body");
        assert_eq!(known, unknown, "{path}");
    }

    same_answer(
        &app,
        "/api/v1/auth/register",
        json!({ "email": "frank@example.com", "password": PASSWORD }),
        json!({ "email": "grace@example.com", "password": PASSWORD }),
    )
    .await;
    // Frank learns by email that someone tried his address; the stranger learned nothing.
    app.mailbox
        .wait_for("frank@example.com", "Someone tried to register")
        .await;

    same_answer(
        &app,
        "/api/v1/auth/forgot-password",
        json!({ "email": "nobody@example.com" }),
        json!({ "email": "frank@example.com" }),
    )
    .await;
    same_answer(
        &app,
        "/api/v1/auth/resend-verification",
        json!({ "email": "frank@example.com" }),
        json!({ "email": "nobody@example.com" }),
    )
    .await;
    // The outbox sends in order, so once Frank's reset email is out, nothing is waiting for
    // the address without an account.
    app.mailbox
        .wait_for("frank@example.com", "Reset your")
        .await;
    assert!(app.mailbox.to("nobody@example.com").is_empty());
}

#[tokio::test]
async fn five_wrong_passwords_hold_back_that_address_but_not_the_owner_elsewhere() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    app.user("gina@example.com", Role::Customer).await;
    let attacker = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66)));
    let gina = client_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77)));
    let attempt = |client: &reqwest::Client, password: &str| {
        client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({ "email": "gina@example.com", "password": password }))
            .send()
    };

    for guess in 1..=5 {
        let response = attempt(&attacker, &format!("guess number {guess}"))
            .await
            .expect("POST");
        assert_eq!(response.status(), 401, "guess {guess}");
    }
    // The sixth try from that address waits, even with the right password.
    let response = attempt(&attacker, PASSWORD).await.expect("POST");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let (_, body) = answer(response).await;
    assert_eq!(body["error"]["code"], "rate_limited");

    // Gina, elsewhere, signs in as usual.
    let response = attempt(&gina, PASSWORD).await.expect("POST");
    let (status, body) = answer(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["token"].is_string());
}

#[tokio::test]
async fn invalid_input_is_refused_naming_the_field() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("admin@example.com", Role::Admin).await;
    let hugo = app.user("hugo@example.com", Role::Customer).await;
    let hugo_id = hugo.user.id.0;
    let credits = format!("/api/v1/admin/users/{hugo_id}/credits");
    let user = format!("/api/v1/admin/users/{hugo_id}");

    let (hugo, admin) = (Some(hugo.token.as_str()), Some(admin.token.as_str()));
    #[rustfmt::skip]
    let cases: Vec<(Method, &str, Option<&str>, Value, &str)> = vec![
        (Method::POST, "/api/v1/auth/register", None, json!({ "email": "hugo at example", "password": PASSWORD }), "email"),
        (Method::POST, "/api/v1/auth/register", None, json!({ "email": "ines@example.com", "password": "password123" }), "password"),
        (Method::POST, "/api/v1/auth/register", None, json!({ "email": "ines@example.com", "password": "short" }), "password"),
        (Method::POST, "/api/v1/auth/login", None, json!({ "email": "", "password": PASSWORD }), "email"),
        (Method::POST, "/api/v1/auth/verify-email", None, json!({ "email": "hugo@example.com", "code": "12" }), "code"),
        (Method::POST, "/api/v1/auth/forgot-password", None, json!({ "email": "no-at-sign" }), "email"),
        (Method::PATCH, "/api/v1/me", hugo, json!({ "display_name": "x".repeat(81) }), "display_name"),
        (Method::POST, "/api/v1/auth/change-password", hugo, json!({ "current_password": "not it", "new_password": NEW_PASSWORD }), "current_password"),
        (Method::POST, "/api/v1/auth/change-password", hugo, json!({ "current_password": PASSWORD, "new_password": "qwertyuiop" }), "password"),
        (Method::POST, "/api/v1/api-keys", hugo, json!({ "name": "ci", "scopes": ["write:everything"] }), "scopes"),
        (Method::POST, "/api/v1/api-keys", hugo, json!({ "name": " ", "scopes": ["read:user"] }), "name"),
        (Method::POST, "/api/v1/api-keys", hugo, json!({ "name": "ci", "scopes": [] }), "scopes"),
        (Method::GET, "/api/v1/transactions?limit=0", hugo, Value::Null, "limit"),
        (Method::GET, "/api/v1/transactions?page=0", hugo, Value::Null, "page"),
        (Method::POST, &credits, admin, json!({ "amount": "ten dollars", "reason": "oops" }), "amount"),
        (Method::POST, &credits, admin, json!({ "amount": "0.0000001", "reason": "oops" }), "amount"),
        (Method::POST, &credits, admin, json!({ "amount": "1.00", "reason": "  " }), "reason"),
        (Method::PATCH, &user, admin, json!({ "role": "root" }), "role"),
        (Method::PATCH, &user, admin, json!({ "status": "asleep" }), "status"),
        (Method::POST, "/api/v1/admin/maintenance", admin, json!({ "message": "" }), "message"),
    ];
    for (method, path, token, body, field) in cases {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) =
            answer(app.send(method.clone(), path, token, body.as_ref()).await).await;
        assert_eq!(status, 422, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid", "{method} {path}");
        assert_eq!(answer["error"]["field"], field, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{method} {path}: {answer}");
    }

    // A body that is not JSON at all is refused in the same shape, as a bad request.
    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("POST");
    let (status, body) = answer(response).await;
    assert_eq!((status, &body["error"]["code"]), (400, &json!("invalid")));
}

#[tokio::test]
async fn maintenance_mode_closes_the_doors_to_all_but_admins() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("admin@example.com", Role::Admin).await;
    let ivy = app.user("ivy@example.com", Role::Customer).await;

    // A customer may not turn it on.
    let notice = json!({ "message": "Moving to a new data centre until 14:00 UTC." });
    let (status, _) = answer(
        app.post_json(Some(&ivy.token), "/api/v1/admin/maintenance", &notice)
            .await,
    )
    .await;
    assert_eq!(status, 403);

    let (status, state) = answer(
        app.post_json(Some(&admin.token), "/api/v1/admin/maintenance", &notice)
            .await,
    )
    .await;
    assert_eq!((status, &state["enabled"]), (200, &json!(true)), "{state}");

    // Customers are told what is happening.
    let response = app.get_as(&ivy.token, "/api/v1/me").await;
    assert!(response.headers().contains_key("retry-after"));
    let (status, body) = answer(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let message = body["error"]["message"].as_str().expect("a message");
    assert!(message.contains("Moving to a new data centre"), "{message}");
    let (status, _) = answer(
        app.post_json(
            None,
            "/api/v1/auth/register",
            &json!({ "email": "jack@example.com", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 503);

    // Health, readiness, metrics and signing in still answer.
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
    let signed_in = app.login("ivy@example.com", PASSWORD).await;
    assert_eq!(get(&app, &signed_in, "/api/v1/me").await.0, 503);

    // The admin works on, and turns it off.
    assert_eq!(get(&app, &admin.token, "/api/v1/me").await.0, 200);
    let (status, state) = get(&app, &admin.token, "/api/v1/admin/maintenance").await;
    assert_eq!((status, &state["enabled"]), (200, &json!(true)));
    let (status, state) = answer(
        app.send(
            Method::DELETE,
            "/api/v1/admin/maintenance",
            Some(&admin.token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, &state["enabled"]), (200, &json!(false)), "{state}");
    assert_eq!(get(&app, &ivy.token, "/api/v1/me").await.0, 200);
}

/// Runs the outbox until `done`, for at most five seconds.
async fn deliver_until(worker: &OutboxWorker, what: &str, done: impl Fn() -> bool) {
    for _ in 0..250 {
        worker.run_once().await.expect("the outbox");
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the outbox did not get to: {what}");
}

#[tokio::test]
async fn a_verification_code_outlives_a_mail_server_outage() {
    let db = TestDb::sqlite().await;
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let app = TestApp::start(db.core(clock.clone()).await).await;
    let worker = app.core().outbox.worker(Arc::new(app.mailbox.clone()));

    // The mail server is down for the first two tries when Hana registers.
    app.mailbox.fail_next(2);
    let (status, _) = answer(
        app.post_json(
            None,
            "/api/v1/auth/register",
            &json!({ "email": "hana@example.com", "password": PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202);
    deliver_until(&worker, "a first try", || app.mailbox.refused() == 1).await;
    assert!(app.mailbox.to("hana@example.com").is_empty());

    // The next try waits 30 seconds, the one after a minute.
    clock.advance(chrono::Duration::seconds(29));
    worker.run_once().await.expect("the outbox");
    assert_eq!(app.mailbox.refused(), 1, "not due yet");
    clock.advance(chrono::Duration::seconds(2));
    deliver_until(&worker, "a second try", || app.mailbox.refused() == 2).await;
    assert!(app.mailbox.to("hana@example.com").is_empty());
    clock.advance(chrono::Duration::seconds(61));
    deliver_until(&worker, "the email", || {
        !app.mailbox.to("hana@example.com").is_empty()
    })
    .await;
    let mail = app
        .mailbox
        .wait_for("hana@example.com", "verification code")
        .await;
    assert_eq!(app.mailbox.to("hana@example.com").len(), 1, "sent once");

    // The code still works, and Hana gets in.
    let code = code_in(&mail.text, 6).expect("a code");
    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/verify-email",
            &json!({ "email": "hana@example.com", "code": code }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token = app.login("hana@example.com", PASSWORD).await;
    let (status, me) = get(&app, &token, "/api/v1/me").await;
    assert_eq!((status, &me["email"]), (200, &json!("hana@example.com")));
}
