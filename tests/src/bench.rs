//! What the benchmarks share: a PostgreSQL server to measure against and fresh databases on it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use sqlx::Connection;

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The admin URL of the PostgreSQL server to measure against: HOSTDECK_TEST_POSTGRES_URL, or
/// the private cluster `.ci/start-postgres` starts (installing PostgreSQL if it is missing).
pub fn postgres_admin_url() -> anyhow::Result<String> {
    if let Ok(url) = std::env::var(crate::db::POSTGRES_VAR) {
        return Ok(url);
    }
    let output = Command::new(workspace_root().join(".ci/start-postgres"))
        .stderr(Stdio::inherit())
        .output()
        .context("run .ci/start-postgres")?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("export HOSTDECK_TEST_POSTGRES_URL="))
        .map(str::to_owned)
        .context(".ci/start-postgres did not start PostgreSQL")
}

/// A new, empty database `name` on the server (dropped first if a previous run left it).
pub async fn fresh_database(admin_url: &str, name: &str) -> anyhow::Result<String> {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .context("connect to PostgreSQL")?;
    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    let mut url = url::Url::parse(admin_url)?;
    url.set_path(name);
    Ok(url.to_string())
}

/// The machine, as the benchmarks print it: cores, CPU model, memory.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {memory}")
}
