//! Two parts. First (`sync.rs`), 200 tickets with conversations running at once through the
//! fake Discord: `/ticket open` acknowledgements, portal reply -> post in the thread, thread
//! message -> row in the database, beside `/help` and the fake's bare round trip. Then the staff
//! queue page (`GET /admin/tickets`, each tab) with 100,000 tickets in the database,
//! beside the same pages with the 20 tickets the big set is copied from (the baseline, in the
//! same run and process), on SQLite and PostgreSQL: p50 and p99 over sequential requests of a
//! signed-in support member, as a browser would make them.
//!
//!     cargo bench -p hostdeck-e2e --bench tickets
//!
//! `BENCH_PARTS` (default `sync,queue`) picks the parts; `BENCH_SYNC_TICKETS` (200) and
//! `BENCH_SYNC_ROUNDS` (5) size the first. A quick run in a debug build:
//! `BENCH_SYNC_TICKETS=20 BENCH_SYNC_ROUNDS=2 BENCH_TICKETS=2000 BENCH_RUNS=5
//! BENCH_ENGINES=sqlite cargo bench --profile dev -p hostdeck-e2e --bench tickets`.
//!
//! The 20 tickets are made through core (opened, claimed, answered, closed), then copied row for
//! row by one INSERT ... SELECT until the table holds `BENCH_TICKETS` (default 100000). Each tab
//! is asked `BENCH_RUNS` times (default 200); the whole run stops after `BENCH_LIMIT_SECONDS`
//! (default 600) whatever is left. Uses the PostgreSQL server at HOSTDECK_TEST_POSTGRES_URL, or
//! starts the private one from `.ci/start-postgres`; `BENCH_ENGINES=sqlite` skips PostgreSQL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::email::Email;
use hostdeck_core::notify::{EmailMessage, Mailer, SendError};
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_core::tickets::OpenTicket;
use hostdeck_core::users::NewAccount;
use secrecy::{ExposeSecret, SecretString};

#[path = "tickets/sync.rs"]
mod sync;

const TABS: [&str; 4] = ["unassigned", "mine", "breaching", "open"];

struct NoMail;

#[async_trait::async_trait]
impl Mailer for NoMail {
    async fn send(&self, _: &str, _: &EmailMessage) -> Result<(), SendError> {
        Ok(())
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    let tickets = env_number("BENCH_TICKETS", 100_000);
    let runs = env_number("BENCH_RUNS", 200);
    let deadline = Instant::now() + Duration::from_secs(env_number("BENCH_LIMIT_SECONDS", 600));
    println!(
        "# Tickets benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}\n", hostdeck_e2e::bench::machine());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "sync,queue".to_owned());
    if parts.contains("sync") {
        println!("## Conversations through the fake Discord");
        runtime.block_on(sync::run(
            env_number("BENCH_SYNC_TICKETS", 200),
            usize::try_from(env_number("BENCH_SYNC_ROUNDS", 5))?,
        ))?;
    }
    if !parts.contains("queue") {
        return Ok(());
    }
    println!("\n## The staff queue");
    let dir = tempfile::tempdir()?;
    let mut engines = vec![(
        "SQLite",
        format!("sqlite://{}", dir.path().join("tickets.db").display()),
    )];
    if std::env::var("BENCH_ENGINES").map_or(true, |engines| engines.contains("postgres")) {
        let admin = hostdeck_e2e::bench::postgres_admin_url()?;
        engines.push((
            "PostgreSQL",
            runtime.block_on(hostdeck_e2e::bench::fresh_database(
                &admin,
                "hd_bench_tickets",
            ))?,
        ));
    }
    println!("| engine | tickets | tab | p50 | p99 | requests |");
    println!("|---|---|---|---|---|---|");
    for (engine, url) in engines {
        runtime.block_on(run_engine(engine, &url, tickets, runs, deadline))?;
    }
    Ok(())
}

/// A support member's portal session, and the 20 tickets the big set is copied from.
async fn seed(core: &Core) -> anyhow::Result<String> {
    let staff = core
        .users
        .create(&Actor::cli(), account("sam@example.test", Role::Support)?)
        .await?;
    let sam = Actor {
        two_factor: true,
        ..Actor::user(staff.id, Role::Support, Via::Portal)
    };
    let departments = core.config.tickets.departments.clone();
    for n in 0..4 {
        let customer = core
            .users
            .create(
                &Actor::cli(),
                account(&format!("c{n}@example.test"), Role::Customer)?,
            )
            .await?;
        let actor = Actor::user(customer.id, Role::Customer, Via::Portal);
        for k in 0..5 {
            let ticket = core
                .tickets
                .open(
                    &actor,
                    OpenTicket {
                        subject: format!("Question {k} of customer {n}"),
                        body: "Something is wrong with my server.".into(),
                        department: departments[k % departments.len()].clone(),
                        ..OpenTicket::default()
                    },
                )
                .await?;
            // One left alone, one claimed, one answered, one answered and closed, one noted.
            match k {
                1 => drop(core.tickets.claim(&sam, ticket.id).await?),
                2 => drop(
                    core.tickets
                        .reply(&sam, ticket.id, "Looking.", Vec::new())
                        .await?,
                ),
                3 => drop(core.tickets.close(&sam, ticket.id, "solved").await?),
                4 => drop(core.tickets.note(&sam, ticket.id, "check the host").await?),
                _ => {}
            }
        }
    }
    let session = core.auth.sessions.issue(staff.id, true, "bench").await?;
    Ok(session.token.expose_secret().to_owned())
}

fn account(email: &str, role: Role) -> anyhow::Result<NewAccount> {
    Ok(NewAccount {
        email: Email::parse(email)?,
        role,
        password: SecretString::from("violet kettle orbit 42"),
        email_verified: true,
    })
}

/// Copies every ticket row until the table holds at least `total`: one statement, the same
/// text on both engines, so timestamps keep the store's own encoding.
async fn grow(url: &str, total: u64) -> anyhow::Result<()> {
    let copies = total.div_ceil(20).saturating_sub(1);
    let sql = format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {copies}) \
         INSERT INTO tickets (customer_id, subject, department, priority, server_id, status, \
         assignee_id, created_at, first_response_at, last_activity_at, due_at, closed_at, \
         close_reason, closed_by, opened_via) \
         SELECT customer_id, subject, department, priority, server_id, status, assignee_id, \
         created_at, first_response_at, last_activity_at, due_at, closed_at, close_reason, \
         closed_by, opened_via FROM n CROSS JOIN tickets"
    );
    hostdeck_e2e::db::raw_at(url, &sql).await?;
    Ok(())
}

async fn run_engine(
    engine: &str,
    url: &str,
    tickets: u64,
    runs: u64,
    deadline: Instant,
) -> anyhow::Result<()> {
    let mut config = Config {
        database: DatabaseConfig {
            url: SecretString::from(url.to_owned()),
            max_connections: 16,
            ..DatabaseConfig::default()
        },
        ..Config::default()
    };
    // One support member asks for the pages as fast as they are answered: more than a person
    // would in a minute, so the session's own limit is lifted for the measurement.
    config.auth.session_requests_per_minute = u32::MAX;
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Arc::new(Core::new(config, store, Arc::new(SystemClock)).await?);
    let session = seed(&core).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = hostdeck::serve::start_with_mailer(core.clone(), listener, Arc::new(NoMail))?;
    let client = reqwest::Client::new();
    let base = format!("http://{}", app.addr);
    for (size, grown) in [(20, false), (tickets, true)] {
        if grown {
            let started = Instant::now();
            grow(url, tickets).await?;
            eprintln!(
                "{engine}: {tickets} tickets written in {:.1?}",
                started.elapsed()
            );
        }
        for tab in TABS {
            if Instant::now() > deadline {
                println!("| {engine} | {size} | {tab} | stopped: time limit | | |");
                continue;
            }
            let mut latencies = Vec::new();
            for _ in 0..runs {
                if Instant::now() > deadline {
                    break;
                }
                let started = Instant::now();
                let page = client
                    .get(format!("{base}/admin/tickets?view={tab}"))
                    .header("cookie", format!("hd_session={session}"))
                    .send()
                    .await?;
                anyhow::ensure!(page.status() == 200, "{tab}: {}", page.status());
                page.bytes().await?;
                latencies.push(started.elapsed());
            }
            latencies.sort();
            println!(
                "| {engine} | {size} | {tab} | {} | {} | {} |",
                ms(quantile(&latencies, 0.50)),
                ms(quantile(&latencies, 0.99)),
                latencies.len()
            );
        }
    }
    app.shutdown().await?;
    Ok(())
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}
