//! The Discord bot under load, against the fake Discord on loopback: bursts of 200 concurrent
//! `/balance` interactions from 200 linked customers, timed from `INTERACTION_CREATE` to the
//! bot's callback as the fake saw it, beside bursts of `/help` (the baseline: the same framework
//! and member lookup, without the balance and burn-rate queries); then the process's memory with
//! 1 and with 10,000 linked users.
//!
//!     cargo bench -p hostdeck-e2e --bench bot
//!
//! `BENCH_ROUNDS` (default 10) sets how many bursts of each command are sent. SQLite on disk
//! (WAL, synchronous=FULL), one process holding the fake, the platform and the bot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::DatabaseConfig;
use hostdeck_core::email::Email;
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::policy::{Role, Via};
use hostdeck_core::store::discord::DiscordLink;
use hostdeck_core::users::NewUser;
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::bot::{self, GUILD};
use hostdeck_fakes::discord::{FakeDiscord, Member};
use secrecy::SecretString;
use serde_json::json;

const BURST: usize = 200;
const DEADLINE: Duration = Duration::from_secs(3);
const MANY_USERS: u64 = 10_000;
const FIRST_MEMBER: u64 = 500_000;

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    println!(
        "# Bot benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "machine: {} cores; {rounds} bursts of {BURST} concurrent interactions per command\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(rounds))
}

fn rss_mib() -> anyhow::Result<f64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .context("no VmRSS")?;
    Ok(kib / 1024.0)
}

/// Creates `count` customers with credit and a Discord link each, straight in the store.
async fn link_customers(core: &Core, from: u64, count: u64) -> anyhow::Result<()> {
    let store = core.store().clone();
    let promotions = store.ledger().system_account(SystemAccount::Promotions);
    let now = chrono::Utc::now();
    for index in from..from + count {
        let user = store
            .users()
            .insert_user(
                &NewUser {
                    email: Email::parse(&format!("m{index}@example.com"))?,
                    role: Role::Customer,
                    password_hash: None,
                    email_verified: true,
                },
                now,
            )
            .await?;
        store
            .ledger()
            .post(
                &PostingRequest {
                    debit: promotions,
                    credit: user.wallet,
                    amount: Money::from_units(10)?,
                    kind: PostingKind::SignupCredit,
                    key: format!("bench:{index}"),
                    reference: None,
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Allow,
                },
                now,
            )
            .await?;
        store
            .discord()
            .link_discord(&DiscordLink {
                discord_user_id: FIRST_MEMBER + index,
                user: user.id,
                discord_name: format!("m{index}"),
                linked_at: now,
            })
            .await?;
    }
    Ok(())
}

struct Burst {
    latencies: Vec<Duration>,
    per_second: f64,
}

/// `rounds` bursts of `BURST` concurrent `/command`, one member each.
async fn bursts(discord: &FakeDiscord, command: &str, rounds: usize) -> anyhow::Result<Burst> {
    let members: Vec<Member> = (0..BURST as u64)
        .map(|index| Member::new(FIRST_MEMBER + index, &format!("m{index}")).in_guild(GUILD))
        .collect();
    let mut latencies = Vec::new();
    let mut busy = Duration::ZERO;
    for _ in 0..rounds {
        let before = discord.callback_latencies().len();
        let started = Instant::now();
        let mut replies = Vec::with_capacity(BURST);
        for member in &members {
            replies.push(discord.slash(member, command, json!([])).await);
        }
        discord
            .wait_until(
                Duration::from_secs(30),
                "every callback of the burst",
                |discord| discord.callback_latencies().len() >= before + BURST,
            )
            .await;
        busy += started.elapsed();
        for reply in &replies {
            anyhow::ensure!(
                reply.callback_latency().is_some(),
                "/{command} got no accepted callback"
            );
        }
        latencies.extend(discord.callback_latencies().into_iter().skip(before));
    }
    latencies.sort_unstable();
    Ok(Burst {
        per_second: latencies.len() as f64 / busy.as_secs_f64(),
        latencies,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

async fn run(rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let discord = FakeDiscord::builder().guild(GUILD).start().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.database = DatabaseConfig {
        url: SecretString::from(format!("sqlite://{}", dir.path().join("bot.db").display())),
        ..DatabaseConfig::default()
    };
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Core::new(config, store, Arc::new(SystemClock)).await?;
    link_customers(&core, 0, 1).await?;
    let app = TestApp::start(core).await;
    discord.wait_ready(Duration::from_secs(10)).await;
    // One interaction first, so the measured ones find warm connections.
    let warm = Member::new(FIRST_MEMBER, "m0").in_guild(GUILD);
    discord
        .slash(&warm, "balance", json!([]))
        .await
        .wait(Duration::from_secs(10))
        .await;
    let rss_one = rss_mib()?;
    // Memory first, before the bursts fill the fake Discord's log of every call.
    link_customers(app.core(), 1, MANY_USERS - 1).await?;
    let many = bursts(&discord, "balance", 1).await?;
    let rss_many = rss_mib()?;

    let help = bursts(&discord, "help", rounds).await?;
    let balance = bursts(&discord, "balance", rounds).await?;
    println!("| command | interactions | interactions/s | p50 | p99 | max | later than 3 s |");
    println!("|---|---|---|---|---|---|---|");
    for (name, burst) in [("/help (baseline)", &help), ("/balance", &balance)] {
        let late = burst.latencies.iter().filter(|l| **l > DEADLINE).count();
        println!(
            "| {name} | {} | {:.0} | {} | {} | {} | {late} |",
            burst.latencies.len(),
            burst.per_second,
            ms(percentile(&burst.latencies, 0.50)),
            ms(percentile(&burst.latencies, 0.99)),
            ms(burst.latencies.last().copied().unwrap_or_default()),
        );
    }
    println!(
        "\n/balance p99 / baseline p99: {:.2}x; throughput {:.2}x of the baseline",
        percentile(&balance.latencies, 0.99).as_secs_f64()
            / percentile(&help.latencies, 0.99).as_secs_f64().max(1e-9),
        balance.per_second / help.per_second.max(1e-9)
    );
    println!(
        "\n| linked users | process RSS (fake Discord, platform and bot together) |\n|---|---|\n| 1 | {rss_one:.1} MiB |\n| {} | {rss_many:.1} MiB (after a burst of /balance, p99 {}) |",
        app.core().discord_links.count_links().await?,
        ms(percentile(&many.latencies, 0.99))
    );
    let problems = discord.recorder().problems();
    anyhow::ensure!(
        problems.is_empty(),
        "the fake Discord saw problems: {problems:#?}"
    );
    app.running.shutdown().await?;
    Ok(())
}
