//! Tickets through the core, on both engines: who may do what (another customer's ticket is
//! not found), notes that never reach the customer, the open-ticket limit under concurrency,
//! the message rate limit, reopening and rating, the SLA clock and auto-close with a moved
//! clock (each step once), the report's median and 90th percentile, messages from Discord
//! stored once, edits and deletions kept, the sync lease, and the outbox worker delivering
//! the new channels.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::Config;
use hostdeck_core::notify::{DiscordMessage, DiscordSender, SendError};
use hostdeck_core::records::users::User;
use hostdeck_core::tickets::sync::TicketSync;
use hostdeck_core::tickets::{
    InboundMessage, OpenTicket, Priority, TicketFilter, TicketId, TicketStatus, Tickets,
};
use hostdeck_core::{Actor, Core, ErrorCode, Role, Via};
use hostdeck_e2e::billing::customer;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::mail::Mailbox;
use sqlx::{Connection, Row};

hostdeck_e2e::on_both_engines!(
    the_permission_matrix_holds_over_every_action,
    notes_never_reach_the_customer,
    the_open_ticket_limit_holds_under_concurrency,
    messages_are_rate_limited_per_author,
    reopening_has_a_window_and_rating_happens_once,
    sla_warnings_breaches_and_auto_close_happen_once_each,
    the_report_gives_median_and_90th_percentile,
    discord_messages_are_stored_once_and_edits_and_deletes_are_kept,
    the_sync_lease_is_exclusive,
    the_outbox_worker_delivers_ticket_syncs_and_channel_posts,
    a_breach_stays_in_the_report_and_deadlines_count_from_the_reopen,
    discord_text_is_kept_and_our_own_posts_are_not_edited_from_discord,
    a_lease_taken_over_stops_the_replica_that_lost_it,
    reopens_at_once_cannot_pass_the_open_ticket_limit,
    an_idempotency_key_is_honoured_for_a_day,
);

/// A key is honoured for a day: the minute job forgets it after, and the same key then opens
/// a new ticket.
async fn an_idempotency_key_is_honoured_for_a_day(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let (_, ada) = desk.person(1, Role::Customer).await;
    let tickets = &desk.core.tickets;
    let first = tickets
        .open_once(&ada, opening("Disk full"), "key-1")
        .await
        .expect("opened");
    assert!(!first.replayed);
    desk.clock.advance(chrono::Duration::hours(23));
    tickets.run_due().await.expect("the minute job");
    let again = tickets
        .open_once(&ada, opening("Disk full"), "key-1")
        .await
        .expect("replayed");
    assert!(again.replayed);
    assert_eq!(again.value.id, first.value.id);
    desk.clock.advance(chrono::Duration::hours(2));
    tickets.run_due().await.expect("the minute job");
    let later = tickets
        .open_once(&ada, opening("Disk full"), "key-1")
        .await
        .expect("opened anew");
    assert!(!later.replayed);
    assert_ne!(later.value.id, first.value.id);
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0)
        .single()
        .expect("a time")
}

fn config() -> Config {
    let mut config = Config::default();
    config.tickets.messages_per_minute = 1000;
    config.tickets.max_open_per_customer = 100;
    config.discord.support_channel_id = Some(900);
    config.tickets.staff_channel_id = Some(901);
    config.tickets.escalation_role_id = Some(902);
    config
}

struct Desk {
    db: TestDb,
    core: Arc<Core>,
    clock: Arc<ManualClock>,
}

impl Desk {
    async fn new(db: TestDb, config: Config) -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let core = Arc::new(db.core_with(config, clock.clone()).await);
        Self { db, core, clock }
    }

    async fn person(&self, n: usize, role: Role) -> (User, Actor) {
        let mut user = customer(self.core.store().as_ref(), n, t0()).await;
        if role != Role::Customer {
            self.core
                .store()
                .users()
                .set_user_role(user.id, role)
                .await
                .expect("a role");
            user.role = role;
        }
        let actor = Actor::user(user.id, role, Via::Portal);
        let actor = if role == Role::Customer {
            actor
        } else {
            actor.with_two_factor()
        };
        (user, actor)
    }

    async fn open(&self, actor: &Actor, subject: &str) -> TicketId {
        self.core
            .tickets
            .open(actor, opening(subject))
            .await
            .expect("a ticket")
            .id
    }

    /// Every outbox row: (channel, recipient, payload).
    async fn outbox(&self) -> Vec<(String, String, serde_json::Value)> {
        let sql = "SELECT channel, recipient, payload FROM outbox ORDER BY id";
        let rows: Vec<(String, String, String)> = if self.db.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.db.url)
                .await
                .expect("sqlite");
            let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("rows");
            rows.iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.db.url)
                .await
                .expect("postgres");
            let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("rows");
            rows.iter()
                .map(|row| (row.get(0), row.get(1), row.get(2)))
                .collect()
        };
        rows.into_iter()
            .map(|(channel, recipient, payload)| {
                (
                    channel,
                    recipient,
                    serde_json::from_str(&payload).expect("json"),
                )
            })
            .collect()
    }

    async fn outbox_on(&self, channel: &str) -> Vec<(String, serde_json::Value)> {
        self.outbox()
            .await
            .into_iter()
            .filter(|(on, _, _)| on == channel)
            .map(|(_, recipient, payload)| (recipient, payload))
            .collect()
    }
}

fn opening(subject: &str) -> OpenTicket {
    OpenTicket {
        subject: subject.into(),
        body: format!("Please help with {subject}."),
        department: "technical".into(),
        ..OpenTicket::default()
    }
}

fn code<T>(result: &hostdeck_core::Result<T>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => match error.code() {
            ErrorCode::NotFound => "not_found",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Conflict => "conflict",
            ErrorCode::Invalid => "invalid",
            ErrorCode::RateLimited => "rate_limited",
            _ => "other",
        },
    }
}

async fn the_permission_matrix_holds_over_every_action(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (owner, owner_actor) = desk.person(1, Role::Customer).await;
    let (_, other) = desk.person(2, Role::Customer).await;
    let (support_user, support) = desk.person(3, Role::Support).await;
    let support_no_2fa = Actor::user(support_user.id, Role::Support, Via::Portal);
    let (_, admin) = desk.person(4, Role::Admin).await;
    let (_, billing) = desk.person(5, Role::Billing).await;
    let anonymous = Actor::anonymous(Via::Portal);
    let id = desk.open(&owner_actor, "matrix").await;
    let actors = [
        ("owner", &owner_actor),
        ("other", &other),
        ("support", &support),
        ("support without 2fa", &support_no_2fa),
        ("admin", &admin),
        ("billing", &billing),
        ("anonymous", &anonymous),
    ];
    let read = [
        "ok",
        "not_found",
        "ok",
        "not_found",
        "ok",
        "not_found",
        "forbidden",
    ];
    // Staff-only actions on this ticket: its customer is told they may not; anybody else who
    // may not read every ticket learns nothing of it (not_found, as for any missing id).
    let staff = [
        "forbidden",
        "not_found",
        "ok",
        "not_found",
        "ok",
        "not_found",
        "forbidden",
    ];
    // The report names no ticket: a plain refusal.
    let report = [
        "forbidden",
        "forbidden",
        "ok",
        "forbidden",
        "ok",
        "forbidden",
        "forbidden",
    ];
    for (index, (who, actor)) in actors.iter().enumerate() {
        let (want_read, want_staff, want_report) = (read[index], staff[index], report[index]);
        let checks = [
            ("get", code(&tickets.get(actor, id).await), want_read),
            (
                "messages",
                code(&tickets.messages(actor, id).await),
                want_read,
            ),
            (
                "transcript",
                code(&tickets.transcript(actor, id).await),
                want_read,
            ),
            (
                "reply",
                code(&tickets.reply(actor, id, "hello", Vec::new()).await),
                want_read,
            ),
            (
                "note",
                code(&tickets.note(actor, id, "n").await),
                want_staff,
            ),
            ("claim", code(&tickets.claim(actor, id).await), want_staff),
            (
                "assign",
                code(&tickets.assign(actor, id, None).await),
                want_staff,
            ),
            (
                "priority",
                code(&tickets.set_priority(actor, id, Priority::High).await),
                want_staff,
            ),
            (
                "context",
                code(&tickets.context(actor, id).await),
                want_staff,
            ),
            (
                "report",
                code(&tickets.report(actor, t0(), t0() + Duration::days(1)).await),
                want_report,
            ),
        ];
        for (action, got, want) in checks {
            assert_eq!(got, want, "{action} by {who}");
        }
    }
    // Closing, reopening and rating: strangers see nothing; the owner and staff act.
    for (who, actor) in [
        ("other", &other),
        ("billing", &billing),
        ("support without 2fa", &support_no_2fa),
    ] {
        assert_eq!(
            code(&tickets.close(actor, id, "x").await),
            "not_found",
            "close by {who}"
        );
        assert_eq!(
            code(&tickets.rate(actor, id, 5, None).await),
            "not_found",
            "rate by {who}"
        );
    }
    assert_eq!(code(&tickets.close(&anonymous, id, "x").await), "forbidden");
    assert_eq!(code(&tickets.close(&owner_actor, id, "").await), "ok");
    assert_eq!(code(&tickets.reopen(&other, id).await), "not_found");
    assert_eq!(code(&tickets.reopen(&owner_actor, id).await), "ok");
    assert_eq!(code(&tickets.close(&support, id, "solved").await), "ok");
    assert_eq!(
        code(&tickets.rate(&support, id, 5, None).await),
        "forbidden"
    );
    assert_eq!(code(&tickets.reopen(&admin, id).await), "ok");
    // Listings: a customer sees only their own, whatever they ask for.
    let asked = TicketFilter {
        customer: Some(owner.id),
        ..TicketFilter::default()
    };
    assert_eq!(listed(tickets, &other, &asked).await, 0);
    assert_eq!(
        listed(tickets, &owner_actor, &TicketFilter::default()).await,
        1
    );
    assert_eq!(listed(tickets, &support, &TicketFilter::default()).await, 1);
    assert_eq!(
        code(&tickets.list(&anonymous, &TicketFilter::default()).await),
        "forbidden"
    );
    // Opening for somebody else is for staff; a server must be the customer's own.
    let mut for_owner = opening("for you");
    for_owner.customer = Some(owner.id);
    assert_eq!(
        code(&tickets.open(&other, for_owner.clone()).await),
        "forbidden"
    );
    assert_eq!(code(&tickets.open(&support, for_owner).await), "ok");
    let mut with_server = opening("a server");
    with_server.server = Some(hostdeck_core::ids::ServerId(4242));
    assert_eq!(
        code(&tickets.open(&owner_actor, with_server).await),
        "not_found"
    );
    // Refusals a person should trace are in the audit log.
    let refused = hostdeck_e2e::db::audit_details(desk.core.store().as_ref(), "ticket.read").await;
    assert!(!refused.is_empty(), "refused reads are audited");
}

/// How many tickets `actor` is shown for `filter`.
async fn listed(tickets: &Tickets, actor: &Actor, filter: &TicketFilter) -> usize {
    tickets
        .list(actor, filter)
        .await
        .expect("a list")
        .tickets
        .len()
}

async fn notes_never_reach_the_customer(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (owner, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    let id = desk.open(&customer, "notes").await;
    tickets
        .note(&support, id, "SECRET-NOTE the customer is difficult")
        .await
        .expect("a note");
    tickets
        .reply(&support, id, "VISIBLE-REPLY try a restart", Vec::new())
        .await
        .expect("a reply");
    let seen = tickets.messages(&customer, id).await.expect("messages");
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter()
            .all(|message| !message.note && !message.body.contains("SECRET-NOTE"))
    );
    let staff_view = tickets.messages(&support, id).await.expect("messages");
    assert_eq!(staff_view.iter().filter(|message| message.note).count(), 1);
    let transcript = tickets.transcript(&customer, id).await.expect("transcript");
    assert!(!transcript.text().contains("SECRET-NOTE"));
    assert!(!transcript.html().contains("SECRET-NOTE"));
    assert!(transcript.text().contains("VISIBLE-REPLY"));
    assert!(
        tickets
            .unsynced_messages(id)
            .await
            .expect("unsynced")
            .iter()
            .all(|message| !message.note)
    );
    tickets.close(&support, id, "solved").await.expect("closed");
    let emails = desk.outbox_on("email").await;
    let to_owner: Vec<_> = emails.iter().filter(|(to, _)| *to == owner.email).collect();
    assert_eq!(
        to_owner.len(),
        2,
        "the reply and the transcript: {to_owner:?}"
    );
    assert!(to_owner.iter().any(|(_, mail)| {
        mail["subject"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("Re: [#{id}]")))
    }));
    assert!(to_owner.iter().any(|(_, mail)| {
        mail["text"]
            .as_str()
            .is_some_and(|t| t.contains("VISIBLE-REPLY"))
    }));
    for (_, mail) in desk
        .outbox()
        .await
        .iter()
        .map(|(_, to, payload)| (to, payload))
    {
        assert!(!mail.to_string().contains("SECRET-NOTE"), "{mail}");
    }
}

async fn the_open_ticket_limit_holds_under_concurrency(db: TestDb) {
    let mut config = config();
    config.tickets.max_open_per_customer = 5;
    let desk = Desk::new(db, config).await;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let mut opens = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (core, customer) = (desk.core.clone(), customer.clone());
        opens.spawn(async move {
            code(
                &core
                    .tickets
                    .open(&customer, opening(&format!("at once {n}")))
                    .await,
            )
        });
    }
    let codes = opens.join_all().await;
    assert_eq!(
        codes.iter().filter(|code| **code == "ok").count(),
        5,
        "{codes:?}"
    );
    assert_eq!(
        codes.iter().filter(|code| **code == "conflict").count(),
        15,
        "{codes:?}"
    );
    assert_eq!(
        desk.core
            .tickets
            .open_count_of(&customer, customer.user.expect("a user"))
            .await
            .expect("count"),
        5
    );
}

async fn messages_are_rate_limited_per_author(db: TestDb) {
    let mut config = config();
    config.tickets.messages_per_minute = 3;
    let desk = Desk::new(db, config).await;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (_, other) = desk.person(2, Role::Customer).await;
    let id = desk.open(&customer, "fast").await;
    let tickets = &desk.core.tickets;
    assert_eq!(
        code(&tickets.reply(&customer, id, "two", Vec::new()).await),
        "ok"
    );
    assert_eq!(
        code(&tickets.reply(&customer, id, "three", Vec::new()).await),
        "ok"
    );
    assert_eq!(
        code(&tickets.reply(&customer, id, "four", Vec::new()).await),
        "rate_limited"
    );
    // Another author has slots of their own; a refused stranger spends none.
    assert_eq!(
        code(&tickets.reply(&other, id, "x", Vec::new()).await),
        "not_found"
    );
    desk.open(&other, "mine").await;
    desk.clock.advance(Duration::seconds(61));
    assert_eq!(
        code(&tickets.reply(&customer, id, "later", Vec::new()).await),
        "ok"
    );
}

async fn reopening_has_a_window_and_rating_happens_once(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (_, admin) = desk.person(2, Role::Admin).await;
    let id = desk.open(&customer, "window").await;
    assert_eq!(
        code(&tickets.rate(&customer, id, 5, None).await),
        "conflict",
        "not closed yet"
    );
    assert_eq!(
        code(&tickets.reopen(&customer, id).await),
        "conflict",
        "not closed"
    );
    tickets.close(&customer, id, "").await.expect("closed");
    assert_eq!(
        code(&tickets.reply(&customer, id, "more", Vec::new()).await),
        "conflict"
    );
    desk.clock.advance(Duration::days(6));
    let reopened = tickets
        .reopen(&customer, id)
        .await
        .expect("reopened within the window");
    assert_eq!(reopened.status, TicketStatus::AwaitingStaff);
    assert!(reopened.closed_at.is_none());
    tickets.close(&admin, id, "done").await.expect("closed");
    desk.clock.advance(Duration::days(8));
    assert_eq!(
        code(&tickets.reopen(&customer, id).await),
        "conflict",
        "too late"
    );
    tickets
        .reopen(&admin, id)
        .await
        .expect("staff reopen at any time");
    tickets
        .close(&admin, id, "done again")
        .await
        .expect("closed");
    assert_eq!(code(&tickets.rate(&customer, id, 6, None).await), "invalid");
    let rated = tickets
        .rate(&customer, id, 4, Some("quick"))
        .await
        .expect("rated");
    assert_eq!(
        (rated.rating, rated.rating_comment.as_deref()),
        (Some(4), Some("quick"))
    );
    assert_eq!(
        code(&tickets.rate(&customer, id, 5, None).await),
        "conflict",
        "once"
    );
}

async fn sla_warnings_breaches_and_auto_close_happen_once_each(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (owner, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    let mut urgent = opening("down");
    urgent.priority = Some(Priority::High);
    let sla = tickets.open(&customer, urgent).await.expect("a ticket").id;
    assert_eq!(
        tickets.get(&support, sla).await.expect("ticket").due_at,
        Some(t0() + Duration::hours(2))
    );
    assert_eq!(tickets.run_due().await.expect("run"), Default::default());
    desk.clock.set(t0() + Duration::minutes(91));
    assert_eq!(tickets.run_due().await.expect("run").sla_warnings, 1);
    assert_eq!(
        tickets.run_due().await.expect("run"),
        Default::default(),
        "warned once"
    );
    desk.clock.set(t0() + Duration::hours(2));
    assert_eq!(tickets.run_due().await.expect("run").sla_breaches, 1);
    assert_eq!(
        tickets.run_due().await.expect("run"),
        Default::default(),
        "escalated once"
    );
    let posts = desk.outbox_on("discord_channel").await;
    let pings: Vec<_> = posts
        .iter()
        .map(|(channel, post)| (channel.as_str(), post["ping_role"].as_u64()))
        .collect();
    // The new ticket's post, the warning (quiet) and the breach (pinging the role).
    assert_eq!(pings, [("901", None), ("901", None), ("901", Some(902))]);
    tickets.close(&support, sla, "fixed").await.expect("closed");

    // Auto-close: a warning after three quiet days, cancelled by a reply; then the close.
    desk.clock.set(t0() + Duration::days(1));
    let quiet = desk.open(&customer, "quiet").await;
    tickets
        .reply(&support, quiet, "Does it work now?", Vec::new())
        .await
        .expect("reply");
    desk.clock.advance(Duration::days(3));
    let done = tickets.run_due().await.expect("run");
    assert_eq!(done.autoclose_warnings, 1, "{done:?}");
    assert_eq!(
        tickets.run_due().await.expect("run").autoclose_warnings,
        0,
        "warned once"
    );
    let warned = tickets.get(&customer, quiet).await.expect("ticket");
    assert!(warned.autoclose_warned_at.is_some());
    tickets
        .reply(&customer, quiet, "Still broken", Vec::new())
        .await
        .expect("reply");
    let cancelled = tickets.get(&customer, quiet).await.expect("ticket");
    assert_eq!(
        (cancelled.status, cancelled.autoclose_warned_at),
        (TicketStatus::AwaitingStaff, None)
    );
    tickets
        .reply(&support, quiet, "Try again please", Vec::new())
        .await
        .expect("reply");
    desk.clock.advance(Duration::days(3));
    assert_eq!(tickets.run_due().await.expect("run").autoclose_warnings, 1);
    desk.clock.advance(Duration::days(2));
    assert_eq!(tickets.run_due().await.expect("run").autoclosed, 1);
    assert_eq!(
        tickets.run_due().await.expect("run").autoclosed,
        0,
        "closed once"
    );
    let closed = tickets.get(&customer, quiet).await.expect("ticket");
    assert_eq!(closed.status, TicketStatus::Closed);
    assert!(
        closed
            .close_reason
            .is_some_and(|reason| reason.contains("no answer"))
    );
    let transcripts = desk
        .outbox_on("email")
        .await
        .into_iter()
        .filter(|(to, mail)| {
            *to == owner.email
                && mail["subject"]
                    .as_str()
                    .is_some_and(|s| s.ends_with("closed"))
        })
        .count();
    assert_eq!(transcripts, 2, "the transcript of each close");
}

async fn the_report_gives_median_and_90th_percentile(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (staff_user, support) = desk.person(2, Role::Support).await;
    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(desk.open(&customer, &format!("report {n}")).await);
    }
    for (n, id) in ids.iter().enumerate() {
        desk.clock
            .set(t0() + Duration::minutes(10 * (n as i64 + 1)));
        tickets.claim(&support, *id).await.expect("claimed");
        tickets
            .reply(&support, *id, "on it", Vec::new())
            .await
            .expect("reply");
    }
    let report = tickets
        .report(&support, t0(), t0() + Duration::days(1))
        .await
        .expect("report");
    assert_eq!(report.overall.tickets, 10);
    assert_eq!(report.overall.first_response.median_secs, Some(50 * 60));
    assert_eq!(report.overall.first_response.p90_secs, Some(90 * 60));
    assert_eq!(report.by_department.len(), 1);
    assert_eq!(report.by_staff.len(), 1);
    assert_eq!(report.by_staff[0].staff, staff_user.id);
    assert_eq!(report.by_staff[0].figures.first_response.count, 10);
    let earlier = tickets
        .report(&support, t0() - Duration::days(2), t0())
        .await
        .expect("report");
    assert_eq!(earlier.overall.tickets, 0);
    assert_eq!(earlier.overall.first_response.median_secs, None);
}

fn inbound(id: u64, author: u64, body: &str) -> InboundMessage {
    InboundMessage {
        discord_message_id: id,
        author_discord_id: author,
        author_name: "ana_discord".into(),
        body: body.into(),
        attachments: Vec::new(),
        at: t0(),
    }
}

async fn discord_messages_are_stored_once_and_edits_and_deletes_are_kept(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (owner, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    let id = desk.open(&customer, "discord").await;
    // The reconcile posts the first message and records the thread.
    let unsynced = tickets.unsynced_messages(id).await.expect("unsynced");
    assert_eq!(unsynced.len(), 1);
    tickets.set_thread(id, 555).await.expect("thread");
    tickets
        .mark_posted(unsynced[0].id, 7000)
        .await
        .expect("posted");
    assert!(
        tickets
            .unsynced_messages(id)
            .await
            .expect("unsynced")
            .is_empty()
    );
    // A member in the thread, linked and not.
    let in_discord = |actor: &Actor| Actor {
        via: Via::Discord,
        ..actor.clone()
    };
    let unlinked = Actor::anonymous(Via::Discord);
    assert_eq!(
        code(
            &tickets
                .ingest_discord(&unlinked, 555, inbound(8000, 1, "hi"))
                .await
        ),
        "forbidden"
    );
    let first = tickets
        .ingest_discord(
            &in_discord(&customer),
            555,
            inbound(8001, 1, "from Discord"),
        )
        .await
        .expect("stored");
    assert!(first.new);
    let again = tickets
        .ingest_discord(
            &in_discord(&customer),
            555,
            inbound(8001, 1, "from Discord"),
        )
        .await
        .expect("again");
    assert!(!again.new);
    assert_eq!(again.message.id, first.message.id);
    let staff = tickets
        .ingest_discord(&in_discord(&support), 555, inbound(8002, 2, "staff answer"))
        .await
        .expect("stored");
    assert!(staff.message.author_staff);
    assert_eq!(
        tickets.get(&customer, id).await.expect("ticket").status,
        TicketStatus::AwaitingCustomer
    );
    let all = tickets.messages(&customer, id).await.expect("messages");
    assert_eq!(all.len(), 3, "no message twice");
    assert!(
        tickets
            .unsynced_messages(id)
            .await
            .expect("unsynced")
            .is_empty(),
        "Discord's own are not posted back"
    );
    assert!(desk.outbox_on("email").await.iter().any(|(to, mail)| {
        *to == owner.email
            && mail["text"]
                .as_str()
                .is_some_and(|t| t.contains("staff answer"))
    }));
    // Edits keep the history; deletions keep the row.
    let edited = tickets
        .edit_from_discord(8001, "from Discord, edited", t0() + Duration::minutes(1))
        .await
        .expect("edit")
        .expect("known");
    assert_eq!(edited.body, "from Discord, edited");
    let history = tickets
        .message_edits(&support, id, edited.id)
        .await
        .expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].body, "from Discord");
    assert_eq!(
        code(&tickets.message_edits(&customer, id, edited.id).await),
        "forbidden"
    );
    assert!(
        tickets
            .edit_from_discord(9999, "x", t0())
            .await
            .expect("edit")
            .is_none()
    );
    let deleted = tickets
        .delete_from_discord(8001, t0() + Duration::minutes(2))
        .await
        .expect("delete")
        .expect("known");
    assert!(deleted.deleted_at.is_some());
    let seen = tickets.messages(&customer, id).await.expect("messages");
    let gone = seen
        .iter()
        .find(|message| message.id == deleted.id)
        .expect("kept in place");
    assert!(gone.deleted_at.is_some() && gone.body.is_empty());
    assert!(
        !tickets
            .transcript(&customer, id)
            .await
            .expect("transcript")
            .text()
            .contains("edited")
    );
    // Catch-up moves forward only; a deleted thread is forgotten and a sync queued.
    tickets.set_last_seen(id, 8002).await.expect("seen");
    tickets.set_last_seen(id, 8001).await.expect("seen");
    assert_eq!(tickets.last_seen(id).await.expect("seen"), Some(8002));
    assert_eq!(tickets.open_threads().await.expect("threads").len(), 1);
    let syncs_before = desk.outbox_on("discord_ticket").await.len();
    assert_eq!(
        tickets.thread_deleted(555).await.expect("deleted"),
        Some(id)
    );
    assert_eq!(tickets.thread_deleted(555).await.expect("deleted"), None);
    assert!(
        tickets
            .ticket_by_thread(555)
            .await
            .expect("lookup")
            .is_none()
    );
    assert_eq!(
        desk.outbox_on("discord_ticket").await.len(),
        syncs_before + 1
    );
    assert_eq!(tickets.thread_history(id).await.expect("history").len(), 2);
}

async fn the_sync_lease_is_exclusive(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let id = desk.open(&customer, "lease").await;
    let mut takers = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let core = desk.core.clone();
        takers.spawn(async move {
            core.tickets
                .sync_lease(id, std::time::Duration::from_secs(30))
                .await
                .expect("lease")
                .is_some()
        });
    }
    let taken = takers.join_all().await;
    assert_eq!(taken.iter().filter(|taken| **taken).count(), 1, "{taken:?}");
    let hold = std::time::Duration::from_secs(30);
    assert!(
        desk.core
            .tickets
            .sync_lease(id, hold)
            .await
            .expect("lease")
            .is_none()
    );
    desk.clock.advance(Duration::seconds(31));
    assert!(
        desk.core
            .tickets
            .sync_lease(id, hold)
            .await
            .expect("lease")
            .is_some(),
        "a lost lease runs out"
    );
    desk.core.tickets.sync_release(id).await.expect("released");
    assert!(
        desk.core
            .tickets
            .sync_lease(id, hold)
            .await
            .expect("lease")
            .is_some()
    );
}

/// Records what the worker hands to Discord.
#[derive(Default)]
struct Recorder {
    synced: Mutex<Vec<TicketId>>,
    posts: Mutex<Vec<(u64, String, Option<u64>)>>,
}

#[async_trait::async_trait]
impl TicketSync for Recorder {
    async fn sync_ticket(&self, ticket: TicketId) -> Result<(), SendError> {
        self.synced.lock().expect("lock").push(ticket);
        Ok(())
    }
}

struct Sender(Arc<Recorder>);

#[async_trait::async_trait]
impl DiscordSender for Sender {
    async fn dm(&self, _: u64, _: &DiscordMessage) -> Result<(), SendError> {
        Ok(())
    }

    async fn webhook(&self, _: &str, _: &DiscordMessage) -> Result<(), SendError> {
        Ok(())
    }

    async fn channel_post(
        &self,
        channel: u64,
        message: &DiscordMessage,
        ping_role: Option<u64>,
    ) -> Result<(), SendError> {
        self.0
            .posts
            .lock()
            .expect("lock")
            .push((channel, message.content.clone(), ping_role));
        Ok(())
    }
}

async fn the_outbox_worker_delivers_ticket_syncs_and_channel_posts(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let id = desk.open(&customer, "worker <@&902> @everyone").await;
    let recorder = Arc::new(Recorder::default());
    let mailbox = Mailbox::default();
    let worker = desk
        .core
        .outbox
        .worker(Arc::new(mailbox))
        .with_discord(Arc::new(Sender(recorder.clone())))
        .with_ticket_sync(recorder.clone());
    assert_eq!(worker.run_once().await.expect("sent"), 2);
    assert_eq!(*recorder.synced.lock().expect("lock"), [id]);
    let posts = recorder.posts.lock().expect("lock").clone();
    assert_eq!(posts.len(), 1);
    assert_eq!((posts[0].0, posts[0].2), (901, None));
    assert!(posts[0].1.contains(&format!("#{id}")));
    // Without a sync attached the rows wait for one; nothing is lost.
    let (_, other) = desk.person(2, Role::Customer).await;
    desk.open(&other, "waits").await;
    let bare = desk
        .core
        .outbox
        .worker(Arc::new(Mailbox::default()))
        .with_discord(Arc::new(Sender(recorder.clone())));
    bare.run_once().await.expect("run");
    let pending = desk
        .core
        .store()
        .outbox()
        .outbox_pending()
        .await
        .expect("pending");
    assert_eq!(pending, 1, "the sync waits for the bot");
}

async fn a_breach_stays_in_the_report_and_deadlines_count_from_the_reopen(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    let id = desk.open(&customer, "slow answer").await;
    // Normal priority: a first response within 8 hours. Nobody answers for 9.
    desk.clock.set(t0() + Duration::hours(9));
    let outcome = tickets.run_due().await.expect("due");
    assert_eq!(outcome.sla_breaches, 1);
    desk.clock.set(t0() + Duration::hours(10));
    tickets
        .reply(&support, id, "sorry for the wait", Vec::new())
        .await
        .expect("reply");
    tickets
        .set_priority(&support, id, Priority::Low)
        .await
        .expect("priority");
    let report = tickets
        .report(&support, t0(), t0() + Duration::days(1))
        .await
        .expect("report");
    assert_eq!(
        report.overall.breached, 1,
        "an answer or a priority change does not hide a breach"
    );
    // Closed, then reopened days later: the deadlines count from the reopen, also after
    // a priority change, so nothing is escalated at once.
    tickets
        .close(&support, id, "answered")
        .await
        .expect("closed");
    let reopened_at = t0() + Duration::days(6);
    desk.clock.set(reopened_at);
    let reopened = tickets.reopen(&customer, id).await.expect("reopened");
    assert!(reopened.due_at.expect("due") > reopened_at);
    let raised = tickets
        .set_priority(&support, id, Priority::High)
        .await
        .expect("priority");
    assert_eq!(raised.due_at, Some(reopened_at + Duration::days(1)));
    assert_eq!(tickets.run_due().await.expect("due").sla_breaches, 0);
}

async fn discord_text_is_kept_and_our_own_posts_are_not_edited_from_discord(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let id = desk.open(&customer, "kept").await;
    let first = tickets.unsynced_messages(id).await.expect("unsynced")[0].clone();
    tickets.set_thread(id, 556).await.expect("thread");
    assert_eq!(
        code(&tickets.set_thread(id, 557).await),
        "conflict",
        "a second thread is not the ticket's"
    );
    tickets.mark_posted(first.id, 7100).await.expect("posted");
    let in_discord = Actor {
        via: Via::Discord,
        ..customer.clone()
    };
    // Emoji with joiners, a sticker alone, text-direction tricks, a nameless author and a
    // file from elsewhere: all kept, cleaned, never refused.
    let emoji = "thanks \u{1F469}\u{200D}\u{1F4BB}!";
    let mut sticker = inbound(8101, 1, "");
    sticker.author_name = "\u{202E}\u{200B}".into();
    let mut spoof = inbound(8102, 1, "invoice\u{202E}fdp.exe");
    spoof.attachments = vec![hostdeck_core::tickets::Attachment {
        name: "x".into(),
        size: 1,
        url: "https://discord.com/oauth2/authorize?client_id=1".into(),
    }];
    for message in [inbound(8100, 1, emoji), sticker, spoof] {
        tickets
            .ingest_discord(&in_discord, 556, message)
            .await
            .expect("kept");
    }
    let messages = tickets.messages(&customer, id).await.expect("messages");
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert!(bodies.contains(&emoji), "{bodies:?}");
    assert!(bodies.contains(&"invoicefdp.exe"), "{bodies:?}");
    assert!(
        bodies.iter().any(|body| body.contains("sticker")),
        "{bodies:?}"
    );
    assert!(messages.iter().all(|m| m.attachments.is_empty()));
    assert!(messages.iter().all(|m| !m.author_name.is_empty()));
    // Our post of the portal message: an edit or a deletion in Discord leaves it as it is.
    assert!(
        tickets
            .edit_from_discord(7100, "rewritten", t0())
            .await
            .expect("edit")
            .is_none()
    );
    assert!(
        tickets
            .delete_from_discord(7100, t0())
            .await
            .expect("delete")
            .is_none()
    );
    let kept = tickets.messages(&customer, id).await.expect("messages");
    let portal = kept.iter().find(|m| m.id == first.id).expect("kept");
    assert_eq!(portal.body, first.body);
    assert!(portal.deleted_at.is_none() && portal.edited_at.is_none());
}

async fn a_lease_taken_over_stops_the_replica_that_lost_it(db: TestDb) {
    let desk = Desk::new(db, config()).await;
    let tickets = &desk.core.tickets;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    let id = desk.open(&customer, "slow Discord").await;
    tickets
        .reply(&support, id, "second", Vec::new())
        .await
        .expect("reply");
    let hold = std::time::Duration::from_secs(30);
    assert!(tickets.sync_lease(id, hold).await.expect("lease").is_some());
    let unsynced = tickets.unsynced_messages(id).await.expect("unsynced");
    assert_eq!(unsynced.len(), 2);
    // Each post renews the lease.
    desk.clock.advance(Duration::seconds(20));
    tickets
        .mark_posted(unsynced[0].id, 7200)
        .await
        .expect("posted");
    desk.clock.advance(Duration::seconds(20));
    let other = Arc::new(desk.db.core_with(config(), desk.clock.clone()).await);
    assert!(
        other
            .tickets
            .sync_lease(id, hold)
            .await
            .expect("lease")
            .is_none(),
        "renewed, so still held"
    );
    // Discord is slow: the lease runs out and another replica takes it.
    desk.clock.advance(Duration::seconds(31));
    assert!(
        other
            .tickets
            .sync_lease(id, hold)
            .await
            .expect("lease")
            .is_some()
    );
    assert_eq!(
        code(&tickets.mark_posted(unsynced[1].id, 7201).await),
        "conflict",
        "the replica that lost the lease stops"
    );
    // After a long outage the bot asks again for every ticket Discord is behind on.
    let before = desk.outbox_on("discord_ticket").await.len();
    assert_eq!(tickets.requeue_unsynced(100).await.expect("requeued"), 1);
    assert_eq!(desk.outbox_on("discord_ticket").await.len(), before + 1);
    // Its release leaves the other replica's lease alone.
    tickets.sync_release(id).await.expect("release");
    assert!(tickets.sync_lease(id, hold).await.expect("lease").is_none());
    other.tickets.sync_release(id).await.expect("release");
    assert!(tickets.sync_lease(id, hold).await.expect("lease").is_some());
}

async fn reopens_at_once_cannot_pass_the_open_ticket_limit(db: TestDb) {
    let mut limited = config();
    limited.tickets.max_open_per_customer = 2;
    let desk = Desk::new(db, limited).await;
    let (_, customer) = desk.person(1, Role::Customer).await;
    let (_, support) = desk.person(2, Role::Support).await;
    desk.open(&customer, "still open").await;
    let mut closed = Vec::new();
    for n in 0..4 {
        let id = desk.open(&customer, &format!("done {n}")).await;
        desk.core
            .tickets
            .close(&support, id, "done")
            .await
            .expect("closed");
        closed.push(id);
    }
    let mut reopens = tokio::task::JoinSet::new();
    for id in closed {
        let core = desk.core.clone();
        let customer = customer.clone();
        reopens.spawn(async move { core.tickets.reopen(&customer, id).await.is_ok() });
    }
    let reopened = reopens.join_all().await;
    assert_eq!(
        reopened.iter().filter(|ok| **ok).count(),
        1,
        "one more fits under the limit of two: {reopened:?}"
    );
}
