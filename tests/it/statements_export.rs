//! Statements: a customer tops up 10.00 through PayPal and runs a server for a while; the
//! transactions page filters by kind and date and pages through them, the API does the same,
//! the CSV export holds every line, the PDF statement reads back (through pdftotext) with the
//! company, the period, the opening and closing balance and every line, and the dashboard
//! shows the usage of the last 30 days as a chart.

use chrono::{Duration, Utc};
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::payments::{Settlement, WebhookVerification};
use hostdeck_core::policy::{Actor, Via};
use hostdeck_e2e::app::answer;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::pdf::pdftotext;

use crate::paypal_webhooks::Shop;

async fn portal_get(shop: &Shop, token: &str, path: &str) -> reqwest::Response {
    shop.app
        .http
        .get(shop.app.url(path))
        .header("cookie", format!("hd_session={token}"))
        .send()
        .await
        .expect("GET")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_shows_the_top_up_and_usage_in_csv_pdf_and_the_chart() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("statement@example.test").await;
    let order = shop.approved_order(&customer, 10).await;
    assert!(matches!(
        shop.capture(&customer, &order).await,
        Settlement::Credited { .. }
    ));
    // Three hours of a server, as the hourly tick posts them.
    let core = shop.app.core();
    for hour in 0..3 {
        core.ledger
            .post(
                &Actor::system(),
                PostingRequest {
                    debit: customer.user.wallet,
                    credit: core.ledger.system_account(SystemAccount::Usage),
                    amount: Money::from_micros(250_000),
                    kind: PostingKind::Usage,
                    key: format!("usage:1:{hour}"),
                    reference: Some("server 1".into()),
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Allow,
                },
            )
            .await
            .expect("a usage charge");
    }
    let token = &customer.token;

    // The portal's list, filtered by kind, and the API's.
    let page = portal_get(&shop, token, "/billing/transactions?kind=top_up")
        .await
        .text()
        .await
        .expect("a page");
    assert!(page.contains("$10.00"), "{page}");
    assert!(!page.contains("-$0.25"), "usage is filtered out");
    let (status, usage) = answer(
        shop.app
            .get_as(token, "/api/v1/transactions?kind=usage&limit=2")
            .await,
    )
    .await;
    assert_eq!(status, 200, "{usage}");
    assert_eq!(usage["total"], 3);
    assert_eq!(usage["items"].as_array().map(Vec::len), Some(2));
    let tomorrow = (Utc::now() + Duration::days(1)).format("%Y-%m-%d");
    let (_, future) = answer(
        shop.app
            .get_as(token, &format!("/api/v1/transactions?from={tomorrow}"))
            .await,
    )
    .await;
    assert_eq!(future["total"], 0, "{future}");
    let (status, bad) = answer(
        shop.app
            .get_as(token, "/api/v1/transactions?kind=gift")
            .await,
    )
    .await;
    assert_eq!(status, 422, "{bad}");

    // CSV, from the portal and the API.
    let csv = portal_get(&shop, token, "/billing/transactions.csv")
        .await
        .text()
        .await
        .expect("CSV");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 5, "{csv}");
    assert!(rows[0].starts_with("id,date,kind,amount,currency,balance_after"));
    assert!(rows[1].contains(",top_up,10.00,USD,10.00,"), "{csv}");
    assert!(rows[4].contains(",usage,-0.25,USD,9.25,server 1,"), "{csv}");
    let api_csv = shop
        .app
        .get_as(token, "/api/v1/transactions/export.csv?kind=top_up")
        .await;
    assert_eq!(api_csv.status(), 200);
    assert_eq!(api_csv.text().await.expect("CSV").lines().count(), 2);

    // The PDF statement, read back.
    let response = portal_get(&shop, token, "/billing/statement.pdf").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/pdf")
    );
    let pdf = response.bytes().await.expect("a PDF");
    assert!(pdf.starts_with(b"%PDF-"));
    let api_pdf = shop.app.get_as(token, "/api/v1/statement.pdf").await;
    assert_eq!(api_pdf.status(), 200);
    if let Some(text) = pdftotext(&pdf) {
        for expected in [
            "Example Hosting",
            "Statement of account",
            "statement@example.test",
            "Opening balance: $0.00",
            "Closing balance: $9.25",
            "Transactions: 4",
            "top up",
            "$10.00",
            "-$0.25",
            "$9.25",
        ] {
            assert!(text.contains(expected), "{expected:?} in the PDF:\n{text}");
        }
    }

    // The dashboard's chart: thirty days, today's bar carrying 0.75.
    let dashboard = portal_get(&shop, token, "/")
        .await
        .text()
        .await
        .expect("a page");
    assert!(dashboard.contains("<svg class=\"chart\""), "{dashboard}");
    assert_eq!(dashboard.matches("<rect").count(), 30);
    assert!(dashboard.contains("$0.75 in all"), "{dashboard}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_paypal_settings_a_customer_reads_that_top_ups_are_not_available_yet_and_no_setting_names()
 {
    let db = TestDb::sqlite().await;
    let app = hostdeck_e2e::app::TestApp::start(db.core_now().await).await;
    let customer = app
        .user("nopay@example.test", hostdeck_core::Role::Customer)
        .await;
    let mut cookie = format!("hd_session={}", customer.token);
    let response = app
        .http
        .get(app.url("/billing"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200, "the billing page itself works");
    if let Some(csrf_cookie) = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("hd_csrf="))
        .and_then(|value| value.split(';').next())
    {
        cookie = format!("{cookie}; hd_csrf={csrf_cookie}");
    }
    let page = response.text().await.expect("a page");
    // The page's own form token (the sign-out form carries one).
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token on the page")
        .to_owned();
    assert!(page.contains("Top-ups are not available yet"), "{page}");
    assert!(
        !page.contains("paypal."),
        "a setting's name on a customer page: {page}"
    );
    for link in [
        "href=\"/billing/transactions\"",
        "href=\"/billing/statement.pdf\"",
    ] {
        assert!(page.contains(link), "{link} missing: {page}");
    }
    for path in ["/billing/transactions", "/billing/statement.pdf"] {
        let reached = app
            .http
            .get(app.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("GET");
        assert_eq!(reached.status(), 200, "{path} is reachable without PayPal");
    }
    // A top-up asked for anyway (an old form, a bookmark) says the same, with 503.
    let refused = app
        .http
        .post(app.url("/billing/topup"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("amount", "10.00")])
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 503);
    let page = refused.text().await.expect("a page");
    assert!(page.contains("Top-ups are not available yet"), "{page}");
    assert!(!page.contains("paypal."), "{page}");
    let (status, body) = answer(
        app.post_json(
            Some(&customer.token),
            "/api/v1/paypal/orders",
            &serde_json::json!({"amount": "10.00"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not available yet"), "{body}");
    assert!(!message.contains("paypal."), "{body}");
    // Webhooks are refused for PayPal to try again once configured.
    let delivery = app
        .http
        .post(app.url("/webhooks/paypal"))
        .body("{}")
        .send()
        .await
        .expect("POST");
    assert_eq!(delivery.status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_staff_refund_a_top_up_from_the_portal() {
    let shop = Shop::open(TestDb::sqlite().await, WebhookVerification::Offline).await;
    let customer = shop.customer("refundme@example.test").await;
    let order = shop.approved_order(&customer, 20).await;
    let Settlement::Credited { capture_id, .. } = shop.capture(&customer, &order).await else {
        panic!("credited on return");
    };
    let staff = shop
        .app
        .user("money@example.test", hostdeck_core::Role::Billing)
        .await;
    let path = format!("/admin/users/{}/payments", customer.user.id);
    let page = portal_get(&shop, &staff.token, &path).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains(&capture_id), "{html}");

    let app = &shop.app;
    let refund = |visit: hostdeck_e2e::app::PortalVisit, amount: &'static str| {
        let path = format!("/admin/users/{}/refunds", customer.user.id);
        let capture_id = capture_id.clone();
        async move {
            app.portal_post(
                &visit,
                &path,
                &[
                    ("idempotency_key", "form-1"),
                    ("capture_id", &capture_id),
                    ("amount", amount),
                    ("reason", "asked for it back"),
                ],
            )
            .await
        }
    };
    // A customer cannot (with a form token of her own session).
    let customer_visit = shop.app.portal_visit(Some(&customer.token), "/").await;
    let refused = refund(customer_visit, "5.00").await;
    assert_eq!(refused.status(), 403);
    assert!(
        !refused
            .text()
            .await
            .expect("a page")
            .contains("did not come from this site"),
        "refused by the permission, not the form check"
    );
    // Billing staff can; the same form twice is one refund.
    let staff_visit = shop.app.portal_visit(Some(&staff.token), &path).await;
    for _ in 0..2 {
        let done = refund(staff_visit.clone(), "5.00").await;
        assert_eq!(done.status(), 303, "{:?}", done.text().await);
    }
    assert_eq!(
        shop.balance(&customer).await,
        Money::from_micros(15_000_000)
    );
    assert_eq!(
        shop.paypal.capture(&capture_id).map(|c| c.refund_ids.len()),
        Some(1)
    );
    shop.assert_paypal_clean();
}
