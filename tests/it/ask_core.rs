//! The assistant's core against a fake Gemini on 127.0.0.1: grounded answers with citations
//! kept only for ids that were sent, "I don't know" without a model call, every Gemini failure
//! (and Gemini unreachable) turned into a helpful answer within a bound, quotas exact under
//! concurrency, and the injection suite against a model that obeys every injection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hostdeck_core::Core;
use hostdeck_core::assistant::{Answer, AnswerKind, Asker, Exchange, Passage, Passages, Retrieved};
use hostdeck_core::clock::{Clock, ManualClock, SystemClock};
use hostdeck_core::config::Config;
use hostdeck_core::identity::Client;
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_core::records::assistant::Feedback;
use hostdeck_core::users::User;
use hostdeck_core::{ErrorCode, Result};
use hostdeck_e2e::billing::{SeedServer, customer, execute, insert_servers};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::gemini::{FakeGemini, Reply};
use hostdeck_fakes::server::Fault;
use reqwest::StatusCode;
use serde_json::json;

const PORTAL: &str = "https://portal.example.com";
/// Another customer's data, planted in the store; no answer to Alice may carry it.
const BOB_SERVER: &str = "bob-vault-db-9931";

/// Three help articles; a question about "xyzzy" finds nothing relevant.
struct Articles;

fn article(id: i64, slug: &str, title: &str, text: &str) -> Passage {
    Passage {
        article: id,
        slug: slug.into(),
        title: title.into(),
        url: format!("{PORTAL}/help/{slug}"),
        text: text.into(),
        score: 1.0 / id as f64,
    }
}

#[async_trait::async_trait]
impl Passages for Articles {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Retrieved> {
        if query.contains("xyzzy") {
            return Ok(Retrieved::default());
        }
        let mut passages = vec![
            article(
                1,
                "top-up",
                "Top up with PayPal",
                "Open Billing, choose Top up, pay with PayPal.",
            ),
            article(
                2,
                "hourly-billing",
                "How hourly billing works",
                "Servers are charged per hour from your balance.",
            ),
            article(
                3,
                "stopped-servers",
                "Billing for stopped servers",
                "A stopped server is charged at the stopped rate.",
            ),
        ];
        passages.truncate(limit);
        Ok(Retrieved {
            passages,
            answerable: true,
        })
    }
}

struct World {
    db: TestDb,
    core: Core,
    gemini: FakeGemini,
    alice: User,
    bob: User,
}

impl World {
    fn alice(&self) -> Actor {
        Actor::user(self.alice.id, Role::Customer, Via::Discord)
    }

    async fn ask(&self, asker: &str, question: &str) -> Result<Answer> {
        self.ask_in(asker, None, question, &[]).await
    }

    async fn ask_in(
        &self,
        asker: &str,
        channel: Option<&str>,
        question: &str,
        conversation: &[Exchange],
    ) -> Result<Answer> {
        let asker = Asker {
            key: asker.into(),
            channel: channel.map(str::to_owned),
        };
        self.core
            .assistant
            .ask(&self.alice(), &asker, question, conversation)
            .await
    }
}

fn prompts_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../prompts")
}

async fn world(db: TestDb, tweak: impl FnOnce(&mut Config)) -> World {
    world_at(db, Arc::new(SystemClock), tweak).await
}

async fn world_at(db: TestDb, clock: Arc<dyn Clock>, tweak: impl FnOnce(&mut Config)) -> World {
    let gemini = FakeGemini::start().await;
    let mut config = Config::default();
    config.gemini.base_url = gemini.base_url().parse().expect("url");
    config.gemini.api_key = Some(gemini.key().to_owned().into());
    config.gemini.timeout = Duration::from_secs(2);
    config.gemini.total_timeout = Duration::from_secs(4);
    config.gemini.retries = 1;
    config.gemini.backoff = Duration::from_millis(50);
    config.assistant.prompts_dir = prompts_dir();
    config.assistant.channel_cooldown = Duration::ZERO;
    config.assistant.linked_questions_per_day = 10_000;
    config.web.public_url = Some(PORTAL.parse().expect("url"));
    tweak(&mut config);
    let mut core = db.core_with(config, clock).await;
    core.assistant = core.assistant.with_passages(Arc::new(Articles));
    let now = Utc::now();
    let alice = customer(db.store.as_ref(), 1, now).await;
    let bob = customer(db.store.as_ref(), 2, now).await;
    let ids = insert_servers(
        &db.url,
        1,
        &[
            SeedServer::running(alice.id.0, now, 7_300_000),
            SeedServer::running(bob.id.0, now, 7_300_000),
        ],
    )
    .await;
    execute(
        &db.url,
        &format!(
            "UPDATE servers SET name = '{BOB_SERVER}' WHERE id = {}",
            ids[1].0
        ),
    )
    .await;
    World {
        db,
        core,
        gemini,
        alice,
        bob,
    }
}

async fn grounded_answers_cite_only_what_was_sent(db: TestDb) {
    let w = world(db, |_| {}).await;
    w.gemini.script(Reply::Answer {
        status: "answered",
        answer: "Open **Billing** and choose Top up.".into(),
        citations: vec!["kb-1".into(), "kb-999".into(), "kb-1".into()],
        needs_human: false,
    });
    let answer = w
        .ask("discord:1", "how do i add credit??")
        .await
        .expect("an answer");
    assert_eq!(answer.kind, AnswerKind::Answered);
    assert_eq!(answer.sources.len(), 1, "{answer:?}");
    assert_eq!(answer.sources[0].slug, "top-up");
    assert_eq!(answer.sources[0].url, format!("{PORTAL}/help/top-up"));
    assert!(!answer.needs_human);
    // A follow-up: the system instruction again, the earlier turn, fresh sources.
    let earlier = [Exchange {
        question: "how do i add credit??".into(),
        answer: answer.text.clone(),
    }];
    let follow = w
        .ask_in("discord:1", None, "and is there a minimum?", &earlier)
        .await
        .expect("an answer");
    assert_eq!(follow.kind, AnswerKind::Answered);
    let requests = w.gemini.generate_requests();
    assert_eq!(requests.len(), 2);
    let last = &requests[1];
    assert!(last.pointer("/systemInstruction/parts/0/text").is_some());
    assert_eq!(last["contents"].as_array().map(Vec::len), Some(3));
    let turn = last
        .pointer("/contents/2/parts/0/text")
        .and_then(|t| t.as_str())
        .unwrap_or("");
    assert!(turn.contains("<source id=\"kb-1\""), "{turn}");
    assert!(
        turn.contains("<account nonce="),
        "the asker's own account: {turn}"
    );
    assert!(
        !turn.contains(BOB_SERVER),
        "nobody else's data reaches the model"
    );
    assert!(last.get("tools").is_none());
    assert!(w.gemini.problems().is_empty(), "{:?}", w.gemini.problems());
    let usage = w
        .core
        .assistant
        .usage(&w.alice(), Utc::now() - chrono::Duration::hours(1))
        .await;
    assert!(usage.is_err(), "usage is for admins");
    let usage =
        w.db.store
            .assistant()
            .usage_since(Utc::now() - chrono::Duration::hours(1))
            .await
            .expect("usage");
    assert_eq!(usage.questions, 2);
    assert_eq!(usage.tokens, 1000);
}

async fn nothing_relevant_is_an_honest_i_dont_know_without_the_model(db: TestDb) {
    let w = world(db, |_| {}).await;
    let answer = w
        .ask("discord:1", "what about xyzzy")
        .await
        .expect("an answer");
    assert_eq!(answer.kind, AnswerKind::NoSources);
    assert!(answer.ticket_offer && answer.sources.is_empty());
    assert!(answer.text.contains("I don't know"));
    assert!(
        w.gemini.generate_requests().is_empty(),
        "the model is not asked"
    );
}

async fn without_a_key_answers_are_the_relevant_articles(db: TestDb) {
    let w = world(db, |config| config.gemini.api_key = None).await;
    let answer = w.ask("discord:1", "billing?").await.expect("an answer");
    assert_eq!(answer.kind, AnswerKind::Lexical);
    assert_eq!(answer.sources.len(), 3);
    assert!(w.gemini.recorder().calls().is_empty());
}

/// Every failure in ../shared/wire/gemini/, and the rest Google can answer.
fn failures() -> Vec<(&'static str, Reply)> {
    let error = |code: u16, status: &str| {
        Reply::Raw(
            StatusCode::from_u16(code).expect("status"),
            json!({"error": {"code": code, "message": "failure", "status": status}}),
        )
    };
    vec![
        (
            "safety",
            Reply::Wire("unary-failure-finish-reason-safety.json"),
        ),
        (
            "blocked",
            Reply::Wire("unary-failure-only-prompt-feedback.json"),
        ),
        (
            "blocked",
            Reply::Raw(
                StatusCode::OK,
                json!({"promptFeedback": {"blockReason": "SAFETY"}}),
            ),
        ),
        (
            "no_content",
            Reply::Wire("unary-failure-with-message-no-content.json"),
        ),
        (
            "max_tokens",
            Reply::Wire("examples/generate-content-response-max-tokens-in-thinking.json"),
        ),
        (
            "recitation",
            Reply::Raw(
                StatusCode::OK,
                json!({"candidates": [{"finishReason": "RECITATION"}]}),
            ),
        ),
        (
            "no_content",
            Reply::Raw(
                StatusCode::OK,
                json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]}),
            ),
        ),
        ("bad_key", Reply::Wire("unary-failure-api-key.json")),
        (
            "bad_key",
            Reply::Wire("unary-failure-generativelanguage-api-not-enabled.json"),
        ),
        (
            "unknown_model",
            Reply::Wire("unary-failure-unknown-model.json"),
        ),
        (
            "unknown_model",
            Reply::Wire("examples/embed-failure-model-retired.json"),
        ),
        (
            "rate_limited",
            Reply::Wire("examples/embed-failure-rate-limited.json"),
        ),
        ("unavailable", error(500, "INTERNAL")),
        ("unavailable", error(503, "UNAVAILABLE")),
        (
            "refused",
            Reply::Wire("streaming-failure-image-rejected.txt"),
        ),
        (
            "malformed",
            Reply::Text("{\"status\": \"answered\", \"answer\": \"cut sh".into()),
        ),
        ("malformed", Reply::Text("plain words, not JSON".into())),
        (
            "malformed",
            Reply::Raw(StatusCode::OK, json!(["not", "an", "answer"])),
        ),
    ]
}

async fn every_gemini_failure_is_a_helpful_answer_in_time(db: TestDb) {
    let w = world(db, |_| {}).await;
    for (n, (kind, reply)) in failures().into_iter().enumerate() {
        // A 5xx is retried once: script it twice. The 429 names a 15 s wait, past the
        // question's deadline, so it is not retried.
        if kind == "unavailable" {
            w.gemini.script(reply.clone());
        }
        w.gemini.script(reply);
        let started = Instant::now();
        let answer = w
            .ask(&format!("discord:f{n}"), "how do i top up")
            .await
            .expect("an answer");
        assert_eq!(answer.kind, AnswerKind::Failed, "{kind}: {answer:?}");
        assert_eq!(answer.failure, Some(kind), "{answer:?}");
        assert!(answer.ticket_offer && !answer.text.is_empty());
        assert!(
            !answer.sources.is_empty(),
            "the articles that look relevant"
        );
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "{kind} took {:?}",
            started.elapsed()
        );
    }
    // A model that never answers, and one that answers slowly but in time.
    w.gemini
        .recorder()
        .fail_next("generateContent", 2, Fault::Hang);
    let started = Instant::now();
    let answer = w
        .ask("discord:hang", "how do i top up")
        .await
        .expect("an answer");
    assert_eq!(answer.failure, Some("timeout"), "{answer:?}");
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "{:?}",
        started.elapsed()
    );
    w.gemini
        .recorder()
        .fail_next("generateContent", 1, Fault::Drop);
    let answer = w
        .ask("discord:drop", "how do i top up")
        .await
        .expect("an answer");
    assert_eq!(
        answer.kind,
        AnswerKind::Answered,
        "a dropped connection is retried: {answer:?}"
    );
    assert!(w.gemini.problems().is_empty(), "{:?}", w.gemini.problems());
    // A failed question does not count against the asker's day.
    let refused =
        w.db.store
            .assistant()
            .usage_since(Utc::now() - chrono::Duration::hours(1))
            .await
            .expect("usage");
    assert!(
        refused
            .by_outcome
            .iter()
            .any(|(outcome, _)| outcome == "failed:safety")
    );
}

async fn gemini_unreachable_is_a_helpful_answer(db: TestDb) {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.local_addr().expect("address")
    };
    let w = world(db, |config| {
        config.gemini.base_url = format!("http://{closed}").parse().expect("url");
    })
    .await;
    let started = Instant::now();
    let answer = w
        .ask("discord:1", "how do i top up")
        .await
        .expect("an answer");
    assert_eq!(answer.failure, Some("unreachable"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

async fn fifty_at_once_against_twenty_a_day_admit_exactly_twenty(db: TestDb) {
    let w = Arc::new(world(db, |config| config.assistant.linked_questions_per_day = 20).await);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            w.ask("discord:busy", "top up?").await
        }));
    }
    let mut answered = 0;
    for task in tasks {
        match task.await.expect("a task") {
            Ok(answer) => {
                assert_eq!(answer.kind, AnswerKind::Answered);
                answered += 1;
            }
            Err(error) => {
                assert_eq!(error.code(), ErrorCode::RateLimited);
                assert!(error.to_string().contains("00:00 UTC"), "{error}");
            }
        }
    }
    assert_eq!(answered, 20);
    assert!(
        w.ask("discord:other", "top up?").await.is_ok(),
        "others are counted apart"
    );
}

async fn the_channel_cooldown_and_the_token_budget_refuse_with_a_time(db: TestDb) {
    let w = world(db, |config| {
        config.assistant.channel_cooldown = Duration::from_secs(60);
        config.assistant.tokens_per_question = 1_000;
        config.assistant.daily_token_budget = 1_200;
    })
    .await;
    w.ask_in("discord:a", Some("chan-1"), "top up?", &[])
        .await
        .expect("the first");
    let refused = w
        .ask_in("discord:b", Some("chan-1"), "top up?", &[])
        .await
        .expect_err("cooldown");
    assert_eq!(refused.code(), ErrorCode::RateLimited);
    assert!(refused.to_string().contains("this channel"), "{refused}");
    // The first question used 500 tokens: 500 + 1000 set aside is over 1200.
    let refused = w.ask("discord:c", "top up?").await.expect_err("budget");
    assert!(refused.to_string().contains("00:00 UTC"), "{refused}");
    // With nothing to ask the model, the budget does not matter.
    assert!(w.ask("discord:c", "xyzzy").await.is_ok());
}

async fn kept_answers_hold_to_their_account_and_close_after_15_minutes(db: TestDb) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let w = world_at(db, clock.clone(), |_| {}).await;
    let assistant = &w.core.assistant;
    let alice = w.alice();
    let bob = Actor::user(w.bob.id, Role::Customer, Via::Discord);
    let unlinked = Actor::anonymous(Via::Discord);
    // One Discord member's answer, asked while linked to Alice's account.
    let member = Asker {
        key: "discord:77".into(),
        channel: None,
    };
    let kept = assistant
        .ask_kept(&alice, &member, "top up?", None)
        .await
        .expect("an answer");
    // Relinked to Bob's account, or unlinked: the answer (and Alice's context in it) is gone.
    for actor in [&bob, &unlinked] {
        let errors = [
            assistant
                .kept(actor, &member, kept.id)
                .await
                .expect_err("kept"),
            assistant
                .open_ticket(&w.core.tickets, actor, &member, kept.id)
                .await
                .expect_err("a ticket"),
            assistant
                .feedback(actor, &member, kept.id, Feedback::Solved)
                .await
                .expect_err("feedback"),
        ];
        for error in errors {
            assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
        }
    }
    // Past 15 minutes no button works, not even for Alice.
    clock.advance(chrono::Duration::minutes(16));
    let late = [
        assistant
            .open_ticket(&w.core.tickets, &alice, &member, kept.id)
            .await
            .expect_err("a late ticket"),
        assistant
            .feedback(&alice, &member, kept.id, Feedback::Solved)
            .await
            .expect_err("a late solved"),
        assistant
            .ask_kept(&alice, &member, "and then?", Some(kept.id))
            .await
            .expect_err("a late follow-up"),
    ];
    for error in late {
        assert_eq!(error.code(), ErrorCode::Invalid, "{error}");
        assert!(error.to_string().contains("15 minutes"), "{error}");
    }
    // Within them, they do.
    let fresh = assistant
        .ask_kept(&alice, &member, "top up\n  with paypal?", None)
        .await
        .expect("an answer");
    clock.advance(chrono::Duration::minutes(14));
    let ticket = assistant
        .open_ticket(&w.core.tickets, &alice, &member, fresh.id)
        .await
        .expect("a ticket");
    assert_eq!(ticket.subject, "top up with paypal?");
    assert_eq!(ticket.customer, w.alice.id);
}

async fn a_linked_member_has_one_daily_limit_across_the_doors(db: TestDb) {
    let w = world(db, |config| {
        config.assistant.linked_questions_per_day = 2;
        config.assistant.unlinked_questions_per_day = 5;
    })
    .await;
    let client = Client {
        address: "192.0.2.7".into(),
        user_agent: "tests".into(),
    };
    let alice = w.alice();
    let on_discord = Asker::discord(alice.user, 77, Some("chan-1".into()));
    let on_the_portal = Asker::web(alice.user, &client);
    let assistant = &w.core.assistant;
    assistant
        .ask(&alice, &on_discord, "top up?", &[])
        .await
        .expect("the first");
    assistant
        .ask(&alice, &on_the_portal, "top up?", &[])
        .await
        .expect("the second");
    let refused = assistant
        .ask(&alice, &on_discord, "top up?", &[])
        .await
        .expect_err("the third, on another door");
    assert_eq!(refused.code(), ErrorCode::RateLimited, "{refused}");
    // The same member unlinked counts as the member, apart from the account.
    let unlinked = Actor::anonymous(Via::Discord);
    let member = Asker::discord(None, 77, Some("chan-1".into()));
    assert!(
        assistant
            .ask(&unlinked, &member, "top up?", &[])
            .await
            .is_ok()
    );
}

async fn embeddings_and_token_counts_speak_the_wire_format(db: TestDb) {
    use hostdeck_core::assistant::gemini::{EmbedTask, EmbedText, GenerateRequest, Turn};
    let w = world(db, |_| {}).await;
    let gemini = w.core.assistant.gemini().expect("a client");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let query = EmbedText {
        text: "My server is still charged while it is stopped, why?",
        title: None,
        task: EmbedTask::Query,
    };
    let vector = gemini.embed(&query, deadline).await.expect("an embedding");
    assert_eq!(vector.len(), 768);
    let norm: f32 = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-3, "normalised in Rust: {norm}");
    let bodies: Vec<String> = (0..150)
        .map(|n| format!("Article {n} about billing"))
        .collect();
    let texts: Vec<EmbedText<'_>> = bodies
        .iter()
        .map(|text| EmbedText {
            text,
            title: Some("Billing"),
            task: EmbedTask::Document,
        })
        .collect();
    let vectors = gemini
        .embed_batch(&texts, deadline)
        .await
        .expect("embeddings");
    assert_eq!(vectors.len(), 150);
    let batches = w
        .gemini
        .recorder()
        .calls_to(&reqwest::Method::POST, ":batchEmbedContents");
    assert_eq!(batches.len(), 2, "at most 100 per batch");
    let request = GenerateRequest {
        system: "You are a test.".into(),
        turns: vec![Turn {
            role: "user",
            text: "How many tokens is this?".into(),
        }],
        schema: json!({"type": "OBJECT", "properties": {"answer": {"type": "STRING"}}}),
    };
    assert!(
        gemini
            .count_tokens(&request, deadline)
            .await
            .expect("a count")
            > 0
    );
    assert!(w.gemini.problems().is_empty(), "{:?}", w.gemini.problems());
}

on_both_engines!(
    grounded_answers_cite_only_what_was_sent,
    nothing_relevant_is_an_honest_i_dont_know_without_the_model,
    fifty_at_once_against_twenty_a_day_admit_exactly_twenty,
    the_channel_cooldown_and_the_token_budget_refuse_with_a_time,
    kept_answers_hold_to_their_account_and_close_after_15_minutes,
    a_linked_member_has_one_daily_limit_across_the_doors,
);

mod sqlite_only {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_gemini_failure_is_a_helpful_answer_in_time() {
        super::every_gemini_failure_is_a_helpful_answer_in_time(TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn embeddings_and_token_counts_speak_the_wire_format() {
        super::embeddings_and_token_counts_speak_the_wire_format(TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gemini_unreachable_is_a_helpful_answer() {
        super::gemini_unreachable_is_a_helpful_answer(TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_key_answers_are_the_relevant_articles() {
        super::without_a_key_answers_are_the_relevant_articles(TestDb::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn injections_against_an_obeying_model_change_nothing() {
        super::injections::suite(super::world(TestDb::sqlite().await, |_| {}).await).await;
    }
}

#[path = "ask_injections.rs"]
mod injections;
