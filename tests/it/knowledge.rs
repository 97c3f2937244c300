//! The knowledge base on both engines: a fresh install loads the starter articles once, every
//! replica's search follows an edit made on another within seconds, drafts stay with admins,
//! only admins with two-factor edit, an import is refused whole when one file is bad; and the
//! public search route, with and without a token.

use std::time::Duration;

use hostdeck_core::ids::UserId;
use hostdeck_core::knowledge::files::{self, ArticleFile};
use hostdeck_core::knowledge::{ArticleContent, ArticleKind, Saved, Slug, starter};
use hostdeck_core::policy::Scope;
use hostdeck_core::{Actor, ErrorCode, Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::db::TestDb;

fn article(slug: &str, title: &str, body: &str, published: bool) -> ArticleContent {
    ArticleContent {
        slug: Slug::parse(slug).expect("a slug"),
        title: title.into(),
        kind: ArticleKind::Faq,
        tags: vec!["network".into()],
        body: body.into(),
        also_asked: vec![],
        published,
    }
}

async fn first_hit(core: &hostdeck_core::Core, question: &str) -> Option<String> {
    core.knowledge
        .search(&Actor::anonymous(Via::Discord), question, 3)
        .await
        .expect("a search")
        .hits
        .first()
        .map(|hit| hit.slug.to_string())
}

async fn starter_articles_load_once_and_edits_reach_every_replica(db: TestDb) {
    let one = db.core_now().await;
    let two = db.core_now().await;
    let anybody = Actor::anonymous(Via::Portal);
    let listed = one.knowledge.list(&anybody).await.expect("the list");
    assert_eq!(
        listed.len(),
        starter::FILES.len(),
        "loaded once, by the first start"
    );
    assert_eq!(
        first_hit(&two, "how do i reboot my vps").await.as_deref(),
        Some("power-actions")
    );
    assert_eq!(first_hit(&two, "wireguard tunnel").await, None);

    let admin = Actor::cli();
    let saved = one
        .knowledge
        .save(
            &admin,
            article(
                "wireguard",
                "WireGuard tunnels",
                "Set up a WireGuard tunnel.",
                true,
            ),
        )
        .await
        .expect("saved");
    assert_eq!(saved, Saved::Created);
    assert_eq!(
        first_hit(&one, "wireguard tunnel").await.as_deref(),
        Some("wireguard")
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        first_hit(&two, "wireguard tunnel").await.as_deref(),
        Some("wireguard"),
        "the other replica rebuilt its index"
    );

    let draft = article(
        "secret-plans",
        "Secret plans",
        "Nobody reads the zanzibar draft.",
        false,
    );
    one.knowledge.save(&admin, draft).await.expect("a draft");
    assert_eq!(
        first_hit(&one, "zanzibar").await,
        None,
        "drafts are not searched"
    );
    let refused = one.knowledge.article(&anybody, "secret-plans").await;
    assert_eq!(refused.expect_err("hidden").code(), ErrorCode::NotFound);
    assert!(one.knowledge.article(&admin, "secret-plans").await.is_ok());

    let customer = Actor::user(UserId(1), Role::Customer, Via::Portal);
    let admin_without_2fa = Actor::user(UserId(1), Role::Admin, Via::Portal);
    for actor in [customer, admin_without_2fa] {
        let refused = one
            .knowledge
            .save(&actor, article("x", "X", "Body.", true))
            .await;
        assert_eq!(refused.expect_err("refused").code(), ErrorCode::Forbidden);
        let refused = one.knowledge.export(&actor).await;
        assert_eq!(refused.expect_err("refused").code(), ErrorCode::Forbidden);
    }

    let mut exported = one.knowledge.export(&admin).await.expect("the export");
    let report = two
        .knowledge
        .import(&admin, &exported)
        .await
        .expect("imported");
    assert_eq!(report.count(Saved::Unchanged), exported.len(), "{report:?}");
    exported.push(ArticleFile {
        name: "bad.md".into(),
        text: "+++\ntitle = \"Bad\"\n+++\n\nBody.\n".into(),
    });
    exported[0]
        .text
        .push_str("\nAn edit that must not be written.\n");
    let refused = two
        .knowledge
        .import(&admin, &exported)
        .await
        .expect_err("bad file");
    assert!(refused.to_string().contains("bad.md, line"), "{refused}");
    let first = files::parse(&exported[0]).expect("parses");
    let stored = one
        .knowledge
        .article(&admin, first.slug.as_str())
        .await
        .expect("still there");
    assert_ne!(
        stored.content.body, first.body,
        "nothing of the refused import was written"
    );

    one.knowledge
        .delete(&admin, "wireguard")
        .await
        .expect("deleted");
    assert_eq!(first_hit(&one, "wireguard tunnel").await, None);
    let missing = one.knowledge.delete(&admin, "wireguard").await;
    assert_eq!(missing.expect_err("gone").code(), ErrorCode::NotFound);
    let third = db.core_now().await;
    assert!(
        third.knowledge.article(&admin, "wireguard").await.is_err(),
        "a start after edits loads no starter article again"
    );
}

async fn the_search_route_is_public_and_documented(db: TestDb) {
    let app = TestApp::start(db.core_now().await).await;
    let (status, body) = answer(
        app.get("/api/v1/kb/search?q=how%20do%20I%20add%20funds&limit=3")
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().expect("results");
    assert!(!results.is_empty() && results.len() <= 3, "{body}");
    let first = &results[0];
    assert_eq!(first["slug"], "add-credit-with-paypal", "{body}");
    assert!(
        first["url"]
            .as_str()
            .expect("url")
            .ends_with("/help/add-credit-with-paypal")
    );
    assert!(first["score"].as_f64().expect("score") > 0.0);
    assert!(!first["snippet"].as_str().expect("snippet").is_empty());

    let customer = app.user("kb@example.com", Role::Customer).await;
    let key = app.api_key(&customer, &[Scope::ReadUser]).await;
    for token in [&customer.token, &key] {
        let (status, body) = answer(app.get_as(token, "/api/v1/kb/search?q=reboot").await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["results"][0]["slug"], "power-actions", "{body}");
    }
    for bad in [
        "/api/v1/kb/search?q=x&limit=0",
        "/api/v1/kb/search?q=x&limit=21",
        "/api/v1/kb/search",
    ] {
        let (status, body) = answer(app.get(bad).await).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
    let (_, nothing) = answer(
        app.get("/api/v1/kb/search?q=capital%20of%20australia")
            .await,
    )
    .await;
    assert_eq!(nothing["results"], serde_json::json!([]), "{nothing}");

    let (_, doc) = answer(app.get("/api/openapi.json").await).await;
    assert!(
        doc["paths"]["/api/v1/kb/search"]["get"].is_object(),
        "documented"
    );
}

hostdeck_e2e::on_both_engines!(
    starter_articles_load_once_and_edits_reach_every_replica,
    the_search_route_is_public_and_documented,
);
