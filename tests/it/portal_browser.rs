//! The customer portal in a real browser, with real email: a person registers, reads the code
//! that reached a real SMTP server, verifies, signs in, makes an API key and uses it, and signs
//! out. Every page is saved as a screenshot. And a form posted without its CSRF token is
//! refused.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_e2e::app::{PASSWORD, TestApp, answer};
use hostdeck_e2e::browser::{Browser, NARROW_WIDTH};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::mail::code_in;
use hostdeck_e2e::smtp::SmtpServer;
use secrecy::SecretString;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_registers_verifies_signs_in_and_uses_an_api_key_in_a_browser() {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.company.name = "Example Hosting".into();
    config.company.support_email = Some("support@example.test".into());
    config.smtp.url = Some(SecretString::from(smtp.url()));
    config.smtp.from = "Example Hosting <no-reply@example.test>".into();
    let core = db.core_with(config, Arc::new(SystemClock)).await;
    let app = TestApp::start_with_smtp(core).await;
    let Some(mut browser) = Browser::start("portal_browser", &app.url("")).await else {
        return;
    };
    let email = "ada@example.test";

    // Register.
    browser.open("/register").await;
    assert_eq!(browser.title().await, "Create an account · Example Hosting");
    browser
        .fill("/register", &[("email", email), ("password", PASSWORD)])
        .await;
    browser.submit("/register").await;
    assert!(
        browser.path().await.starts_with("/verify?"),
        "{}",
        browser.path().await
    );
    assert!(
        browser
            .page_text()
            .await
            .contains("Check your email for a 6-digit code")
    );

    // The code arrives over SMTP at a real mail server.
    let mail = smtp.wait_for(email, "verification code").await;
    assert!(mail.from.contains("no-reply@example.test"), "{}", mail.from);
    let code = code_in(&mail.subject, 6).expect("a code in the subject");
    assert!(
        mail.text
            .contains(&format!("Your verification code is {code}")),
        "the body carries the code, decoded: {}",
        mail.text
    );
    assert!(
        app.mailbox.all().is_empty(),
        "mail went over SMTP, not to the test mailbox"
    );

    // Verify: the form already holds the address.
    browser.fill("/verify", &[("code", &code)]).await;
    browser.submit("/verify").await;
    assert!(
        browser.path().await.starts_with("/login?notice=verified"),
        "{}",
        browser.path().await
    );
    assert!(browser.page_text().await.contains("Your email is verified"));

    // Sign in.
    browser.fill("/login", &[("password", PASSWORD)]).await;
    browser.submit("/login").await;
    assert_eq!(browser.path().await, "/");
    assert!(browser.page_text().await.contains("Hello"));
    assert!(
        browser.has("[data-test=\"balance\"]").await,
        "the dashboard shows the balance"
    );
    browser.shot_at("home-phone", NARROW_WIDTH).await;

    // Make an API key on the account page and read it off the page.
    browser.open("/account").await;
    browser
        .fill("/account/keys", &[("name", "deploy script")])
        .await;
    browser.check("/account/keys", "scopes", "read:user").await;
    browser.submit("/account/keys").await;
    let key = browser.text("[data-test=\"new-api-key\"]").await;
    assert!(key.len() >= 20, "a whole key is shown once: {key:?}");
    assert!(browser.page_text().await.contains("deploy script"));
    browser.shot_at("account-phone", NARROW_WIDTH).await;

    // The key works on the API.
    let (status, me) = answer(app.get_as(&key, "/api/v1/me").await).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["email"], email);
    assert_eq!(me["email_verified"], true);

    // Staff pages are not for customers: a branded "Not allowed" page.
    browser.open("/admin/users").await;
    assert_eq!(browser.title().await, "Not allowed · Example Hosting");
    assert!(browser.text("header").await.contains("Example Hosting"));

    // Sign out: the session is gone, the account page sends the browser to sign in.
    browser.submit("/logout").await;
    assert_eq!(browser.path().await, "/login?notice=signed-out");
    assert!(browser.page_text().await.contains("You are signed out"));
    browser.open("/account").await;
    assert!(
        browser.path().await.starts_with("/login"),
        "{}",
        browser.path().await
    );

    browser.close().await;
}

/// The `hd_csrf` cookie and the form token of a fresh visit to `path`.
async fn csrf_of(app: &TestApp, path: &str) -> (String, String) {
    let page = app.get(path).await;
    assert_eq!(page.status(), 200);
    let cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("hd_csrf="))
        .and_then(|value| value.split(';').next())
        .expect("a CSRF cookie")
        .to_owned();
    let html = page.text().await.expect("a page");
    let token = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF token in the form")
        .to_owned();
    (cookie, token)
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let (cookie, token) = csrf_of(&app, "/login").await;
    assert_ne!(
        cookie, token,
        "the form's token is made from the visit cookie, not a copy of it"
    );

    let post = |cookie: Option<String>, body: String| {
        let mut request = app
            .http
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("hd_csrf={cookie}"));
        }
        request.send()
    };
    let fields = "email=ada%40example.test&password=wrong+password";

    let without_token = post(Some(cookie.clone()), fields.to_owned())
        .await
        .expect("POST");
    assert_eq!(without_token.status(), 403, "no token in the form");
    let page = without_token.text().await.expect("a page");
    assert!(page.contains("did not come from this site"), "{page}");

    let (_, other_visit) = csrf_of(&app, "/login").await;
    assert_ne!(other_visit, token);
    let wrong_token = post(Some(cookie.clone()), format!("csrf={other_visit}&{fields}"))
        .await
        .expect("POST");
    assert_eq!(
        wrong_token.status(),
        403,
        "a token that does not match the cookie"
    );

    let without_cookie = post(None, format!("csrf={token}&{fields}"))
        .await
        .expect("POST");
    assert_eq!(
        without_cookie.status(),
        403,
        "a token but no cookie (another site's form)"
    );

    // With both, the form reaches its handler: the sign-in itself fails, on its own terms.
    let with_token = post(Some(cookie), format!("csrf={token}&{fields}"))
        .await
        .expect("POST");
    assert_eq!(with_token.status(), 200);
    let page = with_token.text().await.expect("a page");
    assert!(!page.contains("did not come from this site"), "{page}");
}
