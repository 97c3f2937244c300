//! The status on Discord, through the fake Discord and the fake BetterStack: the status
//! channel's sticky message under a flapping monitor (edited only when the report changes,
//! never more often than the configured interval, waiting out a 429, no duplicate after a
//! restart, recreated when deleted), `/status` in a guild and in a DM when healthy, unknown
//! (BetterStack down) and with an incident, `/incident declare` by support posting once in the
//! status channel with the one role ping, and planted secrets that reach no output.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hostdeck_bot::status_channel::Sticky;
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::config::Config;
use hostdeck_core::providers::sandbox::Sandbox;
use hostdeck_core::providers::{Failure, Providers};
use hostdeck_core::status::StickyOutcome;
use hostdeck_core::{Core, Role};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::bot::{self, GUILD, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::betterstack::{FakeBetterstack, Scenario};
use hostdeck_fakes::discord::{FakeDiscord, Member};
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, assert_no_problems, first_answer, text_of};

/// The status channel.
pub const STATUS_CHANNEL: u64 = 4300;
/// The role the post of a new incident pings.
pub const INCIDENT_ROLE: u64 = 2150;
/// The monitor behind "Frankfurt VPS".
const FRA_MONITOR: &str = "2210043";

fn stamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The platform's config: two components, one from BetterStack's monitor, a refresh every
/// five seconds, the sticky message at most every 30 seconds, the status channel and the
/// incident role; the bot pointed at the fake Discord.
pub fn config(discord: &FakeDiscord, betterstack: &FakeBetterstack) -> Config {
    let mut config = Config::from_toml(&format!(
        r#"
[betterstack]
token = "{token}"
base_url = "{base}"
timeout = "1s"
components = {{ vps-fra = {{ monitors = ["{FRA_MONITOR}"] }} }}

[status]
refresh_interval = "5s"
freshness = "60s"
sticky_min_interval = "30s"
incident_role_id = {INCIDENT_ROLE}
components = [
  {{ id = "portal", name = "Customer portal", checks = ["database"] }},
  {{ id = "vps-fra", name = "Frankfurt VPS", group = "Servers", checks = ["provider:fra"], maintenance_mode = false }},
]
"#,
        token = betterstack.token(),
        base = betterstack.base_url(),
    ))
    .expect("the test config");
    config.discord = bot::config(&discord.api_base(), &discord.token()).discord;
    config.discord.status_channel_id = Some(STATUS_CHANNEL);
    config
}

pub async fn fake_discord() -> FakeDiscord {
    FakeDiscord::builder()
        .guild(GUILD)
        .text_channel(GUILD, STATUS_CHANNEL, "status")
        .start()
        .await
}

/// A core on a manual clock (now: the real time, so the fake's data is recent) with the
/// sandbox provider `fra`.
pub async fn core(db: &TestDb, config: Config) -> (Core, Arc<ManualClock>, Arc<Sandbox>) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let fra = Arc::new(Sandbox::new("fra"));
    let mut providers = Providers::default();
    providers.insert(fra.clone());
    let core = Core::with_providers(config, db.store.clone(), clock.clone(), providers)
        .await
        .expect("a core");
    (core, clock, fra)
}

/// The monitor up or down, checked just now by BetterStack.
pub fn monitor(fake: &FakeBetterstack, clock: &ManualClock, up: bool) {
    let status = if up { "up" } else { "down" };
    fake.set_monitor(FRA_MONITOR, status, &stamp(clock.now()));
    // The example data's open incident, resolved: only the monitor's state moves.
    fake.set_incident_attribute("resolved_at", json!("2026-12-07T09:30:00.000Z"));
}

/// The channel's messages as the fake has them.
fn channel(discord: &FakeDiscord) -> Vec<Value> {
    discord.messages_in(STATUS_CHANNEL)
}

/// Writes (posts and edits) of messages in the status channel, oldest first.
fn writes(discord: &FakeDiscord) -> Vec<(String, String, Value)> {
    let path = format!("/channels/{STATUS_CHANNEL}/messages");
    discord
        .recorder()
        .calls()
        .into_iter()
        .filter(|call| call.path().contains(&path) && call.method != "GET")
        .map(|call| (call.method.to_string(), call.path().to_owned(), call.body))
        .collect()
}

/// The platform with the status channel on a manual clock, the monitor behind "Frankfurt VPS"
/// at the fake BetterStack, and no bot running: tests take the sticky message's turns.
async fn sticky_platform(
    db: &TestDb,
) -> (FakeDiscord, FakeBetterstack, Arc<Core>, Arc<ManualClock>) {
    let discord = fake_discord().await;
    let betterstack = FakeBetterstack::start().await;
    let (core, clock, _fra) = core(db, config(&discord, &betterstack)).await;
    (discord, betterstack, Arc::new(core), clock)
}

/// `seconds` later, the monitor `up` or down, and a refresh of the report.
async fn later(
    core: &Core,
    betterstack: &FakeBetterstack,
    clock: &ManualClock,
    seconds: i64,
    up: bool,
) {
    clock.advance(chrono::Duration::seconds(seconds));
    monitor(betterstack, clock, up);
    core.status.refresh().await.expect("a refresh");
}

on_both_engines!(the_sticky_message_follows_a_flapping_monitor_within_its_interval);

async fn the_sticky_message_follows_a_flapping_monitor_within_its_interval(db: TestDb) {
    let (discord, betterstack, core, clock) = sticky_platform(&db).await;
    let sticky = Sticky::new(core.clone()).expect("the bot has a token");

    // Ten minutes of a monitor flipping every ten seconds, a refresh and a turn every five.
    let mut written_at: Vec<DateTime<Utc>> = Vec::new();
    let mut shown: Vec<Value> = Vec::new();
    for tick in 0..120 {
        monitor(&betterstack, &clock, (tick / 2) % 2 == 0);
        core.status.refresh().await.expect("a refresh");
        if let Some(outcome) = sticky.step().await.expect("a turn") {
            assert!(
                matches!(outcome, StickyOutcome::Posted(_) | StickyOutcome::Edited),
                "tick {tick}: {outcome:?}"
            );
            written_at.push(clock.now());
            let messages = channel(&discord);
            assert_eq!(messages.len(), 1, "one sticky message, tick {tick}");
            shown.push(messages[0]["embeds"].clone());
        }
        clock.advance(chrono::Duration::seconds(5));
    }
    let calls = writes(&discord);
    assert_eq!(calls.len(), written_at.len(), "every write is a turn's");
    assert_eq!(calls[0].0, "POST");
    assert!(calls[1..].iter().all(|(method, _, _)| method == "PATCH"));
    for pair in written_at.windows(2) {
        assert!(
            pair[1] - pair[0] >= chrono::Duration::seconds(30),
            "written {} then {}",
            pair[0],
            pair[1]
        );
    }
    for pair in shown.windows(2) {
        assert_ne!(pair[0], pair[1], "an edit changes what the message shows");
    }
    // Flapping for ten minutes: about one write per 30 s, never one per flip.
    assert!(
        (10..=21).contains(&written_at.len()),
        "{} writes",
        written_at.len()
    );
    for (_, _, body) in &calls {
        assert_eq!(body["allowed_mentions"], json!({"parse": []}));
    }

    // The monitor settles up: the message ends up saying so, once.
    monitor(&betterstack, &clock, true);
    for _ in 0..8 {
        core.status.refresh().await.expect("a refresh");
        sticky.step().await.expect("a turn");
        clock.advance(chrono::Duration::seconds(5));
        monitor(&betterstack, &clock, true);
    }
    let message = channel(&discord).pop().expect("the message");
    let text = message["embeds"].to_string();
    assert!(text.contains("All systems operational"), "{text}");
    let settled = writes(&discord).len();
    for _ in 0..8 {
        core.status.refresh().await.expect("a refresh");
        assert_eq!(
            sticky.step().await.expect("a turn"),
            None,
            "nothing changed"
        );
        clock.advance(chrono::Duration::seconds(5));
        monitor(&betterstack, &clock, true);
    }
    assert_eq!(writes(&discord).len(), settled);

    // A restart (a new bot, a new lease holder): the same message, no duplicate.
    drop(sticky);
    let restarted = Sticky::new(core.clone()).expect("a token");
    monitor(&betterstack, &clock, false);
    core.status.refresh().await.expect("a refresh");
    assert_eq!(
        restarted.step().await.expect("a turn"),
        Some(StickyOutcome::Edited)
    );
    assert_eq!(channel(&discord).len(), 1, "no duplicate after a restart");
    assert_eq!(channel(&discord)[0]["id"], message["id"]);

    // Discord says wait: nothing is sent until the wait is over.
    later(&core, &betterstack, &clock, 31, true).await;
    discord.rate_limit(
        &format!("/channels/{STATUS_CHANNEL}/messages"),
        1,
        Duration::from_secs(40),
    );
    assert_eq!(
        restarted.step().await.expect("a turn"),
        Some(StickyOutcome::RateLimited(Duration::from_secs(40)))
    );
    let before = writes(&discord).len();
    later(&core, &betterstack, &clock, 35, true).await;
    assert_eq!(
        restarted.step().await.expect("a turn"),
        None,
        "still waiting"
    );
    assert_eq!(writes(&discord).len(), before);
    later(&core, &betterstack, &clock, 6, true).await;
    assert_eq!(
        restarted.step().await.expect("a turn"),
        Some(StickyOutcome::Edited)
    );

    // Someone deletes the message: the next change posts it again, once.
    let id: u64 = channel(&discord)[0]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id");
    let moderator = Member::new(3950, "moderator").in_guild(GUILD);
    discord.delete_message_as(&moderator, &channel(&discord)[0]);
    later(&core, &betterstack, &clock, 31, false).await;
    let Some(StickyOutcome::Posted(new)) = restarted.step().await.expect("a turn") else {
        panic!("the deleted message is posted again");
    };
    assert_ne!(new, id);
    assert_eq!(channel(&discord).len(), 1);
    assert_eq!(
        core.status
            .sticky()
            .await
            .expect("read")
            .and_then(|s| s.message_id),
        Some(new)
    );
    assert_no_problems(&discord);
}

on_both_engines!(a_post_whose_answer_was_lost_is_not_posted_twice);

/// A bot stops between posting the sticky message and recording it: the next bot, once the
/// lease's hold has passed, posts with the same nonce and Discord answers with the first
/// message, which becomes the sticky one and is edited to the report at the next turn. A
/// deletion of an older message then forgets nothing.
async fn a_post_whose_answer_was_lost_is_not_posted_twice(db: TestDb) {
    let (discord, betterstack, core, clock) = sticky_platform(&db).await;
    monitor(&betterstack, &clock, true);
    core.status.refresh().await.expect("a refresh");

    // The first bot's turn: it posts, and stops before telling core.
    let turn = core
        .status
        .sticky_turn("bot-that-stopped")
        .await
        .expect("a turn")
        .expect("the lease");
    assert_eq!(turn.step, hostdeck_core::status::StickyStep::Post);
    assert!(!turn.nonce.is_empty() && turn.nonce.len() <= 25);
    let posted: Value = reqwest::Client::new()
        .post(format!(
            "{}/api/v10/channels/{STATUS_CHANNEL}/messages",
            discord.api_base()
        ))
        .header("authorization", format!("Bot {}", discord.token()))
        .header("user-agent", "DiscordBot (https://example.com, 1.0)")
        .json(&json!({ "content": "status", "nonce": turn.nonce, "enforce_nonce": true }))
        .send()
        .await
        .expect("the post")
        .json()
        .await
        .expect("a message");
    drop(turn);
    assert_eq!(channel(&discord).len(), 1);

    // Another bot, while the first one's lease holds: no turn. After it: the same message.
    let next = Sticky::new(core.clone()).expect("a token");
    assert_eq!(next.step().await.expect("a turn"), None);
    later(&core, &betterstack, &clock, 61, true).await;
    let id: u64 = posted["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("an id");
    assert_eq!(
        next.step().await.expect("a turn"),
        Some(StickyOutcome::Posted(id))
    );
    assert_eq!(channel(&discord).len(), 1, "no duplicate");
    let recorded = core.status.sticky().await.expect("read").expect("a row");
    assert_eq!(recorded.message_id, Some(id));
    assert_eq!(recorded.post_nonce, None, "the nonce is spent");
    // It shows the stopped turn's text: the next turn edits it to the report, at once.
    later(&core, &betterstack, &clock, 5, true).await;
    assert_eq!(
        next.step().await.expect("a turn"),
        Some(StickyOutcome::Edited)
    );
    let shown = &channel(&discord)[0];
    assert_eq!(shown["id"], posted["id"]);
    assert!(
        shown["embeds"].to_string().contains("Frankfurt VPS"),
        "{shown}"
    );
    assert_eq!(channel(&discord).len(), 1);

    // Discord reports an older message of the channel deleted: the sticky one is kept.
    core.status
        .sticky_gone(STATUS_CHANNEL, id - 1)
        .await
        .expect("noted");
    let recorded = core.status.sticky().await.expect("read").expect("a row");
    assert_eq!(recorded.message_id, Some(id));
    assert_no_problems(&discord);
}

on_both_engines!(two_replicas_keep_one_sticky_message);

/// Two replicas on one database take turns by the lease: one message between them.
async fn two_replicas_keep_one_sticky_message(db: TestDb) {
    let discord = fake_discord().await;
    let betterstack = FakeBetterstack::start().await;
    let (first, clock, _fra) = core(&db, config(&discord, &betterstack)).await;
    let mut providers = Providers::default();
    providers.insert(Arc::new(Sandbox::new("fra")));
    let second = Core::with_providers(
        config(&discord, &betterstack),
        db.store.clone(),
        clock.clone(),
        providers,
    )
    .await
    .expect("a second replica");
    let (first, second) = (Arc::new(first), Arc::new(second));
    let (a, b) = (
        Sticky::new(first.clone()).expect("a token"),
        Sticky::new(second.clone()).expect("a token"),
    );
    for tick in 0..20 {
        monitor(&betterstack, &clock, tick % 4 < 2);
        first.status.refresh().await.expect("a refresh");
        let (x, y) = tokio::join!(a.step(), b.step());
        let (x, y) = (x.expect("a turn"), y.expect("a turn"));
        assert!(
            x.is_none() || y.is_none(),
            "one turn at a time: {x:?} {y:?}"
        );
        clock.advance(chrono::Duration::seconds(10));
    }
    assert_eq!(channel(&discord).len(), 1);
    assert_eq!(
        writes(&discord)
            .iter()
            .filter(|(method, _, _)| method == "POST")
            .count(),
        1
    );
}

/// The platform with its bot on a manual clock, a linked support member with the support role.
struct Desk {
    discord: FakeDiscord,
    betterstack: FakeBetterstack,
    app: TestApp,
    clock: Arc<ManualClock>,
    fra: Arc<Sandbox>,
    support: Member,
}

impl Desk {
    async fn open(db: &TestDb, change: impl FnOnce(&mut Config)) -> Self {
        let discord = fake_discord().await;
        let betterstack = FakeBetterstack::start().await;
        let mut config = config(&discord, &betterstack);
        change(&mut config);
        let (core, clock, fra) = core(db, config).await;
        monitor(&betterstack, &clock, true);
        let app = TestApp::start(core).await;
        discord.wait_ready(WAIT).await;
        // Registered globally too, so /status can be tried in a DM.
        let mut global = app.core().config.discord.clone();
        global.guild_id = None;
        hostdeck_bot::register_from_config(&global)
            .await
            .expect("global registration");
        bot::linked_account(&app, "sam@example.com", Role::Support, 3400, "sam").await;
        let support = Member::new(3400, "sam")
            .roles([SUPPORT_ROLE])
            .in_guild(GUILD);
        discord.add_member(&support);
        Self {
            discord,
            betterstack,
            app,
            clock,
            fra,
            support,
        }
    }

    fn core(&self) -> &Core {
        self.app.core()
    }

    /// The next refresh interval, with the monitor checked just now.
    async fn refresh(&self) {
        self.clock.advance(chrono::Duration::seconds(6));
        monitor(&self.betterstack, &self.clock, true);
        self.core().status.refresh().await.expect("a refresh");
    }

    async fn status_text(&self, member: &Member) -> String {
        let reply = first_answer(&self.discord, member, "status", json!([])).await;
        assert!(!reply.ephemeral());
        assert_eq!(reply.payload()["allowed_mentions"]["parse"], json!([]));
        text_of(&reply)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_answers_healthy_unknown_and_during_an_incident_also_in_a_dm() {
    let db = TestDb::sqlite().await;
    let desk = Desk::open(&db, |_| {}).await;
    let stranger = Member::new(3900, "someone");
    let in_guild = Member::new(3901, "guest").in_guild(GUILD);

    // Before any refresh: nothing is known, and it says so.
    let text = desk.status_text(&stranger).await;
    assert!(!text.contains("All systems operational"), "{text}");
    assert!(text.contains("Unknown"), "{text}");

    desk.refresh().await;
    for member in [&stranger, &in_guild] {
        let text = desk.status_text(member).await;
        assert!(text.contains("All systems operational"), "{text}");
        assert!(text.contains("Frankfurt VPS: Operational"), "{text}");
        assert!(text.contains("Servers"), "{text}");
    }

    // BetterStack down: Frankfurt is unknown, never operational.
    desk.betterstack.set_scenario(Scenario::ServerError);
    desk.refresh().await;
    let text = desk.status_text(&stranger).await;
    assert!(!text.contains("All systems operational"), "{text}");
    assert!(text.contains("Frankfurt VPS: Unknown"), "{text}");
    assert!(text.contains("Customer portal: Operational"), "{text}");
    desk.betterstack.set_scenario(Scenario::Normal);
    desk.refresh().await;

    // Support declares an incident in Discord: it shows in /status.
    let declared = first_answer(
        &desk.discord,
        &desk.support,
        "incident",
        json!([{"name": "declare", "type": 1, "options": [
            {"name": "kind", "type": 4, "value": 0},
            {"name": "title", "type": 3, "value": "Frankfurt servers slow"},
            {"name": "impact", "type": 4, "value": 2},
            {"name": "components", "type": 3, "value": "vps-fra"},
            {"name": "message", "type": 3, "value": "We are looking into it."},
        ]}]),
    )
    .await;
    assert!(declared.ephemeral());
    assert!(
        text_of(&declared).contains("Declared"),
        "{}",
        text_of(&declared)
    );
    let text = desk.status_text(&stranger).await;
    assert!(text.contains("Incident: Frankfurt servers slow"), "{text}");
    assert!(text.contains("We are looking into it."), "{text}");
    assert!(text.contains("Frankfurt VPS: Partial outage"), "{text}");
    assert_no_problems(&desk.discord);
    desk.app.running.shutdown().await.expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_incident_is_posted_once_with_the_one_role_ping() {
    let db = TestDb::sqlite().await;
    let desk = Desk::open(&db, |_| {}).await;
    desk.refresh().await;
    let reply = first_answer(
        &desk.discord,
        &desk.support,
        "incident",
        json!([{"name": "declare", "type": 1, "options": [
            {"name": "kind", "type": 4, "value": 1},
            {"name": "title", "type": 3, "value": "Network work @everyone [click](https://evil.example)"},
            {"name": "impact", "type": 4, "value": 1},
            {"name": "components", "type": 3, "value": "vps-fra, portal"},
            {"name": "message", "type": 3, "value": "Short interruptions <@&2101> expected."},
            {"name": "window", "type": 3, "value": "2099-01-01 02:00 to 2099-01-01 04:00"},
        ]}]),
    )
    .await;
    assert!(text_of(&reply).contains("Declared"), "{}", text_of(&reply));
    desk.discord
        .wait_until(WAIT, "the incident's post", |discord| {
            discord
                .messages_in(STATUS_CHANNEL)
                .iter()
                .any(|message| message["content"].to_string().contains("maintenance"))
        })
        .await;
    // The outbox has nothing left to send it again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posts: Vec<Value> = desk
        .discord
        .recorder()
        .calls()
        .into_iter()
        .filter(|call| {
            call.method == "POST"
                && call
                    .path()
                    .ends_with(&format!("/channels/{STATUS_CHANNEL}/messages"))
                && call.body["content"].is_string()
        })
        .map(|call| call.body)
        .collect();
    assert_eq!(posts.len(), 1, "posted once: {posts:#?}");
    let post = &posts[0];
    assert_eq!(
        post["allowed_mentions"],
        json!({"parse": [], "roles": [INCIDENT_ROLE.to_string()]})
    );
    let content = post["content"].as_str().expect("content");
    assert!(
        content.starts_with(&format!("<@&{INCIDENT_ROLE}> ")),
        "{content}"
    );
    assert!(
        content.contains("Frankfurt VPS, Customer portal"),
        "{content}"
    );
    assert!(!content.contains("@everyone"), "{content}");
    assert!(!content.contains("<@&2101>"), "{content}");
    assert!(!content.contains("[click]("), "{content}");
    // Later turns of the sticky message are edits of one message, not more posts.
    desk.app.running.shutdown().await.expect("a clean shutdown");
    // A stop asked for is not a Discord outage: the bot's last word stays "connected".
    let gateway = db
        .reopen()
        .await
        .settings()
        .setting("status.discord_gateway")
        .await
        .expect("read")
        .expect("reported");
    let gateway: Value = serde_json::from_str(&gateway).expect("json");
    assert_eq!(gateway["connected"], true, "{gateway}");
}

/// Secrets planted in every source (BetterStack's monitor names, URLs and errors, a provider's
/// error, the config's token and addresses) reach neither `/status`, the sticky message, the
/// incident's post nor the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_reach_no_output() {
    const PLANTED: &[&str] = &[
        "203.0.113.24",
        "198.51.100.99",
        "pve-fra-02.internal.example",
        "monitor.internal.example",
        "planted-internal-error-text",
        "bs-test-token",
    ];
    let db = TestDb::sqlite().await;
    let desk = Desk::open(&db, |config| {
        config.web.public_url = Some("https://status.example.com".parse().expect("a URL"));
    })
    .await;
    let fake = &desk.betterstack;
    fake.set_monitor_attribute(
        FRA_MONITOR,
        "pronounceable_name",
        json!("planted-internal-error-text 198.51.100.99"),
    );
    fake.set_monitor_attribute(
        FRA_MONITOR,
        "url",
        json!("https://monitor.internal.example:8006/203.0.113.24"),
    );
    fake.set_incident_attribute("resolved_at", Value::Null);
    fake.set_incident_attribute(
        "response_content",
        json!("planted-internal-error-text at pve-fra-02.internal.example"),
    );
    desk.fra.fail_next(Failure::BadCredentials {
        detail: "planted-internal-error-text 203.0.113.24 pve-fra-02.internal.example".into(),
    });
    // Past the sticky message's interval (the bot posted it at start), then a refresh.
    desk.clock.advance(chrono::Duration::seconds(31));
    desk.refresh().await;
    let mut outputs = vec![desk.status_text(&Member::new(3900, "someone")).await];
    // The bot's own turns edit the sticky message to the refreshed report.
    desk.discord
        .wait_until(WAIT, "the sticky message", |discord| {
            discord.messages_in(STATUS_CHANNEL).iter().any(|message| {
                message["embeds"]
                    .to_string()
                    .contains("Customer portal: Operational")
            })
        })
        .await;
    outputs.push(
        desk.discord
            .messages_in(STATUS_CHANNEL)
            .iter()
            .map(Value::to_string)
            .collect(),
    );
    first_answer(
        &desk.discord,
        &desk.support,
        "incident",
        json!([{"name": "declare", "type": 1, "options": [
            {"name": "kind", "type": 4, "value": 0},
            {"name": "title", "type": 3, "value": "Frankfurt down"},
            {"name": "impact", "type": 4, "value": 3},
            {"name": "components", "type": 3, "value": "vps-fra"},
            {"name": "message", "type": 3, "value": "Investigating."},
        ]}]),
    )
    .await;
    desk.discord
        .wait_until(WAIT, "the incident's post", |discord| {
            discord.messages_in(STATUS_CHANNEL).len() >= 2
        })
        .await;
    outputs.push(
        desk.discord
            .messages_in(STATUS_CHANNEL)
            .iter()
            .map(Value::to_string)
            .collect(),
    );
    for path in ["/api/v1/status", "/api/v1/status/summary.json"] {
        let (status, body) = answer(desk.app.get(path).await).await;
        assert_eq!(status, 200, "{path}: {body}");
        outputs.push(body.to_string());
    }
    assert!(outputs.iter().all(|output| output.contains("Frankfurt")));
    for output in &outputs {
        for secret in PLANTED {
            assert!(!output.contains(secret), "{secret} leaked: {output}");
        }
        assert!(!output.contains(fake.token()), "{output}");
        assert!(!output.contains(&fake.base_url()), "{output}");
        assert!(!output.contains(&desk.discord.token()), "{output}");
    }
    desk.app.running.shutdown().await.expect("a clean shutdown");
}
