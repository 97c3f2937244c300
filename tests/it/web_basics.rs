//! The HTTP skeleton: liveness, readiness, metrics, request ids, limits and the error shape.

use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::db::TestDb;
use serde_json::Value;

#[tokio::test]
async fn health_readiness_metrics_and_errors() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;

    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    let request_id = health
        .headers()
        .get("x-request-id")
        .expect("a request id")
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(request_id.len(), 36, "a UUID: {request_id}");
    assert_eq!(health.json::<Value>().await.expect("json")["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["checks"]["database"],
        "ok"
    );

    // A client's own request id is kept, so a support case can be traced end to end.
    let traced = app
        .http
        .get(app.url("/healthz"))
        .header("x-request-id", "case-4711")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        traced
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("case-4711")
    );

    let missing = app.get("/api/v1/no/such/thing").await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    // Outside the API an unknown address is a page.
    let missing = app.get("/no/such/page").await;
    assert_eq!(missing.status(), 404);
    let page = missing.text().await.expect("a page");
    assert!(page.contains("Not found"), "{page}");

    let too_big = app
        .http
        .post(app.url("/healthz"))
        .body(vec![b'x'; 2 * 1024 * 1024])
        .send()
        .await
        .expect("POST");
    assert_eq!(
        too_big.status(),
        413,
        "bodies over web.max_body_bytes are refused"
    );

    let metrics = app.get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("http_requests_total{"), "{text}");
    assert!(
        text.contains(r#"route="/healthz""#),
        "requests are counted by route: {text}"
    );
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );

    // When the database stops answering, the process stays live but is no longer ready.
    app.core().store().close().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let not_ready = app.get("/readyz").await;
    assert_eq!(not_ready.status(), 503);
    assert_eq!(
        not_ready.json::<Value>().await.expect("json")["status"],
        "unavailable"
    );
    app.running.shutdown().await.expect("a clean shutdown");
}
