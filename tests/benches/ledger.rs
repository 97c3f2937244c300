//! Ledger throughput beside PostgreSQL's own pgbench, and `serve`'s idle memory and start time.
//!
//!     cargo bench -p hostdeck-e2e --bench ledger
//!
//! Uses the PostgreSQL server at HOSTDECK_TEST_POSTGRES_URL, or starts the private one from
//! `.ci/start-postgres`. Each run is `BENCH_SECONDS` long (default 10). Postings are transfers
//! between 100 funded wallets with fresh keys: two row updates and an insert per transaction,
//! the shape of pgbench's TPC-B (three updates, a select and an insert) on the same server.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use hostdeck_core::config::DatabaseConfig;
use hostdeck_core::email::Email;
use hostdeck_core::ids::AccountId;
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::store::{self, Store};
use hostdeck_core::users::NewUser;
use hostdeck_core::{Role, Via};
use secrecy::SecretString;

const WALLETS: usize = 100;

fn main() -> anyhow::Result<()> {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let duration = Duration::from_secs(seconds);
    let root = hostdeck_e2e::bench::workspace_root();
    println!(
        "# ledger benchmark, {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}", hostdeck_e2e::bench::machine());
    println!("each measurement runs {seconds} s\n");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pg_admin = hostdeck_e2e::bench::postgres_admin_url()?;

    let mut rows = Vec::new();
    let sqlite_dir = tempfile::tempdir()?; // on disk, not tmpfs: commits really reach the disk
    for writers in [1, 32] {
        let url = format!(
            "sqlite://{}",
            sqlite_dir
                .path()
                .join(format!("bench-{writers}.db"))
                .display()
        );
        let rate = runtime.block_on(measure(&url, writers, duration))?;
        rows.push(format!(
            "| SQLite (WAL, synchronous=FULL) | hostdeck ledger | {writers} | {} | {} | {} |",
            rate.per_second(),
            rate.p50(),
            rate.p99()
        ));
    }
    let mut ratios = Vec::new();
    for writers in [1, 32] {
        let db = runtime.block_on(hostdeck_e2e::bench::fresh_database(
            &pg_admin,
            &format!("hd_bench_ledger_{writers}"),
        ))?;
        let rate = runtime.block_on(measure(&db, writers, duration))?;
        rows.push(format!(
            "| PostgreSQL | hostdeck ledger | {writers} | {} | {} | {} |",
            rate.per_second(),
            rate.p50(),
            rate.p99()
        ));
        let bench_db = runtime.block_on(hostdeck_e2e::bench::fresh_database(
            &pg_admin,
            &format!("hd_bench_pgbench_{writers}"),
        ))?;
        let tps = pgbench(&bench_db, writers, seconds)?;
        rows.push(format!(
            "| PostgreSQL | pgbench TPC-B (-s 1, -M prepared) | {writers} | {tps:.0} | | |"
        ));
        ratios.push((writers, rate.per_second_f64() / tps));
    }
    println!("| engine | workload | writers | transactions/s | p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        println!("{row}");
    }
    println!();
    for (writers, ratio) in &ratios {
        println!(
            "hostdeck ledger / pgbench on PostgreSQL, {writers} writer(s): {ratio:.2}x (goal >= 0.80x)"
        );
    }

    let serve = serve_footprint(&root)?;
    println!();
    println!(
        "serve, release build, SQLite, no config: ready (first /healthz 200) {} ms after start; idle RSS {:.1} MB (goal < 40 MB)",
        serve.healthy_ms,
        serve.rss_kb as f64 / 1024.0
    );
    Ok(())
}

/// Transactions/s and latencies of one run.
struct Rate {
    count: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Rate {
    fn per_second_f64(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64()
    }
    fn per_second(&self) -> String {
        format!("{:.0}", self.per_second_f64())
    }
    fn quantile(&self, q: f64) -> String {
        let index = ((self.latencies.len() as f64 * q) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies
            .get(index)
            .map(|d| format!("{:.2} ms", d.as_secs_f64() * 1000.0))
            .unwrap_or_default()
    }
    fn p50(&self) -> String {
        self.quantile(0.50)
    }
    fn p99(&self) -> String {
        self.quantile(0.99)
    }
}

async fn measure(url: &str, writers: usize, duration: Duration) -> anyhow::Result<Rate> {
    let config = DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: (writers as u32 + 4).max(8),
        ..DatabaseConfig::default()
    };
    let store = store::open(&config).await?;
    let wallets = Arc::new(fund_wallets(&store).await?);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let (store, wallets) = (store.clone(), wallets.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n: u64 = 0;
            while Instant::now() < deadline {
                n += 1;
                let x = (writer as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    ^ n.wrapping_mul(0xbf58_476d_1ce4_e5b9);
                let from_index = (x % WALLETS as u64) as usize;
                // Any other wallet: an offset of 1..WALLETS-1 from the payer.
                let to_index =
                    (from_index + 1 + ((x >> 17) % (WALLETS as u64 - 1)) as usize) % WALLETS;
                let (from, to) = (wallets[from_index], wallets[to_index]);
                let request = PostingRequest {
                    debit: from,
                    credit: to,
                    amount: Money::from_micros(1 + (x >> 32) as i64 % 1_000_000),
                    kind: PostingKind::Transfer,
                    key: format!("bench:{writer}:{n}"),
                    reference: None,
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Forbid,
                };
                let at = Instant::now();
                store.ledger().post(&request, Utc::now()).await?;
                latencies.push(at.elapsed());
            }
            Ok::<_, hostdeck_core::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    let discrepancies = store.ledger().ledger_discrepancies().await?;
    if !discrepancies.is_empty() {
        bail!("the ledger does not balance after the run: {discrepancies:?}");
    }
    store.close().await;
    latencies.sort();
    Ok(Rate {
        count: latencies.len(),
        elapsed,
        latencies,
    })
}

async fn fund_wallets(store: &Arc<dyn Store>) -> anyhow::Result<Vec<AccountId>> {
    let funding = store.ledger().system_account(SystemAccount::Promotions);
    let mut wallets = Vec::with_capacity(WALLETS);
    for index in 0..WALLETS {
        let user = store
            .users()
            .insert_user(
                &NewUser {
                    email: Email::parse(&format!("bench{index}@example.com"))?,
                    role: Role::Customer,
                    password_hash: None,
                    email_verified: true,
                },
                Utc::now(),
            )
            .await?;
        store
            .ledger()
            .post(
                &PostingRequest {
                    debit: funding,
                    credit: user.wallet,
                    amount: Money::from_units(1_000_000)?,
                    kind: PostingKind::FreeCredit,
                    key: format!("fund:{index}"),
                    reference: None,
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Forbid,
                },
                Utc::now(),
            )
            .await?;
        wallets.push(user.wallet);
    }
    Ok(wallets)
}

fn pgbench(url: &str, clients: usize, seconds: u64) -> anyhow::Result<f64> {
    let init = Command::new("pgbench")
        .args(["-i", "-s", "1", "-q", url])
        .output()
        .context("run pgbench (Debian's postgresql package)")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let threads = clients.min(2).to_string();
    let output = Command::new("pgbench")
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &threads,
            "-T",
            &seconds.to_string(),
            "-M",
            "prepared",
            "-n",
            url,
        ])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| {
            line.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        })
        .with_context(|| {
            format!(
                "no tps in pgbench's output: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

struct Footprint {
    /// From spawning the process to the first 200 from /healthz: the database is open and
    /// migrated, and the listener is bound.
    healthy_ms: u128,
    rss_kb: u64,
}

/// Builds the release binary, starts `serve` in an empty directory, and measures it.
fn serve_footprint(root: &Path) -> anyhow::Result<Footprint> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--release", "-p", "hostdeck", "--bin", "hostdeck"])
        .status()?;
    if !built.success() {
        bail!("cargo build --release failed");
    }
    let binary = root.join("target/release/hostdeck");
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let mut child = Command::new(&binary)
        .arg("serve")
        .current_dir(dir.path())
        .env("HOSTDECK_WEB__BIND", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let mut healthy_ms = None;
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                healthy_ms = Some(started.elapsed().as_millis());
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let healthy_ms = healthy_ms.context("serve never answered /healthz")?;
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let rss_kb = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .context("no VmRSS")?;
    let _ = child.kill();
    let _ = child.wait();
    Ok(Footprint { healthy_ms, rss_kb })
}
