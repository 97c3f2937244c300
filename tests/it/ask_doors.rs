//! The assistant's web doors over the starter knowledge base and a fake Gemini on 127.0.0.1:
//! `POST /api/v1/ask` (its shapes, sources linking to help pages, "I don't know" without a
//! model call, the daily limit exact with 50 questions at once, in the OpenAPI document), the
//! help pages (`/help`, search, an article's Markdown rendered with its HTML escaped, drafts
//! "not found", the ask box with its CSRF check), the new-ticket page's suggestions, and the
//! admins' usage page.

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::knowledge::{ArticleContent, ArticleKind, Slug};
use hostdeck_core::{Actor, Role};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::gemini::{FakeGemini, Reply};
use serde_json::json;

/// A question the starter knowledge base answers.
const PAYPAL: &str = "how do i add credit with paypal?";
/// A question nothing in it is about.
const NONSENSE: &str = "qwxz plvrk zzyzx frobnicate";

pub fn prompts_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../prompts")
}

/// The assistant's settings for tests: the fake Gemini, short timeouts, no channel cooldown.
pub fn with_gemini(config: &mut Config, gemini: &FakeGemini) {
    config.gemini.base_url = gemini.base_url().parse().expect("url");
    config.gemini.api_key = Some(gemini.key().to_owned().into());
    config.gemini.timeout = Duration::from_secs(2);
    config.gemini.total_timeout = Duration::from_secs(2);
    config.gemini.retries = 1;
    config.gemini.backoff = Duration::from_millis(50);
    config.assistant.prompts_dir = prompts_dir();
    config.assistant.channel_cooldown = Duration::ZERO;
}

struct Desk {
    app: TestApp,
    gemini: FakeGemini,
}

async fn desk(db: &TestDb, tweak: impl FnOnce(&mut Config)) -> Desk {
    let gemini = FakeGemini::start().await;
    let mut config = Config::default();
    with_gemini(&mut config, &gemini);
    tweak(&mut config);
    let app = TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await;
    Desk { app, gemini }
}

on_both_engines!(
    the_api_answers_with_sources_on_help_pages,
    help_pages_render_articles_safely_and_hide_drafts,
    the_ask_box_and_the_new_ticket_page_suggest_articles
);

async fn the_api_answers_with_sources_on_help_pages(db: TestDb) {
    let d = desk(&db, |_| {}).await;
    d.gemini.script(Reply::Answer {
        status: "answered",
        answer: "Open Billing and choose Top up; pay with PayPal. <b>x</b> @everyone".into(),
        citations: vec!["kb-1".into(), "kb-77".into()],
        needs_human: false,
    });
    let (status, body) = answer(
        d.app
            .post_json(None, "/api/v1/ask", &json!({"question": PAYPAL}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let text = body["answer"].as_str().expect("an answer");
    assert!(text.contains("Top up"), "{text}");
    assert!(
        !text.contains("<b>") && !text.contains("@everyone"),
        "{text}"
    );
    let sources = body["sources"].as_array().expect("sources");
    assert_eq!(sources.len(), 1, "only the id that was sent: {body}");
    let slug = sources[0]["slug"].as_str().expect("a slug");
    let url = sources[0]["url"].as_str().expect("a url");
    assert!(url.ends_with(&format!("/help/{slug}")), "{url}");
    assert!(sources[0]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["needs_human"], false);
    assert_eq!(body["ticket_offer"], false);
    // The help page the source links to exists.
    let page = d.app.get(&format!("/help/{slug}")).await;
    assert_eq!(page.status(), 200);

    // A follow-up carries the conversation; the system instruction is sent again.
    d.gemini.script(Reply::Answer {
        status: "answered",
        answer: "There is a minimum top-up.".into(),
        citations: vec!["kb-1".into()],
        needs_human: false,
    });
    let (status, body) = answer(
        d.app
            .post_json(
                None,
                "/api/v1/ask",
                &json!({"question": "is there a minimum amount for paypal top ups?",
                        "conversation": [{"question": PAYPAL, "answer": text}]}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = d.gemini.generate_requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1]
            .pointer("/systemInstruction/parts/0/text")
            .is_some()
    );
    assert_eq!(requests[1]["contents"].as_array().map(Vec::len), Some(3));

    // Nothing relevant: "I don't know", a ticket offer, and the model is not asked.
    let (status, body) = answer(
        d.app
            .post_json(None, "/api/v1/ask", &json!({"question": NONSENSE}))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["answer"]
            .as_str()
            .is_some_and(|a| a.contains("I don't know"))
    );
    assert_eq!(body["ticket_offer"], true);
    assert_eq!(body["needs_human"], true);
    assert_eq!(body["sources"], json!([]));
    assert_eq!(d.gemini.generate_requests().len(), 2, "no model call");

    // Mistakes are refused with the usual shapes.
    for bad in [
        json!({"question": ""}),
        json!({"question": "x".repeat(5000)}),
        json!({"question": "ok?", "conversation": [{"question": "a", "answer": "b".repeat(9000)}]}),
    ] {
        let (status, body) = answer(d.app.post_json(None, "/api/v1/ask", &bad).await).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid");
    }
    let (status, body) = answer(
        d.app
            .post_json(None, "/api/v1/ask", &json!({"query": "wrong field"}))
            .await,
    )
    .await;
    assert!(status == 400 || status == 422, "{status} {body}");

    // A signed-in customer asks as themselves; the model sees their own account.
    let alice = d.app.user("alice@example.com", Role::Customer).await;
    d.gemini.script(Reply::Answer {
        status: "answered",
        answer: "Top up in Billing.".into(),
        citations: vec!["kb-1".into()],
        needs_human: false,
    });
    let (status, body) = answer(
        d.app
            .post_json(
                Some(&alice.token),
                "/api/v1/ask",
                &json!({"question": PAYPAL}),
            )
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let requests = d.gemini.generate_requests();
    let turn = requests
        .last()
        .and_then(|r| r.pointer("/contents/0/parts/0/text"))
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    assert!(turn.contains("<account nonce="), "{turn}");
    assert!(d.gemini.problems().is_empty(), "{:?}", d.gemini.problems());

    // The route is in the OpenAPI document.
    let (_, document) = answer(d.app.get("/api/openapi.json").await).await;
    assert!(document["paths"]["/api/v1/ask"]["post"].is_object());
    assert!(document["components"]["schemas"]["AskView"].is_object());
}

async fn help_pages_render_articles_safely_and_hide_drafts(db: TestDb) {
    let d = desk(&db, |_| {}).await;
    let core = d.app.core();
    let content = |slug: &str, published: bool| ArticleContent {
        slug: Slug::parse(slug).expect("slug"),
        title: "Scripts & <tags> in articles".into(),
        kind: ArticleKind::Doc,
        tags: vec!["testing".into()],
        body: "# Heading\n\nSome **bold** text. <script>alert(1)</script>\n\n\
               <img src=x onerror=alert(2)>\n\n[bad](javascript:alert(3)) [good](/help/ssh-keys)\n"
            .into(),
        also_asked: Vec::new(),
        published,
    };
    core.knowledge
        .save(&Actor::cli(), content("script-test", true))
        .await
        .expect("saved");
    core.knowledge
        .save(&Actor::cli(), content("secret-draft", false))
        .await
        .expect("saved");

    let page = d.app.get("/help/script-test").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains("<h1>Heading</h1>"), "{html}");
    assert!(html.contains("<strong>bold</strong>"), "{html}");
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(
        html.contains(r#"<a href="/help/ssh-keys">good</a>"#),
        "{html}"
    );
    assert!(html.contains("Scripts &amp; &lt;tags&gt;"), "{html}");

    // A draft is not found for anybody but an admin; so is a slug that is no slug.
    assert_eq!(d.app.get("/help/secret-draft").await.status(), 404);
    let alice = d.app.user("alice@example.com", Role::Customer).await;
    let as_alice = d
        .app
        .http
        .get(d.app.url("/help/secret-draft"))
        .header("cookie", format!("hd_session={}", alice.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(as_alice.status(), 404);
    assert_eq!(d.app.get("/help/..%2Fetc").await.status(), 404);
    let admin = d.app.user("admin@example.com", Role::Admin).await;
    let as_admin = d
        .app
        .http
        .get(d.app.url("/help/secret-draft"))
        .header("cookie", format!("hd_session={}", admin.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(as_admin.status(), 200);

    // The index lists published articles by kind and tag; drafts are not listed.
    let index = d.app.get("/help").await.text().await.expect("a page");
    assert!(index.contains("/help/script-test"), "{index}");
    assert!(!index.contains("secret-draft"), "{index}");
    let tagged = d
        .app
        .get("/help?tag=testing")
        .await
        .text()
        .await
        .expect("a page");
    assert!(tagged.contains("/help/script-test"));
    assert!(
        !tagged.contains("/help/ssh-keys\">"),
        "only the tag's articles"
    );
    let faqs = d
        .app
        .get("/help?kind=faq")
        .await
        .text()
        .await
        .expect("a page");
    assert!(!faqs.contains("/help/script-test\""), "a doc is not a faq");

    // Search finds the starter articles.
    let found = d
        .app
        .get("/help?q=add+credit+paypal")
        .await
        .text()
        .await
        .expect("a page");
    assert!(found.contains("data-test=\"results\""), "{found}");
    assert!(found.contains("/help/add-credit-with-paypal"), "{found}");
}

async fn the_ask_box_and_the_new_ticket_page_suggest_articles(db: TestDb) {
    let d = desk(&db, |config| {
        config.assistant.unlinked_questions_per_day = 1;
    })
    .await;
    d.gemini.script(Reply::Answer {
        status: "answered",
        answer: "Choose Top up in <i>Billing</i>.".into(),
        citations: vec!["kb-1".into()],
        needs_human: false,
    });
    let visit = d.app.portal_visit(None, "/help").await;
    let page = d
        .app
        .portal_post(&visit, "/help/ask", &[("question", PAYPAL)])
        .await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains("data-test=\"answer\""), "{html}");
    assert!(!html.contains("<i>Billing"), "{html}");
    assert!(html.contains("data-test=\"sources\""), "{html}");
    assert!(html.contains("<li><a href=\"/help/"), "{html}");
    // The second question of an unlinked visitor is over the limit, and says when.
    let page = d
        .app
        .portal_post(&visit, "/help/ask", &[("question", PAYPAL)])
        .await;
    let html = page.text().await.expect("a page");
    assert!(html.contains("00:00 UTC"), "{html}");
    assert!(!html.contains("data-test=\"answer\""));
    // Without the form's token the question is refused before it is asked.
    let forged = d
        .app
        .http
        .post(d.app.url("/help/ask"))
        .header("cookie", &visit.cookies)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("question=hi")
        .send()
        .await
        .expect("POST");
    assert_eq!(forged.status(), 403);
    assert_eq!(d.gemini.generate_requests().len(), 1);

    // The new-ticket page suggests articles for its subject before a ticket is opened.
    let alice = d.app.user("alice@example.com", Role::Customer).await;
    let page = d
        .app
        .http
        .get(d.app.url("/tickets/new?subject=my+server+is+suspended"))
        .header("cookie", format!("hd_session={}", alice.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page");
    assert!(html.contains("data-test=\"suggestions\""), "{html}");
    assert!(html.contains("/help/suspended-server"), "{html}");
    assert!(html.contains("value=\"my server is suspended\""), "{html}");

    // Admins see the usage; customers do not.
    let admin = d.app.user("admin@example.com", Role::Admin).await;
    let usage = d
        .app
        .http
        .get(d.app.url("/admin/assistant"))
        .header("cookie", format!("hd_session={}", admin.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(usage.status(), 200);
    let html = usage.text().await.expect("a page");
    assert!(html.contains("data-test=\"tokens\""), "{html}");
    assert!(html.contains("answered: 1"), "{html}");
    let refused = d
        .app
        .http
        .get(d.app.url("/admin/assistant"))
        .header("cookie", format!("hd_session={}", alice.token))
        .send()
        .await
        .expect("GET");
    assert_eq!(refused.status(), 403);
}

/// The daily limit holds at the API door when 50 questions arrive at once: exactly 20 answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_questions_at_once_get_exactly_the_daily_twenty() {
    let db = TestDb::sqlite().await;
    let d = desk(&db, |config| {
        config.assistant.unlinked_questions_per_day = 20;
    })
    .await;
    let mut asks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = d
            .app
            .http
            .post(d.app.url("/api/v1/ask"))
            .json(&json!({"question": PAYPAL}));
        asks.spawn(async move { request.send().await.expect("POST") });
    }
    let responses = asks.join_all().await;
    let mut answered = 0;
    let mut refused = 0;
    for response in responses {
        match response.status().as_u16() {
            200 => answered += 1,
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((answered, refused), (20, 30));
}
