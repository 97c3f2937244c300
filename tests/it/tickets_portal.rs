//! Tickets in the portal, on both engines, with email over real SMTP: a customer opens a ticket,
//! staff find it in the queue with the customer beside it and reply (the customer is emailed),
//! the customer replies, staff write a note the customer never sees (not on the page, in the
//! API, in the transcript or in any email), the customer closes it with a reason (the transcript
//! is emailed) and rates it. Mentions and markup typed into every field come out inert. Another
//! customer's ticket is "not found" on every page and form.

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::Role;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_e2e::app::{PortalVisit, TestApp, answer};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::smtp::{Received, SmtpServer};
use secrecy::SecretString;

hostdeck_e2e::on_both_engines!(a_ticket_goes_from_the_portal_to_its_rating);

/// What a hostile customer types into every field: mentions and markup.
pub const HOSTILE: &str =
    "@everyone <@123> <@&456> <script>alert(1)</script> <img src=x onerror=alert(2)>";

/// Fails if `html` carries any of [`HOSTILE`]'s markup or mentions as such.
pub fn assert_inert(html: &str, what: &str) {
    for raw in [
        "<script>alert",
        "<img src=x",
        "<@123>",
        "<@&456>",
        "onerror=alert(2)>",
    ] {
        assert!(!html.contains(raw), "{what}: {raw:?} came out as typed");
    }
}

/// A portal page's status and HTML, for the browser signed in with `session`.
pub async fn page(app: &TestApp, session: &str, path: &str) -> (u16, String) {
    let response = app
        .http
        .get(app.url(path))
        .header("cookie", format!("hd_session={session}"))
        .send()
        .await
        .expect("GET a portal page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a page"))
}

/// Posts a portal form and returns the status and where it sends the browser.
pub async fn submit(
    app: &TestApp,
    visit: &PortalVisit,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let response = app.portal_post(visit, path, fields).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if status != 303 {
        let body = response.text().await.unwrap_or_default();
        return (status, body);
    }
    (status, location)
}

/// Waits up to ten seconds for an email to `address` that `wanted` accepts.
pub async fn mail_to(
    smtp: &SmtpServer,
    address: &str,
    wanted: impl Fn(&Received) -> bool,
) -> Received {
    for _ in 0..200 {
        if let Some(mail) = smtp
            .all()
            .into_iter()
            .find(|mail| mail.is_to(address) && wanted(mail))
        {
            return mail;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no such email to {address}; sent: {:#?}", smtp.all())
}

async fn a_ticket_goes_from_the_portal_to_its_rating(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let mut config = Config::default();
    config.smtp.url = Some(SecretString::from(smtp.url()));
    config.smtp.from = "Example Hosting <no-reply@example.test>".into();
    let core = db.core_with(config, Arc::new(SystemClock)).await;
    let app = TestApp::start_with_smtp(core).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let sam = app.user("sam@example.test", Role::Support).await;

    // The customer opens a ticket; mentions and markup in the subject and the text.
    let visit = app.portal_visit(Some(&ada.token), "/tickets/new").await;
    let subject = format!("Server down {HOSTILE}");
    let first = format!("It stopped answering.\nSecond line {HOSTILE}");
    let (status, location) = submit(
        &app,
        &visit,
        "/tickets",
        &[
            ("department", "technical"),
            ("server", ""),
            ("priority", "high"),
            ("subject", &subject),
            ("body", &first),
        ],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let id: i64 = location
        .trim_start_matches("/tickets/")
        .split('?')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("the ticket's id in {location}"));
    let (status, html) = page(&app, &ada.token, &location).await;
    assert_eq!(status, 200);
    assert!(html.contains("It stopped answering."), "{html}");
    assert!(
        html.contains("script&#62;alert(1)"),
        "the text is there, escaped: {html}"
    );
    assert_inert(&html, "the customer's ticket page");
    let (_, list) = page(&app, &ada.token, "/tickets").await;
    assert!(list.contains(&format!("/tickets/{id}")), "{list}");
    assert_inert(&list, "the customer's list");

    // Staff see it in the queue, with the customer beside the conversation.
    let (status, queue) = page(&app, &sam.token, "/admin/tickets?view=unassigned").await;
    assert_eq!(status, 200, "{queue}");
    assert!(queue.contains(&format!("/admin/tickets/{id}")), "{queue}");
    assert!(queue.contains("ada@example.test"));
    assert_inert(&queue, "the queue");
    let staff_visit = app
        .portal_visit(Some(&sam.token), &format!("/admin/tickets/{id}"))
        .await;
    let (_, staff_page) = page(&app, &sam.token, &format!("/admin/tickets/{id}")).await;
    assert!(staff_page.contains("data-test=\"context\""), "{staff_page}");
    assert!(staff_page.contains("ada@example.test"));
    assert_inert(&staff_page, "the staff page");

    // Staff claim and reply; the customer is emailed with a link, never a note.
    let staff_post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (app, visit) = (&app, &staff_visit);
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            submit(app, visit, &format!("/admin/tickets/{id}/{path}"), &fields).await
        }
    };
    assert_eq!(staff_post("claim", vec![]).await.0, 303);
    let answer_text = "Rebooted the host; please check again.";
    let (status, location) = staff_post("reply", vec![("body", answer_text.into())]).await;
    assert_eq!(
        (status, location.as_str()),
        (
            303,
            format!("/admin/tickets/{id}?notice=ticket-replied").as_str()
        )
    );
    let mail = mail_to(&smtp, "ada@example.test", |mail| {
        mail.text.contains(answer_text)
    })
    .await;
    assert!(mail.subject.contains(&format!("#{id}")), "{}", mail.subject);
    assert!(
        mail.text.contains(&format!("/tickets/{id}")),
        "{}",
        mail.text
    );
    let (_, html) = page(&app, &ada.token, &format!("/tickets/{id}")).await;
    assert!(html.contains(answer_text));

    // A note staff keep to themselves.
    let secret = "NOTE-ONLY-FOR-STAFF customer owes a refund";
    assert_eq!(
        staff_post("note", vec![("body", secret.into())]).await.0,
        303
    );
    let (_, staff_page) = page(&app, &sam.token, &format!("/admin/tickets/{id}")).await;
    assert!(staff_page.contains(secret) && staff_page.contains("staff only"));

    // The customer replies, then closes with a reason; the transcript is emailed.
    let visit = app
        .portal_visit(Some(&ada.token), &format!("/tickets/{id}"))
        .await;
    let second = format!("Works again, thanks {HOSTILE}");
    let (status, _) = submit(
        &app,
        &visit,
        &format!("/tickets/{id}/reply"),
        &[("body", &second)],
    )
    .await;
    assert_eq!(status, 303);
    let reason = format!("solved {HOSTILE}");
    let (status, location) = submit(
        &app,
        &visit,
        &format!("/tickets/{id}/close"),
        &[("reason", &reason)],
    )
    .await;
    assert_eq!(
        (status, location),
        (303, format!("/tickets/{id}?notice=ticket-closed"))
    );
    let transcript_mail = mail_to(&smtp, "ada@example.test", |mail| {
        mail.text.contains("Works again, thanks")
    })
    .await;
    assert!(transcript_mail.text.contains("It stopped answering."));

    let (_, html) = page(&app, &ada.token, &format!("/tickets/{id}")).await;
    assert!(html.contains("data-test=\"close-reason\""), "{html}");
    assert_inert(&html, "the closed ticket");
    // Rated once, with a comment.
    let comment = format!("quick {HOSTILE}");
    let (status, _) = submit(
        &app,
        &visit,
        &format!("/tickets/{id}/rating"),
        &[("stars", "5"), ("comment", &comment)],
    )
    .await;
    assert_eq!(status, 303);
    let (_, html) = page(&app, &ada.token, &format!("/tickets/{id}")).await;
    assert!(html.contains("You rated this ticket 5 of 5."), "{html}");
    assert!(html.contains("quick @everyone"), "{html}");
    assert_inert(&html, "the rated ticket");

    // The note is nowhere the customer looks.
    for path in [
        format!("/tickets/{id}"),
        format!("/tickets/{id}/transcript"),
        format!("/tickets/{id}/transcript.html"),
        "/tickets".to_owned(),
    ] {
        let (status, html) = page(&app, &ada.token, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !html.contains("NOTE-ONLY-FOR-STAFF"),
            "{path} shows the note"
        );
        assert_inert(&html, &path);
    }
    let (status, messages) = answer(
        app.get_as(&ada.token, &format!("/api/v1/tickets/{id}/messages"))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{messages}");
    assert!(!messages.to_string().contains("NOTE-ONLY-FOR-STAFF"));
    assert_eq!(messages.as_array().map(Vec::len), Some(3), "{messages}");
    for mail in smtp.all() {
        assert!(
            !mail.raw.contains("NOTE-ONLY-FOR-STAFF"),
            "an email has the note"
        );
    }
    let download = app
        .http
        .get(app.url(&format!("/tickets/{id}/transcript.html")))
        .header("cookie", format!("hd_session={}", ada.token))
        .send()
        .await
        .expect("the transcript file");
    let disposition = download
        .headers()
        .get("content-disposition")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    let file = download.text().await.expect("the file");
    assert!(file.contains("Works again, thanks"), "{file}");
    assert_inert(&file, "the transcript file");
}

#[tokio::test]
async fn another_customers_ticket_is_not_found_on_every_page_and_form() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let bob = app.user("bob@example.test", Role::Customer).await;
    let (status, opened) = answer(
        app.post_json(
            Some(&ada.token),
            "/api/v1/tickets",
            &serde_json::json!({
                "subject": "Ada's own", "body": "private", "department": "billing"
            }),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_i64().expect("an id");
    for path in [
        format!("/tickets/{id}"),
        format!("/tickets/{id}/transcript"),
        format!("/tickets/{id}/transcript.html"),
        format!("/admin/tickets/{id}"),
    ] {
        let (status, html) = page(&app, &bob.token, &path).await;
        assert_eq!(status, 404, "{path}: {html}");
        assert!(
            !html.contains("private") && !html.contains("Ada&#x27;s own"),
            "{path}"
        );
    }
    let visit = app.portal_visit(Some(&bob.token), "/tickets").await;
    for (action, fields) in [
        ("reply", vec![("body", "mine now")]),
        ("close", vec![("reason", "closed by bob")]),
        ("reopen", vec![]),
        ("rating", vec![("stars", "1")]),
    ] {
        let (status, _) = submit(&app, &visit, &format!("/tickets/{id}/{action}"), &fields).await;
        assert_eq!(status, 404, "POST /tickets/{id}/{action}");
    }
    for action in [
        "reply", "note", "claim", "assign", "priority", "close", "reopen",
    ] {
        let fields = [("body", "x"), ("priority", "low"), ("reason", "x")];
        let (status, _) = submit(
            &app,
            &visit,
            &format!("/admin/tickets/{id}/{action}"),
            &fields,
        )
        .await;
        // Staff-only actions too: somebody else's ticket is as missing as one that is not.
        let missing = format!("/admin/tickets/{}/{action}", id + 1000);
        let (status_missing, _) = submit(&app, &visit, &missing, &fields).await;
        assert_eq!(status, status_missing, "POST /admin/tickets/{id}/{action}");
        assert_eq!(status, 404, "POST /admin/tickets/{id}/{action}");
    }
    let (status, _) = page(&app, &bob.token, "/tickets/not-a-number").await;
    assert_eq!(status, 404);
    let (_, ticket) = answer(
        app.get_as(&ada.token, &format!("/api/v1/tickets/{id}"))
            .await,
    )
    .await;
    assert_eq!(
        ticket["status"], "open",
        "nothing bob sent changed it: {ticket}"
    );
}
