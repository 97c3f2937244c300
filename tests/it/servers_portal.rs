//! Servers in the portal, in a real browser, on the provider fakes: a customer picks a plan,
//! sees the price, creates the server, shuts it down and boots it (each asking first), and
//! deletes it. Every page is saved as a screenshot.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::pricing::Size;
use hostdeck_core::{Actor, Role};
use hostdeck_e2e::app::{PASSWORD, TestApp};
use hostdeck_e2e::browser::{Browser, NARROW_WIDTH};
use hostdeck_e2e::db::TestDb;

use crate::servers::{Cloud, give_credit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_creates_powers_and_deletes_a_server_in_a_browser() {
    let db = TestDb::sqlite().await;
    let cloud = Cloud::start().await;
    let mut config = cloud.config("");
    config.company.name = "Example Hosting".into();
    let core = db.core_with(config, Arc::new(SystemClock)).await;
    let app = TestApp::start(core).await;
    let Some(mut browser) = Browser::start("servers_portal", &app.url("")).await else {
        return;
    };
    let ada = app.user("ada@example.test", Role::Customer).await;
    give_credit(app.core(), &ada.user, "10.00").await;
    let currency = app.core().config.billing.currency.clone();
    let first_plan = app.core().pricing.plans()[0].name.clone();
    let quote = app
        .core()
        .servers
        .quote(
            &Actor::user(ada.user.id, Role::Customer, hostdeck_core::Via::Portal),
            &Size::Plan(first_plan),
        )
        .expect("a quote");

    browser.open("/login").await;
    browser
        .fill(
            "/login",
            &[("email", "ada@example.test"), ("password", PASSWORD)],
        )
        .await;
    browser.submit("/login").await;
    assert_eq!(browser.path().await, "/");

    browser.open("/servers").await;
    assert!(
        browser
            .page_text()
            .await
            .contains("You have no servers yet")
    );

    // Step 1: choose (the first plan and the first location's first operating system,
    // Jelastic's Ubuntu VPS, are preselected from the lists).
    browser.open("/servers/new").await;
    browser
        .fill(
            "/servers/new/review",
            &[("name", "web one"), ("hostname", "web1.example.test")],
        )
        .await;
    browser.submit("/servers/new/review").await;
    assert!(
        browser.path().await.starts_with("/servers/new/review?"),
        "{}",
        browser.path().await
    );
    assert_eq!(browser.text("[data-test=\"system\"]").await, "Ubuntu VPS");
    // Step 2: the price before anything is made.
    assert_eq!(
        browser.text("[data-test=\"first-hour\"]").await,
        quote.first_hour().display_exact(&currency)
    );
    assert!(cloud.jel.environments().is_empty(), "nothing made yet");
    browser.shot_at("review-phone", NARROW_WIDTH).await;
    browser.submit("/servers").await;
    let path = browser.path().await;
    assert!(path.ends_with("?notice=server-created"), "{path}");
    let id: i64 = path
        .trim_start_matches("/servers/")
        .split('?')
        .next()
        .and_then(|id| id.parse().ok())
        .expect("the server's id in the path");
    assert_eq!(browser.text("[data-test=\"state\"]").await, "running");
    assert_eq!(
        browser.text("[data-test=\"charged\"]").await,
        quote.first_hour().display(&currency)
    );
    assert_eq!(cloud.jel.environments().len(), 1);

    // Shut down: the button asks first; confirming does it.
    let shutdown = format!("/servers/{id}/power/shutdown");
    browser.submit(&shutdown).await;
    assert!(browser.page_text().await.contains("Shut down web one?"));
    browser.submit(&shutdown).await;
    assert_eq!(
        browser.path().await,
        format!("/servers/{id}?notice=server-power")
    );
    assert_eq!(browser.text("[data-test=\"state\"]").await, "stopped");

    browser.submit(&format!("/servers/{id}/power/boot")).await;
    assert_eq!(browser.text("[data-test=\"state\"]").await, "running");

    browser.open("/servers").await;
    assert_eq!(browser.text("[data-test=\"state\"]").await, "running");
    browser.shot_at("servers-phone", NARROW_WIDTH).await;

    let delete = format!("/servers/{id}/delete");
    browser.open(&format!("/servers/{id}")).await;
    browser.submit(&delete).await;
    assert!(browser.page_text().await.contains("Delete web one?"));
    browser.submit(&delete).await;
    assert_eq!(browser.path().await, "/servers?notice=server-deleted");
    assert!(
        browser
            .page_text()
            .await
            .contains("You have no servers yet")
    );
    assert!(cloud.jel.environments().is_empty());

    // Somebody else's server is not found, in the browser as anywhere.
    browser.open("/servers/999999").await;
    assert_eq!(browser.title().await, "Not found · Example Hosting");
    browser.close().await;
    cloud.assert_clean();
}
