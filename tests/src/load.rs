//! What the load benchmarks share: a target URL asked with GET, the open-loop fixed-rate
//! schedule (latency counted from each request's scheduled moment, so a stall is not hidden),
//! the maximum rate of 64 keep-alive connections, and their figures.

use std::time::{Duration, Instant};

/// A mailer that sends nothing (the benchmarks measure routes, not mail).
pub struct NoMail;

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

/// A URL asked with GET, with a bearer token when `key` is set.
#[derive(Clone)]
pub struct Target {
    pub client: reqwest::Client,
    pub url: String,
    pub key: Option<String>,
}

impl Target {
    pub async fn get(&self) -> anyhow::Result<()> {
        let mut request = self.client.get(&self.url);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{} answered {}",
            self.url,
            response.status()
        );
        response.bytes().await?;
        Ok(())
    }
}

/// Latencies of the requests answered, sorted, and how many failed (refused, reset, an error
/// status): a load run reports them instead of stopping at the first.
pub struct Latencies {
    pub latencies: Vec<Duration>,
    pub failed: usize,
}

impl Latencies {
    pub fn quantile(&self, q: f64) -> Duration {
        let index = ((self.latencies.len() as f64 * q) as usize)
            .min(self.latencies.len().saturating_sub(1));
        self.latencies.get(index).copied().unwrap_or_default()
    }
    pub fn over(&self, limit: Duration) -> usize {
        self.latencies.iter().filter(|l| **l > limit).count()
    }
}

pub fn ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// Requests per second with 64 connections asking as fast as they are answered.
pub async fn max_rate(target: &Target, duration: Duration) -> anyhow::Result<f64> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut count = 0u64;
            while Instant::now() < deadline {
                target.get().await?;
                count += 1;
            }
            Ok::<_, anyhow::Error>(count)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// `rate` requests a second on a fixed schedule; latency counts from the scheduled moment.
pub async fn fixed_rate(
    target: &Target,
    rate: u32,
    duration: Duration,
) -> anyhow::Result<Latencies> {
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let scheduled = start + interval * n as u32;
        tokio::time::sleep_until(scheduled).await;
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            target.get().await?;
            Ok::<_, anyhow::Error>(scheduled.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for task in tasks {
        match task.await? {
            Ok(latency) => latencies.push(latency),
            Err(error) => {
                if failed == 0 {
                    eprintln!("{}: {error:#}", target.url);
                }
                failed += 1;
            }
        }
    }
    latencies.sort();
    Ok(Latencies { latencies, failed })
}
