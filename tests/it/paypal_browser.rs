//! A customer tops up 10.00 in a real browser: chooses the preset on the top-up page, pays on
//! the (fake) PayPal approve page, comes back to "payment received", sees 10.00 on the
//! dashboard, and finds it in the CSV export and in the PDF statement (read with pdftotext).

use hostdeck_core::payments::WebhookVerification;
use hostdeck_e2e::app::PASSWORD;
use hostdeck_e2e::browser::Browser;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::pdf::pdftotext;

use crate::paypal_webhooks::Shop;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_tops_up_ten_through_paypal_in_a_browser() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let Some(mut browser) = Browser::start("paypal_browser", &shop.app.url("")).await else {
        return;
    };
    let email = "topup@example.test";
    let customer = shop.customer(email).await;

    browser.open("/login").await;
    browser
        .fill("/login", &[("email", email), ("password", PASSWORD)])
        .await;
    browser.submit("/login").await;
    assert_eq!(browser.path().await, "/");
    assert!(
        browser
            .text("[data-test=\"balance\"]")
            .await
            .contains("$0.00")
    );

    // The top-up page: the 10.00 preset is the first button.
    browser.open("/billing").await;
    assert!(browser.page_text().await.contains("10.00 USD"));
    browser.submit("/billing/topup").await;

    // At PayPal: the amount the server chose, and "Pay".
    assert!(
        browser.path().await.starts_with("/checkoutnow?token="),
        "{}",
        browser.path().await
    );
    assert_eq!(browser.text("#amount").await, "10.00 USD");
    browser.submit("/checkoutnow/approve").await;

    // Back home: captured and credited.
    assert!(
        browser
            .path()
            .await
            .starts_with("/billing/paypal/return?token="),
        "{}",
        browser.path().await
    );
    assert_eq!(browser.text("[data-test=\"credited\"]").await, "$10.00");
    browser.open("/").await;
    assert_eq!(browser.text("[data-test=\"balance\"]").await, "$10.00");
    browser.open("/billing/transactions").await;
    assert!(browser.page_text().await.contains("top up"));

    // The exports hold it.
    let cookie = format!("hd_session={}", customer.token);
    let csv = shop
        .app
        .http
        .get(shop.app.url("/billing/transactions.csv"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("CSV")
        .text()
        .await
        .expect("CSV text");
    assert!(csv.contains(",top_up,10.00,USD,10.00,"), "{csv}");
    let pdf = shop
        .app
        .http
        .get(shop.app.url("/billing/statement.pdf"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("PDF")
        .bytes()
        .await
        .expect("PDF bytes");
    if let Some(text) = pdftotext(&pdf) {
        assert!(text.contains("Closing balance: $10.00"), "{text}");
        assert!(text.contains("top up"), "{text}");
    }
    shop.assert_paypal_clean();
    browser.close().await;
}
