//! `/ask` beyond the model: `Assistant::ask` end to end (quotas, retrieval over the starter
//! knowledge base, the asker's own account, prompts, the model call, checking and making the
//! answer inert, the usage row) against a fake Gemini on 127.0.0.1 that answers at once, and in
//! the same run the bare round trip to that fake with a request of the same size (the Gemini
//! client alone). What `/ask` adds beyond the model is the difference; the goal is under 30 ms
//! at p99.
//!
//!     cargo bench -p hostdeck-e2e --bench ask
//!
//! Every question of the evaluation set (`tests/data/kb_eval.toml`) is asked `BENCH_ROUNDS`
//! times (default 5), by a linked customer with a server, on SQLite (a file, full fsync, as
//! shipped). `BENCH_ROUNDS=1` makes a quick run (also in a debug build).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hostdeck_core::assistant::Asker;
use hostdeck_core::assistant::gemini::{GenerateRequest, Turn};
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_e2e::billing::{SeedServer, customer, insert_servers};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::kb_eval;
use hostdeck_fakes::gemini::FakeGemini;

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    samples[rank.clamp(1, samples.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!(
        "# ask benchmark, {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}\n", hostdeck_e2e::bench::machine());

    let gemini = FakeGemini::start().await;
    let mut config = Config::default();
    config.gemini.base_url = gemini.base_url().parse()?;
    config.gemini.api_key = Some(gemini.key().to_owned().into());
    config.assistant.prompts_dir = hostdeck_e2e::bench::workspace_root().join("prompts");
    config.assistant.channel_cooldown = Duration::ZERO;
    config.assistant.linked_questions_per_day = u32::MAX / 2;
    config.assistant.daily_token_budget = i64::MAX / 4;
    config.web.public_url = Some("https://portal.example.com".parse()?);
    let db = TestDb::sqlite().await;
    let core = db.core_with(config, Arc::new(SystemClock)).await;
    let now = Utc::now();
    let alice = customer(db.store.as_ref(), 1, now).await;
    insert_servers(
        &db.url,
        1,
        &[SeedServer::running(alice.id.0, now, 7_300_000)],
    )
    .await;
    let actor = Actor::user(alice.id, Role::Customer, Via::Discord);
    let asker = Asker {
        key: format!("discord:{}", alice.id),
        channel: Some("4100".into()),
    };
    let client = core
        .assistant
        .gemini()
        .ok_or_else(|| anyhow::anyhow!("the Gemini client"))?
        .clone();
    let questions = kb_eval::questions();

    let mut asks = Vec::new();
    let mut trips = Vec::new();
    let mut to_model = 0;
    for _ in 0..rounds {
        for question in &questions {
            // The baseline: the same question with five passages' worth of text, to the fake
            // through the client alone.
            let found = core
                .knowledge
                .search(&actor, &question.q, 5)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let sources: String = found
                .hits
                .iter()
                .map(|hit| format!("<source id=\"kb-1\">{}</source>\n", hit.passage))
                .collect();
            let request = GenerateRequest {
                system: "You answer questions about a hosting platform. ".repeat(40),
                turns: vec![Turn {
                    role: "user",
                    text: format!("{sources}{}", question.q),
                }],
                schema: hostdeck_core::assistant::answer::schema(1500),
            };
            let started = Instant::now();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let generation = client.generate(&request, deadline).await;
            trips.push(started.elapsed());
            anyhow::ensure!(generation.text.is_ok(), "the fake answers");

            let started = Instant::now();
            let answer = core
                .assistant
                .ask(&actor, &asker, &question.q, &[])
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            asks.push(started.elapsed());
            if answer.failure.is_none() && !answer.sources.is_empty() {
                to_model += 1;
            }
        }
    }
    let total = asks.len();
    let (ask_p50, ask_p99) = (percentile(&mut asks, 50.0), percentile(&mut asks, 99.0));
    let (trip_p50, trip_p99) = (percentile(&mut trips, 50.0), percentile(&mut trips, 99.0));
    println!(
        "{total} questions ({} rounds of {}), {to_model} answered with sources by the model:\n",
        rounds,
        questions.len()
    );
    println!("| what | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| `Assistant::ask` end to end (fake Gemini) | {} | {} |",
        ms(ask_p50),
        ms(ask_p99)
    );
    println!(
        "| baseline: the bare Gemini round trip | {} | {} |",
        ms(trip_p50),
        ms(trip_p99)
    );
    println!(
        "| **beyond the model** (difference) | {} | {} |",
        ms(ask_p50.saturating_sub(trip_p50)),
        ms(ask_p99.saturating_sub(trip_p99))
    );
    let beyond = ask_p99.saturating_sub(trip_p99);
    println!(
        "\ngoal: under 30 ms at p99 beyond the model: {}",
        if beyond < Duration::from_millis(30) {
            "met"
        } else {
            "NOT met"
        }
    );
    Ok(())
}
