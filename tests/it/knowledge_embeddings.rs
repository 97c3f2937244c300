//! The knowledge base with embeddings, on both engines, against the fake Gemini: the published
//! passages are embedded as documents in batches the wire allows and stored once for every
//! replica; questions are embedded as queries; an edit on one replica re-embeds only what it
//! changed and another replica picks the vectors up; drafts are never embedded. When Gemini
//! fails (errors, hangs, unreachable) the search still answers by words, quickly; without a key
//! nothing is sent to Gemini at all.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::knowledge::{ArticleContent, ArticleKind, Slug};
use hostdeck_core::{Actor, Core, Via};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::gemini::FakeGemini;
use hostdeck_fakes::server::Fault;
use serde_json::{Value, json};

hostdeck_e2e::on_both_engines!(
    passages_are_embedded_once_and_edits_reach_every_replica,
    failing_embeddings_leave_the_word_search_answering_quickly,
    without_a_key_nothing_goes_to_gemini,
);

fn config(gemini: &FakeGemini) -> Config {
    let mut config = Config::default();
    config.gemini.base_url = gemini.base_url().parse().expect("url");
    config.gemini.api_key = Some(gemini.key().to_owned().into());
    config.gemini.timeout = Duration::from_millis(700);
    config.gemini.total_timeout = Duration::from_secs(1);
    config.gemini.retries = 1;
    config.gemini.backoff = Duration::from_millis(20);
    config.knowledge.question_embedding_timeout = Duration::from_millis(300);
    config.knowledge.embedding_rest = Duration::from_secs(60);
    config
}

async fn core(db: &TestDb, config: Config) -> Core {
    db.core_with(config, Arc::new(SystemClock)).await
}

fn article(slug: &str, title: &str, body: &str, published: bool) -> ArticleContent {
    ArticleContent {
        slug: Slug::parse(slug).expect("a slug"),
        title: title.into(),
        kind: ArticleKind::Doc,
        tags: vec!["network".into()],
        body: body.into(),
        also_asked: vec![],
        published,
    }
}

/// The requests inside every `batchEmbedContents` call so far.
fn batch_requests(gemini: &FakeGemini) -> Vec<Vec<Value>> {
    gemini
        .recorder()
        .calls_to(&Method::POST, ":batchEmbedContents")
        .into_iter()
        .map(|call| {
            call.body["requests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

fn query_embeddings(gemini: &FakeGemini) -> Vec<Value> {
    gemini
        .recorder()
        .calls_to(&Method::POST, ":embedContent")
        .into_iter()
        .map(|call| call.body)
        .collect()
}

async fn slugs(core: &Core, question: &str) -> Vec<String> {
    core.knowledge
        .search(&Actor::anonymous(Via::Discord), question, 5)
        .await
        .expect("a search")
        .hits
        .iter()
        .map(|hit| hit.slug.to_string())
        .collect()
}

async fn passages_are_embedded_once_and_edits_reach_every_replica(db: TestDb) {
    let gemini = FakeGemini::start().await;
    let one = core(&db, config(&gemini)).await;
    let two = core(&db, config(&gemini)).await;
    let passages = one
        .knowledge
        .retriever()
        .await
        .expect("index")
        .passage_count();
    assert!(passages > 20, "{passages} starter passages");

    let embedded = one.knowledge.refresh_embeddings().await.expect("embedded");
    assert_eq!(embedded, passages, "every published passage has a vector");
    let batches = batch_requests(&gemini);
    let sent: usize = batches.iter().map(Vec::len).sum();
    assert!(sent <= passages, "identical passages are embedded once");
    for batch in &batches {
        assert!(!batch.is_empty() && batch.len() <= 100, "{}", batch.len());
        for request in batch {
            assert_eq!(request["taskType"], "RETRIEVAL_DOCUMENT", "{request}");
            assert_eq!(request["model"], "models/gemini-embedding-001");
            assert_eq!(request["outputDimensionality"], 768);
            assert!(request["title"].is_string(), "{request}");
        }
    }
    let stored = db
        .store
        .knowledge()
        .embeddings("gemini-embedding-001", 768)
        .await
        .expect("stored");
    assert_eq!(stored.len(), sent);

    let found = slugs(&one, "how do i reboot my vps").await;
    assert_eq!(found.first().map(String::as_str), Some("power-actions"));
    let queries = query_embeddings(&gemini);
    assert_eq!(queries.len(), 1, "the question is embedded");
    assert_eq!(queries[0]["taskType"], "RETRIEVAL_QUERY");
    assert!(queries[0].get("title").is_none());

    // The second replica reads what the first stored: nothing is embedded again.
    assert_eq!(
        two.knowledge.refresh_embeddings().await.expect("read"),
        passages
    );
    assert_eq!(batch_requests(&gemini).len(), batches.len());

    // An edit on the first replica: the second notices the new version and embeds only the
    // new article's passage; a draft is never embedded.
    let admin = Actor::cli();
    one.knowledge
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
    one.knowledge
        .save(
            &admin,
            article("secret-plans", "Secret plans", "The zanzibar draft.", false),
        )
        .await
        .expect("a draft");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let now = two.knowledge.refresh_embeddings().await.expect("embedded");
    assert_eq!(now, passages + 1);
    let new: Vec<Value> = batch_requests(&gemini)
        .into_iter()
        .skip(batches.len())
        .flatten()
        .collect();
    let texts: Vec<String> = new
        .iter()
        .map(|request| {
            request
                .pointer("/content/parts/0/text")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert!(
        texts.iter().all(|text| !text.contains("zanzibar")),
        "drafts are not embedded: {texts:?}"
    );
    assert!(
        texts.iter().any(|text| text.contains("WireGuard")),
        "{texts:?}"
    );
    assert!(new.len() <= 2, "only what changed: {texts:?}");
    let found = slugs(&two, "wireguard tunnel").await;
    assert_eq!(found.first().map(String::as_str), Some("wireguard"));
    assert!(
        !slugs(&two, "zanzibar")
            .await
            .contains(&"secret-plans".to_owned())
    );
    assert!(gemini.problems().is_empty(), "{:?}", gemini.problems());
}

async fn failing_embeddings_leave_the_word_search_answering_quickly(db: TestDb) {
    let question = "my server is stuck, how do i restart it";
    let words_only = {
        let core = core(&db, Config::default()).await;
        slugs(&core, question).await
    };
    assert!(!words_only.is_empty());

    // Gemini answers every embedding with 503: the passages get no vectors, searches still
    // answer by words.
    let gemini = FakeGemini::start().await;
    let unavailable = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
    gemini.recorder().fail_always(
        "mbedContent",
        Fault::Status(StatusCode::SERVICE_UNAVAILABLE, unavailable),
    );
    let failing = core(&db, config(&gemini)).await;
    assert_eq!(
        failing
            .knowledge
            .refresh_embeddings()
            .await
            .expect("no error"),
        0
    );
    assert_eq!(slugs(&failing, question).await, words_only);

    // Vectors stored, then Gemini hangs: the question's embedding gives up within its
    // timeout, the answer is the word ranking's, and the next searches do not wait at all.
    gemini.recorder().heal();
    let hanging = core(&db, config(&gemini)).await;
    assert!(
        hanging
            .knowledge
            .refresh_embeddings()
            .await
            .expect("embedded")
            > 0
    );
    gemini.recorder().fail_always("mbedContent", Fault::Hang);
    let started = Instant::now();
    assert_eq!(slugs(&hanging, question).await, words_only);
    let first = started.elapsed();
    assert!(first < Duration::from_millis(900), "{first:?}");
    let calls = gemini.recorder().faults_applied();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(slugs(&hanging, question).await, words_only);
    }
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        gemini.recorder().faults_applied(),
        calls,
        "no further call while the model rests"
    );

    // Gemini unreachable altogether.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("addr")
    };
    let mut gone = config(&gemini);
    gone.gemini.base_url = format!("http://{closed}").parse().expect("url");
    let unreachable = core(&db, gone).await;
    let started = Instant::now();
    assert_eq!(slugs(&unreachable, question).await, words_only);
    assert!(started.elapsed() < Duration::from_millis(900));
}

async fn without_a_key_nothing_goes_to_gemini(db: TestDb) {
    let gemini = FakeGemini::start().await;
    let mut config = config(&gemini);
    config.gemini.api_key = None;
    let core = core(&db, config).await;
    assert_eq!(
        core.knowledge.refresh_embeddings().await.expect("nothing"),
        0
    );
    assert!(!slugs(&core, "how do i reboot my vps").await.is_empty());
    assert!(gemini.recorder().calls().is_empty());
}
