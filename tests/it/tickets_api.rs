//! Tickets through the JSON API, on both engines: the customer opens a ticket with an API key,
//! staff find it, read the customer's context, claim it and reply (the customer is emailed),
//! note it (the customer never sees the note: not in the messages, the transcript or an email),
//! raise the priority and close it; the customer downloads the transcript and rates it once;
//! the SLA report counts it. Keyset pages, key scopes, another customer's ticket id on every
//! route, and `Idempotency-Key` on opens and messages (retries, a changed request, a race).

use std::sync::Arc;

use hostdeck_core::Role;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::policy::Scope;
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use reqwest::Method;
use serde_json::{Value, json};

use crate::tickets_portal::{HOSTILE, assert_inert};

hostdeck_e2e::on_both_engines!(
    a_ticket_lives_its_life_through_the_api,
    an_idempotency_key_opens_and_posts_once
);

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    answer(app.send(method, path, Some(token), body.as_ref()).await).await
}

async fn open(app: &TestApp, token: &str, subject: &str) -> (u16, Value) {
    let body = json!({ "subject": subject, "body": "first", "department": "billing" });
    call(app, Method::POST, "/api/v1/tickets", token, Some(body)).await
}

async fn a_ticket_lives_its_life_through_the_api(db: TestDb) {
    let app = TestApp::start(
        db.core_with(Default::default(), Arc::new(SystemClock))
            .await,
    )
    .await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let key = app
        .api_key(&ada, &[Scope::ReadTickets, Scope::WriteTickets])
        .await;
    let sam = app.user("sam@example.test", Role::Support).await;

    let subject = format!("Invoice {HOSTILE}");
    let body = json!({
        "subject": subject, "body": format!("Line one\nLine two {HOSTILE}"),
        "department": "billing", "priority": "normal",
    });
    let (status, ticket) = call(&app, Method::POST, "/api/v1/tickets", &key, Some(body)).await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["id"].as_i64().expect("an id");
    // JSON is data: the text comes back exactly as typed.
    assert_eq!(ticket["subject"], json!(subject));
    assert_eq!(ticket["status"], json!("open"));
    assert_eq!(ticket["opened_via"], json!("api"));

    // Staff: the unassigned queue, the customer's context, claim, reply.
    let (status, queue) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?assignee=none&open=true",
        &sam.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{queue}");
    assert!(
        queue["tickets"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["id"] == json!(id))),
        "{queue}"
    );
    let (status, context) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}/context"),
        &sam.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{context}");
    assert_eq!(context["customer"]["email"], json!("ada@example.test"));
    assert!(
        context["open_tickets"]
            .as_array()
            .is_some_and(|t| t.len() == 1),
        "{context}"
    );
    let (status, claimed) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/claim"),
        &sam.token,
        None,
    )
    .await;
    assert_eq!(
        (status, &claimed["assignee_id"]),
        (200, &json!(sam.user.id.0)),
        "{claimed}"
    );
    let reply = "We credited the difference.";
    let (status, message) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        &sam.token,
        Some(json!({ "body": reply })),
    )
    .await;
    assert_eq!(status, 201, "{message}");
    assert_eq!(message["author_staff"], json!(true));
    let mail = app
        .mailbox
        .wait_for("ada@example.test", &format!("#{id}"))
        .await;
    assert!(mail.text.contains(reply), "{}", mail.text);

    let secret = "NOTE-ONLY-FOR-STAFF check the refund";
    let (status, note) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/notes"),
        &sam.token,
        Some(json!({ "body": secret })),
    )
    .await;
    assert_eq!((status, &note["note"]), (201, &json!(true)), "{note}");
    let (status, raised) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/priority"),
        &sam.token,
        Some(json!({ "priority": "urgent" })),
    )
    .await;
    assert_eq!(
        (status, &raised["priority"]),
        (200, &json!("urgent")),
        "{raised}"
    );

    // The customer answers; staff see the note, the customer never.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        &key,
        Some(json!({ "body": "Thanks!" })),
    )
    .await;
    assert_eq!(status, 201);
    let (_, theirs) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}/messages"),
        &key,
        None,
    )
    .await;
    assert!(
        !theirs.to_string().contains("NOTE-ONLY-FOR-STAFF"),
        "{theirs}"
    );
    assert_eq!(theirs.as_array().map(Vec::len), Some(3), "{theirs}");
    let (_, staffs) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}/messages"),
        &sam.token,
        None,
    )
    .await;
    assert_eq!(staffs.as_array().map(Vec::len), Some(4), "{staffs}");

    let reason = format!("refunded {HOSTILE}");
    let (status, closed) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/close"),
        &sam.token,
        Some(json!({ "reason": reason })),
    )
    .await;
    assert_eq!(
        (status, &closed["status"]),
        (200, &json!("closed")),
        "{closed}"
    );
    assert_eq!(closed["close_reason"], json!(reason));
    let transcript = app
        .http
        .get(app.url(&format!("/api/v1/tickets/{id}/transcript")))
        .bearer_auth(&key)
        .send()
        .await
        .expect("the transcript");
    assert_eq!(transcript.status(), 200);
    let kind = transcript
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let file = transcript.text().await.expect("a file");
    assert!(
        file.contains("We credited the difference.") && !file.contains("NOTE-ONLY-FOR-STAFF"),
        "{file}"
    );
    assert_inert(&file, "the API's transcript");
    // The transcript email carries the customer's own last words.
    for _ in 0..250 {
        if app
            .mailbox
            .to("ada@example.test")
            .iter()
            .any(|mail| mail.text.contains("Thanks!"))
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        app.mailbox
            .to("ada@example.test")
            .iter()
            .any(|mail| mail.text.contains("Thanks!")),
        "the transcript is emailed: {:#?}",
        app.mailbox.all()
    );
    for mail in app.mailbox.all() {
        assert!(
            !mail.text.contains("NOTE-ONLY-FOR-STAFF"),
            "an email has the note: {}",
            mail.subject
        );
    }

    let rating = json!({ "stars": 4, "comment": format!("ok {HOSTILE}") });
    let (status, rated) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/rating"),
        &key,
        Some(rating.clone()),
    )
    .await;
    assert_eq!((status, &rated["rating"]), (200, &json!(4)), "{rated}");
    let (status, again) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/rating"),
        &key,
        Some(rating),
    )
    .await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("conflict")),
        "{again}"
    );
    let (status, reopened) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/reopen"),
        &key,
        None,
    )
    .await;
    assert_eq!(
        (status, &reopened["status"]),
        (200, &json!("awaiting_staff")),
        "{reopened}"
    );

    let (status, report) = call(
        &app,
        Method::GET,
        "/api/v1/tickets/report",
        &sam.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["overall"]["tickets"], json!(1), "{report}");
    assert_eq!(
        report["overall"]["first_response"]["count"],
        json!(1),
        "{report}"
    );
    let (status, _) = call(&app, Method::GET, "/api/v1/tickets/report", &key, None).await;
    assert_eq!(status, 403, "customers have no report");
}

#[tokio::test]
async fn tickets_come_a_page_at_a_time_newest_first() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let (status, ticket) = open(&app, &ada.token, &format!("question {n}")).await;
        assert_eq!(status, 201, "{ticket}");
        ids.push(ticket["id"].as_i64().expect("an id"));
    }
    let (status, first) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?limit=2",
        &ada.token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let shown: Vec<i64> = first["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(shown, vec![ids[2], ids[1]]);
    let before = first["next_before"].as_i64().expect("a next page");
    let (_, second) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets?limit=2&before={before}"),
        &ada.token,
        None,
    )
    .await;
    assert_eq!(
        second["tickets"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["next_before"], Value::Null);
    let (status, refused) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?limit=1000",
        &ada.token,
        None,
    )
    .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (422, &json!("invalid")),
        "{refused}"
    );
    let (status, refused) = call(
        &app,
        Method::GET,
        "/api/v1/tickets?status=lost",
        &ada.token,
        None,
    )
    .await;
    assert_eq!(status, 422, "{refused}");
}

#[tokio::test]
async fn keys_are_held_to_their_ticket_scopes() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let reader = app.api_key(&ada, &[Scope::ReadTickets]).await;
    let writer = app.api_key(&ada, &[Scope::WriteTickets]).await;
    let servers_only = app.api_key(&ada, &[Scope::ReadServers]).await;

    let (status, refused) = open(&app, &reader, "from a read key").await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (403, &json!("forbidden")),
        "{refused}"
    );
    let (status, ticket) = open(&app, &writer, "from a write key").await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["id"].as_i64().expect("an id");
    let (status, _) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets/{id}"),
        &reader,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        &reader,
        Some(json!({ "body": "hi" })),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/tickets/{id}/messages"),
        &writer,
        Some(json!({ "body": "hi" })),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = call(&app, Method::GET, "/api/v1/tickets", &servers_only, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn another_customers_ticket_is_not_found_on_every_route() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let bob = app.user("bob@example.test", Role::Customer).await;
    let (status, ticket) = open(&app, &ada.token, "Ada's").await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["id"].as_i64().expect("an id");
    let text =
        json!({ "body": "x", "reason": "x", "stars": 1, "priority": "low", "assignee": null });
    let nothing = id + 1000;
    for (method, route) in [
        (Method::GET, ""),
        (Method::GET, "/messages"),
        (Method::POST, "/messages"),
        (Method::POST, "/close"),
        (Method::POST, "/reopen"),
        (Method::POST, "/rating"),
        (Method::GET, "/transcript"),
        // Staff-only: somebody else's ticket is as missing as one that does not exist.
        (Method::POST, "/notes"),
        (Method::POST, "/claim"),
        (Method::POST, "/assign"),
        (Method::POST, "/priority"),
        (Method::GET, "/context"),
    ] {
        let path = format!("/api/v1/tickets/{id}{route}");
        let body = (method == Method::POST).then(|| text.clone());
        let (status, error) = call(&app, method.clone(), &path, &bob.token, body.clone()).await;
        let missing = format!("/api/v1/tickets/{nothing}{route}");
        let (status_missing, _) = call(&app, method.clone(), &missing, &bob.token, body).await;
        assert_eq!(status, status_missing, "{method} {path}: {error}");
        assert_eq!(status, 404, "{method} {path}: {error}");
        assert_eq!(error["error"]["code"], json!("not_found"));
        assert!(!error.to_string().contains("Ada"), "{error}");
    }
    let (_, listed) = call(
        &app,
        Method::GET,
        &format!("/api/v1/tickets?customer={}", ada.user.id.0),
        &bob.token,
        None,
    )
    .await;
    assert!(!listed.to_string().contains("Ada's"), "{listed}");
}

/// `method path` with a bearer token, a JSON body and an `Idempotency-Key`.
async fn keyed(app: &TestApp, path: &str, token: &str, key: &str, body: &Value) -> (u16, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("POST");
    answer(response).await
}

async fn an_idempotency_key_opens_and_posts_once(db: TestDb) {
    let app = TestApp::start(
        db.core_with(Default::default(), Arc::new(SystemClock))
            .await,
    )
    .await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let bob = app.user("bob@example.test", Role::Customer).await;
    let body = json!({ "subject": "Disk", "body": "full", "department": "technical" });

    // Sent twice with one key: one ticket, the second answer is the first ticket (200).
    let (status, first) = keyed(&app, "/api/v1/tickets", &ada.token, "open-1", &body).await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = keyed(&app, "/api/v1/tickets", &ada.token, "open-1", &body).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["id"], first["id"]);
    // The same key with another request is refused, in words that say nothing of the first.
    let changed = json!({ "subject": "Other", "body": "full", "department": "technical" });
    let (status, refused) = keyed(&app, "/api/v1/tickets", &ada.token, "open-1", &changed).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], json!("idempotency_mismatch"));
    assert!(!refused.to_string().contains("Disk"), "{refused}");
    // Another person's key is theirs alone: Bob's "open-1" opens Bob's ticket.
    let (status, bobs) = keyed(&app, "/api/v1/tickets", &bob.token, "open-1", &body).await;
    assert_eq!(status, 201, "{bobs}");
    assert_ne!(bobs["id"], first["id"]);
    // A refused request leaves its key free for the corrected one.
    let wrong = json!({ "subject": "Disk", "body": "full", "department": "nowhere" });
    let (status, _) = keyed(&app, "/api/v1/tickets", &ada.token, "open-2", &wrong).await;
    assert_eq!(status, 422);
    let (status, _) = keyed(&app, "/api/v1/tickets", &ada.token, "open-2", &body).await;
    assert_eq!(status, 201);
    let (_, listed) = call(&app, Method::GET, "/api/v1/tickets", &ada.token, None).await;
    assert_eq!(
        listed["tickets"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );

    // Messages: a retry posts once; five sent at once with one key post once.
    let id = first["id"].as_i64().expect("an id");
    let path = format!("/api/v1/tickets/{id}/messages");
    let hello = json!({ "body": "hello" });
    let (status, posted) = keyed(&app, &path, &ada.token, "m-1", &hello).await;
    assert_eq!(status, 201, "{posted}");
    let (status, again) = keyed(&app, &path, &ada.token, "m-1", &hello).await;
    assert_eq!((status, &again["id"]), (200, &posted["id"]), "{again}");
    let (status, refused) = keyed(&app, &path, &ada.token, "m-1", &json!({ "body": "bye" })).await;
    assert_eq!(status, 422, "{refused}");
    let race = json!({ "body": "at once" });
    let send = || keyed(&app, &path, &ada.token, "m-race", &race);
    let (a, b, c, d, e) = tokio::join!(send(), send(), send(), send(), send());
    let answers = [a, b, c, d, e];
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(_, body)| body["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 1, "{answers:#?}");
    let made = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(made, 1, "{answers:#?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| [200, 201].contains(status)),
        "{answers:#?}"
    );
    // Bob's key on Ada's ticket finds nothing of hers.
    let (status, _) = keyed(&app, &path, &bob.token, "m-1", &hello).await;
    assert_eq!(status, 404);
    let (_, messages) = call(&app, Method::GET, &path, &ada.token, None).await;
    let bodies: Vec<&str> = messages
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|message| message["body"].as_str())
        .collect();
    assert_eq!(bodies, vec!["full", "hello", "at once"], "{messages}");
}
