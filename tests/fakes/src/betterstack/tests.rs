//! The BetterStack fake, read over HTTP as hostdeck reads the real API.

use serde_json::Value;

use super::{FakeBetterstack, Scenario};

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.expect("an answer");
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("a body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn monitors_come_in_pages_linked_on_the_fakes_own_origin() {
    let fake = FakeBetterstack::start().await;
    let first = format!("{}/api/v2/monitors?per_page=3", fake.base_url());
    let (status, page) = get(&first, Some(fake.token())).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(3));
    let next = page["pagination"]["next"].as_str().expect("a next page");
    assert!(next.starts_with(&fake.base_url()), "{next}");
    assert!(page["pagination"]["prev"].is_null());
    let (_, last) = get(next, Some(fake.token())).await;
    assert_eq!(last["data"].as_array().map(Vec::len), Some(3));
    assert!(last["pagination"]["next"].is_null());
    assert_eq!(fake.count("GET /api/v2/monitors"), 2);
}

#[tokio::test]
async fn a_wrong_token_gets_the_observed_401() {
    let fake = FakeBetterstack::start().await;
    let url = format!("{}/api/v2/monitors", fake.base_url());
    for token in [None, Some("not-the-token")] {
        let (status, body) = get(&url, token).await;
        assert_eq!(status, 401);
        assert!(
            body["errors"]
                .as_str()
                .is_some_and(|text| text.starts_with("Invalid Team API token"))
        );
    }
}

#[tokio::test]
async fn open_incidents_unknown_ids_and_scenarios() {
    let fake = FakeBetterstack::start().await;
    let base = fake.base_url();
    let (_, open) = get(
        &format!("{base}/api/v3/incidents?resolved=false"),
        Some(fake.token()),
    )
    .await;
    assert_eq!(open["data"].as_array().map(Vec::len), Some(2));
    let (status, body) = get(&format!("{base}/api/v2/monitors/1"), Some(fake.token())).await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"], "Resource with provided ID was not found");
    fake.set_scenario(Scenario::RateLimited {
        retry_after: Some(30),
    });
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/v2/monitors"))
        .bearer_auth(fake.token())
        .send()
        .await
        .expect("an answer");
    assert_eq!(answer.status().as_u16(), 429);
    assert_eq!(
        answer
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("30")
    );
    fake.set_scenario(Scenario::Empty);
    let (_, empty) = get(&format!("{base}/api/v2/monitors"), Some(fake.token())).await;
    assert_eq!(empty["data"], Value::Array(Vec::new()));
}
