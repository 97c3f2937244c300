//! The PayPal webhook sink: genuine, signed PAYMENT.CAPTURE.COMPLETED deliveries, each for its
//! own order, sent to `POST /webhooks/paypal` with offline verification; measured until every
//! one is verified, stored, processed and credited. The baseline, in the same run, is a bare
//! axum route that reads the same bodies and answers 200, on the same loopback and client.
//!
//!     cargo bench -p hostdeck-e2e --bench webhooks
//!
//! `BENCH_EVENTS` (default 5000) deliveries, 32 at once, on SQLite and on PostgreSQL (the
//! server at HOSTDECK_TEST_POSTGRES_URL, or the private one from `.ci/start-postgres`). The
//! deliveries are signed by the fake PayPal before the clock starts, so signing is not counted.
//! The fake's certificate chains to its test root, given as `paypal.cert_roots`; the chain is
//! checked once, when the certificate is first fetched.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::email::Email;
use hostdeck_core::money::Money;
use hostdeck_core::payments::{WebhookVerification, custom_id};
use hostdeck_core::policy::{Actor, Role};
use hostdeck_core::store::payments::{OrderStatus, StoredOrder};
use hostdeck_core::users::NewAccount;
use hostdeck_fakes::paypal::{Delivery, FakePaypal};
use secrecy::SecretString;
use serde_json::json;

const CONCURRENCY: usize = 32;
const CUSTOMERS: usize = 100;

fn main() -> anyhow::Result<()> {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    println!(
        "# PayPal webhook sink benchmark, {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "machine: {} cores; {events} deliveries per run, {CONCURRENCY} at once\n",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let pg_admin = hostdeck_e2e::bench::postgres_admin_url()?;
    let dir = tempfile::tempdir()?;
    let engines = [
        (
            "SQLite",
            format!("sqlite://{}", dir.path().join("webhooks.db").display()),
        ),
        (
            "PostgreSQL",
            runtime.block_on(hostdeck_e2e::bench::fresh_database(
                &pg_admin,
                "hd_bench_webhooks",
            ))?,
        ),
    ];
    println!(
        "| engine | sink | answered 2xx/s | verified and credited/s | p50 answer | p99 answer | ratio to baseline |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut groups = Vec::new();
    for (engine, url) in engines {
        let (rows, group) = runtime.block_on(run_engine(engine, &url, events))?;
        for row in rows {
            println!("{row}");
        }
        groups.push(group);
    }
    println!();
    for group in groups {
        println!("{group}");
    }
    Ok(())
}

async fn run_engine(
    engine: &str,
    url: &str,
    events: usize,
) -> anyhow::Result<(Vec<String>, String)> {
    let paypal = FakePaypal::start().await;
    let webhook_id = "7WHBENCH1";
    paypal.register_webhook(webhook_id);
    let mut config = Config {
        database: DatabaseConfig {
            url: SecretString::from(url.to_owned()),
            max_connections: 16,
            ..DatabaseConfig::default()
        },
        ..Config::default()
    };
    config.paypal.base_url = paypal.base_url().parse()?;
    config.paypal.client_id = Some(paypal.client_id().to_owned());
    config.paypal.client_secret = Some(SecretString::from(paypal.secret().to_owned()));
    config.paypal.webhook_id = Some(webhook_id.to_owned());
    config.paypal.webhook_verification = WebhookVerification::Offline;
    config.paypal.cert_hosts = vec!["127.0.0.1".into()];
    let cert_roots = hostdeck_e2e::paypal::CertRoots::of(&paypal);
    config.paypal.cert_roots = Some(cert_roots.path().to_owned());
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Arc::new(Core::new(config, store, Arc::new(SystemClock)).await?);

    // Customers, and one order each event pays.
    let mut customers = Vec::new();
    for index in 0..CUSTOMERS {
        customers.push(
            core.users
                .create(
                    &Actor::cli(),
                    NewAccount {
                        email: Email::parse(&format!("bench{index}@example.com"))?,
                        role: Role::Customer,
                        password: SecretString::from("violet kettle orbit 42"),
                        email_verified: true,
                    },
                )
                .await?,
        );
    }
    let now = chrono::Utc::now();
    let mut bodies = Vec::new();
    for index in 0..events {
        let customer = &customers[index % CUSTOMERS];
        let order_id = format!("BENCHORDER{index:07}");
        core.store()
            .payments()
            .insert_order(&StoredOrder {
                id: order_id.clone(),
                user: customer.id,
                amount: Money::from_micros(10_000_000),
                currency: "USD".into(),
                request_id: format!("bench-{index}"),
                status: OrderStatus::Created,
                capture_id: None,
                created_at: now,
                updated_at: now,
            })
            .await?;
        let capture_id = format!("BENCHCAPTURE{index:05}");
        let resource = json!({
            "id": capture_id,
            "status": "COMPLETED",
            "amount": {"currency_code": "USD", "value": "10.00"},
            "final_capture": true,
            "custom_id": custom_id(customer.id),
            "supplementary_data": {"related_ids": {"order_id": order_id}},
            "create_time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            "update_time": now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        });
        bodies.push(paypal.event("PAYMENT.CAPTURE.COMPLETED", "capture", resource));
    }

    // The baseline: a bare axum route that reads the body and answers 200.
    let echo_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let echo_addr = echo_listener.local_addr()?;
    let echo = axum::Router::new().route(
        "/webhooks/paypal",
        axum::routing::post(|body: axum::body::Bytes| async move { format!("{}", body.len()) }),
    );
    tokio::spawn(async move { axum::serve(echo_listener, echo).await });
    let echo_url = format!("http://{echo_addr}/webhooks/paypal");

    // Sign every delivery once, against the echo (the fake signs as it sends).
    let mut deliveries = Vec::new();
    for event in &bodies {
        deliveries.push(paypal.deliver(event, &echo_url, webhook_id).await);
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let app = hostdeck::serve::start_with_mailer(core.clone(), listener, Arc::new(NoMail))?;
    let sink_url = format!("http://{}/webhooks/paypal", app.addr);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;

    let baseline = blast(&client, &deliveries, &echo_url).await?;
    let baseline_rate = events as f64 / baseline.elapsed.as_secs_f64();

    // The certificate is fetched once, before the clock starts, as in steady operation.
    let warm = client_send(&client, &deliveries[0], &sink_url).await?;
    anyhow::ensure!(
        warm.0 == 200,
        "the sink refused a genuine delivery: {}",
        warm.0
    );
    let metrics_url = format!("http://{}/metrics", app.addr);
    let before = group_sizes(&client, &metrics_url).await?;
    let started = Instant::now();
    let sink = blast(&client, &deliveries[1..], &sink_url).await?;
    let answered = sink.elapsed;
    // Credited: every capture's posting exists.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let postings = core.store().ledger().count_postings().await?;
        if postings as usize >= events {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {postings} of {events} credited"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let credited = started.elapsed();
    let after = group_sizes(&client, &metrics_url).await?;
    let mean = |writes: &str| {
        let (sum, count) = (
            after[writes].0 - before[writes].0,
            after[writes].1 - before[writes].1,
        );
        if count > 0.0 { sum / count } else { 0.0 }
    };
    let group = format!(
        "{engine}: {:.1} deliveries and {:.1} credits per group commit on average",
        mean("deliveries"),
        mean("credits")
    );
    anyhow::ensure!(
        core.store()
            .ledger()
            .ledger_discrepancies()
            .await?
            .is_empty(),
        "the wallets disagree with their postings"
    );
    anyhow::ensure!(
        paypal.cert_fetches() == 1,
        "the certificate is fetched once"
    );
    let sink_answered = (events - 1) as f64 / answered.as_secs_f64();
    let sink_credited = (events - 1) as f64 / credited.as_secs_f64();
    app.shutdown().await?;
    Ok((
        vec![
            format!(
                "| {engine} | axum route reading the body (baseline) | {baseline_rate:.0} | | {} | {} | 1.00x |",
                ms(baseline.quantile(0.50)),
                ms(baseline.quantile(0.99)),
            ),
            format!(
                "| {engine} | POST /webhooks/paypal, offline verification | {sink_answered:.0} | {sink_credited:.0} | {} | {} | {:.2}x answered, {:.2}x credited |",
                ms(sink.quantile(0.50)),
                ms(sink.quantile(0.99)),
                sink_answered / baseline_rate,
                sink_credited / baseline_rate,
            ),
        ],
        group,
    ))
}

/// From `/metrics`: the sum and count of `paypal_commit_group_size` for each kind of write.
async fn group_sizes(
    client: &reqwest::Client,
    url: &str,
) -> anyhow::Result<std::collections::HashMap<String, (f64, f64)>> {
    let text = client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let mut sizes: std::collections::HashMap<String, (f64, f64)> = ["deliveries", "credits"]
        .into_iter()
        .map(|writes| (writes.to_owned(), (0.0, 0.0)))
        .collect();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("paypal_commit_group_size_") else {
            continue;
        };
        let Some((series, value)) = rest.rsplit_once(' ') else {
            continue;
        };
        let value: f64 = value.parse()?;
        for (writes, (sum, count)) in sizes.iter_mut() {
            if series == format!("sum{{writes=\"{writes}\"}}") {
                *sum = value;
            } else if series == format!("count{{writes=\"{writes}\"}}") {
                *count = value;
            }
        }
    }
    Ok(sizes)
}

struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Run {
    fn quantile(&self, q: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * q) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies.get(index).copied().unwrap_or_default()
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

async fn client_send(
    client: &reqwest::Client,
    delivery: &Delivery,
    url: &str,
) -> anyhow::Result<(u16, Duration)> {
    let started = Instant::now();
    let mut request = client.post(url).body(delivery.body.clone());
    for (name, value) in &delivery.headers {
        request = request.header(name, value);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    response.bytes().await?;
    Ok((status, started.elapsed()))
}

/// Sends every delivery to `url`, `CONCURRENCY` at once; each must be answered 2xx.
async fn blast(
    client: &reqwest::Client,
    deliveries: &[Delivery],
    url: &str,
) -> anyhow::Result<Run> {
    let deliveries = Arc::new(deliveries.to_vec());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONCURRENCY {
        let (client, deliveries, next, url) = (
            client.clone(),
            deliveries.clone(),
            next.clone(),
            url.to_owned(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(delivery) = deliveries.get(index) else {
                    return Ok::<_, anyhow::Error>(latencies);
                };
                let (status, latency) = client_send(&client, delivery, &url).await?;
                anyhow::ensure!((200..300).contains(&status), "{url} answered {status}");
                latencies.push(latency);
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    Ok(Run { elapsed, latencies })
}

struct NoMail;

#[async_trait::async_trait]
impl hostdeck_core::notify::Mailer for NoMail {
    async fn send(
        &self,
        _: &str,
        _: &hostdeck_core::notify::EmailMessage,
    ) -> Result<(), hostdeck_core::notify::SendError> {
        Ok(())
    }
}
