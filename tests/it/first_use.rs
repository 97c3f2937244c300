//! The first hour of a customer, and what they trip over: an id that is not one, a body too
//! large or not JSON, a missing sign-in or a key without the scope all answer in the API's
//! error shape (and as a page on the portal); money reads as `$12.34`, a usage line names
//! the server and the hour, a PDF statement has a number, the company's details and its period;
//! the server list pages; power buttons follow the server's state; signing in takes the
//! two-factor code under the same name as turning two-factor on.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use hostdeck_core::billing::meter::hour_of;
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::config::Config;
use hostdeck_core::ids::ServerId;
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::policy::{Actor, Scope, Via};
use hostdeck_core::{Core, Role};
use hostdeck_e2e::app::{PASSWORD, SignedIn, TestApp, answer};
use hostdeck_e2e::billing::{SeedServer, execute, insert_servers, sql_time};
use hostdeck_e2e::browser::{Browser, NARROW_WIDTH, WIDTH};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::pdf::pdftotext;
use reqwest::Method;
use serde_json::{Value, json};

const COMPANY: &str = "[company]\nname = \"Example Hosting\"\nlegal_name = \"Example Hosting Ltd\"\n\
                       address = [\"1 Example Street\", \"London EC1A 1AA\"]\ntax_id = \"GB123456789\"\n\
                       support_email = \"help@example.test\"\n[web]\nmax_body_bytes = 4096\n";

/// A server name longer than any table column.
const LONG_NAME: &str = "customer-facing-production-database-replica-in-the-eu-west-region-01";

/// The platform on `db` with the company details above, a 4 KiB body limit, the sandbox
/// provider, and a clock that starts three hours ago on the hour.
async fn start(db: &TestDb) -> (TestApp, Arc<ManualClock>) {
    let config = Config::from_toml(COMPANY).unwrap_or_else(|error| panic!("{error}"));
    let clock = Arc::new(ManualClock::new(hour_of(Utc::now()) - Duration::hours(3)));
    let core = db.core_with(config, clock.clone()).await;
    (TestApp::start(core).await, clock)
}

async fn credit(core: &Core, user: &SignedIn, amount: &str) {
    core.ledger
        .post(
            &Actor::system(),
            PostingRequest {
                debit: core.ledger.system_account(SystemAccount::Promotions),
                credit: user.user.wallet,
                amount: Money::parse(amount).expect("an amount"),
                kind: PostingKind::FreeCredit,
                key: format!("first-use-credit:{}", user.user.id),
                reference: None,
                memo: None,
                actor_user: None,
                actor_via: Via::System,
                overdraft: Overdraft::Allow,
            },
        )
        .await
        .expect("credit");
}

async fn portal(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let response = app
        .http
        .get(app.url(path))
        .header("cookie", format!("hd_session={token}"))
        .send()
        .await
        .expect("GET");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a page"))
}

/// The `code` and `message` of an API error, after checking it is the API's shape.
fn error_of(status: u16, body: &Value) -> (String, String) {
    let code = body["error"]["code"].as_str();
    let message = body["error"]["message"].as_str();
    assert!(
        code.is_some() && message.is_some(),
        "a {status} answer in the error shape: {body}"
    );
    (
        code.unwrap_or_default().to_owned(),
        message.unwrap_or_default().to_owned(),
    )
}

/// Servers of `user` written straight into the store (no create limits, no provider), named
/// `names`, in state `state`, created at `at`.
async fn seed(
    db: &TestDb,
    user: &SignedIn,
    first_id: i64,
    names: &[&str],
    state: &'static str,
    at: DateTime<Utc>,
) -> Vec<ServerId> {
    let rows: Vec<SeedServer> = names
        .iter()
        .map(|_| SeedServer {
            state,
            ..SeedServer::running(user.user.id.0, at, 5_000_000)
        })
        .collect();
    let ids = insert_servers(&db.url, first_id, &rows).await;
    for (id, name) in ids.iter().zip(names) {
        execute(
            &db.url,
            &format!("UPDATE servers SET name = '{name}' WHERE id = {id}"),
        )
        .await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_and_a_careless_client_get_the_apis_error_shape_and_the_portal_a_page() {
    let db = TestDb::sqlite().await;
    let (app, _clock) = start(&db).await;
    let ada = app.user("ada@example.test", Role::Customer).await;

    // An id that cannot be one: 404 in the shape, as for an id that is not there.
    let (status, body) = answer(app.get_as(&ada.token, "/api/v1/servers/abc").await).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(error_of(status, &body).0, "not_found");

    // JSON that does not parse, JSON of another type, a body over web.max_body_bytes.
    let post = |content_type: &'static str, body: Vec<u8>| {
        app.http
            .post(app.url("/api/v1/servers"))
            .bearer_auth(&ada.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let (status, body) = answer(
        post("application/json", b"{\"name\": ".to_vec())
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(status, &body).0, "invalid");
    let (status, body) = answer(
        post("text/plain", br#"{"name":"web"}"#.to_vec())
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(status, 415, "{body}");
    let (code, message) = error_of(status, &body);
    assert_eq!(code, "invalid");
    assert!(message.contains("application/json"), "{message}");
    let huge = format!("{{\"name\":\"{}\"}}", "x".repeat(8 * 1024)).into_bytes();
    let (status, body) = answer(post("application/json", huge).await.expect("POST")).await;
    assert_eq!(status, 413, "{body}");
    let (code, message) = error_of(status, &body);
    assert_eq!(code, "invalid");
    assert!(message.contains("4096 bytes"), "{message}");

    // A method the address does not take.
    let (status, body) = answer(
        app.send(Method::PATCH, "/api/v1/balance", Some(&ada.token), None)
            .await,
    )
    .await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(error_of(status, &body).0, "invalid");

    // No sign-in, or a token that is not one: 401 with its own code.
    for token in [None, Some("not-a-token")] {
        let (status, body) = answer(app.send(Method::GET, "/api/v1/me", token, None).await).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(error_of(status, &body).0, "unauthenticated", "{token:?}");
    }

    // A key that may read servers but not create them: the refusal names the scope.
    let reader = app.api_key(&ada, &[Scope::ReadServers]).await;
    let (status, body) = answer(
        app.post_json(
            Some(&reader),
            "/api/v1/servers",
            &json!({"name": "web", "hostname": "web.example.test", "plan": "small",
                    "template": "debian-12"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (code, message) = error_of(status, &body);
    assert_eq!(code, "forbidden");
    assert!(message.contains("write:servers"), "{message}");

    // The OpenAPI document lists every code.
    let (_, document) = answer(app.get("/api/openapi.json").await).await;
    let description = document["info"]["description"].as_str().unwrap_or_default();
    for code in hostdeck_core::ErrorCode::ALL {
        assert!(
            description.contains(code.as_str()),
            "{code} in {description}"
        );
    }
    let responses = &document["paths"]["/api/v1/servers"]["post"]["responses"];
    for status in ["400", "401", "403", "413", "415", "422"] {
        assert!(
            responses[status].is_object(),
            "{status} documented: {responses}"
        );
    }

    // On the portal the same mistakes are pages, not plain text or JSON.
    let pages = [
        app.http
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'a'; 8 * 1024])
            .send()
            .await
            .expect("POST"),
        app.http
            .get(app.url("/admin/users/abc"))
            .header("cookie", format!("hd_session={}", ada.token))
            .send()
            .await
            .expect("GET"),
        app.get("/no/such/page").await,
    ];
    for (response, status) in pages.into_iter().zip([413, 400, 404]) {
        assert_eq!(response.status().as_u16(), status);
        let kind = response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let page = response.text().await.expect("a page");
        assert!(kind.starts_with("text/html"), "{status}: {kind} {page}");
        assert!(page.contains("Example Hosting"), "{page}");
    }
}

hostdeck_e2e::on_both_engines!(
    money_reads_in_the_currencys_decimals_and_usage_lines_name_the_server_and_hour,
    the_server_list_pages_and_power_buttons_follow_the_state
);

async fn money_reads_in_the_currencys_decimals_and_usage_lines_name_the_server_and_hour(
    db: TestDb,
) {
    let (app, clock) = start(&db).await;
    let core = app.core();
    let ada = app.user("ada@example.test", Role::Customer).await;
    credit(core, &ada, "12.34").await;
    let started = clock.now();

    // The balance, as people read it, and exactly for programs.
    let (_, page) = portal(&app, &ada.token, "/").await;
    assert!(page.contains("$12.34"), "{page}");
    let (status, balance) = answer(app.get_as(&ada.token, "/api/v1/balance").await).await;
    assert_eq!(status, 200, "{balance}");
    assert_eq!(balance["display"], "$12.34", "{balance}");
    assert_eq!(balance["micros"], 12_340_000);

    // A server runs two hours; the tick bills them.
    let ids = seed(&db, &ada, 7_000, &[LONG_NAME], "running", started).await;
    clock.set(started + Duration::hours(2) + Duration::minutes(5));
    core.billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a tick");
    let hour = |k: i64| {
        let from = started + Duration::hours(k);
        format!(
            "{}–{} UTC",
            from.format("%Y-%m-%d %H:%M"),
            (from + Duration::hours(1)).format("%H:%M")
        )
    };
    let line = |k: i64| format!("server {LONG_NAME}, {}", hour(k));
    let balance = core
        .ledger
        .balance(&Actor::system(), &ada.user)
        .await
        .expect("a balance");
    let currency = &core.config.billing.currency;
    assert_ne!(
        balance.micros() % 10_000,
        0,
        "the balance has more decimals than the currency: {}",
        balance.amount_text()
    );

    // The portal: the dashboard and the transactions list.
    let (_, dashboard) = portal(&app, &ada.token, "/").await;
    assert!(
        dashboard.contains(&balance.display(currency)),
        "{dashboard}"
    );
    assert!(
        !dashboard.contains(&balance.amount_text()),
        "six decimals of a balance are noise: {dashboard}"
    );
    let (_, transactions) = portal(&app, &ada.token, "/billing/transactions").await;
    for k in 0..2 {
        assert!(
            transactions.contains(&line(k)),
            "{}: {transactions}",
            line(k)
        );
    }

    // The API: display fields, exact micros, and the description.
    let (status, listed) = answer(
        app.get_as(&ada.token, "/api/v1/transactions?kind=usage")
            .await,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{listed}");
    let mut described: Vec<String> = items
        .iter()
        .map(|item| item["description"].as_str().unwrap_or_default().to_owned())
        .collect();
    described.sort();
    assert_eq!(described, vec![line(0), line(1)], "{listed}");
    let last = items
        .iter()
        .map(|item| &item["balance_after"])
        .find(|after| after["micros"] == json!(balance.micros()))
        .unwrap_or_else(|| panic!("a line leaves the balance: {listed}"));
    assert_eq!(last["display"], json!(balance.display(currency)));

    // The CSV keeps every micro-unit and names the hour too.
    let csv = app
        .get_as(&ada.token, "/api/v1/transactions/export.csv")
        .await
        .text()
        .await
        .expect("CSV");
    assert!(
        csv.starts_with("id,date,kind,amount,currency,balance_after,reference,memo,description")
    );
    assert!(
        csv.contains(&format!(",{},", balance.amount_text())),
        "{csv}"
    );
    assert!(csv.contains(&line(1)), "{csv}");

    // The PDF: a number, the company, the period, and the hours.
    let today = clock.now().date_naive();
    let period = format!("from={today}&to={today}");
    let first = app
        .get_as(&ada.token, &format!("/api/v1/statement.pdf?{period}"))
        .await;
    assert_eq!(first.status(), 200);
    let pdf = first.bytes().await.expect("a PDF");
    let again = app
        .get_as(&ada.token, &format!("/api/v1/statement.pdf?{period}"))
        .await
        .bytes()
        .await
        .expect("a PDF");
    if let (Some(text), Some(text_again)) = (pdftotext(&pdf), pdftotext(&again)) {
        let number = format!(
            "Statement number: S-{}-{}-{}",
            ada.user.id,
            today.format("%Y%m%d"),
            today.format("%Y%m%d")
        );
        for expected in [
            number.as_str(),
            "Example Hosting Ltd",
            "1 Example Street",
            "London EC1A 1AA",
            "Tax ID: GB123456789",
            "help@example.test",
            &format!("Period: {today} to {today} (UTC)"),
            &hour(0),
            &hour(1),
            "server customer-…",
            &format!("Closing balance: {}", balance.display(currency)),
        ] {
            assert!(text.contains(expected), "{expected:?} in the PDF:\n{text}");
        }
        assert!(text_again.contains(&number), "the same number again");
    }
    assert_eq!(ids.len(), 1);
}

async fn the_server_list_pages_and_power_buttons_follow_the_state(db: TestDb) {
    let (app, clock) = start(&db).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let at = clock.now();
    let names: Vec<String> = (0..27).map(|n| format!("web-{n:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let running = seed(&db, &ada, 8_000, &names, "running", at).await;

    // The API, two at a time.
    let response = app
        .get_as(&ada.token, "/api/v1/servers?limit=2&page=1")
        .await;
    let total = response
        .headers()
        .get("x-total-count")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let link = response
        .headers()
        .get("link")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (status, first) = answer(response).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first.as_array().map(Vec::len), Some(2), "{first}");
    assert_eq!(total.as_deref(), Some("27"));
    assert_eq!(
        link.as_deref(),
        Some("</api/v1/servers?page=2&limit=2>; rel=\"next\"")
    );
    let response = app
        .get_as(&ada.token, "/api/v1/servers?limit=2&page=14")
        .await;
    assert!(response.headers().get("link").is_none(), "the last page");
    let (_, last) = answer(response).await;
    assert_eq!(last.as_array().map(Vec::len), Some(1), "{last}");
    assert_eq!(last[0]["name"], "web-26");
    let (status, body) = answer(app.get_as(&ada.token, "/api/v1/servers?limit=0").await).await;
    assert_eq!(status, 422, "{body}");
    let (_, document) = answer(app.get("/api/openapi.json").await).await;
    let params = document["paths"]["/api/v1/servers"]["get"]["parameters"].to_string();
    assert!(
        params.contains("\"limit\"") && params.contains("\"page\""),
        "{params}"
    );

    // The portal, a page of 25 and the rest.
    let (_, page) = portal(&app, &ada.token, "/servers").await;
    assert_eq!(page.matches("data-test=\"server-row\"").count(), 25);
    assert!(page.contains("href=\"/servers?page=2\""), "{page}");
    let (_, page) = portal(&app, &ada.token, "/servers?page=2").await;
    assert_eq!(page.matches("data-test=\"server-row\"").count(), 2);
    assert!(page.contains("web-26"));

    // Power: what the state allows, at every door.
    let stopped = seed(&db, &ada, 9_000, &["stopped-one"], "stopped", at).await[0];
    let making = seed(&db, &ada, 9_100, &["new-one"], "creating", at).await[0];
    let held = seed(&db, &ada, 9_200, &["held-one"], "running", at).await[0];
    execute(
        &db.url,
        &format!(
            "UPDATE servers SET suspended_at = {}, suspend_reason = 'unpaid balance' WHERE id = {held}",
            sql_time(at)
        ),
    )
    .await;
    let all = ["boot", "shutdown", "restart", "poweroff"];
    for (id, offered) in [
        (running[0], &["shutdown", "restart", "poweroff"][..]),
        (stopped, &["boot"][..]),
        (making, &[][..]),
        (held, &[][..]),
    ] {
        let (status, page) = portal(&app, &ada.token, &format!("/servers/{id}")).await;
        assert_eq!(status, 200, "{page}");
        for action in all {
            assert_eq!(
                page.contains(&format!("data-test=\"power-{action}\"")),
                offered.contains(&action),
                "server {id}, {action}: {page}"
            );
        }
        let (_, listed) = answer(
            app.get_as(&ada.token, &format!("/api/v1/servers/{id}"))
                .await,
        )
        .await;
        assert_eq!(listed["server"]["actions"], json!(offered), "{listed}");
    }
    // Asking anyway: the portal says why instead of asking to confirm.
    let (_, page) = portal(
        &app,
        &ada.token,
        &format!("/servers/{stopped}/power/shutdown"),
    )
    .await;
    assert!(!page.contains("Shut down stopped-one?"), "{page}");
    assert!(page.contains("you can: boot"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sign_in_form_takes_the_two_factor_code_by_the_name_the_account_page_uses() {
    let db = TestDb::sqlite().await;
    let (app, clock) = start(&db).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let (_, secret) = app.turn_on_two_factor(&ada.token).await;
    clock.advance(Duration::seconds(31));

    let account = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../web/templates/account.html"
    ))
    .expect("the account page's template");
    assert!(
        account.contains("name=\"code\""),
        "two-factor confirm takes `code`"
    );

    let visit = app.get("/login").await;
    let cookie = visit
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.strip_prefix("hd_csrf="))
        .and_then(|value| value.split(';').next())
        .expect("a CSRF cookie")
        .to_owned();
    let page = visit.text().await.expect("a page");
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a form token")
        .to_owned();
    let code =
        hostdeck_core::auth::totp::code_at(&secret, clock.now().timestamp()).expect("a code");
    let signed_in = app
        .http
        .post(app.url("/login"))
        .header("cookie", format!("hd_csrf={cookie}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "ada@example.test"),
            ("password", PASSWORD),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(signed_in.status(), 303, "{:?}", signed_in.text().await);
    assert!(
        signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.starts_with("hd_session=") && !value.starts_with("hd_session=;")),
        "a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_server_name_stays_inside_its_tables_and_cards_in_a_browser() {
    let db = TestDb::sqlite().await;
    let (app, clock) = start(&db).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    credit(app.core(), &ada, "12.34").await;
    let started = clock.now();
    let id = seed(&db, &ada, 7_000, &[LONG_NAME], "running", started).await[0];
    seed(&db, &ada, 7_100, &["web-1"], "stopped", started).await;
    clock.set(started + Duration::hours(2) + Duration::minutes(5));
    app.core()
        .billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a tick");
    let Some(mut browser) = Browser::start("first_use_browser", &app.url("")).await else {
        return;
    };
    browser.open("/login").await;
    browser
        .fill(
            "/login",
            &[("email", "ada@example.test"), ("password", PASSWORD)],
        )
        .await;
    browser.submit("/login").await;
    assert_eq!(browser.path().await, "/");

    let mut spilled = Vec::new();
    for (path, label) in [
        ("/".to_owned(), "long-name-dashboard"),
        ("/servers".to_owned(), "long-name-servers"),
        (format!("/servers/{id}"), "long-name-server"),
        ("/billing".to_owned(), "long-name-billing"),
        ("/billing/transactions".to_owned(), "long-name-transactions"),
    ] {
        browser.open(&path).await;
        browser.shot(label).await;
        browser
            .shot_at(&format!("{label}-phone"), NARROW_WIDTH)
            .await;
        for width in [WIDTH, NARROW_WIDTH] {
            for what in browser.overflow_at(width).await {
                spilled.push(format!("{path} at {width}px: {what}"));
            }
        }
    }
    assert!(browser.page_text().await.contains("$"), "money in dollars");
    browser.close().await;
    assert!(
        spilled.is_empty(),
        "content spills out:\n{}",
        spilled.join("\n")
    );
}
