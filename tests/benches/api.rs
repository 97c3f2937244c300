//! `GET /api/v1/me` with an API key, beside an axum hello-world route in the same process and
//! run, on SQLite and PostgreSQL; and sign-ins with argon2 while other requests keep flowing.
//!
//!     cargo bench -p hostdeck-e2e --bench api
//!
//! Uses the PostgreSQL server at HOSTDECK_TEST_POSTGRES_URL, or starts the private one from
//! `.ci/start-postgres`. `BENCH_SECONDS` (default 30) sets the fixed-rate runs; the
//! maximum-rate runs take a third of it. The load comes from this same process over loopback
//! (64 keep-alive connections for the maximum, an open-loop schedule for fixed rates, with
//! latency measured from each request's scheduled time so a stall is not hidden).

use std::sync::Arc;
use std::time::Duration;

use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::email::Email;
use hostdeck_core::policy::{Actor, Role, Scope, Via};
use hostdeck_core::users::NewAccount;
use hostdeck_e2e::load::{Latencies, NoMail, Target, fixed_rate, max_rate, ms};
use secrecy::{ExposeSecret, SecretString};

const PASSWORD: &str = "violet kettle orbit 42";

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let fixed = Duration::from_secs(seconds);
    let max = Duration::from_secs((seconds / 3).max(3));
    println!(
        "# API benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "machine: {} cores; fixed-rate runs {seconds} s, maximum-rate runs {} s\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        max.as_secs()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pg_admin = hostdeck_e2e::bench::postgres_admin_url()?;
    let dir = tempfile::tempdir()?;
    let engines = [
        (
            "SQLite",
            format!("sqlite://{}", dir.path().join("api.db").display()),
        ),
        (
            "PostgreSQL",
            runtime.block_on(hostdeck_e2e::bench::fresh_database(
                &pg_admin,
                "hd_bench_api",
            ))?,
        ),
    ];
    println!("| engine | route | max requests/s | p50 at 2,000/s | p99 at 2,000/s | over 10 ms |");
    println!("|---|---|---|---|---|---|");
    let mut login_rows = Vec::new();
    for (engine, url) in engines {
        let result = runtime.block_on(run_engine(engine, &url, max, fixed))?;
        for row in result.rows {
            println!("{row}");
        }
        login_rows.push(result.login);
    }
    println!();
    println!(
        "| engine | sign-ins/s offered | sign-ins/s done | sign-in p50 | sign-in p99 | /me p99 alone at 500/s | /me p99 beside sign-ins |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in login_rows {
        println!("{row}");
    }
    Ok(())
}

struct EngineResult {
    rows: Vec<String>,
    login: String,
}

async fn run_engine(
    engine: &str,
    url: &str,
    max: Duration,
    fixed: Duration,
) -> anyhow::Result<EngineResult> {
    let mut config = Config {
        database: DatabaseConfig {
            url: SecretString::from(url.to_owned()),
            max_connections: 16,
            ..DatabaseConfig::default()
        },
        ..Config::default()
    };
    // The benchmark measures the route, not the per-key limit.
    config.auth.api_key_requests_per_minute = u32::MAX;
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Arc::new(Core::new(config, store, Arc::new(SystemClock)).await?);
    let user = core
        .users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse("bench@example.com")?,
                role: Role::Customer,
                password: SecretString::from(PASSWORD),
                email_verified: true,
            },
        )
        .await?;
    let key = core
        .auth
        .api_keys
        .create(
            &Actor::user(user.id, Role::Customer, Via::Api),
            "bench",
            &[Scope::ReadUser],
            None,
        )
        .await?;
    let key = key.key.expose_secret().to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = hostdeck::serve::start_with_mailer(core.clone(), listener, Arc::new(NoMail))?;
    let hello_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hello_addr = hello_listener.local_addr()?;
    let hello = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
    tokio::spawn(async move { axum::serve(hello_listener, hello).await });

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let me = Target {
        client: client.clone(),
        url: format!("http://{}/api/v1/me", app.addr),
        key: Some(key.clone()),
    };
    let hello = Target {
        client: client.clone(),
        url: format!("http://{hello_addr}/hello"),
        key: None,
    };

    let mut rows = Vec::new();
    for (name, target) in [
        ("axum hello world (baseline)", &hello),
        ("GET /api/v1/me, API key", &me),
    ] {
        let rate = max_rate(target, max).await?;
        let fixed = fixed_rate(target, 2_000, fixed).await?;
        rows.push(format!(
            "| {engine} | {name} | {rate:.0} | {} | {} | {} of {} |",
            ms(fixed.quantile(0.50)),
            ms(fixed.quantile(0.99)),
            fixed.over(Duration::from_millis(10)),
            fixed.latencies.len()
        ));
    }

    // Sign-ins at 50/s for a third of the fixed time, while /me runs at 500/s.
    let login_for = (fixed / 3).max(Duration::from_secs(5));
    let alone = fixed_rate(&me, 500, login_for).await?;
    let login = Target {
        client: client.clone(),
        url: format!("http://{}/api/v1/auth/login", app.addr),
        key: None,
    };
    let (logins, beside) = tokio::join!(
        fixed_login(&login, 50, login_for),
        fixed_rate(&me, 500, login_for)
    );
    let (logins, beside) = (logins?, beside?);
    let login_row = format!(
        "| {engine} | 50 | {:.1} | {} | {} | {} | {} |",
        logins.latencies.len() as f64 / login_for.as_secs_f64(),
        ms(logins.quantile(0.50)),
        ms(logins.quantile(0.99)),
        ms(alone.quantile(0.99)),
        ms(beside.quantile(0.99)),
    );
    app.shutdown().await?;
    Ok(EngineResult {
        rows,
        login: login_row,
    })
}

async fn fixed_login(target: &Target, rate: u32, duration: Duration) -> anyhow::Result<Latencies> {
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for n in 0..total {
        let scheduled = start + interval * n as u32;
        tokio::time::sleep_until(scheduled).await;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let response = target
                .client
                .post(&target.url)
                .json(&serde_json::json!({ "email": "bench@example.com", "password": PASSWORD }))
                .send()
                .await?;
            anyhow::ensure!(
                response.status().is_success(),
                "sign-in answered {}",
                response.status()
            );
            response.bytes().await?;
            Ok::<_, anyhow::Error>(scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.push(task.await??);
    }
    latencies.sort();
    Ok(Latencies {
        latencies,
        failed: 0,
    })
}
