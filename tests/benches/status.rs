//! `GET /api/v1/status`, `/api/v1/status/summary.json` and the public page `/status` at 2,000
//! requests a second beside an axum hello-world route in the same process and run (SQLite),
//! counting the fake BetterStack's requests during the load; and BetterStack requests per hour with one replica and with four
//! (four `Core`s on one PostgreSQL database, each running the scheduled refresh).
//!
//!     cargo bench -p hostdeck-e2e --bench status
//!
//! Uses the PostgreSQL server at HOSTDECK_TEST_POSTGRES_URL, or starts the private one from
//! `.ci/start-postgres`. `BENCH_SECONDS` (default 30) sets the fixed-rate runs; the maximum-rate
//! runs take a third of it, and each replica run a third too (with a one-second refresh
//! interval, scaled to the default 60 s in the table).

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_e2e::load::{NoMail, Target, fixed_rate, max_rate, ms};
use hostdeck_fakes::betterstack::FakeBetterstack;
use secrecy::SecretString;

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let fixed = Duration::from_secs(seconds);
    let max = Duration::from_secs((seconds / 3).max(1));
    println!(
        "# Status benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "machine: {}; fixed-rate runs {seconds} s, maximum-rate runs {} s\n",
        hostdeck_e2e::bench::machine(),
        max.as_secs()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let betterstack = FakeBetterstack::start().await;
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("status.db").display());
        load(&betterstack, &url, max, fixed).await?;
        let pg_admin = hostdeck_e2e::bench::postgres_admin_url()?;
        let mut rows = Vec::new();
        for replicas in [1, 4] {
            let url = hostdeck_e2e::bench::fresh_database(
                &pg_admin,
                &format!("hd_bench_status_{replicas}"),
            )
            .await?;
            rows.push(replicas_row(&betterstack, &url, replicas, max).await?);
        }
        println!();
        println!(
            "| replicas | refresh interval | run | BetterStack requests | per hour at 1 s | per hour at 60 s (scaled) |"
        );
        println!("|---|---|---|---|---|---|");
        for row in rows {
            println!("{row}");
        }
        Ok(())
    })
}

/// The config: two public components, one from a BetterStack monitor, refreshed every
/// `interval`.
fn config(betterstack: &FakeBetterstack, url: &str, interval: &str) -> anyhow::Result<Config> {
    let mut config = Config::from_toml(&format!(
        r#"
[betterstack]
token = "{token}"
base_url = "{base}"
components = {{ vps-fra = {{ monitors = ["2210043"] }} }}

[status]
refresh_interval = "{interval}"
freshness = "10m"
components = [
  {{ id = "portal", name = "Customer portal", checks = ["database"] }},
  {{ id = "vps-fra", name = "Frankfurt VPS", group = "Servers" }},
]
"#,
        token = betterstack.token(),
        base = betterstack.base_url(),
    ))?;
    config.database = DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: 16,
        ..DatabaseConfig::default()
    };
    Ok(config)
}

async fn load(
    betterstack: &FakeBetterstack,
    url: &str,
    max: Duration,
    fixed: Duration,
) -> anyhow::Result<()> {
    let config = config(betterstack, url, "60s")?;
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Arc::new(Core::new(config, store, Arc::new(SystemClock)).await?);
    core.status.refresh().await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = hostdeck::serve::start_with_mailer(core.clone(), listener, Arc::new(NoMail))?;
    let hello_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hello_addr = hello_listener.local_addr()?;
    let hello = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(hello_listener, hello).await });
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let target = |url: String| Target {
        client: client.clone(),
        url,
        key: None,
    };
    println!(
        "| route | max requests/s | p50 at 2,000/s | p99 at 2,000/s | over 5 ms | failed | BetterStack requests during the run |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, target) in [
        (
            "axum hello world (baseline)",
            target(format!("http://{hello_addr}/hello")),
        ),
        (
            "GET /api/v1/status",
            target(format!("http://{}/api/v1/status", app.addr)),
        ),
        (
            "GET /api/v1/status/summary.json",
            target(format!("http://{}/api/v1/status/summary.json", app.addr)),
        ),
        (
            "GET /status (the public page)",
            target(format!("http://{}/status", app.addr)),
        ),
    ] {
        let before = betterstack.total();
        let rate = max_rate(&target, max).await?;
        let fixed = fixed_rate(&target, 2_000, fixed).await?;
        let calls = betterstack.total() - before;
        println!(
            "| {name} | {rate:.0} | {} | {} | {} of {} | {} | {calls} |",
            ms(fixed.quantile(0.50)),
            ms(fixed.quantile(0.99)),
            fixed.over(Duration::from_millis(5)),
            fixed.latencies.len() + fixed.failed,
            fixed.failed
        );
    }
    app.shutdown().await?;
    Ok(())
}

/// `replicas` cores on one database, each running the scheduled refresh every second for
/// `duration`; the fake BetterStack's requests counted.
async fn replicas_row(
    betterstack: &FakeBetterstack,
    url: &str,
    replicas: usize,
    duration: Duration,
) -> anyhow::Result<String> {
    let duration = duration.max(Duration::from_secs(5));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = Vec::new();
    for _ in 0..replicas {
        let config = config(betterstack, url, "1s")?;
        let store = hostdeck_core::store::open(&config.database).await?;
        let core = Core::new(config, store, Arc::new(SystemClock)).await?;
        running.push(tokio::spawn(
            core.status.clone().run_refresh(stopped.clone()),
        ));
    }
    let before = betterstack.total();
    tokio::time::sleep(duration).await;
    let calls = betterstack.total() - before;
    stop.send(true)?;
    for task in running {
        task.await?;
    }
    let per_hour = calls as f64 * 3600.0 / duration.as_secs_f64();
    Ok(format!(
        "| {replicas} | 1 s | {} s | {calls} | {per_hour:.0} | {:.0} |",
        duration.as_secs(),
        per_hour / 60.0
    ))
}
