//! Web hygiene, told as an attacker's attempts: forms posted from another session or another
//! site, a page framed or sniffed, API keys that outlive a leaked password, names that hide what
//! they say, and addresses that bounce for ever.

use std::sync::Arc;

use hostdeck_core::Role;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::policy::{Actor, Scope, Via};
use hostdeck_core::servers::CreateChoice;
use hostdeck_e2e::app::{PASSWORD, PortalVisit, TestApp, answer, set_cookie};
use hostdeck_e2e::db::{TestDb, audit_details};
use hostdeck_e2e::mail::code_in;
use hostdeck_e2e::on_both_engines;
use reqwest::Method;
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "amber lantern quietly 77";
const RLO: &str = "\u{202E}";
const ZWSP: &str = "\u{200B}";

async fn display_name(app: &TestApp, token: &str) -> Value {
    let (status, me) = answer(app.get_as(token, "/api/v1/me").await).await;
    assert_eq!(status, 200, "{me}");
    me["display_name"].clone()
}

/// Posts the profile form with `visit`'s cookies and `token`, and extra headers.
async fn post_profile(
    app: &TestApp,
    visit: &PortalVisit,
    token: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: Option<String>,
) -> reqwest::Response {
    let body = body.unwrap_or_else(|| format!("csrf={token}&display_name=Pwned"));
    let mut request = app
        .http
        .post(app.url("/account/profile"))
        .header("cookie", &visit.cookies)
        .header("content-type", content_type)
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST the profile form")
}

#[tokio::test]
async fn an_attacker_cannot_post_portal_forms_with_another_sessions_token_or_from_another_site() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let alice = app.user("alice@example.com", Role::Customer).await;
    let mallory = app.user("mallory@example.com", Role::Customer).await;
    let form = "application/x-www-form-urlencoded";

    // Alice's browser, signed in, and Mallory's: each has its own token.
    let alices = app.portal_visit(Some(&alice.token), "/account").await;
    let mallorys = app.portal_visit(Some(&mallory.token), "/account").await;
    assert_ne!(alices.token, mallorys.token);

    // Mallory puts her own (valid) token into a form that Alice's browser posts: refused.
    let refused = post_profile(&app, &alices, &mallorys.token, &[], form, None).await;
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .expect("a page")
            .contains("did not come from this site")
    );
    // A token of a visit before sign-in (Mallory's own visit cookie) is no better.
    let anonymous = app.portal_visit(None, "/login").await;
    let refused = post_profile(&app, &alices, &anonymous.token, &[], form, None).await;
    assert_eq!(refused.status(), 403);
    // Nor when Mallory also plants that visit cookie in Alice's browser (a sibling host or a
    // plain-http page can set cookies): a token matching the cookie is not enough, it must be
    // the token of Alice's session.
    let planted = PortalVisit {
        cookies: format!("hd_session={}; {}", alice.token, anonymous.cookies),
        token: anonymous.token.clone(),
    };
    let refused = post_profile(&app, &planted, &planted.token, &[], form, None).await;
    assert_eq!(
        refused.status(),
        403,
        "a planted visit cookie and its token"
    );
    // Nor is Alice's token from an earlier session of hers (she signed in again since).
    let old_session = app.login("alice@example.com", PASSWORD).await;
    let old = app.portal_visit(Some(&old_session), "/account").await;
    let refused = post_profile(&app, &alices, &old.token, &[], form, None).await;
    assert_eq!(refused.status(), 403);

    // Even with Alice's right token, a request a browser says came from elsewhere is refused.
    let from_elsewhere: [&[(&str, &str)]; 5] = [
        &[("origin", "https://evil.example")],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
        &[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin"),
        ],
    ];
    for headers in from_elsewhere {
        let refused = post_profile(&app, &alices, &alices.token, headers, form, None).await;
        assert_eq!(refused.status(), 403, "{headers:?}");
    }

    // A cross-site <form enctype="text/plain"> (or a fetch without a preflight) sends a body
    // that looks like a form: it is not read as one.
    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json",
    ] {
        let body = format!("csrf={}&display_name=Pwned", alices.token);
        let refused =
            post_profile(&app, &alices, &alices.token, &[], content_type, Some(body)).await;
        assert_eq!(refused.status(), 415, "{content_type}");
    }
    assert_eq!(display_name(&app, &alice.token).await, Value::Null);

    // Alice's own browser, from the portal's own page, still works.
    let own_page = [
        ("origin", app.url("")),
        ("sec-fetch-site", "same-origin".to_owned()),
    ];
    let own_page: Vec<(&str, &str)> = own_page.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let done = post_profile(&app, &alices, &alices.token, &own_page, form, None).await;
    assert_eq!(done.status(), 303);
    assert_eq!(display_name(&app, &alice.token).await, json!("Pwned"));
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_hsts_only_on_https() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    let mut answers = Vec::new();
    for path in [
        "/login",
        "/assets/portal.css",
        "/healthz",
        "/api/v1/me",
        "/nope",
    ] {
        answers.push((path, app.get(path).await));
    }
    answers.push((
        "/ signed in",
        app.http
            .get(app.url("/"))
            .header("cookie", format!("hd_session={}", ada.token))
            .send()
            .await
            .expect("GET /"),
    ));
    for (path, response) in &answers {
        let csp = header(response, "content-security-policy").unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(header(response, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(response, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(response, "referrer-policy"),
            Some("same-origin"),
            "{path}"
        );
        assert_eq!(
            header(response, "strict-transport-security"),
            None,
            "{path}: no HSTS over plain http"
        );
        // A page can show a secret (a two-factor secret, a new API key, a root password):
        // no portal page is kept in a cache.
        let html = header(response, "content-type").is_some_and(|t| t.starts_with("text/html"));
        if html {
            assert_eq!(
                header(response, "cache-control"),
                Some("no-store"),
                "{path}"
            );
        }
    }
    assert!(
        answers
            .iter()
            .filter(|(_, r)| header(r, "cache-control") == Some("no-store"))
            .count()
            >= 3,
        "the sign-in page, a signed-in page and the not-found page are pages"
    );
    // The portal's pages need nothing the policy forbids: no inline script, handler or style.
    let html = app
        .http
        .get(app.url("/account"))
        .header("cookie", format!("hd_session={}", ada.token))
        .send()
        .await
        .expect("GET /account")
        .text()
        .await
        .expect("a page");
    for inline in ["<script", " onclick=", " onsubmit=", " style=", "<style"] {
        assert!(!html.contains(inline), "{inline} in the account page");
    }
}

#[tokio::test]
async fn over_https_the_cookies_are_host_only_and_hsts_is_sent() {
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.web.public_url = Some(url::Url::parse("https://portal.example.test").expect("a URL"));
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;

    let login = app.get("/login").await;
    assert_eq!(
        header(&login, "strict-transport-security"),
        Some("max-age=31536000")
    );
    let set: Vec<String> = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok().map(str::to_owned))
        .collect();
    let visit = set
        .iter()
        .find(|cookie| cookie.starts_with("__Host-hd_csrf="))
        .unwrap_or_else(|| panic!("a __Host- visit cookie: {set:?}"));
    assert!(visit.contains("Secure"), "{visit}");
    assert!(visit.contains("Path=/"), "{visit}");
    assert!(!visit.to_lowercase().contains("domain="), "{visit}");
    assert!(
        !set.iter().any(|cookie| cookie.starts_with("hd_csrf=")),
        "{set:?}"
    );

    // A session cookie without the prefix (as a sibling host or a plain-http page could plant)
    // is not a sign-in; the prefixed one is.
    let ada = app.user("ada@example.com", Role::Customer).await;
    let page = |cookie: String| {
        app.http
            .get(app.url("/account"))
            .header("cookie", cookie)
            .send()
    };
    let planted = page(format!("hd_session={}", ada.token))
        .await
        .expect("GET");
    assert_eq!(planted.status(), 303, "sent to sign in");
    let own = page(format!("__Host-hd_session={}", ada.token))
        .await
        .expect("GET");
    assert_eq!(own.status(), 200);

    // Forms from the public origin are accepted. From any other origin they are not, even one
    // that matches the Host header: a rebinding DNS name pointed here makes those agree.
    let visit_id = set_cookie(&own, "__Host-hd_csrf").expect("a visit cookie");
    let html = own.text().await.expect("a page");
    let token = hostdeck_e2e::app::form_token(&html).expect("a token");
    for (origin, status) in [
        ("https://portal.example.test".to_owned(), 303),
        (app.url(""), 403),
    ] {
        let done = app
            .http
            .post(app.url("/account/profile"))
            .header(
                "cookie",
                format!("__Host-hd_session={}; __Host-hd_csrf={visit_id}", ada.token),
            )
            .header("origin", origin.as_str())
            .header("sec-fetch-site", "same-origin")
            .form(&[("csrf", token.as_str()), ("display_name", "Ada")])
            .send()
            .await
            .expect("POST");
        assert_eq!(done.status(), status, "{origin}");
    }
}

/// What the API says about `key`: 200 when it works.
/// Changes the password on the portal's account page, from `PASSWORD` to `NEW_PASSWORD`, with
/// `revoke_api_keys` set to `revoke` (or left out of the form when `None`).
async fn change_password_on_portal(
    app: &TestApp,
    visit: &PortalVisit,
    revoke: Option<&str>,
) -> reqwest::Response {
    let mut fields = vec![
        ("current_password", PASSWORD),
        ("new_password", NEW_PASSWORD),
    ];
    if let Some(revoke) = revoke {
        fields.push(("revoke_api_keys", revoke));
    }
    app.portal_post(visit, "/account/password", &fields).await
}

/// After a password change on the portal: `done` sends the browser to the account page with
/// `notice`, under a new session; the page it lands on.
async fn notice_page(app: &TestApp, done: &reqwest::Response, notice: &str) -> String {
    let location = format!("/account?notice={notice}");
    assert_eq!(header(done, "location"), Some(location.as_str()));
    let new_session = set_cookie(done, "hd_session").expect("a new session");
    app.http
        .get(app.url(&location))
        .header("cookie", format!("hd_session={new_session}"))
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("a page")
}

async fn key_works(app: &TestApp, key: &str) -> u16 {
    app.get_as(key, "/api/v1/me").await.status().as_u16()
}

async fn password_change_deals_with_api_keys(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;

    // Through the API, by default: the key a thief may have made stops working.
    let carol = app.user("carol@example.com", Role::Customer).await;
    let key = app.api_key(&carol, &[Scope::ReadUser]).await;
    assert_eq!(key_works(&app, &key).await, 200);
    let (status, changed) = answer(
        app.post_json(
            Some(&carol.token),
            "/api/v1/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["api_keys_revoked"], 1, "{changed}");
    assert_eq!(changed["api_keys_kept"], 0, "{changed}");
    let message = changed["message"].as_str().unwrap_or_default();
    assert!(message.contains("API key was revoked"), "{message}");
    assert!(
        message.contains("Every other sign-in was ended"),
        "{message}"
    );
    assert_eq!(key_works(&app, &key).await, 401);
    let audited = audit_details(app.core().store().as_ref(), "api_key.revoke_all").await;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["revoked"], 1);
    let mail = app
        .mailbox
        .wait_for("carol@example.com", "password was changed")
        .await;
    assert!(mail.text.contains("API key was revoked"), "{}", mail.text);

    // Told to keep them: the key works, and the answer says so.
    let dan = app.user("dan@example.com", Role::Customer).await;
    let key = app.api_key(&dan, &[Scope::ReadUser]).await;
    let (status, changed) = answer(
        app.post_json(
            Some(&dan.token),
            "/api/v1/auth/change-password",
            &json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD, "revoke_api_keys": false }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(
        (&changed["api_keys_revoked"], &changed["api_keys_kept"]),
        (&json!(0), &json!(1))
    );
    assert!(
        changed["message"]
            .as_str()
            .unwrap_or_default()
            .contains("API key still works"),
        "{changed}"
    );
    assert_eq!(key_works(&app, &key).await, 200);

    // On the portal the box is ticked: the keys go, and the page says so.
    let erin = app.user("erin@example.com", Role::Customer).await;
    let key = app.api_key(&erin, &[Scope::ReadUser]).await;
    let visit = app.portal_visit(Some(&erin.token), "/account").await;
    let page = app
        .http
        .get(app.url("/account"))
        .header("cookie", &visit.cookies)
        .send()
        .await
        .expect("GET")
        .text()
        .await
        .expect("a page");
    assert!(
        page.contains(r#"name="revoke_api_keys" value="yes" checked"#),
        "the box is ticked: {page}"
    );
    let done = change_password_on_portal(&app, &visit, Some("yes")).await;
    assert_eq!(done.status(), 303);
    let notice = notice_page(&app, &done, "password-keys-revoked").await;
    assert!(
        notice.contains("all your API keys were revoked"),
        "{notice}"
    );
    assert_eq!(key_works(&app, &key).await, 401);

    // A form without the choice (an old cached page, a script) revokes them, as the API does.
    let hal = app.user("hal@example.com", Role::Customer).await;
    let key = app.api_key(&hal, &[Scope::ReadUser]).await;
    let visit = app.portal_visit(Some(&hal.token), "/account").await;
    let done = change_password_on_portal(&app, &visit, None).await;
    assert_eq!(
        header(&done, "location"),
        Some("/account?notice=password-keys-revoked")
    );
    assert_eq!(key_works(&app, &key).await, 401);

    // Told to keep them: the keys keep working, and the page says that too.
    let fay = app.user("fay@example.com", Role::Customer).await;
    let key = app.api_key(&fay, &[Scope::ReadUser]).await;
    let visit = app.portal_visit(Some(&fay.token), "/account").await;
    let done = change_password_on_portal(&app, &visit, Some("no")).await;
    let notice = notice_page(&app, &done, "password-keys-kept").await;
    assert!(notice.contains("Your API keys still work"), "{notice}");
    assert_eq!(key_works(&app, &key).await, 200);

    // A reset by email (taking the account back) revokes every key.
    let gus = app.user("gus@example.com", Role::Customer).await;
    let key = app.api_key(&gus, &[Scope::ReadUser]).await;
    let (status, _) = answer(
        app.post_json(
            None,
            "/api/v1/auth/forgot-password",
            &json!({ "email": "gus@example.com" }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 202);
    let mail = app.mailbox.wait_for("gus@example.com", "Reset your").await;
    let code = code_in(mail.text.split("code").last().unwrap_or_default(), 6).expect("a code");
    let (status, body) = answer(
        app.post_json(
            None,
            "/api/v1/auth/reset-password",
            &json!({ "email": "gus@example.com", "code": code, "new_password": NEW_PASSWORD }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("every API key revoked"),
        "{body}"
    );
    assert_eq!(key_works(&app, &key).await, 401);
}

async fn names_with_hidden_characters_are_refused_at_every_door(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.com", Role::Customer).await;
    let admin = app.user("root@example.com", Role::Admin).await;
    let spoofs = [
        format!("Support Team{RLO}gnp.exe"),
        format!("ad{ZWSP}a"),
        RLO.to_owned(),
        "two\nlines".to_owned(),
    ];
    let refused = |status: u16, body: &Value, field: &str, what: &str| {
        assert_eq!(status, 422, "{what}: {body}");
        assert_eq!(body["error"]["field"], field, "{what}: {body}");
    };

    for spoof in &spoofs {
        // The API: display name, API key name, server name, adjustment reason, maintenance.
        let (status, body) = answer(
            app.send(
                Method::PATCH,
                "/api/v1/me",
                Some(&ada.token),
                Some(&json!({ "display_name": spoof })),
            )
            .await,
        )
        .await;
        refused(status, &body, "display_name", "PATCH /me");
        let (status, body) = answer(
            app.post_json(
                Some(&ada.token),
                "/api/v1/api-keys",
                &json!({ "name": spoof, "scopes": ["read:user"] }),
            )
            .await,
        )
        .await;
        refused(status, &body, "name", "POST /api-keys");
        let (status, body) = answer(
            app.http
                .post(app.url("/api/v1/servers"))
                .bearer_auth(&ada.token)
                .header("Idempotency-Key", "spoof")
                .json(&json!({ "name": spoof, "hostname": "web1.example.com", "plan": "small", "template": "ubuntu", "location": "sandbox" }))
                .send()
                .await
                .expect("POST"),
        )
        .await;
        refused(status, &body, "name", "POST /servers");
        // Notes keep their line breaks; the invisible characters are refused there too.
        if !spoof.contains('\n') {
            let (status, body) = answer(
                app.post_json(
                    Some(&admin.token),
                    &format!("/api/v1/admin/users/{}/credits", ada.user.id.0),
                    &json!({ "amount": "1.00", "reason": format!("refund {spoof}"), "idempotency_key": "spoof" }),
                )
                .await,
            )
            .await;
            refused(status, &body, "reason", "POST /admin/.../credits");
            let (status, body) = answer(
                app.post_json(
                    Some(&admin.token),
                    "/api/v1/admin/maintenance",
                    &json!({ "message": format!("back soon {spoof}") }),
                )
                .await,
            )
            .await;
            refused(status, &body, "message", "POST /admin/maintenance");
        }

        // The portal: profile, API key and server forms.
        let visit = app.portal_visit(Some(&ada.token), "/account").await;
        for (path, fields) in [
            ("/account/profile", vec![("display_name", spoof.as_str())]),
            (
                "/account/keys",
                vec![("name", spoof.as_str()), ("scopes", "read:user")],
            ),
            (
                "/servers",
                vec![
                    ("key", "spoof"),
                    ("name", spoof.as_str()),
                    ("hostname", "web1.example.com"),
                    ("plan", "small"),
                    ("template", "ubuntu"),
                    ("location", "sandbox"),
                ],
            ),
        ] {
            let answer = app.portal_post(&visit, path, &fields).await;
            let status = answer.status();
            let page = answer.text().await.expect("a page");
            assert!(
                status == 422 || (status == 200 && page.contains("role=\"alert\"")),
                "{path} {spoof:?}: {status} {page}"
            );
            assert!(
                page.contains("type it again without it") || page.contains("line break"),
                "{path} {spoof:?}: {page}"
            );
        }

        // Discord's /server create holds the create through the same core call.
        let discord = Actor::user(ada.user.id, Role::Customer, Via::Discord);
        let error = app
            .core()
            .servers
            .hold_create(
                &discord,
                CreateChoice::of_plan(spoof, "web1.example.com", "small", "ubuntu", None),
            )
            .await
            .expect_err("refused");
        assert!(error.to_string().contains("U+"), "{error}");
    }
    // Nothing of it was stored.
    assert_eq!(display_name(&app, &ada.token).await, Value::Null);
    let (_, keys) = answer(app.get_as(&ada.token, "/api/v1/api-keys").await).await;
    assert_eq!(keys.as_array().map(Vec::len), Some(0), "{keys}");

    // Names in any script, with emoji, are welcome.
    for name in ["Zoë O'Brien", "שרה כהן", "محمد", "山田太郎", "Ada 🚀"] {
        let (status, body) = answer(
            app.send(
                Method::PATCH,
                "/api/v1/me",
                Some(&ada.token),
                Some(&json!({ "display_name": name })),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(display_name(&app, &ada.token).await, json!(name));
    }
}

async fn addresses_a_mail_server_would_refuse_are_refused_at_sign_up(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let app = &app;
    let register = |email: &str| {
        let body = json!({ "email": email, "password": PASSWORD });
        async move { answer(app.post_json(None, "/api/v1/auth/register", &body).await).await }
    };
    for bad in [
        "<script>@example.com",
        "<script>alert(1)</script>@example.com",
        "\"much.more unusual\"@example.com",
        "a(b)@example.com",
        "a..b@example.com",
        "zoë@example.com",
        "a@[127.0.0.1]",
        "a@127.0.0.1",
        "a@localhost",
        "a@exa_mple.com",
        "a@example.com.",
        "mallory\u{202E}@example.com",
    ] {
        let (status, body) = register(bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "email", "{bad}: {body}");
    }
    // The portal's sign-up form takes the same rule.
    let visit = app.portal_visit(None, "/register").await;
    let page = app
        .portal_post(
            &visit,
            "/register",
            &[("email", "<script>@example.com"), ("password", PASSWORD)],
        )
        .await
        .text()
        .await
        .expect("a page");
    assert!(page.contains("the part before @"), "{page}");
    assert!(app.mailbox.all().is_empty(), "no mail to a bad address");

    // Ordinary addresses: plus addressing, subdomains, an apostrophe, an IDN domain.
    // The IDN domain is kept in its ASCII form, the one mail is sent to.
    for (good, to) in [
        ("ada+vps@mail.example.co.uk", "ada+vps@mail.example.co.uk"),
        ("o'brien@eu.example.ie", "o'brien@eu.example.ie"),
        (
            "first.last@sub-domain.example.org",
            "first.last@sub-domain.example.org",
        ),
        ("zoe@bücher.example", "zoe@xn--bcher-kva.example"),
    ] {
        let (status, body) = register(good).await;
        assert_eq!(status, 202, "{good}: {body}");
        app.mailbox.wait_for(to, "verification code").await;
    }
    // The same address spelt another way is the same account, not a second sign-up.
    let (status, body) = register("zoe@ＢÜＣＨＥＲ.example").await;
    assert_eq!(status, 202, "{body}");
    let zoes = app
        .core()
        .store()
        .users()
        .list_users(Some("zoe@"), hostdeck_core::store::Page::first(10))
        .await
        .expect("users");
    assert_eq!(
        zoes.total, 1,
        "one account for one address: {:?}",
        zoes.items
    );

    // An account made before the rule with an address it now refuses can still sign in.
    let old = app.user("legacy@example.com", Role::Customer).await;
    db.raw(&format!(
        "UPDATE users SET email = '<b>legacy@example.com', email_key = '<b>legacy@example.com' \
         WHERE id = {}",
        old.user.id.0
    ))
    .await
    .expect("an old address");
    app.login("<b>legacy@example.com", PASSWORD).await;

    // One made when domains were stored as typed is still found as its owner types it.
    let old = app.user("old@example.com", Role::Customer).await;
    db.raw(&format!(
        "UPDATE users SET email = 'old@bücher.example', email_key = 'old@bücher.example' \
         WHERE id = {}",
        old.user.id.0
    ))
    .await
    .expect("an old address");
    app.login("old@bücher.example", PASSWORD).await;
}

on_both_engines!(
    password_change_deals_with_api_keys,
    names_with_hidden_characters_are_refused_at_every_door,
    addresses_a_mail_server_would_refuse_are_refused_at_sign_up,
);
