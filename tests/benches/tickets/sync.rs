//! Tickets through the fake Discord with many conversations at once: `BENCH_SYNC_TICKETS`
//! (default 200) linked customers each open a ticket with `/ticket open` at the same moment
//! (the acknowledgement of the slash command, which answers with the modal, and of the modal's
//! submission, which is deferred at once, timed from `INTERACTION_CREATE` to the callback as the
//! fake saw it; and the submission's answer, edited in once the ticket is stored); the bot makes every private thread; then `BENCH_SYNC_ROUNDS` (default 5) rounds
//! in which every customer at once replies in the portal (timed from the form's POST to the
//! bot's post in the thread, by the fake's own timestamp) and posts in their thread (timed from
//! the post to the row in the database, polled every 5 ms). Baselines in the same run: `/help`
//! acknowledged for as many members at once (the bot's framework and member lookup, no ticket),
//! and the fake Discord's bare REST round trip (`GET /channels/{id}` with the bot's token) made
//! as many times at once. SQLite on disk, one process holding the fake, the platform and the bot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use hostdeck_core::Core;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::DatabaseConfig;
use hostdeck_core::email::Email;
use hostdeck_core::policy::Role;
use hostdeck_core::store::discord::DiscordLink;
use hostdeck_core::tickets::TicketId;
use hostdeck_core::users::NewUser;
use hostdeck_e2e::app::{PortalVisit, TestApp};
use hostdeck_e2e::bot::{self, GUILD};
use hostdeck_fakes::discord::{FakeDiscord, Member, Reply};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

const SUPPORT_CHANNEL: u64 = 4100;
const FIRST_MEMBER: u64 = 700_000;
/// No interaction may be answered later than this.
const DEADLINE: Duration = Duration::from_secs(3);
/// How long any one wait of the run may take before it is called failed.
const PATIENCE: Duration = Duration::from_secs(120);

/// One customer's side of the run.
struct Conversation {
    member: Member,
    ticket: TicketId,
    thread: u64,
    visit: Option<PortalVisit>,
}

/// A measured series.
struct Series {
    name: &'static str,
    goal: &'static str,
    latencies: Vec<Duration>,
}

impl Series {
    fn new(name: &'static str, goal: &'static str, mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self {
            name,
            goal,
            latencies,
        }
    }

    fn row(&self) -> String {
        let late = self.latencies.iter().filter(|l| **l > DEADLINE).count();
        format!(
            "| {} | {} | {} | {} | {} | {late} | {} |",
            self.name,
            self.latencies.len(),
            ms(percentile(&self.latencies, 0.50)),
            ms(percentile(&self.latencies, 0.99)),
            ms(self.latencies.last().copied().unwrap_or_default()),
            self.goal
        )
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn since(start: DateTime<Utc>, end: DateTime<Utc>) -> Duration {
    (end - start).to_std().unwrap_or_default()
}

/// Creates `count` customers linked to Discord members, with a portal session each, straight
/// in the store (no password hashing, which is not what is measured).
async fn customers(core: &Core, count: u64) -> anyhow::Result<Vec<(Member, String)>> {
    let store = core.store().clone();
    let now = Utc::now();
    let mut people = Vec::new();
    for index in 0..count {
        let user = store
            .users()
            .insert_user(
                &NewUser {
                    email: Email::parse(&format!("t{index}@example.com"))?,
                    role: Role::Customer,
                    password_hash: None,
                    email_verified: true,
                },
                now,
            )
            .await?;
        let member = Member::new(FIRST_MEMBER + index, &format!("t{index}")).in_guild(GUILD);
        store
            .discord()
            .link_discord(&DiscordLink {
                discord_user_id: member.user_id,
                user: user.id,
                discord_name: member.username.clone(),
                linked_at: now,
            })
            .await?;
        let session = core.auth.sessions.issue(user.id, false, "bench").await?;
        people.push((member, session.token.expose_secret().to_owned()));
    }
    Ok(people)
}

/// Sends `/name` for every member at once; each interaction's time to its callback.
async fn acknowledged(
    discord: &FakeDiscord,
    members: &[Member],
    name: &str,
    options: &Value,
) -> anyhow::Result<(Vec<Reply>, Vec<Duration>)> {
    let mut replies = Vec::with_capacity(members.len());
    for member in members {
        replies.push(discord.slash(member, name, options.clone()).await);
    }
    latencies_of(replies, name).await
}

async fn latencies_of(
    replies: Vec<Reply>,
    what: &str,
) -> anyhow::Result<(Vec<Reply>, Vec<Duration>)> {
    let mut latencies = Vec::with_capacity(replies.len());
    for reply in &replies {
        reply.wait(PATIENCE).await;
        latencies.push(
            reply
                .callback_latency()
                .with_context(|| format!("{what}: no accepted callback"))?,
        );
    }
    Ok((replies, latencies))
}

/// The fake's bare REST round trip, `count` at once.
async fn round_trips(discord: &FakeDiscord, count: usize) -> anyhow::Result<Vec<Duration>> {
    let client = reqwest::Client::new();
    let url = format!("{}/api/v10/channels/{SUPPORT_CHANNEL}", discord.api_base());
    let auth = format!("Bot {}", discord.token());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (client, url, auth) = (client.clone(), url.clone(), auth.clone());
        tasks.spawn(async move {
            let started = Instant::now();
            let answer = client
                .get(url)
                .header("authorization", auth)
                .header("user-agent", "DiscordBot (https://example.com, 1.0)")
                .send()
                .await?;
            anyhow::ensure!(answer.status().is_success(), "{}", answer.status());
            answer.bytes().await?;
            Ok(started.elapsed())
        });
    }
    let mut latencies = Vec::with_capacity(count);
    while let Some(done) = tasks.join_next().await {
        latencies.push(done??);
    }
    Ok(latencies)
}

/// Every customer opens a ticket with `/ticket open` at once: the slash command's and the
/// modal's acknowledgements, and the time to the modal's answer (the ticket stored).
async fn open_all(
    discord: &FakeDiscord,
    members: &[Member],
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>, Vec<Duration>)> {
    let options = json!([{"name": "open", "type": 1, "options": [
        {"name": "department", "type": 3, "value": "technical"}
    ]}]);
    let (replies, modal) = acknowledged(discord, members, "ticket", &options).await?;
    let mut submits = Vec::with_capacity(members.len());
    for (member, reply) in members.iter().zip(&replies) {
        let responses = reply.responses();
        let form = responses
            .first()
            .and_then(|response| response.modal_custom_id())
            .context("/ticket open answered without its modal")?
            .to_owned();
        let body = format!("My server {} stopped answering.", member.username);
        submits.push(
            discord
                .submit_modal(
                    member,
                    &form,
                    [("subject", "Server down"), ("body", body.as_str())],
                )
                .await,
        );
    }
    let (submits, acknowledged) = latencies_of(submits, "the open modal").await?;
    let mut answered = Vec::with_capacity(submits.len());
    for submit in &submits {
        // The answer that names the ticket: the last one Discord accepted.
        let responses = submit.wait_for(2, PATIENCE).await;
        let last = responses
            .iter()
            .rev()
            .find(|response| response.accepted())
            .context("the open modal: no accepted answer")?;
        anyhow::ensure!(
            last.body.to_string().contains("ticket #"),
            "the open modal's answer names no ticket: {last:?}"
        );
        answered.push(last.after);
    }
    Ok((modal, acknowledged, answered))
}

/// Waits until every ticket has its thread with the card and the first message, and pairs
/// each customer with their ticket and thread.
async fn conversations(
    app: &TestApp,
    discord: &FakeDiscord,
    people: Vec<(Member, String)>,
) -> anyhow::Result<Vec<Conversation>> {
    let count = people.len();
    discord
        .wait_until(
            PATIENCE,
            "every ticket's thread and first post",
            |discord| {
                let threads = discord.threads_in(SUPPORT_CHANNEL);
                threads.len() >= count
                    && threads.iter().all(|thread| {
                        let id = thread_id(thread);
                        discord.bot_posts_in(id).len() >= 2
                    })
            },
        )
        .await;
    let core = app.core();
    let mut by_customer = std::collections::HashMap::new();
    for thread in discord.threads_in(SUPPORT_CHANNEL) {
        let id = thread_id(&thread);
        let ticket = core
            .tickets
            .ticket_by_thread(id)
            .await?
            .context("a thread without its ticket")?;
        by_customer.insert(ticket.customer, (ticket.id, id));
    }
    let mut all = Vec::with_capacity(count);
    for (member, session) in people {
        let user = core
            .store()
            .discord()
            .link_of_discord_user(member.user_id)
            .await?
            .context("a customer without a link")?
            .1;
        let (ticket, thread) = *by_customer
            .get(&user.id)
            .context("a customer without a ticket")?;
        let visit = app
            .portal_visit(Some(&session), &format!("/tickets/{ticket}"))
            .await;
        all.push(Conversation {
            member,
            ticket,
            thread,
            visit: Some(visit),
        });
    }
    Ok(all)
}

fn thread_id(thread: &Value) -> u64 {
    thread["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .unwrap_or_default()
}

/// One round: every customer replies in the portal and posts in their thread at once. The
/// latencies of both directions.
async fn round(
    app: &TestApp,
    discord: &FakeDiscord,
    talks: &[Conversation],
    number: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    // Portal replies, all at once, each timed from just before its POST.
    let mut tasks = tokio::task::JoinSet::new();
    let mut portal_sent = Vec::with_capacity(talks.len());
    for (index, talk) in talks.iter().enumerate() {
        let visit = talk.visit.clone().context("a portal visit")?;
        let marker = format!("portal-{number}-{index}");
        let (client, url, origin) = (
            app.http.clone(),
            app.url(&format!("/tickets/{}/reply", talk.ticket)),
            app.url(""),
        );
        portal_sent.push((marker.clone(), Utc::now()));
        tasks.spawn(async move {
            let form = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("csrf", &visit.token)
                .append_pair("body", &marker)
                .finish();
            let answer = client
                .post(url)
                .header("cookie", &visit.cookies)
                .header("origin", origin)
                .header("sec-fetch-site", "same-origin")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await?;
            anyhow::ensure!(
                answer.status() == 303,
                "a portal reply: {}",
                answer.status()
            );
            Ok(())
        });
    }
    // Thread messages, meanwhile, each timed from just before it is posted, and looked for in
    // the database from then on (not only once all are posted).
    let (posted_tx, posted_rx) = tokio::sync::mpsc::unbounded_channel();
    let poller = tokio::spawn(stored(app.core().store().clone(), posted_rx));
    for (index, talk) in talks.iter().enumerate() {
        let member = talk.member.clone().in_channel(talk.thread);
        let sent = Utc::now();
        let posted = discord
            .post_message(&member, &format!("thread-{number}-{index}"))
            .await;
        let id: u64 = posted["id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .context("a posted message's id")?;
        posted_tx.send((id, sent))?;
    }
    drop(posted_tx);
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let inbound = poller.await??;
    let outbound = relayed(discord, talks, portal_sent).await?;
    Ok((outbound, inbound))
}

/// Polls the database every 5 ms, from the moment each thread message is posted, until every
/// one has its row; `posted` closes once all are posted.
async fn stored(
    store: std::sync::Arc<dyn hostdeck_core::store::Store>,
    mut posted: tokio::sync::mpsc::UnboundedReceiver<(u64, DateTime<Utc>)>,
) -> anyhow::Result<Vec<Duration>> {
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut pending: Vec<(u64, DateTime<Utc>)> = Vec::new();
    let mut all_posted = false;
    while !all_posted || !pending.is_empty() {
        anyhow::ensure!(
            started.elapsed() < PATIENCE,
            "{} thread messages never reached the database",
            pending.len()
        );
        loop {
            match posted.try_recv() {
                Ok(message) => pending.push(message),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    all_posted = true;
                    break;
                }
            }
        }
        let mut left = Vec::with_capacity(pending.len());
        for (id, sent) in pending {
            if store.tickets().message_by_discord_id(id).await?.is_some() {
                latencies.push(since(sent, Utc::now()));
            } else {
                left.push((id, sent));
            }
        }
        pending = left;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(latencies)
}

/// Waits until every portal reply is posted in its thread; each one's time by the fake's
/// timestamp of the post.
async fn relayed(
    discord: &FakeDiscord,
    talks: &[Conversation],
    sent: Vec<(String, DateTime<Utc>)>,
) -> anyhow::Result<Vec<Duration>> {
    let find = |discord: &FakeDiscord, index: usize, marker: &str| {
        discord
            .bot_posts_in(talks[index].thread)
            .into_iter()
            .rev()
            .find(|post| {
                post["content"]
                    .as_str()
                    .is_some_and(|content| content.ends_with(marker))
            })
    };
    discord
        .wait_until(PATIENCE, "every portal reply in its thread", |discord| {
            sent.iter()
                .enumerate()
                .all(|(index, (marker, _))| find(discord, index, marker).is_some())
        })
        .await;
    let mut latencies = Vec::with_capacity(sent.len());
    for (index, (marker, at)) in sent.iter().enumerate() {
        let post = find(discord, index, marker).context("a relayed reply")?;
        let posted = post["timestamp"]
            .as_str()
            .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
            .context("a post's timestamp")?;
        latencies.push(since(*at, posted.with_timezone(&Utc)));
    }
    Ok(latencies)
}

pub async fn run(count: u64, rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .text_channel(GUILD, SUPPORT_CHANNEL, "support")
        .start()
        .await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
    // Each customer writes once a round in each direction: the per-person limit is not what
    // is measured.
    config.tickets.messages_per_minute = 10_000;
    // SQLite by default; `BENCH_SYNC_ENGINE=postgres` runs the part on PostgreSQL.
    let postgres = std::env::var("BENCH_SYNC_ENGINE").is_ok_and(|engine| engine == "postgres");
    let url = if postgres {
        let admin = hostdeck_e2e::bench::postgres_admin_url()?;
        hostdeck_e2e::bench::fresh_database(&admin, "hd_bench_tickets_sync").await?
    } else {
        format!("sqlite://{}", dir.path().join("tickets-sync.db").display())
    };
    let engine = if postgres { "PostgreSQL" } else { "SQLite" };
    config.database = DatabaseConfig {
        url: SecretString::from(url),
        max_connections: 16,
        ..DatabaseConfig::default()
    };
    let store = hostdeck_core::store::open(&config.database).await?;
    let core = Core::new(config, store, Arc::new(SystemClock)).await?;
    let people = customers(&core, count).await?;
    let app = TestApp::start(core).await;
    discord.wait_ready(Duration::from_secs(20)).await;
    let members: Vec<Member> = people.iter().map(|(member, _)| member.clone()).collect();
    for member in &members {
        discord.add_member(member);
    }
    // Warm connections and caches with one command first.
    discord
        .slash(&members[0], "help", json!([]))
        .await
        .wait(Duration::from_secs(10))
        .await;

    let rest = round_trips(&discord, members.len()).await?;
    let (_, help) = acknowledged(&discord, &members, "help", &json!([])).await?;
    let (modal, opened, answered) = open_all(&discord, &members).await?;
    let talks = conversations(&app, &discord, people).await?;
    let (mut outbound, mut inbound) = (Vec::new(), Vec::new());
    for number in 0..rounds {
        let (out, into) = round(&app, &discord, &talks, number).await?;
        outbound.extend(out);
        inbound.extend(into);
    }
    println!(
        "\n{} tickets, {rounds} rounds, {engine}\n\n| what | samples | p50 | p99 | max | later than 3 s | goal |\n|---|---|---|---|---|---|---|",
        talks.len()
    );
    for series in [
        Series::new("fake Discord REST round trip (baseline)", "", rest),
        Series::new("`/help` acknowledged (baseline)", "", help),
        Series::new(
            "`/ticket open` acknowledged (the modal)",
            "p99 < 50 ms",
            modal,
        ),
        Series::new(
            "open modal submitted and acknowledged (deferred)",
            "p99 < 50 ms, none > 3 s",
            opened,
        ),
        Series::new(
            "open modal submitted -> its answer, the ticket stored",
            "",
            answered,
        ),
        Series::new(
            "portal reply -> its post in the thread",
            "p99 < 1 s",
            outbound,
        ),
        Series::new(
            "thread message -> its row in the database",
            "p99 < 1 s",
            inbound,
        ),
    ] {
        println!("{}", series.row());
    }
    let problems = discord.recorder().problems();
    anyhow::ensure!(
        problems.is_empty(),
        "the fake Discord saw problems: {problems:#?}"
    );
    app.running.shutdown().await?;
    Ok(())
}
