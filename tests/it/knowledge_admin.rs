//! Admins manage help articles, on both engines: over the API (list with drafts, read, write,
//! delete; a customer is refused with 403 and nobody signed in with 401, as on every staff
//! route) and in the portal (list, a new article previewed then saved as a draft, published,
//! unpublished, deleted after a confirmation; a customer is refused with 403). HTML typed into
//! an article is shown as text in the preview, never run.

use hostdeck_core::Role;
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use reqwest::Method;
use serde_json::json;

hostdeck_e2e::on_both_engines!(
    admins_manage_articles_over_the_api,
    admins_write_preview_publish_and_delete_in_the_portal,
);

const HOSTILE_BODY: &str = "Restart the box.\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n\n[x](javascript:alert(3))";

async fn first_hit(app: &TestApp, question: &str) -> Option<String> {
    let path = format!(
        "/api/v1/kb/search?q={}",
        url::form_urlencoded::byte_serialize(question.as_bytes()).collect::<String>()
    );
    let (status, body) = answer(app.get(&path).await).await;
    assert_eq!(status, 200, "{body}");
    body["results"][0]["slug"].as_str().map(str::to_owned)
}

async fn admins_manage_articles_over_the_api(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("kb-admin@example.com", Role::Admin).await;
    let customer = app.user("kb-customer@example.com", Role::Customer).await;
    let article = json!({
        "title": "Mounting a zorbly volume",
        "kind": "doc",
        "tags": ["storage"],
        "body": "## Mounting\nAttach the zorbly volume, then mount it.",
        "also_asked": ["how do i attach extra disk"],
        "published": false,
    });
    let path = "/api/v1/kb/articles/zorbly-volumes";

    // Nobody but an admin reaches these routes, whatever they ask.
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(&article)),
        (Method::DELETE, None),
    ] {
        let (status, answer_body) = answer(
            app.send(method.clone(), path, Some(&customer.token), body)
                .await,
        )
        .await;
        assert_eq!(status, 403, "customer {method}: {answer_body}");
        let (status, _) = answer(app.send(method.clone(), path, None, body).await).await;
        assert_eq!(status, 401, "anonymous {method}");
    }
    let (status, _) = answer(app.get_as(&customer.token, "/api/v1/kb/articles").await).await;
    assert_eq!(status, 403);

    let (status, created) = answer(
        app.send(Method::PUT, path, Some(&admin.token), Some(&article))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["outcome"], "created");
    assert_eq!(created["article"]["published"], false);
    assert_eq!(created["article"]["kind"], "doc");
    assert!(
        created["article"]["url"]
            .as_str()
            .is_some_and(|url| url.ends_with("/help/zorbly-volumes")),
        "{created}"
    );
    assert_eq!(
        first_hit(&app, "zorbly volume").await,
        None,
        "a draft is not searched"
    );
    let (status, again) = answer(
        app.send(Method::PUT, path, Some(&admin.token), Some(&article))
            .await,
    )
    .await;
    assert_eq!((status, &again["outcome"]), (200, &json!("unchanged")));

    let (status, listed) = answer(app.get_as(&admin.token, "/api/v1/kb/articles").await).await;
    assert_eq!(status, 200);
    let slugs: Vec<&str> = listed
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|a| a["slug"].as_str())
        .collect();
    assert!(slugs.contains(&"zorbly-volumes"), "drafts are listed");
    assert!(
        slugs.contains(&"power-actions"),
        "so are the starter articles"
    );

    let mut published = article.clone();
    published["published"] = json!(true);
    let (status, updated) = answer(
        app.send(Method::PUT, path, Some(&admin.token), Some(&published))
            .await,
    )
    .await;
    assert_eq!((status, &updated["outcome"]), (200, &json!("updated")));
    assert_eq!(
        first_hit(&app, "zorbly volume").await.as_deref(),
        Some("zorbly-volumes"),
        "published, it is found at once on this replica"
    );
    let (status, read) = answer(app.get_as(&admin.token, path).await).await;
    assert_eq!(status, 200);
    assert_eq!(read["also_asked"], json!(["how do i attach extra disk"]));

    for (bad, field) in [
        (json!({"title": "X", "kind": "novel", "body": "B"}), "kind"),
        (json!({"title": "", "kind": "faq", "body": "B"}), "title"),
    ] {
        let (status, refused) = answer(
            app.send(Method::PUT, path, Some(&admin.token), Some(&bad))
                .await,
        )
        .await;
        assert_eq!(status, 422, "{field}: {refused}");
    }
    let (status, _) = answer(
        app.send(
            Method::PUT,
            "/api/v1/kb/articles/Not_A_Slug",
            Some(&admin.token),
            Some(&article),
        )
        .await,
    )
    .await;
    assert_eq!(status, 422, "a bad slug");

    let (status, _) = answer(
        app.send(Method::DELETE, path, Some(&admin.token), None)
            .await,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = answer(
        app.send(Method::DELETE, path, Some(&admin.token), None)
            .await,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = answer(app.get_as(&admin.token, path).await).await;
    assert_eq!(status, 404);
    assert_eq!(first_hit(&app, "zorbly volume").await, None);

    let (_, doc) = answer(app.get("/api/openapi.json").await).await;
    let item = &doc["paths"]["/api/v1/kb/articles/{slug}"];
    for method in ["get", "put", "delete"] {
        assert!(item[method].is_object(), "{method} is documented");
    }
    assert!(doc["paths"]["/api/v1/kb/articles"]["get"].is_object());
}

async fn page(app: &TestApp, session: &str, path: &str) -> (u16, String) {
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

/// The status of a posted form and where it sends the browser (or the page it shows).
async fn post(
    app: &TestApp,
    session: &str,
    from: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let visit = app.portal_visit(Some(session), from).await;
    let response = app.portal_post(&visit, path, fields).await;
    let status = response.status().as_u16();
    let location = response
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    match location {
        Some(location) => (status, location),
        None => (status, response.text().await.unwrap_or_default()),
    }
}

fn assert_inert(html: &str) {
    for raw in ["<script>alert", "<img src=x", "href=\"javascript:"] {
        assert!(!html.contains(raw), "{raw:?} came out as typed");
    }
    assert!(html.contains("&lt;script&gt;"), "shown as text");
}

async fn admins_write_preview_publish_and_delete_in_the_portal(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("kb-portal-admin@example.com", Role::Admin).await;
    let customer = app
        .user("kb-portal-customer@example.com", Role::Customer)
        .await;

    for path in [
        "/admin/articles",
        "/admin/articles/new",
        "/admin/articles/power-actions",
        "/admin/articles/power-actions/delete",
    ] {
        let (status, _) = page(&app, &customer.token, path).await;
        assert_eq!(status, 403, "a customer on {path}");
    }
    // A customer cannot post the forms either (a form token of their own is no help).
    let (status, _) = post(
        &app,
        &customer.token,
        "/account",
        "/admin/articles/power-actions/unpublish",
        &[],
    )
    .await;
    assert_eq!(status, 403);

    let (status, html) = page(&app, &admin.token, "/admin/articles").await;
    assert_eq!(status, 200);
    assert!(html.contains("/admin/articles/power-actions"), "listed");

    let fields = [
        ("existing", "no"),
        ("slug", "reboot-loops"),
        ("title", "When a server reboots again and again"),
        ("kind", "faq"),
        ("tags", "power, boot"),
        ("also_asked", "my vps keeps restarting\nboot loop"),
        ("body", HOSTILE_BODY),
    ];
    let mut preview = fields.to_vec();
    preview.push(("action", "preview"));
    let (status, html) = post(
        &app,
        &admin.token,
        "/admin/articles/new",
        "/admin/articles",
        &preview,
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-test=\"preview\""), "{html}");
    assert!(
        html.contains("<p>Restart the box.</p>"),
        "rendered Markdown"
    );
    assert_inert(&html);
    assert!(
        app.core()
            .knowledge
            .for_editing(&hostdeck_core::Actor::cli(), "reboot-loops")
            .await
            .is_err(),
        "a preview saves nothing"
    );

    let mut save = fields.to_vec();
    save.push(("action", "save"));
    let (status, location) = post(
        &app,
        &admin.token,
        "/admin/articles/new",
        "/admin/articles",
        &save,
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/admin/articles/reboot-loops?notice=article-saved")
    );
    let (status, html) = page(&app, &admin.token, "/admin/articles/reboot-loops").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Draft"),
        "saved without the box ticked: a draft"
    );
    assert_inert(&html);
    assert_ne!(
        first_hit(&app, "boot loop").await.as_deref(),
        Some("reboot-loops"),
        "a draft is never found"
    );

    let (status, location) = post(
        &app,
        &admin.token,
        "/admin/articles/reboot-loops",
        "/admin/articles/reboot-loops/publish",
        &[],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/admin/articles/reboot-loops?notice=article-published")
    );
    assert_eq!(
        first_hit(&app, "boot loop").await.as_deref(),
        Some("reboot-loops")
    );
    let (status, _) = post(
        &app,
        &admin.token,
        "/admin/articles/reboot-loops",
        "/admin/articles/reboot-loops/unpublish",
        &[],
    )
    .await;
    assert_eq!(status, 303);
    assert_ne!(
        first_hit(&app, "boot loop").await.as_deref(),
        Some("reboot-loops"),
        "an unpublished article is not found"
    );

    let mut bad = save.clone();
    bad.retain(|(name, _)| *name != "title");
    bad.push(("title", ""));
    let (status, html) = post(
        &app,
        &admin.token,
        "/admin/articles/new",
        "/admin/articles",
        &bad,
    )
    .await;
    assert_eq!(status, 200, "the form again, with the refusal");
    assert!(
        html.contains("my vps keeps restarting"),
        "what was typed is kept"
    );

    let (status, html) = page(&app, &admin.token, "/admin/articles/reboot-loops/delete").await;
    assert_eq!(status, 200);
    assert!(html.contains("Delete the article"));
    let (status, location) = post(
        &app,
        &admin.token,
        "/admin/articles/reboot-loops/delete",
        "/admin/articles/reboot-loops/delete",
        &[],
    )
    .await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/admin/articles?notice=article-deleted")
    );
    let (status, _) = page(&app, &admin.token, "/admin/articles/reboot-loops").await;
    assert_eq!(status, 404);
}

/// An article may be named `ask`, though the ask box posts to `/help/ask`: its page reads.
#[tokio::test]
async fn an_article_named_ask_has_its_page() {
    let db = TestDb::sqlite().await;
    let app = TestApp::start(db.core_now().await).await;
    let admin = app.user("kb-admin@example.com", Role::Admin).await;
    let article = json!({
        "title": "How to ask us anything",
        "kind": "faq",
        "tags": [],
        "body": "Use /ask in Discord or the box on the help page.",
        "published": true,
    });
    let (status, created) = answer(
        app.send(
            Method::PUT,
            "/api/v1/kb/articles/ask",
            Some(&admin.token),
            Some(&article),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let response = app.get("/help/ask").await;
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("a page");
    assert!(html.contains("How to ask us anything"), "{html}");
}
