//! The status report's core: BetterStack (the fake) and the internal checks become one honest
//! report; a source that fails makes only its components unknown; incidents move in order;
//! nothing private reaches the public shapes; replicas share one fetch per interval; history
//! gives per-day uptime.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::ids::UserId;
use hostdeck_core::providers::sandbox::Sandbox;
use hostdeck_core::providers::{Failure, Providers};
use hostdeck_core::records::users::NewUser;
use hostdeck_core::status::checks::{Check, DatabaseCheck};
use hostdeck_core::status::{
    ComponentState, Declare, Finding, Impact, IncidentKind, IncidentStatus, Reason, Refreshed,
    Report,
};
use hostdeck_core::store::NewOutboxMessage;
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::db::{TestDb, audit_details};
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::betterstack::{FakeBetterstack, Scenario, unreachable_url};
use secrecy::SecretString;

/// "Now" in the example data set.
fn now() -> DateTime<Utc> {
    "2026-12-07T09:41:00Z".parse().expect("a time")
}

const FRESH: &str = "2026-12-07T09:40:30.000Z";

fn config(base_url: &str, token: &str, extra: &str) -> Config {
    Config::from_toml(&format!(
        r#"
[betterstack]
token = "{token}"
base_url = "{base_url}"
timeout = "1s"
components = {{ portal = {{ monitor_groups = ["40212"] }}, vps-fra = {{ monitors = ["2210043"] }} }}

[status]
components = [
  {{ id = "portal", name = "Customer portal", checks = ["database"] }},
  {{ id = "vps-fra", name = "Frankfurt VPS", group = "Servers", checks = ["provider:fra"], maintenance_mode = false }},
  {{ id = "vps-ams", name = "Amsterdam VPS", group = "Servers", checks = ["provider:ams"], maintenance_mode = false }},
  {{ id = "billing", name = "Billing", checks = ["billing", "outbox"] }},
]
{extra}
"#
    ))
    .expect("the test config")
}

struct Platform {
    core: Core,
    clock: Arc<ManualClock>,
    fra: Arc<Sandbox>,
    ams: Arc<Sandbox>,
}

async fn platform(db: &TestDb, config: Config) -> Platform {
    let clock = Arc::new(ManualClock::new(now()));
    let fra = Arc::new(Sandbox::new("fra"));
    let ams = Arc::new(Sandbox::new("ams"));
    let mut providers = Providers::default();
    providers.insert(fra.clone());
    providers.insert(ams.clone());
    let core = Core::with_providers(config, db.store.clone(), clock.clone(), providers)
        .await
        .expect("a core");
    core.billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a billing run");
    Platform {
        core,
        clock,
        fra,
        ams,
    }
}

/// Every monitor the config maps is up and fresh, and no incident is open.
fn all_up(fake: &FakeBetterstack) {
    for id in ["2210041", "2210042", "2210043"] {
        fake.set_monitor(id, "up", FRESH);
    }
    fake.set_incident_attribute("resolved_at", serde_json::json!("2026-12-07T09:30:00.000Z"));
}

impl Platform {
    async fn refresh(&self) -> Report {
        assert_eq!(
            self.core.status.refresh().await.expect("a refresh"),
            Refreshed::Fetched
        );
        self.core.status.report().await.expect("the report")
    }

    /// The bot reports its gateway connection.
    async fn gateway(&self, connected: bool) {
        self.core
            .status
            .report_gateway(connected)
            .await
            .expect("the gateway state is stored");
    }

    /// Past this interval's lease, so the next refresh reads the sources again.
    fn next_interval(&self) {
        self.clock.advance(chrono::Duration::seconds(61));
    }
}

fn state(report: &Report, id: &str) -> (ComponentState, Reason) {
    let component = report.component(id).expect("the component");
    (component.state, component.reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_platform_is_all_operational_and_says_so() {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let db = TestDb::sqlite().await;
    let platform = platform(&db, config(&fake.base_url(), fake.token(), "")).await;
    let report = platform.refresh().await;
    for component in &report.components {
        assert_eq!(
            component.state,
            ComponentState::Operational,
            "{}",
            component.id
        );
    }
    assert!(report.all_operational());
    assert_eq!(report.headline, "All systems operational");
    let summary = platform.core.status.summary(None).await.expect("summary");
    assert_eq!(summary.status.indicator, "none");
    assert!(
        fake.recorder.problems().is_empty(),
        "{:?}",
        fake.recorder.problems()
    );
    // The monitors of the example data set: one down makes its component a major outage, one
    // validating makes the other degraded.
    fake.set_monitor("2210043", "down", FRESH);
    fake.set_monitor("2210042", "validating", FRESH);
    platform.next_interval();
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "vps-fra"),
        (ComponentState::MajorOutage, Reason::MonitorDown)
    );
    assert_eq!(
        state(&report, "portal"),
        (ComponentState::Degraded, Reason::Recovering)
    );
    assert_eq!(report.headline, "Major outage");
    let summary = platform.core.status.summary(None).await.expect("summary");
    assert_eq!(summary.status.indicator, "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn betterstack_failing_in_any_way_makes_its_components_unknown_never_operational() {
    let cases = [
        (Some(Scenario::Unauthorized), Reason::MonitoringRefused),
        (
            Some(Scenario::RateLimited {
                retry_after: Some(600),
            }),
            Reason::MonitoringRateLimited,
        ),
        (
            Some(Scenario::RateLimited { retry_after: None }),
            Reason::MonitoringRateLimited,
        ),
        (Some(Scenario::ServerError), Reason::MonitoringError),
        (
            Some(Scenario::Slow(Duration::from_secs(3))),
            Reason::MonitoringSlow,
        ),
        (Some(Scenario::Truncated), Reason::MonitoringMalformed),
        (Some(Scenario::Empty), Reason::MonitoringEmpty),
        (Some(Scenario::ForeignNext), Reason::MonitoringForeignLink),
        (None, Reason::MonitoringUnreachable),
    ];
    for (scenario, reason) in cases {
        let fake = FakeBetterstack::start().await;
        all_up(&fake);
        let base_url = match &scenario {
            Some(scenario) => {
                fake.set_scenario(scenario.clone());
                fake.base_url()
            }
            None => unreachable_url(),
        };
        // Two pages of monitors, so a next link is followed (or refused).
        let mut config = config(&base_url, fake.token(), "");
        config.betterstack.max_pages = 5;
        let db = TestDb::sqlite().await;
        let platform = platform(&db, config).await;
        let report = platform.refresh().await;
        for id in ["portal", "vps-fra"] {
            assert_eq!(
                state(&report, id),
                (ComponentState::Unknown, reason),
                "{scenario:?}: {id}"
            );
        }
        assert_eq!(
            state(&report, "vps-ams"),
            (ComponentState::Operational, Reason::Working),
            "{scenario:?}: a component BetterStack does not feed stays known"
        );
        assert!(!report.all_operational(), "{scenario:?}");
        assert_eq!(report.headline, "Status partly unknown", "{scenario:?}");
        let summary = platform.core.status.summary(None).await.expect("summary");
        assert_eq!(summary.status.indicator, "minor", "{scenario:?}");
        assert!(
            summary
                .components
                .iter()
                .filter(|component| component.id == "portal")
                .all(|component| component.status != "operational")
        );
        if scenario
            == Some(Scenario::RateLimited {
                retry_after: Some(600),
            })
        {
            // Retry-After is honoured: the next interval does not ask again, and stays unknown.
            let asked = fake.total();
            platform.next_interval();
            let report = platform.refresh().await;
            assert_eq!(fake.total(), asked, "asked again before Retry-After");
            assert_eq!(state(&report, "portal"), (ComponentState::Unknown, reason));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_its_freshness_limit_is_unknown() {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let db = TestDb::sqlite().await;
    let platform = platform(&db, config(&fake.base_url(), fake.token(), "")).await;
    assert_eq!(platform.refresh().await.headline, "All systems operational");
    // Nobody refreshes for ten minutes (every replica stopped): the report says so.
    platform.clock.advance(chrono::Duration::minutes(10));
    let report = platform.core.status.report().await.expect("report");
    assert!(report.stale);
    for component in &report.components {
        assert_eq!(
            (component.state, component.reason),
            (ComponentState::Unknown, Reason::ReadingTooOld)
        );
    }
    assert_eq!(report.headline, "Status unknown");
    // And a monitor whose last check is old is unknown though BetterStack calls it up.
    fake.set_monitor("2210043", "up", "2026-12-07T09:00:00.000Z");
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "vps-fra"),
        (ComponentState::Unknown, Reason::MonitorStale)
    );
}

struct Broken;

#[async_trait::async_trait]
impl Check for Broken {
    fn id(&self) -> String {
        "gemini".into()
    }

    async fn run(&self) -> Finding {
        Finding::new(ComponentState::MajorOutage, Reason::GeminiDown)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_internal_check_failing_on_its_own_marks_only_its_components() {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let db = TestDb::sqlite().await;
    let extra = r#"
[discord]
token = "discord-test-token"
"#;
    let mut config = config(&fake.base_url(), fake.token(), extra);
    config.status.outbox_backlog = 2;
    config.status.components.push(
        serde_json::from_value(serde_json::json!({
            "id": "discord", "name": "Discord bot", "checks": ["discord"]
        }))
        .expect("a component"),
    );
    config.status.components.push(
        serde_json::from_value(serde_json::json!({
            "id": "assistant", "name": "Assistant", "checks": ["gemini"]
        }))
        .expect("a component"),
    );
    let mut platform = platform(&db, config).await;
    platform.gateway(true).await;
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "assistant"),
        (ComponentState::Unknown, Reason::NotMonitored),
        "a check nobody registered is not monitored, not operational"
    );
    platform.core.status = platform.core.status.clone().with_check(Arc::new(Broken));
    let others_fine = |report: &Report, except: &[&str]| {
        for component in &report.components {
            if !except.contains(&component.id.as_str()) {
                assert_eq!(
                    component.state,
                    ComponentState::Operational,
                    "{} while {except:?} fail",
                    component.id
                );
            }
        }
    };

    // A provider down: only its component.
    platform.next_interval();
    platform.fra.fail_next(Failure::Unreachable {
        detail: "pve-fra-02.internal.example refused".into(),
        maybe_done: false,
    });
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "vps-fra"),
        (ComponentState::PartialOutage, Reason::ProviderDown)
    );
    others_fine(&report, &["vps-fra", "assistant"]);
    assert_eq!(
        state(&report, "assistant"),
        (ComponentState::MajorOutage, Reason::GeminiDown)
    );
    platform.next_interval();
    platform.ams.fail_next(Failure::Timeout {
        after: Duration::from_secs(5),
        maybe_done: false,
    });
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "vps-ams"),
        (ComponentState::PartialOutage, Reason::ProviderDown)
    );
    others_fine(&report, &["vps-ams", "assistant"]);

    // The outbox backed up.
    for n in 0..3 {
        db.store
            .outbox()
            .enqueue(
                &NewOutboxMessage {
                    channel: "email".into(),
                    recipient: format!("{n}@example.com"),
                    payload: serde_json::json!({}),
                },
                now(),
            )
            .await
            .expect("enqueue");
    }
    platform.next_interval();
    platform.gateway(true).await;
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "billing"),
        (ComponentState::Degraded, Reason::OutboxBacklog)
    );
    others_fine(&report, &["billing", "assistant"]);

    // The bot's gateway down, then silent.
    platform.next_interval();
    platform.gateway(false).await;
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "discord"),
        (ComponentState::MajorOutage, Reason::DiscordDown)
    );
    platform.clock.advance(chrono::Duration::minutes(6));
    fake.set_monitor("2210041", "up", "2026-12-07T09:47:00.000Z");
    fake.set_monitor("2210042", "up", "2026-12-07T09:47:00.000Z");
    fake.set_monitor("2210043", "up", "2026-12-07T09:47:00.000Z");
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "discord"),
        (ComponentState::Unknown, Reason::DiscordUnreported)
    );

    // Billing that stopped running.
    platform.clock.advance(chrono::Duration::hours(3));
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "billing"),
        (ComponentState::Degraded, Reason::BillingLate)
    );

    // The database check on a store that is gone.
    let gone = TestDb::sqlite().await;
    gone.store.close().await;
    let finding = DatabaseCheck(gone.store.clone()).run().await;
    assert_eq!(
        finding,
        Finding::new(ComponentState::MajorOutage, Reason::DatabaseDown)
    );
}

async fn staff(db: &TestDb, email: &str, role: Role) -> Actor {
    let user = db
        .store
        .users()
        .insert_user(
            &NewUser {
                email: hostdeck_core::email::Email::parse(email).expect("an email"),
                role,
                password_hash: None,
                email_verified: true,
            },
            now(),
        )
        .await
        .expect("a user");
    Actor::user(user.id, role, Via::Portal)
}

async fn incidents_move_in_order(db: TestDb) {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let platform = platform(&db, config(&fake.base_url(), fake.token(), "")).await;
    let status = &platform.core.status;
    let support = staff(&db, "support@example.com", Role::Support)
        .await
        .with_two_factor();
    let customer = staff(&db, "customer@example.com", Role::Customer).await;
    let declare = Declare {
        kind: IncidentKind::Incident,
        title: "Amsterdam servers unreachable".into(),
        impact: Impact::Major,
        components: vec!["vps-ams".into()],
        message: "We are investigating.".into(),
        status: IncidentStatus::Investigating,
        starts_at: None,
        ends_at: None,
    };
    for refused in [
        customer.clone(),
        Actor::user(
            UserId(support.user.expect("id").0),
            Role::Support,
            Via::Portal,
        ),
        Actor::anonymous(Via::Discord),
    ] {
        assert!(status.declare(&refused, declare.clone()).await.is_err());
    }
    let unknown_component = Declare {
        components: vec!["nowhere".into()],
        ..declare.clone()
    };
    assert!(status.declare(&support, unknown_component).await.is_err());
    assert_eq!(platform.refresh().await.headline, "All systems operational");

    let incident = status.declare(&support, declare).await.expect("declared");
    let report = status.report().await.expect("report");
    assert_eq!(
        state(&report, "vps-ams"),
        (ComponentState::PartialOutage, Reason::Incident)
    );
    assert_eq!(report.active.len(), 1);
    assert_ne!(report.headline, "All systems operational");
    for (step, next) in [
        (IncidentStatus::Identified, "A switch failed."),
        (IncidentStatus::Monitoring, "Replaced; watching."),
    ] {
        platform.clock.advance(chrono::Duration::minutes(5));
        status
            .post_update(&support, incident.id, step, next)
            .await
            .expect("updated");
    }
    assert!(
        status
            .post_update(&customer, incident.id, IncidentStatus::Resolved, "no")
            .await
            .is_err()
    );
    platform.clock.advance(chrono::Duration::minutes(5));
    let resolved = status
        .resolve(&support, incident.id, "All servers are back.")
        .await
        .expect("resolved");
    let steps: Vec<_> = resolved
        .updates
        .iter()
        .map(|update| (update.status, update.message.as_str()))
        .collect();
    assert_eq!(
        steps,
        [
            (IncidentStatus::Investigating, "We are investigating."),
            (IncidentStatus::Identified, "A switch failed."),
            (IncidentStatus::Monitoring, "Replaced; watching."),
            (IncidentStatus::Resolved, "All servers are back."),
        ]
    );
    assert!(
        resolved
            .updates
            .windows(2)
            .all(|pair| pair[0].at < pair[1].at)
    );
    assert!(resolved.resolved_at.is_some());
    assert!(
        status
            .post_update(&support, incident.id, IncidentStatus::Monitoring, "again")
            .await
            .is_err(),
        "a resolved incident takes no more updates"
    );
    all_up_at(&fake, platform.clock.now_for_test());
    let report = platform.refresh().await;
    assert!(report.active.is_empty());
    assert_eq!(report.resolved.len(), 1);
    assert_eq!(
        state(&report, "vps-ams"),
        (ComponentState::Operational, Reason::Working)
    );
    assert_eq!(
        audit_details(db.store.as_ref(), "status.incident.update")
            .await
            .len(),
        2
    );
    assert_eq!(
        audit_details(db.store.as_ref(), "status.incident.resolve")
            .await
            .len(),
        1
    );

    // A maintenance window ahead is scheduled; inside it, its components are in maintenance.
    let start = platform.clock.now_for_test() + chrono::Duration::hours(1);
    let window = status
        .declare(
            &support,
            Declare {
                kind: IncidentKind::Maintenance,
                title: "Network upgrade in Amsterdam".into(),
                impact: Impact::Minor,
                components: vec!["vps-ams".into()],
                message: "Planned, 30 minutes.".into(),
                status: IncidentStatus::Identified,
                starts_at: Some(start),
                ends_at: Some(start + chrono::Duration::minutes(30)),
            },
        )
        .await
        .expect("scheduled");
    let report = status.report().await.expect("report");
    assert_eq!(report.scheduled.len(), 1);
    assert_eq!(report.scheduled[0].id, window.id);
    platform.clock.advance(chrono::Duration::minutes(70));
    all_up_at(&fake, platform.clock.now_for_test());
    let report = platform.refresh().await;
    assert_eq!(
        state(&report, "vps-ams"),
        (ComponentState::Maintenance, Reason::ScheduledMaintenance)
    );
    assert_ne!(report.headline, "All systems operational");
}

fn all_up_at(fake: &FakeBetterstack, at: DateTime<Utc>) {
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for id in ["2210041", "2210042", "2210043"] {
        fake.set_monitor(id, "up", &at);
    }
}

trait NowForTest {
    fn now_for_test(&self) -> DateTime<Utc>;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> DateTime<Utc> {
        hostdeck_core::clock::Clock::now(self)
    }
}

/// Secrets planted in every source: none reaches the public report or the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_leave() {
    const PLANTED: &[&str] = &[
        "203.0.113.24",
        "pve-fra-02.internal.example",
        "api-2.internal.example",
        "portal.example.net",
        "example-monitor-token-not-real",
        "bs-test-token",
        "Invalid Team API token",
        "Compute node FRA-1",
        "Host unreachable",
        "planted-internal-error-text",
        "198.51.100.99",
    ];
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    fake.set_monitor("2210043", "down", FRESH);
    fake.set_monitor_attribute(
        "2210041",
        "pronounceable_name",
        serde_json::json!("planted-internal-error-text 198.51.100.99"),
    );
    fake.set_incident_attribute("resolved_at", serde_json::Value::Null);
    fake.set_incident_attribute(
        "response_content",
        serde_json::json!("planted-internal-error-text at pve-fra-02.internal.example"),
    );
    let db = TestDb::sqlite().await;
    let mut config = config(&fake.base_url(), fake.token(), "");
    config.betterstack.status_page_id = Some("190455".into());
    let platform = platform(&db, config).await;
    let mut outputs = Vec::new();
    let mut capture = async |platform: &Platform| {
        let public = platform.core.status.public_report().await.expect("public");
        let summary = platform.core.status.summary(None).await.expect("summary");
        outputs.push(serde_json::to_string(&public).expect("json"));
        outputs.push(serde_json::to_string(&summary).expect("json"));
    };
    platform.refresh().await;
    capture(&platform).await;
    for scenario in [
        Scenario::Unauthorized,
        Scenario::ServerError,
        Scenario::Truncated,
        Scenario::ForeignNext,
    ] {
        fake.set_scenario(scenario);
        platform.next_interval();
        platform.fra.fail_next(Failure::BadCredentials {
            detail: "planted-internal-error-text 203.0.113.24 pve-fra-02.internal.example".into(),
        });
        platform.refresh().await;
        capture(&platform).await;
    }
    assert!(
        outputs
            .iter()
            .any(|output| output.contains("Frankfurt VPS"))
    );
    for output in &outputs {
        for secret in PLANTED {
            assert!(!output.contains(secret), "{secret} leaked: {output}");
        }
        assert!(!output.contains(fake.token()));
        assert!(!output.contains(&fake.base_url()));
    }
}

/// Two replicas on one database refreshing in the same interval: one BetterStack fetch.
async fn replicas_share_one_fetch(db: TestDb) {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let first = platform(&db, config(&fake.base_url(), fake.token(), "")).await;
    let other_store = hostdeck_core::store::open(&DatabaseConfig {
        url: SecretString::from(db.url.clone()),
        ..DatabaseConfig::default()
    })
    .await
    .expect("a second connection pool");
    let mut providers = Providers::default();
    providers.insert(first.fra.clone());
    providers.insert(first.ams.clone());
    let second = Core::with_providers(
        config(&fake.base_url(), fake.token(), ""),
        other_store,
        first.clock.clone(),
        providers,
    )
    .await
    .expect("a second replica");
    for round in 1..=3 {
        let (a, b) = tokio::join!(first.core.status.refresh(), second.status.refresh());
        let mut outcomes = [a.expect("refresh"), b.expect("refresh")];
        outcomes.sort_by_key(|outcome| *outcome == Refreshed::Shared);
        assert_eq!(
            outcomes,
            [Refreshed::Fetched, Refreshed::Shared],
            "round {round}"
        );
        assert_eq!(fake.count("GET /api/v2/monitors"), round, "round {round}");
        let (a, b) = (
            first.core.status.report().await.expect("report"),
            second.status.report().await.expect("report"),
        );
        assert_eq!(a.components, b.components, "both replicas show the same");
        assert_eq!(a.headline, "All systems operational");
        first.next_interval();
        all_up_at(&fake, first.clock.now_for_test());
    }
}

/// A component's state per refresh, kept as history, read back as uptime per day.
async fn history_gives_uptime_per_day(db: TestDb) {
    let fake = FakeBetterstack::start().await;
    all_up(&fake);
    let platform = platform(&db, config(&fake.base_url(), fake.token(), "")).await;
    // Yesterday: three refreshes, all fine. Today: four, one with Amsterdam's API down.
    platform
        .clock
        .set("2026-12-06T22:00:00Z".parse().expect("a time"));
    for _ in 0..3 {
        platform.refresh().await;
        platform.next_interval();
    }
    platform.clock.set(now());
    for round in 0..4 {
        if round == 2 {
            platform.ams.fail_next(Failure::Unreachable {
                detail: "down".into(),
                maybe_done: false,
            });
        }
        platform.refresh().await;
        platform.next_interval();
    }
    let days = platform
        .core
        .status
        .uptime("vps-ams", 3)
        .await
        .expect("uptime");
    let shown: Vec<_> = days
        .iter()
        .map(|day| (day.day.to_string(), day.samples, day.uptime_permille))
        .collect();
    assert_eq!(
        shown,
        [
            ("2026-12-05".to_owned(), 0, None),
            ("2026-12-06".to_owned(), 3, Some(1000)),
            ("2026-12-07".to_owned(), 4, Some(750)),
        ]
    );
    assert_eq!(days[2].worst, Some(ComponentState::PartialOutage));
    assert!(platform.core.status.uptime("nowhere", 3).await.is_err());
    // Ninety days on, the old samples are gone.
    platform.clock.advance(chrono::Duration::days(91));
    platform.refresh().await;
    let old = platform
        .core
        .status
        .uptime("vps-ams", 90)
        .await
        .expect("uptime");
    assert_eq!(old.iter().map(|day| day.samples).sum::<u64>(), 1);
}

on_both_engines!(
    incidents_move_in_order,
    replicas_share_one_fetch,
    history_gives_uptime_per_day
);

/// A first update as long as allowed, all of it characters Discord's markdown needs escaped or
/// the bot makes inert:
/// the status channel's post is shortened to fit beside the role's mention, keeps its link to
/// the page, and is queued once.
#[tokio::test]
async fn a_long_first_update_still_fits_one_discord_post() {
    let db = TestDb::sqlite().await;
    let fake = FakeBetterstack::start().await;
    let mut config = config(&fake.base_url(), fake.token(), "");
    config.discord.status_channel_id = Some(4300);
    config.web.public_url = Some("https://status.example.com/".parse().expect("a url"));
    let platform = platform(&db, config).await;
    let support = staff(&db, "support@example.com", Role::Support)
        .await
        .with_two_factor();
    let declare = Declare {
        kind: IncidentKind::Incident,
        title: "T".repeat(120),
        impact: Impact::Major,
        components: vec!["vps-ams".into(), "vps-fra".into(), "portal".into()],
        message: "*_@".repeat(666),
        status: IncidentStatus::Investigating,
        starts_at: None,
        ends_at: None,
    };
    platform
        .core
        .status
        .declare(&support, declare)
        .await
        .expect("declared");
    let now = platform.clock.now_for_test();
    let posts: Vec<_> = db
        .store
        .outbox()
        .claim_outbox(now, now + chrono::Duration::minutes(1), 100)
        .await
        .expect("claimed")
        .into_iter()
        .filter(|row| row.channel == "discord_channel")
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(posts[0].recipient, "4300");
    let content = posts[0].payload["content"].as_str().expect("content");
    // The bot puts a zero-width space after every `@`: those count twice.
    let sent = content.chars().count() + content.matches('@').count();
    assert!(sent <= 1960, "{sent}");
    assert!(content.contains('…'), "{content}");
    assert!(
        content.ends_with("\nStatus: <https://status.example.com/status>"),
        "{content}"
    );
    assert!(!content.contains("\\…"), "no dangling escape: {content}");
}
