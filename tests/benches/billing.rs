//! One billing tick over 100,000 running servers, beside (a) a plain batched INSERT of the same
//! 100,000 postings and (b) a loop of one transaction per server, on SQLite and PostgreSQL, in
//! the same run.
//!
//!     cargo bench -p hostdeck-e2e --bench billing
//!
//! Uses the PostgreSQL server at HOSTDECK_TEST_POSTGRES_URL, or starts the private one from
//! `.ci/start-postgres`. SQLite runs on disk with WAL and `synchronous=FULL`. Each measurement
//! gets a fresh database with 20,000 customers and their servers written straight in.
//! `BENCH_SERVERS` (default 100000) sets the count; the per-server loop runs for at most
//! `BENCH_LOOP_SECONDS` (default 20) and its time for all servers is projected from its rate.
//! The goal is a tick within 2x of (a).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, TimeZone, Utc};
use hostdeck_core::billing::TickLimits;
use hostdeck_core::billing::meter::{hour_cost, usage_key};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::ids::ServerId;
use hostdeck_core::{Actor, Core};
use hostdeck_e2e::billing::{SeedServer, insert_customers, insert_servers, sql_time, wallet_of};
use secrecy::SecretString;
use sqlx::Connection;

const SERVERS_PER_CUSTOMER: usize = 5;
/// Rows per INSERT statement and per transaction in the plain insert, as the tick's batches.
const ROWS_PER_STATEMENT: usize = 1_000;
const ROWS_PER_TRANSACTION: usize = 5_000;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("a time")
}

fn rate(i: usize) -> i64 {
    5_000_000 + 7_919 * i as i64
}

/// The servers every measurement starts from, in the steady state: created (and started) the
/// hour before T0, that first hour charged at creation, the hour from T0 due.
fn servers(count: usize) -> Vec<SeedServer> {
    let created = t0() - chrono::Duration::minutes(50);
    (0..count)
        .map(|i| SeedServer {
            billed_until: t0(),
            ..SeedServer::running((i / SERVERS_PER_CUSTOMER + 1) as i64, created, rate(i))
        })
        .collect()
}

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::var("BENCH_SERVERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let loop_budget = Duration::from_secs(
        std::env::var("BENCH_LOOP_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    println!(
        "# billing benchmark, {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}", hostdeck_e2e::bench::machine());
    println!("{count} running servers, one hour each\n");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pg_admin = hostdeck_e2e::bench::postgres_admin_url()?;
    let sqlite_dir = tempfile::tempdir()?; // on disk, not tmpfs: commits really reach the disk
    let mut rows = Vec::new();
    for engine in ["SQLite", "PostgreSQL"] {
        let url = |name: &str| {
            let name = name.to_owned();
            let pg_admin = pg_admin.clone();
            let path = sqlite_dir.path().join(format!("{name}.db"));
            async move {
                if engine == "SQLite" {
                    Ok::<_, anyhow::Error>(format!("sqlite://{}", path.display()))
                } else {
                    hostdeck_e2e::bench::fresh_database(
                        &pg_admin,
                        &format!("hostdeck_bench_billing_{name}"),
                    )
                    .await
                }
            }
        };
        let tick = runtime.block_on(async { measure_tick(&url("tick").await?, count).await })?;
        let plain =
            runtime.block_on(async { measure_plain_insert(&url("plain").await?, count).await })?;
        let (looped, loop_time) = runtime
            .block_on(async { measure_loop(&url("loop").await?, count, loop_budget).await })?;
        let projected = loop_time.as_secs_f64() * count as f64 / looped.max(1) as f64;
        println!(
            "{engine}: tick {:.2} s, plain INSERT {:.2} s, per-server loop {} in {:.2} s (all: {:.0} s)",
            tick.as_secs_f64(),
            plain.as_secs_f64(),
            looped,
            loop_time.as_secs_f64(),
            projected
        );
        rows.push(format!(
            "| {engine} | {:.2} s | {:.2} s | {:.0} s{} | **{:.2}x** | {:.0}x faster |",
            tick.as_secs_f64(),
            plain.as_secs_f64(),
            projected,
            if looped < count { " (projected)" } else { "" },
            tick.as_secs_f64() / plain.as_secs_f64(),
            projected / tick.as_secs_f64(),
        ));
    }
    println!();
    println!(
        "| engine | tick | (a) plain batched INSERT | (b) one transaction per server | tick / (a) | tick vs (b) |"
    );
    println!("|---|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

async fn prepare(url: &str, count: usize) -> anyhow::Result<()> {
    // Opening a store creates and migrates the database.
    let store = hostdeck_core::store::open(&database(url)).await?;
    store.close().await;
    insert_customers(url, count.div_ceil(SERVERS_PER_CUSTOMER), t0()).await;
    insert_servers(url, 1, &servers(count)).await;
    Ok(())
}

fn database(url: &str) -> DatabaseConfig {
    DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: 4,
        ..DatabaseConfig::default()
    }
}

/// The tick, as `serve` runs it, billing the hour 00:00 of every server.
async fn measure_tick(url: &str, count: usize) -> anyhow::Result<Duration> {
    prepare(url, count).await?;
    let store = hostdeck_core::store::open(&database(url)).await?;
    let now = t0() + chrono::Duration::minutes(61);
    let core = Core::new(Config::default(), store, Arc::new(ManualClock::new(now))).await?;
    let started = Instant::now();
    let totals = core.billing.bill_hours(now, TickLimits::default()).await?;
    let took = started.elapsed();
    let expected: i64 = (0..count).map(|i| hour_cost(rate(i), 730, 1)).sum();
    if totals.postings != count as u64 || totals.amount.micros() != expected {
        bail!("the tick billed {totals:?}, expected {count} postings of {expected} in all");
    }
    if !core
        .ledger
        .discrepancies(&Actor::system())
        .await?
        .is_empty()
    {
        bail!("the tick left wallet balances that disagree with their postings");
    }
    core.store().close().await;
    Ok(took)
}

/// The same postings, computed in Rust beforehand, written with multi-row INSERTs: no claim,
/// no pricing, no balance update. The floor any tick could reach.
async fn measure_plain_insert(url: &str, count: usize) -> anyhow::Result<Duration> {
    prepare(url, count).await?;
    let at = sql_time(t0() + chrono::Duration::minutes(61));
    let usage = 2; // the `usage` system account
    let mut balances = std::collections::HashMap::new();
    let values: Vec<String> = (0..count)
        .map(|i| {
            let server = i as i64 + 1;
            let wallet = wallet_of((i / SERVERS_PER_CUSTOMER + 1) as i64);
            let amount = hour_cost(rate(i), 730, 1);
            let balance = balances.entry(wallet).or_insert(0i64);
            *balance -= amount;
            format!(
                "({wallet}, {usage}, {amount}, 'usage', '{}', 'server:{server}', 'system', {balance}, {at})",
                usage_key(ServerId(server), t0())
            )
        })
        .collect();
    let statements: Vec<String> = values
        .chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            format!(
                "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, reference, \
                 actor_via, debit_balance_after, created_at) VALUES {}",
                chunk.join(", ")
            )
        })
        .collect();
    let per_transaction = ROWS_PER_TRANSACTION / ROWS_PER_STATEMENT;
    if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut connection = sqlx::SqliteConnection::connect_with(&options).await?;
        let started = Instant::now();
        for batch in statements.chunks(per_transaction) {
            let mut tx = connection.begin().await?;
            for statement in batch {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(started.elapsed())
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await?;
        let started = Instant::now();
        for batch in statements.chunks(per_transaction) {
            let mut tx = connection.begin().await?;
            for statement in batch {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        }
        Ok(started.elapsed())
    }
}

/// What a tick without set-based SQL would do: per server, one transaction that takes the
/// hour from the wallet, posts it and moves `billed_until`. Stops after `budget`.
async fn measure_loop(
    url: &str,
    count: usize,
    budget: Duration,
) -> anyhow::Result<(usize, Duration)> {
    prepare(url, count).await?;
    let at = t0() + chrono::Duration::minutes(61);
    let next_hour = t0() + chrono::Duration::hours(1);
    macro_rules! run_loop {
        ($connection:expr) => {{
            let connection = &mut $connection;
            let started = Instant::now();
            let mut done = 0;
            for i in 0..count {
                if started.elapsed() >= budget {
                    break;
                }
                let server = i as i64 + 1;
                let wallet = wallet_of((i / SERVERS_PER_CUSTOMER + 1) as i64);
                let amount = hour_cost(rate(i), 730, 1);
                let mut tx = connection.begin().await?;
                let balance: i64 = sqlx::query_scalar(
                    "UPDATE accounts SET balance = balance - $1 WHERE id = $2 RETURNING balance",
                )
                .bind(amount)
                .bind(wallet)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, \
                     reference, actor_via, debit_balance_after, created_at) \
                     VALUES ($1, 2, $2, 'usage', $3, $4, 'system', $5, $6)",
                )
                .bind(wallet)
                .bind(amount)
                .bind(usage_key(ServerId(server), t0()))
                .bind(format!("server:{server}"))
                .bind(balance)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE server_billing SET billed_until = $1 WHERE server_id = $2")
                    .bind(next_hour)
                    .bind(server)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                done += 1;
            }
            Ok::<_, anyhow::Error>((done, started.elapsed()))
        }};
    }
    if url.starts_with("sqlite:") {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Full);
        let mut connection = sqlx::SqliteConnection::connect_with(&options)
            .await
            .context("connect")?;
        run_loop!(connection)
    } else {
        let mut connection = sqlx::PgConnection::connect(url).await.context("connect")?;
        run_loop!(connection)
    }
}
