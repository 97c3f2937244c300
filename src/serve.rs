//! `hostdeck serve`: the web server, and (as they are built) the scheduler and the bot, over one
//! core, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hostdeck_core::config::Config;
use hostdeck_core::{Actor, Core};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A running platform: where it listens, its core, and how to stop it.
pub struct Running {
    pub addr: SocketAddr,
    pub core: Arc<Core>,
    stop: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    workers: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops taking connections, lets requests in flight finish (up to the grace period), and
    /// closes the database.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.stop.send(true);
        // What has not stopped within the grace period is aborted and awaited, never left
        // running detached past the store's close.
        for mut worker in self.workers {
            if tokio::time::timeout(hostdeck_web::SHUTDOWN_GRACE, &mut worker)
                .await
                .is_err()
            {
                tracing::warn!("a background worker did not stop within the grace period");
                worker.abort();
                let _ = worker.await;
            }
        }
        let mut server = self.server;
        let outcome = match tokio::time::timeout(hostdeck_web::SHUTDOWN_GRACE, &mut server).await {
            Ok(joined) => joined.unwrap_or_else(|error| Err(std::io::Error::other(error))),
            Err(_) => {
                tracing::warn!("requests still running after the grace period were dropped");
                // Dropping the server drops its connections with it.
                server.abort();
                let _ = server.await;
                Ok(())
            }
        };
        self.core.close().await;
        outcome
    }

    /// Runs until `signal` completes, then shuts down.
    pub async fn until(self, signal: impl std::future::Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// Starts everything on an opened core and a bound listener, sending mail as the config says.
pub fn start(core: Arc<Core>, listener: TcpListener) -> anyhow::Result<Running> {
    let mailer = hostdeck_core::notify::mail::from_config(&core.config.smtp)?;
    start_with_mailer(core, listener, mailer)
}

/// Starts everything with the given mailer (tests pass one that records what is sent).
pub fn start_with_mailer(
    core: Arc<Core>,
    listener: TcpListener,
    mailer: Arc<dyn hostdeck_core::notify::Mailer>,
) -> anyhow::Result<Running> {
    let addr = listener.local_addr()?;
    let bot_on = match hostdeck_bot::off_reason(&core.config.discord) {
        Some(reason) => {
            tracing::info!("{reason}");
            false
        }
        None => {
            tracing::info!("the Discord bot is starting");
            true
        }
    };
    let state = hostdeck_web::AppState::new(core.clone(), hostdeck_web::metrics::recorder());
    let app = hostdeck_web::router(state);
    let (stop, _) = watch::channel(false);
    // Webhook posts go out with or without the bot; DMs wait for its token.
    let mut outbox = core
        .outbox
        .worker(mailer)
        .with_discord(hostdeck_bot::discord_sender(&core.config.discord)?)
        .with_billing_webhook(core.config.discord.billing_webhook.clone());
    // Tickets' threads are kept by the bot's REST client; without a token they wait.
    if let Some(sync) = hostdeck_bot::ticket_sync(core.clone()) {
        outbox = outbox.with_ticket_sync(sync);
    }
    let mut workers = vec![
        tokio::spawn(outbox.run(stop.subscribe())),
        // Stored PayPal webhook events are processed here, whatever replica received them.
        tokio::spawn(core.payments.clone().run_worker(stop.subscribe())),
    ];
    if bot_on {
        workers.push(tokio::spawn(hostdeck_bot::run(
            core.clone(),
            stop.subscribe(),
        )));
    }
    // Every providers.sync_interval: server states, lost creates and drift.
    workers.push(tokio::spawn(
        core.servers.clone().run_sync(stop.subscribe()),
    ));
    workers.push(tokio::spawn(billing_ticker(core.clone(), stop.subscribe())));
    workers.push(tokio::spawn(tickets_ticker(core.clone(), stop.subscribe())));
    // Every status.refresh_interval: one replica reads the status sources for the cluster.
    workers.push(tokio::spawn(
        core.status.clone().run_refresh(stop.subscribe()),
    ));
    let server = tokio::spawn(crate::connections::serve(
        listener,
        app,
        core.config.web.clone(),
        stop.subscribe(),
    ));
    Ok(Running {
        addr,
        core,
        stop,
        server,
        workers,
    })
}

/// Runs the billing job every `billing.tick_interval` until `stop`. Stopping in the middle of a
/// run is safe: the open batch rolls back and the next run bills it.
async fn billing_ticker(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(core.config.billing.tick_interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let system = Actor::system();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        let run = core.billing.run_once(&system, None);
        tokio::select! {
            outcome = run => match outcome {
                Ok(report) if report.usage.postings > 0 || !report.steps.is_empty() => {
                    tracing::info!("{}", report.describe(&core.config.billing.currency));
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the billing run failed; it runs again next tick"),
            },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Runs the tickets' due work every minute until `stop`: SLA warnings and escalations,
/// auto-close warnings and closes, each taken once (so replicas may all run it).
async fn tickets_ticker(core: Arc<Core>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(std::time::Duration::from_secs(60));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            outcome = core.tickets.run_due() => match outcome {
                Ok(done) if done != hostdeck_core::tickets::DueOutcome::default() => {
                    tracing::info!(?done, "tickets: due SLA and auto-close steps taken");
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "the tickets' due run failed; it runs again in a minute"),
            },
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Opens the database, binds `web.bind`, and serves until a shutdown signal.
pub async fn run(config: Config, started: Instant) -> anyhow::Result<()> {
    let bind = config.web.bind;
    let core = Arc::new(Core::open(config).await?);
    let listener = TcpListener::bind(bind)
        .await
        .map_err(|error| anyhow::anyhow!("cannot listen on {bind} (web.bind): {error}"))?;
    let running = start(core, listener)?;
    if running.core.config.web.public_url.is_none() && !bind.ip().is_loopback() {
        tracing::warn!(
            "web.public_url is not set: links in emails, the status feed and Discord point at \
             http://{}, which customers may not reach; set it to the portal's public address",
            running.addr
        );
    }
    if let Some(token) = running.core.identity.first_admin_setup().await? {
        let base = running
            .core
            .config
            .web
            .public_url
            .as_ref()
            .map(|url| url.as_str().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| format!("http://{}", running.addr));
        tracing::warn!(
            "no admin account exists yet: create the first one at {base}/setup?token={} \
             (the link works until an admin exists; `hostdeck admin create` works too)",
            secrecy::ExposeSecret::expose_secret(&token)
        );
    }
    tracing::info!(
        address = %running.addr,
        ready_after_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "hostdeck is ready on http://{}",
        running.addr
    );
    running.until(shutdown_signal()).await?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
