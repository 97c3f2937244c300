//! While maintenance mode is on, no path spelling, cookie or header gets a customer past it:
//! requests go over a raw TCP connection, so the paths reach the server exactly as written.

use std::time::Duration;

use hostdeck_core::Role;
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::db::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTP/1.1 request and returns the status code and the whole answer.
async fn raw(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(app.running.addr)
        .await
        .expect("connect");
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_cookie_or_header_trick_gets_past_maintenance() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("root@example.com", Role::Admin).await;
    let customer = app.user("mallory@example.com", Role::Customer).await;
    let bearer = format!("Bearer {}", customer.token);

    // Before maintenance the customer's own data is there, so a 200 below would be a bypass.
    let (status, answer) = raw(&app, "/api/v1/me", &[("Authorization", &bearer)]).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("mallory@example.com"));

    let enabled = app
        .post_json(
            Some(&admin.token),
            "/api/v1/admin/maintenance",
            &serde_json::json!({ "message": "Upgrading the database" }),
        )
        .await;
    assert_eq!(enabled.status(), 200);

    let api_spellings = [
        "/api/v1/me",
        "/api/v1/me/",
        "//api/v1/me",
        "/api/v1//me",
        "/API/V1/ME",
        "/api/v1/me?x=/healthz",
        "/api/v1/me#/healthz",
        "/healthz/../api/v1/me",
        "/webhooks/../api/v1/me",
        "/webhooks/%2e%2e/api/v1/me",
        "/webhooks/..%2fapi/v1/me",
        "/%2e%2e/api/v1/me",
        "/api/v1/%6de",
        "/login/../api/v1/me",
        "/assets/portal.css/../../api/v1/me",
    ];
    let tricks: [(&str, &str); 5] = [
        ("Authorization", &bearer),
        ("X-Forwarded-For", "127.0.0.1"),
        ("X-Original-URL", "/healthz"),
        ("X-Rewrite-URL", "/healthz"),
        ("Cookie", "hd_role=admin; admin=true; maintenance=off"),
    ];
    for path in api_spellings {
        let (status, answer) = raw(&app, path, &tricks).await;
        assert_ne!(status, 200, "{path} got through:\n{answer}");
        assert!(
            !answer.contains("mallory@example.com"),
            "{path} leaked the customer's data:\n{answer}"
        );
    }

    // The portal: the customer's own session cookie and made-up cookies alike see the
    // maintenance page, whatever the path.
    let session_cookie = format!("hd_session={}; hd_role=admin", customer.token);
    for path in [
        "/",
        "/account",
        "//account",
        "/account/",
        "/login/../account",
        "/webhooks/../account",
    ] {
        let (status, answer) = raw(&app, path, &[("Cookie", &session_cookie)]).await;
        assert_ne!(status, 200, "{path} got through:\n{answer}");
        assert!(
            !answer.contains("mallory@example.com"),
            "{path} leaked the customer's data"
        );
    }
    let (status, answer) = raw(&app, "/", &[("Cookie", &session_cookie)]).await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer.contains("Upgrading the database"),
        "the maintenance page shows the message"
    );

    // What stays open stays open, and the admin still gets in.
    for path in ["/healthz", "/readyz", "/metrics", "/login"] {
        assert_eq!(
            raw(&app, path, &[]).await.0,
            200,
            "{path} stays open during maintenance"
        );
    }
    let admin_bearer = format!("Bearer {}", admin.token);
    let (status, answer) = raw(&app, "/api/v1/me", &[("Authorization", &admin_bearer)]).await;
    assert_eq!(status, 200, "{answer}");
}
