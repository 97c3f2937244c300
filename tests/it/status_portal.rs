//! The status page in the portal, on both engines: healthy, with BetterStack unreachable
//! (unknown, never "all systems operational"), an incident with its updates in order, maintenance
//! scheduled, 90 days of uptime bars (days without data shown as such); the Atom feed parses and
//! escapes; subscribers are emailed over real SMTP when an incident is declared, updated and
//! resolved through the staff pages, the unsubscribe link works and no email follows it; an
//! incident's emails are written in its transaction; a customer meets the staff pages as
//! refused; secrets planted in every source reach none of the page, the feed or the emails.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::Config;
use hostdeck_core::providers::sandbox::Sandbox;
use hostdeck_core::providers::{Failure, Providers};
use hostdeck_core::status::{Declare, Impact, IncidentKind, IncidentStatus, Refreshed};
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_e2e::smtp::SmtpServer;
use hostdeck_fakes::betterstack::{FakeBetterstack, Scenario, unreachable_url};
use secrecy::SecretString;

use crate::tickets_portal::{page, submit};

on_both_engines!(the_status_page_tells_the_truth);
on_both_engines!(subscribers_hear_of_incidents_until_they_unsubscribe);

/// The status config of these stories: two components fed by BetterStack (the portal's
/// monitor group, the Frankfurt monitor) and the internal checks, two provider components.
pub fn config(base_url: &str, token: &str) -> Config {
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
"#
    ))
    .expect("the test config")
}

/// The platform with two sandbox providers (`fra`, `ams`) on a clock the story moves.
pub struct Platform {
    pub core: Core,
    pub clock: Arc<ManualClock>,
    pub fra: Arc<Sandbox>,
}

pub async fn platform(db: &TestDb, config: Config, start: DateTime<Utc>) -> Platform {
    let clock = Arc::new(ManualClock::new(start));
    let fra = Arc::new(Sandbox::new("fra"));
    let mut providers = Providers::default();
    providers.insert(fra.clone());
    providers.insert(Arc::new(Sandbox::new("ams")));
    let core = Core::with_providers(config, db.store.clone(), clock.clone(), providers)
        .await
        .expect("a core");
    Platform { core, clock, fra }
}

/// The story's time.
pub fn now_of(clock: &ManualClock) -> DateTime<Utc> {
    hostdeck_core::clock::Clock::now(clock)
}

/// BetterStack's monitors up and checked at `at`, no incident open.
pub fn all_up(fake: &FakeBetterstack, at: DateTime<Utc>) {
    let checked = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    for id in ["2210041", "2210042", "2210043"] {
        fake.set_monitor(id, "up", &checked);
    }
    fake.set_incident_attribute("resolved_at", serde_json::json!("2026-01-01T00:00:00.000Z"));
}

/// Billing runs and the report is computed at the clock's time (a new interval each call).
pub async fn refresh(core: &Core) {
    core.billing
        .run_once(&Actor::system(), None)
        .await
        .expect("a billing run");
    assert_eq!(
        core.status.refresh().await.expect("a refresh"),
        Refreshed::Fetched
    );
}

/// A support person acting through core, with two-factor.
pub async fn support(core: &Core, email: &str) -> Actor {
    crate::servers::staff(core, email, Role::Support, Via::Portal).await
}

pub fn incident(title: &str, components: &[&str], message: &str) -> Declare {
    Declare {
        kind: IncidentKind::Incident,
        title: title.into(),
        impact: Impact::Major,
        components: components.iter().map(|id| (*id).to_owned()).collect(),
        message: message.into(),
        status: IncidentStatus::Investigating,
        starts_at: None,
        ends_at: None,
    }
}

/// Fails unless `xml` is well-formed as far as a feed needs: every element closed in order,
/// attributes quoted, `&` only in the five entities or numeric references, no `<` in text.
pub fn assert_well_formed(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>")
        .unwrap_or_else(|| panic!("an XML declaration first: {xml}"));
    let mut open: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        check_text(&rest[..start]);
        let end = rest[start..]
            .find('>')
            .unwrap_or_else(|| panic!("an unclosed tag in {rest}"))
            + start;
        let tag = &rest[start + 1..end];
        assert!(!tag.contains('<'), "a '<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop().as_deref(), Some(name), "closing {name} in {xml}");
        } else {
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().unwrap_or_default().to_owned();
            assert!(!name.is_empty(), "a tag without a name");
            let attributes = tag[name.len()..].trim();
            assert_eq!(
                attributes.matches('"').count() % 2,
                0,
                "attributes quoted: {tag}"
            );
            check_text(attributes);
            if !self_closing {
                open.push(name);
            }
        }
        rest = &rest[end + 1..];
    }
    check_text(rest);
    assert!(open.is_empty(), "elements left open: {open:?}");
}

fn check_text(text: &str) {
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        let entity = &rest[at..];
        let end = entity
            .find(';')
            .unwrap_or_else(|| panic!("a bare '&': {text}"));
        let name = &entity[1..end];
        let known = ["amp", "lt", "gt", "quot", "apos"].contains(&name)
            || name
                .strip_prefix('#')
                .is_some_and(|number| number.chars().all(|c| c.is_ascii_digit()));
        assert!(known, "an unknown entity &{name}; in {text}");
        rest = &entity[end + 1..];
    }
}

/// Each `<entry>` of a feed, as text.
pub fn entries(xml: &str) -> Vec<&str> {
    xml.split("<entry>")
        .skip(1)
        .map(|entry| entry.split("</entry>").next().unwrap_or_default())
        .collect()
}

async fn the_status_page_tells_the_truth(db: TestDb) {
    let fake = FakeBetterstack::start().await;
    let now: DateTime<Utc> = Utc::now();
    let platform = platform(&db, config(&fake.base_url(), fake.token()), now).await;
    let (core, clock) = (&platform.core, platform.clock.clone());

    // Three days of history: up, Frankfurt's monitor down all of yesterday, up today.
    clock.set(now - chrono::Duration::days(2));
    all_up(&fake, now_of(&clock));
    refresh(core).await;
    clock.set(now - chrono::Duration::days(1));
    all_up(&fake, now_of(&clock));
    fake.set_monitor(
        "2210043",
        "down",
        &now_of(&clock).to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    refresh(core).await;
    clock.set(now);
    all_up(&fake, now);
    let core = platform.core;
    let app = TestApp::start(core).await;
    let core = app.core();

    // Before this replica's first refresh the stored report is a day old: not known.
    let (status, html) = page(&app, "", "/status").await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("All systems operational"), "{html}");
    assert!(html.contains("out of date"), "{html}");

    // Healthy.
    refresh(core).await;
    let (status, html) = page(&app, "", "/status").await;
    assert_eq!(status, 200);
    assert!(html.contains("All systems operational"), "{html}");
    for name in [
        "Customer portal",
        "Frankfurt VPS",
        "Amsterdam VPS",
        "Billing",
        "Servers",
    ] {
        assert!(html.contains(name), "{name}: {html}");
    }
    assert!(
        html.contains("Working normally"),
        "reasons in words: {html}"
    );
    assert!(html.contains("/status/feed.atom"), "{html}");
    assert!(
        html.contains("Sign in</a> to get an email"),
        "signed out: {html}"
    );
    // Uptime: 90 bars per component; the days before the history are "no data", not up.
    assert_eq!(html.matches("class=\"bar day-").count(), 4 * 90, "{html}");
    assert_eq!(html.matches("class=\"bar day-nodata\"").count(), 4 * 87);
    assert!(html.contains(": no data"));
    assert_eq!(html.matches("class=\"bar day-down\"").count(), 1, "{html}");
    assert!(html.contains("without data"), "{html}");
    let yesterday = (now - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    assert!(html.contains(&format!("{yesterday}: 0.0% up")), "{html}");

    // An incident with two updates, its title carrying markup.
    let sam = support(core, "sam@example.test").await;
    clock.advance(chrono::Duration::minutes(1));
    let declared = core
        .status
        .declare(
            &sam,
            incident(
                "Frankfurt <b>slow</b> & lossy",
                &["vps-fra"],
                "We are looking into packet loss.",
            ),
        )
        .await
        .expect("declared");
    clock.advance(chrono::Duration::minutes(5));
    core.status
        .post_update(
            &sam,
            declared.id,
            IncidentStatus::Identified,
            "A switch failed; it is being replaced.",
        )
        .await
        .expect("updated");
    // Maintenance tomorrow.
    let tomorrow = now + chrono::Duration::days(1);
    core.status
        .declare(
            &sam,
            Declare {
                kind: IncidentKind::Maintenance,
                title: "Amsterdam network upgrade".into(),
                impact: Impact::Minor,
                components: vec!["vps-ams".into()],
                message: "Short interruptions are possible.".into(),
                status: IncidentStatus::Identified,
                starts_at: Some(tomorrow),
                ends_at: Some(tomorrow + chrono::Duration::hours(2)),
            },
        )
        .await
        .expect("maintenance declared");
    let (_, html) = page(&app, "", "/status").await;
    assert!(!html.contains("All systems operational"), "{html}");
    assert!(html.contains("Happening now"), "{html}");
    assert!(
        html.contains("Frankfurt &#60;b&#62;slow&#60;/b&#62; &#38; lossy"),
        "{html}"
    );
    assert!(!html.contains("<b>slow"), "escaped: {html}");
    let first = html
        .find("We are looking into packet loss.")
        .expect("update 1");
    let second = html.find("A switch failed").expect("update 2");
    assert!(first < second, "updates in the order posted");
    assert!(
        html.contains("Partial outage"),
        "a major incident's state: {html}"
    );
    assert!(html.contains("Scheduled maintenance"), "{html}");
    assert!(html.contains("Amsterdam network upgrade"), "{html}");
    assert!(
        html.contains(&tomorrow.format("%Y-%m-%d %H:%M UTC").to_string()),
        "the window: {html}"
    );
    assert!(html.contains(&format!("id=\"incident-{}\"", declared.id)));

    // The feed: Atom, well-formed, both entries, the title escaped.
    let response = app.get("/status/feed.atom").await;
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/atom+xml"))
    );
    let xml = response.text().await.expect("a feed");
    assert_well_formed(&xml);
    assert!(xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\">"));
    for element in ["<id>", "<title>", "<updated>", "<author>"] {
        assert!(xml.contains(element), "{element}: {xml}");
    }
    let feed_entries = entries(&xml);
    assert_eq!(feed_entries.len(), 2, "{xml}");
    let entry = feed_entries
        .iter()
        .find(|entry| entry.contains("lossy"))
        .expect("the incident's entry");
    assert!(
        entry.contains("Frankfurt &#60;b&#62;slow&#60;/b&#62; &#38; lossy"),
        "{entry}"
    );
    assert!(
        entry.contains(&format!("#incident-{}</id>", declared.id)),
        "{entry}"
    );
    // The summary is the latest update; the content is every update in order.
    let content = entry.split("<content").nth(1).expect("a content element");
    let (first, second) = (
        content.find("We are looking").expect("update 1"),
        content.find("A switch failed").expect("update 2"),
    );
    assert!(first < second, "{content}");
    for element in [
        "<id>",
        "<updated>",
        "<published>",
        "<content type=\"text\">",
    ] {
        assert!(entry.contains(element), "{element}: {entry}");
    }

    // Resolved: operational again, the incident under "resolved recently".
    clock.advance(chrono::Duration::minutes(5));
    core.status
        .resolve(&sam, declared.id, "The switch is replaced.")
        .await
        .expect("resolved");
    refresh(core).await;
    let (_, html) = page(&app, "", "/status").await;
    assert!(html.contains("Resolved recently"), "{html}");
    assert!(!html.contains("Happening now"), "{html}");
}

/// BetterStack cannot be reached: its components are unknown, never operational.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_monitor_is_unknown_on_the_page() {
    let db = TestDb::sqlite().await;
    let platform = platform(&db, config(&unreachable_url(), "bs-test-token"), Utc::now()).await;
    let app = TestApp::start(platform.core).await;
    refresh(app.core()).await;
    let (status, html) = page(&app, "", "/status").await;
    assert_eq!(status, 200);
    assert!(!html.contains("All systems operational"), "{html}");
    assert!(
        html.contains("Our monitoring service could not be reached"),
        "{html}"
    );
    assert!(html.contains("state-unknown"), "{html}");
    let portal = html.find("Customer portal").expect("the portal");
    let unknown = html[portal..].find("Unknown").expect("its state in words");
    let next = html[portal..].find("Frankfurt VPS").expect("the next one");
    assert!(unknown < next, "the portal is unknown: {html}");
}

async fn subscribers_hear_of_incidents_until_they_unsubscribe(db: TestDb) {
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let fake = FakeBetterstack::start().await;
    let mut config = config(&fake.base_url(), fake.token());
    config.smtp.url = Some(SecretString::from(smtp.url()));
    config.smtp.from = "Example Hosting <no-reply@example.test>".into();
    config.company.name = "Example Hosting".into();
    let now = Utc::now();
    let platform = platform(&db, config, now).await;
    all_up(&fake, now);
    let app = TestApp::start_with_smtp(platform.core).await;
    let core = app.core();
    refresh(core).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let bob = app.user("bob@example.test", Role::Customer).await;
    let carl = app.user("carl@example.test", Role::Customer).await;
    let sam = app.user("sam@example.test", Role::Support).await;

    // Ada subscribes on the page; Carl through core; Bob does not.
    let visit = app.portal_visit(Some(&ada.token), "/status").await;
    let (status, location) = submit(&app, &visit, "/status/subscribe", &[]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/status?notice=status-subscribed")
    );
    let (_, html) = page(&app, &ada.token, "/status").await;
    assert!(html.contains("Stop incident emails"), "{html}");
    let (_, html) = page(&app, &bob.token, "/status").await;
    assert!(html.contains("Email me about incidents"), "{html}");
    let carl_actor = Actor::user(carl.user.id, Role::Customer, Via::Portal);
    core.status
        .subscribe(&carl_actor)
        .await
        .expect("subscribed");

    // A customer meets the staff pages as refused.
    let (status, _) = page(&app, &ada.token, "/admin/incidents").await;
    assert_eq!(status, 403);
    let visit = app.portal_visit(Some(&ada.token), "/status").await;
    let (status, _) = submit(
        &app,
        &visit,
        "/admin/incidents",
        &[
            ("kind", "incident"),
            ("title", "Not mine to declare"),
            ("impact", "minor"),
            ("status", "investigating"),
            ("components", "portal"),
            ("message", "No."),
        ],
    )
    .await;
    assert_eq!(status, 403);
    assert!(core.status.incidents(now).await.expect("listed").is_empty());

    // Support declares on the staff page; a refusal keeps what was typed.
    let (status, html) = page(&app, &sam.token, "/admin/incidents").await;
    assert_eq!(status, 200, "{html}");
    let visit = app.portal_visit(Some(&sam.token), "/admin/incidents").await;
    let (status, html) = submit(
        &app,
        &visit,
        "/admin/incidents",
        &[
            ("kind", "incident"),
            ("title", "Portal errors"),
            ("impact", "minor"),
            ("status", "investigating"),
            ("message", "Some pages fail."),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("name at least one component"), "{html}");
    assert!(html.contains("value=\"Portal errors\""), "{html}");
    let (status, location) = submit(
        &app,
        &visit,
        "/admin/incidents",
        &[
            ("kind", "incident"),
            ("title", "Portal errors"),
            ("impact", "minor"),
            ("status", "investigating"),
            ("components", "portal"),
            ("components", "billing"),
            ("message", "Some pages fail; we are on it."),
        ],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    assert!(
        location.ends_with("?notice=incident-declared"),
        "{location}"
    );
    let incident_page = location.split('?').next().unwrap_or_default().to_owned();
    let (status, html) = page(&app, &sam.token, &incident_page).await;
    assert_eq!(status, 200);
    assert!(html.contains("Some pages fail; we are on it."), "{html}");

    let declared = smtp.wait_for("ada@example.test", "Portal errors").await;
    assert!(
        declared.subject.contains("Investigating"),
        "{}",
        declared.subject
    );
    assert!(declared.text.contains("Some pages fail; we are on it."));
    assert!(
        declared.text.contains("Affects: Customer portal, Billing"),
        "{}",
        declared.text
    );
    smtp.wait_for("carl@example.test", "Portal errors").await;

    // An update and the resolution, each emailed.
    let (status, location) = submit(
        &app,
        &visit,
        &format!("{incident_page}/update"),
        &[
            ("status", "identified"),
            ("message", "A bad deploy; rolling back."),
        ],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let updated = smtp.wait_for("ada@example.test", "Identified").await;
    assert!(updated.text.contains("A bad deploy; rolling back."));
    let (status, location) = submit(
        &app,
        &visit,
        &format!("{incident_page}/resolve"),
        &[("message", "Rolled back; all pages work.")],
    )
    .await;
    assert_eq!(status, 303, "{location}");
    let resolved = smtp.wait_for("ada@example.test", "Resolved").await;
    assert!(resolved.text.contains("Rolled back; all pages work."));
    // An update to a resolved incident is refused on the page.
    let (status, html) = submit(
        &app,
        &visit,
        &format!("{incident_page}/update"),
        &[("status", "monitoring"), ("message", "Again?")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("resolved already"), "{html}");
    assert!(
        smtp.all()
            .iter()
            .all(|mail| !mail.is_to("bob@example.test"))
    );

    // The unsubscribe link: a page that asks, then no more emails to Ada.
    let token = resolved
        .text
        .split("/status/unsubscribe?token=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an unsubscribe link")
        .to_owned();
    assert!(updated.text.contains(&token), "one link per subscription");
    let link = format!("/status/unsubscribe?token={token}");
    let (status, html) = page(&app, "", &link).await;
    assert_eq!(status, 200);
    assert!(
        html.contains(&token) && html.contains("Stop the emails"),
        "{html}"
    );
    assert!(
        core.status
            .subscribed(&Actor::user(ada.user.id, Role::Customer, Via::Portal))
            .await
            .expect("read"),
        "opening the link changes nothing"
    );
    let stranger = app.portal_visit(None, &link).await;
    let (status, location) =
        submit(&app, &stranger, "/status/unsubscribe", &[("token", &token)]).await;
    assert_eq!(
        (status, location.as_str()),
        (303, "/status?notice=status-unsubscribed")
    );
    let (status, _) = submit(&app, &stranger, "/status/unsubscribe", &[("token", &token)]).await;
    assert_eq!(status, 404, "a used link");
    let support_actor = Actor::user(sam.user.id, Role::Support, Via::Portal).with_two_factor();
    core.status
        .declare(
            &support_actor,
            incident("Billing delayed", &["billing"], "Invoices are late."),
        )
        .await
        .expect("declared");
    smtp.wait_for("carl@example.test", "Billing delayed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        smtp.all()
            .iter()
            .all(|mail| !(mail.is_to("ada@example.test") && mail.subject.contains("Billing"))),
        "no email after unsubscribing"
    );

    // The change and its emails are one transaction: an outbox that refuses the row refuses
    // the incident too.
    db.refuse("INSERT", "outbox", "1 = 1").await;
    let refused = core
        .status
        .declare(
            &support_actor,
            incident("Never stored", &["portal"], "This is rolled back."),
        )
        .await;
    db.allow("outbox").await;
    assert!(refused.is_err());
    assert!(
        core.status
            .incidents(now)
            .await
            .expect("listed")
            .iter()
            .all(|incident| incident.title != "Never stored")
    );
}

/// Secrets planted in every source (BetterStack's monitors and incidents, a provider's error,
/// the token) reach none of the page, the feed or the emails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_reach_no_page_feed_or_email() {
    const PLANTED: &[&str] = &[
        "203.0.113.24",
        "pve-fra-02.internal.example",
        "api-2.internal.example",
        "portal.example.net",
        "example-monitor-token-not-real",
        "Invalid Team API token",
        "Compute node FRA-1",
        "Host unreachable",
        "planted-internal-error-text",
        "198.51.100.99",
    ];
    let Some(smtp) = SmtpServer::start().await else {
        return;
    };
    let fake = FakeBetterstack::start().await;
    let now = Utc::now();
    all_up(&fake, now);
    fake.set_monitor(
        "2210043",
        "down",
        &now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
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
    let mut config = config(&fake.base_url(), fake.token());
    config.betterstack.status_page_id = Some("190455".into());
    config.smtp.url = Some(SecretString::from(smtp.url()));
    let platform = platform(&db, config, now).await;
    let fra = platform.fra.clone();
    let clock = platform.clock.clone();
    let app = TestApp::start_with_smtp(platform.core).await;
    let core = app.core();
    let ada = app.user("ada@example.test", Role::Customer).await;
    core.status
        .subscribe(&Actor::user(ada.user.id, Role::Customer, Via::Portal))
        .await
        .expect("subscribed");
    let sam = support(core, "sam@example.test").await;
    let mut outputs = Vec::new();
    refresh(core).await;
    for (round, scenario) in [
        Scenario::Unauthorized,
        Scenario::ServerError,
        Scenario::Truncated,
        Scenario::ForeignNext,
    ]
    .into_iter()
    .enumerate()
    {
        let (_, html) = page(&app, &ada.token, "/status").await;
        outputs.push(html);
        let feed = app.get("/status/feed.atom").await;
        outputs.push(feed.text().await.expect("a feed"));
        let title = format!("Trouble {round}");
        core.status
            .declare(
                &sam,
                incident(&title, &["vps-fra", "portal"], "We are on it."),
            )
            .await
            .expect("declared");
        outputs.push(smtp.wait_for("ada@example.test", &title).await.raw);
        fake.set_scenario(scenario);
        clock.advance(chrono::Duration::seconds(61));
        fra.fail_next(Failure::BadCredentials {
            detail: "planted-internal-error-text 203.0.113.24 pve-fra-02.internal.example".into(),
        });
        refresh(core).await;
    }
    let (_, html) = page(&app, &ada.token, "/status").await;
    assert!(html.contains("Frankfurt VPS"), "{html}");
    outputs.push(html);
    for output in &outputs {
        for secret in PLANTED {
            assert!(!output.contains(secret), "{secret} leaked: {output}");
        }
        assert!(!output.contains(fake.token()));
        assert!(!output.contains(&fake.base_url()));
    }
}
