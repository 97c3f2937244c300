//! The server service against the provider fakes (VirtFusion, Proxmox VE, Jelastic) on
//! 127.0.0.1:
//!
//! 1. The sync job over 10,000 servers on the three providers: wall time and provider calls,
//!    beside the same-run baseline of asking each server on its own (what a sync that does not
//!    page would do).
//! 2. `/server list` for a customer with 50 servers on the three providers, with every fake
//!    answering in 50 ms: answered from the stored states (the cache the sync keeps) against
//!    answered live (each server asked of its provider, in parallel), p50 and p99.
//!
//!     cargo bench -p hostdeck-e2e --bench servers
//!
//! SQLite in a temporary directory (tmpfs where there is one). `BENCH_SERVERS` (default 10000)
//! and `BENCH_LIST_RUNS` (default 200 cached, a tenth of it live) change the sizes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hostdeck_core::Core;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::email::Email;
use hostdeck_core::ids::UserId;
use hostdeck_core::policy::{Actor, Role, Via};
use hostdeck_core::providers::{CreateKey, RemoteId, Resources};
use hostdeck_core::servers::{NewServerRow, Owners, Rate, Server, ServerStatus};
use hostdeck_core::store::servers::{CreateStart, EventSource};
use hostdeck_core::users::NewAccount;
use hostdeck_e2e::cloud::Cloud;
use secrecy::SecretString;

/// The fakes' `[providers]` section with the benchmark's database.
fn config(cloud: &Cloud, database: &str) -> Config {
    let mut config = cloud.config("");
    config.database = DatabaseConfig {
        url: SecretString::from(database.to_owned()),
        ..DatabaseConfig::default()
    };
    config
}

/// Rows for seeded servers, owned by `user`, as if hostdeck had created them.
async fn adopt(core: &Core, user: UserId, seeded: &[(&str, RemoteId)]) -> anyhow::Result<()> {
    let now = core.clock.now();
    for (index, (provider, remote)) in seeded.iter().enumerate() {
        let started = core
            .store()
            .servers()
            .insert_server(
                &NewServerRow {
                    user,
                    provider: (*provider).to_owned(),
                    key: CreateKey::parse(&format!("bench-{user}-{index:06}"))?,
                    name: format!("bench {index}"),
                    hostname: format!("bench{index}.example.test"),
                    plan: "bench".into(),
                    resources: Resources {
                        vcpus: 1,
                        memory_mib: 1024,
                        disk_gib: 25,
                    },
                    image: "template:11".into(),
                    location: Some((*provider).to_owned()),
                    rate: Rate {
                        running: 5_000_000,
                        stopped: 36_500,
                        hours: 730,
                        since: now,
                    },
                    billed_until: now,
                },
                None,
            )
            .await?;
        let CreateStart::Started(server) = started else {
            anyhow::bail!("bench key {index} was taken");
        };
        core.store()
            .servers()
            .server_created(
                server.id,
                remote,
                ServerStatus::Running,
                now,
                EventSource::Action,
            )
            .await?;
    }
    Ok(())
}

async fn customer(core: &Core, email: &str) -> anyhow::Result<(UserId, Actor)> {
    let user = core
        .users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse(email)?,
                role: Role::Customer,
                password: SecretString::from("violet kettle orbit 42"),
                email_verified: true,
            },
        )
        .await?;
    Ok((user.id, Actor::user(user.id, Role::Customer, Via::Discord)))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

fn main() -> anyhow::Result<()> {
    let servers: usize = std::env::var("BENCH_SERVERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let list_runs: usize = std::env::var("BENCH_LIST_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!(
        "# servers benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "machine: {} cores\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        sync_benchmark(servers).await?;
        list_benchmark(list_runs).await
    })
}

fn temp_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::Builder::new()
            .prefix("hostdeck-bench")
            .tempdir_in("/dev/shm")?
    } else {
        tempfile::tempdir()?
    })
}

async fn sync_benchmark(count: usize) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let cloud = Cloud::start().await;
    let url = format!("sqlite://{}", dir.path().join("sync.db").display());
    let core = Core::open(config(&cloud, &url)).await?;
    let (user, _) = customer(&core, "fleet@example.com").await?;
    let seeded = cloud.seed(count);
    adopt(&core, user, &seeded).await?;

    let calls_before = cloud.calls();
    let started = Instant::now();
    let reports = core.servers.sync().await;
    let sync_time = started.elapsed();
    let sync_calls = cloud.calls() - calls_before;
    for report in &reports {
        if let Some(error) = &report.error {
            anyhow::bail!("the sync of {} failed: {error}", report.provider);
        }
    }
    let listed: usize = reports.iter().map(|report| report.listed).sum();

    // A second round after 1% of the servers stopped behind hostdeck's back (on Proxmox, whose
    // listing carries the power state): the changes and their events are written too.
    let stopped: Vec<u32> = seeded
        .iter()
        .filter(|(provider, _)| *provider == "pve")
        .step_by(33)
        .filter_map(|(_, remote)| remote.as_str().strip_prefix("qemu/")?.parse().ok())
        .collect();
    for vmid in &stopped {
        cloud
            .pve
            .set_power_behind_hostdecks_back(*vmid, hostdeck_fakes::proxmox::PowerState::Stopped);
    }
    let calls_before = cloud.calls();
    let started = Instant::now();
    let reports = core.servers.sync().await;
    let changed_time = started.elapsed();
    let changed_calls = cloud.calls() - calls_before;
    let changed: usize = reports.iter().map(|report| report.changed).sum();

    // The baseline: one request per server, 16 at a time.
    let calls_before = cloud.calls();
    let started = Instant::now();
    let mut asks = tokio::task::JoinSet::new();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(16));
    for (provider, remote) in seeded.iter().cloned() {
        let provider = core.servers.providers().require(provider)?;
        let permit = semaphore.clone().acquire_owned().await?;
        asks.spawn(async move {
            let answer = provider.server(&remote).await;
            drop(permit);
            answer.is_ok()
        });
    }
    let mut answered = 0;
    while let Some(joined) = asks.join_next().await {
        answered += usize::from(joined?);
    }
    let baseline_time = started.elapsed();
    let baseline_calls = cloud.calls() - calls_before;

    println!("## sync over {count} servers on 3 providers (fakes answering at once)\n");
    println!("| run | servers | provider calls | wall time |");
    println!("|---|---|---|---|");
    println!(
        "| sync, nothing changed | {listed} | {sync_calls} | {} |",
        ms(sync_time)
    );
    println!(
        "| sync, {changed} states changed | {listed} | {changed_calls} | {} |",
        ms(changed_time)
    );
    println!(
        "| baseline: one request per server (16 in flight) | {answered} | {baseline_calls} | {} |",
        ms(baseline_time)
    );
    println!(
        "\nsync / baseline: **{:.3}x** the time, **{:.4}x** the calls\n",
        sync_time.as_secs_f64() / baseline_time.as_secs_f64().max(1e-9),
        sync_calls as f64 / baseline_calls.max(1) as f64
    );
    for (name, counts) in [
        ("VirtFusion", cloud.vf.call_counts()),
        ("Proxmox", cloud.pve.call_counts()),
        ("Jelastic", cloud.jel.call_counts()),
    ] {
        println!("{name} calls over the whole run: {counts:?}");
    }
    core.store().close().await;
    Ok(())
}

async fn list_benchmark(runs: usize) -> anyhow::Result<()> {
    let dir = temp_dir()?;
    let cloud = Cloud::start().await;
    let url = format!("sqlite://{}", dir.path().join("list.db").display());
    let core = Core::open(config(&cloud, &url)).await?;
    let (user, actor) = customer(&core, "fifty@example.com").await?;
    let (others, _) = customer(&core, "others@example.com").await?;
    // 50 of the customer's among 3,000 of others, spread over the three providers.
    let seeded = cloud.seed(3_050);
    let (own, rest): (Vec<_>, Vec<_>) = seeded
        .into_iter()
        .enumerate()
        .partition(|(index, _)| index % 61 == 0);
    let own: Vec<_> = own.into_iter().map(|(_, server)| server).collect();
    let rest: Vec<_> = rest.into_iter().map(|(_, server)| server).collect();
    adopt(&core, user, &own).await?;
    adopt(&core, others, &rest).await?;
    cloud.set_latency(Duration::from_millis(50));

    let cached_before = cloud.calls();
    let mut cached = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let listed = core.servers.list(&actor, Owners::Own).await?;
        cached.push(started.elapsed());
        anyhow::ensure!(listed.len() == 50, "listed {}", listed.len());
    }
    let cached_calls = (cloud.calls() - cached_before) / runs.max(1) as u64;
    let live_runs = (runs / 10).max(5);
    let calls_before = cloud.calls();
    let mut live = Vec::with_capacity(live_runs);
    for _ in 0..live_runs {
        let started = Instant::now();
        let listed = list_live(&core, &actor).await?;
        live.push(started.elapsed());
        anyhow::ensure!(listed.len() == 50, "listed {}", listed.len());
    }
    let live_calls = (cloud.calls() - calls_before) / live_runs as u64;
    cached.sort();
    live.sort();
    println!(
        "## `/server list`, a customer with 50 servers on 3 providers (fakes answer in 50 ms)\n"
    );
    println!("| answered from | runs | provider calls per list | p50 | p99 |");
    println!("|---|---|---|---|---|");
    println!(
        "| stored states (the sync's cache) | {runs} | {cached_calls} | {} | {} |",
        ms(percentile(&cached, 50.0)),
        ms(percentile(&cached, 99.0))
    );
    println!(
        "| live (each server asked, in parallel) | {live_runs} | {live_calls} | {} | {} |",
        ms(percentile(&live, 50.0)),
        ms(percentile(&live, 99.0))
    );
    println!(
        "\ncached / live p99: **{:.4}x**",
        percentile(&cached, 99.0).as_secs_f64() / percentile(&live, 99.0).as_secs_f64().max(1e-9)
    );
    core.store().close().await;
    Ok(())
}

/// The baseline: the actor's servers with each one's state asked of its provider now, in
/// parallel (what `/server list` would cost without the sync's stored states), recording any
/// change as the sync would.
async fn list_live(core: &Core, actor: &Actor) -> anyhow::Result<Vec<Server>> {
    let mut servers = core.servers.list(actor, Owners::Own).await?;
    let mut asks = tokio::task::JoinSet::new();
    for (index, server) in servers.iter().enumerate() {
        let (Some(remote), Some(provider)) = (
            server.remote_id.clone(),
            core.servers.providers().get(&server.provider),
        ) else {
            continue;
        };
        asks.spawn(async move { (index, provider.server(&remote).await) });
    }
    let mut changes = Vec::new();
    while let Some(joined) = asks.join_next().await {
        let Ok((index, Ok(remote))) = joined else {
            continue;
        };
        let Some(server) = servers.get_mut(index) else {
            continue;
        };
        if let Some(state) = server.state.observed(remote.state) {
            server.state = state;
            changes.push((server.id, state));
        }
    }
    core.store()
        .servers()
        .set_server_states(&changes, EventSource::Sync, core.clock.now())
        .await?;
    Ok(servers)
}
