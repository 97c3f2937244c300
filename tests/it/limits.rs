//! Limits that hold, as an attacker tries them: guesses sent all at once, addresses forged in
//! `X-Forwarded-For`, a stranger using up someone's mail, bursts across a minute boundary,
//! made-up methods that would grow `/metrics`, and clients too slow to ever finish a request.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::policy::{Role, Scope};
use hostdeck_e2e::app::{PASSWORD, TestApp, answer, client_from};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_e2e::smtp::SmtpServer;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

on_both_engines!(
    twenty_wrong_passwords_at_once_check_no_more_than_five,
    twenty_wrong_emailed_codes_at_once_check_no_more_than_five,
    a_trusted_proxy_names_the_client_and_no_one_else_does,
    an_ipv6_client_counts_by_its_network_not_each_address,
    sign_up_is_throttled_per_address_and_a_stranger_cannot_silence_the_owner,
);

fn address(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn login_from(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> (u16, Value) {
    let mut request = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }));
    if let Some(forwarded_for) = forwarded_for {
        request = request.header("x-forwarded-for", forwarded_for);
    }
    answer(request.send().await.expect("POST")).await
}

async fn twenty_wrong_passwords_at_once_check_no_more_than_five(db: TestDb) {
    let app = Arc::new(TestApp::start(db.core_now().await).await);
    app.user("gina@example.com", Role::Customer).await;
    let attacker = client_from(address(66));
    // Twenty connections open first, so the guesses arrive together.
    let mut warm_up = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (app, attacker) = (app.clone(), attacker.clone());
        warm_up.spawn(async move { attacker.get(app.url("/healthz")).send().await.map(drop) });
    }
    warm_up.join_all().await;

    let mut guesses = tokio::task::JoinSet::new();
    for guess in 0..20 {
        let (app, attacker) = (app.clone(), attacker.clone());
        guesses.spawn(async move {
            login_from(
                &app,
                &attacker,
                None,
                "gina@example.com",
                &format!("guess number {guess}"),
            )
            .await
        });
    }
    let answers = guesses.join_all().await;
    let checked = answers.iter().filter(|(status, _)| *status == 401).count();
    let refused: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status == 429)
        .collect();
    assert!(
        (1..=5).contains(&checked),
        "at most five passwords are checked: {answers:?}"
    );
    assert_eq!(checked + refused.len(), 20, "{answers:?}");
    assert!(
        refused
            .iter()
            .all(|(_, body)| body["error"]["code"] == "rate_limited")
    );
    // Each checked password left an audit entry; the refused ones were never checked.
    let denied = hostdeck_e2e::db::audit_details(app.core().store().as_ref(), "user.sign_in")
        .await
        .into_iter()
        .filter(|detail| detail["reason"] == "wrong password or disabled")
        .count();
    assert_eq!(denied, checked);

    // Gina, elsewhere, signs in as usual.
    let (status, body) = login_from(
        &app,
        &client_from(address(77)),
        None,
        "gina@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn twenty_wrong_emailed_codes_at_once_check_no_more_than_five(db: TestDb) {
    let app = Arc::new(TestApp::start(db.core_now().await).await);
    let ivy = client_from(address(77));
    let response = ivy
        .post(app.url("/api/v1/auth/register"))
        .json(
            &json!({ "email": "ivy@example.com", "password": "a long and unguessable passphrase" }),
        )
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let mail = app
        .mailbox
        .wait_for("ivy@example.com", "verification code")
        .await;
    let code = hostdeck_e2e::mail::code_in(&mail.text, 6).expect("a code");

    let attacker = client_from(address(66));
    let mut guesses = tokio::task::JoinSet::new();
    for guess in 0..20_u32 {
        let (app, attacker) = (app.clone(), attacker.clone());
        let wrong = format!(
            "{:06}",
            (code.parse::<u32>().unwrap_or(0) + 1 + guess) % 1_000_000
        );
        guesses.spawn(async move {
            let response = attacker
                .post(app.url("/api/v1/auth/verify-email"))
                .json(&json!({ "email": "ivy@example.com", "code": wrong }))
                .send()
                .await
                .expect("POST");
            answer(response).await
        });
    }
    let answers = guesses.join_all().await;
    let checked = answers.iter().filter(|(status, _)| *status == 422).count();
    let refused = answers.iter().filter(|(status, _)| *status == 429).count();
    assert!(checked <= 5, "at most five codes are compared: {answers:?}");
    assert_eq!(checked + refused, 20, "{answers:?}");

    // The wrong tries used up that code; Ivy, from her own address, asks for a new one and
    // verifies with it.
    let response = ivy
        .post(app.url("/api/v1/auth/resend-verification"))
        .json(&json!({ "email": "ivy@example.com" }))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let fresh = loop {
        let codes: Vec<String> = app
            .mailbox
            .to("ivy@example.com")
            .iter()
            .filter_map(|mail| hostdeck_e2e::mail::code_in(&mail.text, 6))
            .collect();
        if codes.len() >= 2 || std::time::Instant::now() > deadline {
            break codes.last().cloned().expect("a code");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let response = ivy
        .post(app.url("/api/v1/auth/verify-email"))
        .json(&json!({ "email": "ivy@example.com", "code": fresh }))
        .send()
        .await
        .expect("POST");
    let (status, body) = answer(response).await;
    assert_eq!(status, 200, "{body}");
}

/// An app that believes the proxy at 127.0.0.10, with Gina as a customer.
async fn app_behind_a_proxy(db: &TestDb) -> TestApp {
    let mut config = Config::default();
    config.web.trusted_proxies = vec!["127.0.0.10".parse().expect("an address")];
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;
    app.user("gina@example.com", Role::Customer).await;
    app
}

/// Five wrong passwords for Gina from `client`, try `n` (1 to 5) naming `forwarded(n)` in
/// `X-Forwarded-For`: each is refused as wrong (401), none yet as too many.
async fn five_wrong_passwords(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded: impl Fn(u32) -> String,
) {
    for n in 1..=5 {
        let (status, body) = login_from(
            app,
            client,
            Some(&forwarded(n)),
            "gina@example.com",
            "not her password",
        )
        .await;
        assert_eq!(status, 401, "{body}");
    }
}

/// Gina's right password from `client`, naming `forwarded` in `X-Forwarded-For`.
async fn gina_signs_in(app: &TestApp, client: &reqwest::Client, forwarded: &str) -> (u16, Value) {
    login_from(app, client, Some(forwarded), "gina@example.com", PASSWORD).await
}

async fn a_trusted_proxy_names_the_client_and_no_one_else_does(db: TestDb) {
    let app = app_behind_a_proxy(&db).await;

    // An untrusted peer cannot make itself someone new by writing X-Forwarded-For.
    let untrusted = client_from(address(66));
    five_wrong_passwords(&app, &untrusted, |guess| format!("203.0.113.{guess}")).await;
    let (status, _) = gina_signs_in(&app, &untrusted, "203.0.113.99").await;
    assert_eq!(status, 429, "the peer's own address is the one throttled");

    // Behind the proxy, each client is counted by the address the proxy saw.
    let proxy = client_from(address(10));
    five_wrong_passwords(&app, &proxy, |_| "198.51.100.7".to_owned()).await;
    // The attacker names Gina's address in the header; the proxy appends the real one, and the
    // rightmost address the proxy did not add is the one believed.
    let (status, _) = gina_signs_in(&app, &proxy, "198.51.100.8, 198.51.100.7").await;
    assert_eq!(status, 429, "the attacker stays throttled");
    // Gina comes through the same proxy from her own address and signs in.
    let (status, body) = gina_signs_in(&app, &proxy, "198.51.100.8").await;
    assert_eq!(status, 200, "{body}");
}

async fn an_ipv6_client_counts_by_its_network_not_each_address(db: TestDb) {
    let app = app_behind_a_proxy(&db).await;
    let proxy = client_from(address(10));

    // An attacker holding a /64 guesses from a fresh address each time: still one client.
    five_wrong_passwords(&app, &proxy, |host| format!("2001:db8:1:2::{host:x}")).await;
    let (status, _) = gina_signs_in(&app, &proxy, "2001:db8:1:2:ffff:ffff:ffff:fffe").await;
    assert_eq!(
        status, 429,
        "another address in the same /64 is the same client"
    );

    // An IPv4-mapped address is the IPv4 address it maps.
    five_wrong_passwords(&app, &proxy, |_| "::ffff:198.51.100.9".to_owned()).await;
    let (status, _) = gina_signs_in(&app, &proxy, "198.51.100.9").await;
    assert_eq!(
        status, 429,
        "the mapped and the plain address are one client"
    );

    // Another /64 is someone else: Gina signs in from hers.
    let (status, body) = gina_signs_in(&app, &proxy, "2001:db8:1:3::1").await;
    assert_eq!(status, 200, "{body}");
}

async fn sign_up_is_throttled_per_address_and_a_stranger_cannot_silence_the_owner(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let mut config = Config::default();
    config.smtp.url = Some(SecretString::from(smtp.url()));
    let app = TestApp::start_with_smtp(db.core_with(config, Arc::new(SystemClock)).await).await;
    app.user("hana@example.com", Role::Customer).await;
    let post = |client: &reqwest::Client, path: &str, body: Value| {
        client.post(app.url(path)).json(&body).send()
    };

    // One address signs up five accounts in an hour, then waits.
    let signups = client_from(address(67));
    for n in 1..=5 {
        let response = post(
            &signups,
            "/api/v1/auth/register",
            json!({ "email": format!("new{n}@example.com"), "password": "a long and unguessable passphrase" }),
        )
        .await
        .expect("POST");
        assert_eq!(response.status(), 202, "sign-up {n}");
    }
    let response = post(
        &signups,
        "/api/v1/auth/register",
        json!({ "email": "new6@example.com", "password": "a long and unguessable passphrase" }),
    )
    .await
    .expect("POST");
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));

    // A stranger asks for Hana's reset until refused...
    let stranger = client_from(address(66));
    let mut refused = false;
    for _ in 0..12 {
        let response = post(
            &stranger,
            "/api/v1/auth/forgot-password",
            json!({ "email": "hana@example.com" }),
        )
        .await
        .expect("POST");
        if response.status() == 429 {
            refused = true;
            break;
        }
        assert_eq!(response.status(), 202);
    }
    assert!(refused, "a stranger's asks are limited");
    // ...and Hana, from her own address, still gets hers.
    let response = post(
        &client_from(address(77)),
        "/api/v1/auth/forgot-password",
        json!({ "email": "hana@example.com" }),
    )
    .await
    .expect("POST");
    assert_eq!(response.status(), 202);
    // Five resets the stranger asked for, and Hana's own: all delivered.
    let deadline = Instant::now() + Duration::from_secs(20);
    let resets = loop {
        let resets = smtp
            .all()
            .into_iter()
            .filter(|mail| mail.is_to("hana@example.com") && mail.subject.contains("Reset your"))
            .count();
        if resets >= 6 || Instant::now() > deadline {
            break resets;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(resets, 6, "Hana's own reset arrives");
}

#[tokio::test]
async fn a_portal_session_over_its_limit_gets_a_page_that_says_when_to_come_back() {
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.auth.session_requests_per_minute = 2;
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;
    let mona = app.user("mona@example.com", Role::Customer).await;
    let mut last = None;
    for _ in 0..4 {
        let response = app
            .http
            .get(app.url("/account"))
            .header("cookie", format!("hd_session={}", mona.token))
            .send()
            .await
            .expect("GET");
        if response.status() == 429 {
            last = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let refused = last.expect("the session is limited");
    let content_type = refused
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let retry_after = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "{retry_after:?}"
    );
    let page = refused.text().await.expect("a page");
    assert!(page.contains("Slow down"), "{page}");
    assert!(page.contains("try again in"), "{page}");
}

/// Waits until `before` is left in the current UTC minute.
async fn wait_until_before_the_minute(before: Duration) {
    let now = Utc::now();
    let into = Duration::from_secs(u64::from(now.second()))
        + Duration::from_nanos(u64::from(now.nanosecond() % 1_000_000_000));
    let boundary = Duration::from_secs(60);
    let wait = if into + before < boundary {
        boundary - before - into
    } else {
        boundary - into + boundary - before
    };
    tokio::time::sleep(wait).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_sessions_get_no_more_than_their_limit_across_a_minute_boundary() {
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.auth.api_key_requests_per_minute = 100;
    config.auth.session_requests_per_minute = 100;
    let app = Arc::new(TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await);
    let mona = app.user("mona@example.com", Role::Customer).await;
    let key = app.api_key(&mona, &[Scope::ReadUser]).await;

    // 100 requests for each just before a minute boundary and 100 just after: 200 in about
    // three seconds, twice the limit of any minute.
    wait_until_before_the_minute(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let burst = |token: String| {
        let app = app.clone();
        async move {
            let mut set = tokio::task::JoinSet::new();
            for _ in 0..100 {
                let (app, token) = (app.clone(), token.clone());
                set.spawn(async move {
                    let response = app.get_as(&token, "/api/v1/me").await;
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                    (response.status().as_u16(), retry_after)
                });
            }
            set.join_all().await
        }
    };
    let mut answers = Vec::new();
    answers.extend(burst(key.clone()).await.into_iter().map(|a| ("key", a)));
    answers.extend(
        burst(mona.token.clone())
            .await
            .into_iter()
            .map(|a| ("session", a)),
    );
    let minute = Utc::now().timestamp() / 60;
    while Utc::now().timestamp() / 60 == minute {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    answers.extend(burst(key.clone()).await.into_iter().map(|a| ("key", a)));
    answers.extend(
        burst(mona.token.clone())
            .await
            .into_iter()
            .map(|a| ("session", a)),
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "the bursts took {took:?}");

    for who in ["key", "session"] {
        let passed = answers
            .iter()
            .filter(|(w, (status, _))| *w == who && *status == 200)
            .count();
        let limited: Vec<_> = answers
            .iter()
            .filter(|(w, (status, _))| *w == who && *status == 429)
            .collect();
        assert_eq!(passed, 100, "{who}: no more than the limit in any minute");
        assert_eq!(limited.len(), 100, "{who}");
        for (_, (_, retry_after)) in limited {
            let retry_after = retry_after.expect("Retry-After");
            assert!((1..=60).contains(&retry_after), "{retry_after}");
        }
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_do_not_grow_the_metrics() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    // A matched and an unmatched path once, so the baseline has their labels.
    app.get("/healthz").await;
    app.get("/no/such/page").await;
    let before = app
        .get("/metrics")
        .await
        .text()
        .await
        .expect("metrics")
        .len();

    let mut methods = BTreeSet::new();
    for n in 0..500_u32 {
        let method: String = (0..12)
            .map(|i| char::from(b'A' + u8::try_from((n * 7 + i * 13) % 26).unwrap_or(0)))
            .collect::<String>()
            + &n.to_string();
        // Made-up paths, and real ones (answered 405 for a method they do not take).
        let path = match n % 3 {
            0 => format!("/{}/{n}", rand::random::<u32>()),
            1 => "/healthz".to_owned(),
            _ => "/api/v1/me".to_owned(),
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        app.http
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .expect("a request");
        methods.insert(method.to_string());
    }
    let text = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        methods.iter().all(|method| !text.contains(method.as_str())),
        "a made-up method is a label"
    );
    assert!(text.contains("method=\"OTHER\""), "{text}");
    assert!(
        text.len() < before + 20_000,
        "/metrics grew from {before} to {} bytes",
        text.len()
    );
}

/// Reads until the server closes the connection, and says how long that took (`None` if it
/// stayed open for `patience`).
async fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0_u8; 4096];
    loop {
        match tokio::time::timeout(
            patience.saturating_sub(started.elapsed()),
            stream.read(&mut buffer),
        )
        .await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

fn slow_client_config() -> Config {
    let mut config = Config::default();
    config.web.header_read_timeout = Duration::from_secs(1);
    config.web.body_read_timeout = Duration::from_secs(1);
    config.web.request_timeout = Duration::from_secs(5);
    config.web.idle_timeout = Duration::from_secs(6);
    config
}

#[tokio::test]
async fn slow_headers_idle_connections_and_stalled_bodies_are_closed() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(
        db.core_with(slow_client_config(), Arc::new(SystemClock))
            .await,
    )
    .await;
    let addr = app.running.addr;

    // Headers a byte at a time, past the header timeout.
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = slow.split();
    let dribble = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let closed = async {
        let mut buffer = [0_u8; 1024];
        let started = Instant::now();
        loop {
            match tokio::time::timeout(Duration::from_secs(8), reader.read(&mut buffer)).await {
                Err(_) => return None,
                Ok(Ok(0) | Err(_)) => return Some(started.elapsed()),
                Ok(Ok(_)) => {}
            }
        }
    };
    let (_, closed) = tokio::join!(dribble, closed);
    let closed = closed.expect("a dribbling client is cut off");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");
    drop(slow);

    // A kept-alive connection left idle after its answer.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("a request");
    let mut buffer = [0_u8; 4096];
    let read = idle.read(&mut buffer).await.expect("an answer");
    assert!(
        String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buffer[..read])
    );
    let closed = closed_within(&mut idle, Duration::from_secs(8))
        .await
        .expect("an idle connection is closed");
    assert!(closed < Duration::from_secs(3), "closed after {closed:?}");

    // A body that stops coming: the request fails well before the request timeout.
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    let started = Instant::now();
    stalled
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"email\":",
        )
        .await
        .expect("a request");
    let read = tokio::time::timeout(Duration::from_secs(8), stalled.read(&mut buffer))
        .await
        .expect("a stalled upload is answered");
    let took = started.elapsed();
    let answer = String::from_utf8_lossy(&buffer[..read.unwrap_or(0)]).into_owned();
    assert!(
        took < Duration::from_millis(3500),
        "answered after {took:?}: {answer}"
    );
    assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_one_to_close() {
    let db = TestDb::sqlite().await;
    let mut config = Config::default();
    config.web.max_connections = 3;
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;
    let addr = app.running.addr;

    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = TcpStream::connect(addr).await.expect("connect");
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("a request");
    let mut buffer = [0_u8; 4096];
    let early = tokio::time::timeout(Duration::from_millis(800), fourth.read(&mut buffer)).await;
    assert!(
        early.is_err(),
        "the fourth connection is served only when one closes"
    );

    drop(held.pop());
    let read = tokio::time::timeout(Duration::from_secs(5), fourth.read(&mut buffer))
        .await
        .expect("served once a connection closed")
        .expect("an answer");
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
}
