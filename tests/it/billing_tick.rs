//! The hourly tick: every complete hour of every billable server billed exactly once, with two
//! replicas ticking together, after downtime, after a tick killed half-way, and with the clock
//! moved back; and each hour priced by the rule its Rust twin (`billing::meter`) states.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use hostdeck_core::billing::TickLimits;
use hostdeck_core::billing::meter::{ServerHistory, hour_cost, usage_key};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::ids::ServerId;
use hostdeck_core::{Actor, Core};
use hostdeck_e2e::billing::{
    SeedServer, assert_balance_after_chains, change_state, customer, execute, insert_servers,
    integers, scalar, sql_time,
};
use hostdeck_e2e::db::TestDb;
use secrecy::SecretString;

hostdeck_e2e::on_both_engines!(
    two_replicas_bill_24_hours_of_500_servers_once,
    five_hours_down_are_billed_once_on_restart,
    catch_up_stops_at_the_limit,
    a_tick_killed_half_way_then_run_again_bills_the_same,
    the_clock_moved_back_makes_no_gap_and_no_duplicate,
    every_hour_is_priced_as_the_rule_says,
    an_hour_posted_outside_the_tick_is_not_billed_again,
    a_server_billed_elsewhere_while_a_batch_runs_is_billed_once,
    a_batch_takes_the_due_servers_whose_hours_fit,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("a time")
}

fn hours(n: i64) -> Duration {
    Duration::hours(n)
}

async fn core_at(db: &TestDb, config: Config, at: DateTime<Utc>) -> (Core, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(at));
    (db.core_with(config, clock.clone()).await, clock)
}

/// A second replica: its own connection pool and clock on the same database.
async fn replica(db: &TestDb, at: DateTime<Utc>) -> (Core, Arc<ManualClock>) {
    replica_at(&db.url, at).await
}

/// A replica on the database at `url`.
async fn replica_at(url: &str, at: DateTime<Utc>) -> (Core, Arc<ManualClock>) {
    let store = hostdeck_core::store::open(&DatabaseConfig {
        url: SecretString::from(url.to_owned()),
        max_connections: 4,
        ..DatabaseConfig::default()
    })
    .await
    .expect("a second store on the same database");
    let clock = Arc::new(ManualClock::new(at));
    let core = Core::new(Config::default(), store, clock.clone())
        .await
        .expect("a second core");
    (core, clock)
}

/// `count` running servers, `per_customer` each, rates varied so remainders matter.
async fn seed(db: &TestDb, core: &Core, count: usize, per_customer: usize) -> Vec<SeedServer> {
    let mut users = Vec::new();
    for n in 0..count.div_ceil(per_customer) {
        users.push(customer(core.store().as_ref(), n, t0()).await.id.0);
    }
    let servers: Vec<SeedServer> = (0..count)
        .map(|i| SeedServer::running(users[i / per_customer], t0(), 5_000_000 + 7_919 * i as i64))
        .collect();
    insert_servers(&db.url, 1, &servers).await;
    servers
}

/// What `hours` complete hours from T0 of these always-running servers cost.
fn expected_total(servers: &[SeedServer], hours: i64) -> i64 {
    servers
        .iter()
        .map(|s| {
            (0..hours)
                .map(|k| hour_cost(s.rate_running, s.rate_hours, k))
                .sum::<i64>()
        })
        .sum()
}

async fn usage_postings(db: &TestDb) -> i64 {
    scalar(
        &db.url,
        "SELECT COUNT(*) FROM postings WHERE kind = 'usage'",
    )
    .await
}

async fn usage_total(db: &TestDb) -> i64 {
    scalar(
        &db.url,
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM postings WHERE kind = 'usage'",
    )
    .await
}

async fn assert_ledger_exact(db: &TestDb, core: &Core) {
    assert!(
        core.ledger
            .discrepancies(&Actor::system())
            .await
            .expect("discrepancies")
            .is_empty(),
        "every wallet balance equals its postings"
    );
    assert_balance_after_chains(&db.url).await;
}

async fn two_replicas_bill_24_hours_of_500_servers_once(db: TestDb) {
    let (a, clock_a) = core_at(&db, Config::default(), t0()).await;
    let (b, clock_b) = replica(&db, t0()).await;
    let servers = seed(&db, &a, 500, 10).await;
    let system = Actor::system();
    let mut reported = 0;
    for hour in 1..=24 {
        for minute in [1, 31] {
            let now = t0() + hours(hour) + Duration::minutes(minute);
            clock_a.set(now);
            clock_b.set(now);
            let (ra, rb) = tokio::join!(
                a.billing.run_once(&system, None),
                b.billing.run_once(&system, None)
            );
            let (ra, rb) = (ra.expect("replica a ticks"), rb.expect("replica b ticks"));
            reported += ra.usage.postings + rb.usage.postings;
            if minute == 1 {
                assert_eq!(
                    ra.usage.postings + rb.usage.postings,
                    500,
                    "hour {hour}: each server billed once between the two replicas"
                );
            } else {
                assert_eq!(ra.usage.postings + rb.usage.postings, 0);
            }
        }
    }
    assert_eq!(reported, 12_000);
    assert_eq!(usage_postings(&db).await, 12_000);
    assert_eq!(usage_total(&db).await, expected_total(&servers, 24));
    let done = format!(
        "SELECT COUNT(*) FROM server_billing WHERE billed_until = {}",
        sql_time(t0() + hours(24))
    );
    assert_eq!(scalar(&db.url, &done).await, 500);
    assert_ledger_exact(&db, &a).await;
    b.store().close().await;
}

async fn five_hours_down_are_billed_once_on_restart(db: TestDb) {
    let (core, clock) = core_at(&db, Config::default(), t0()).await;
    let servers = seed(&db, &core, 20, 4).await;
    let system = Actor::system();
    clock.set(t0() + hours(1) + Duration::minutes(5));
    let first = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(first.usage.postings, 20);
    // Down for five hours: the next tick is at 06:10.
    clock.set(t0() + hours(6) + Duration::minutes(10));
    let restart = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!((restart.usage.servers, restart.usage.postings), (20, 100));
    assert_eq!(restart.usage.skipped_hours, 0);
    let again = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(again.usage.postings, 0);
    for id in 1..=20 {
        for hour in 0..6 {
            let key = usage_key(ServerId(id), t0() + hours(hour));
            assert!(
                core.store()
                    .ledger()
                    .posting_by_key(&key)
                    .await
                    .expect("read")
                    .is_some(),
                "{key} is billed"
            );
        }
    }
    assert_eq!(usage_postings(&db).await, 120);
    assert_eq!(usage_total(&db).await, expected_total(&servers, 6));
    assert_ledger_exact(&db, &core).await;
}

async fn catch_up_stops_at_the_limit(db: TestDb) {
    let mut config = Config::default();
    config.billing.max_catchup_hours = 3;
    let (core, _clock) = core_at(&db, config, t0()).await;
    seed(&db, &core, 4, 2).await;
    let report = core
        .billing
        .run_once(
            &Actor::system(),
            Some(t0() + hours(10) + Duration::minutes(1)),
        )
        .await
        .expect("tick");
    assert_eq!(
        report.usage.postings, 12,
        "the last three hours of four servers"
    );
    assert_eq!(report.usage.skipped_hours, 28);
    assert!(
        report
            .describe(&core.config.billing.currency)
            .contains("28 hour(s)")
    );
    let oldest_billed = usage_key(ServerId(1), t0() + hours(7));
    let skipped = usage_key(ServerId(1), t0() + hours(6));
    assert!(
        core.store()
            .ledger()
            .posting_by_key(&oldest_billed)
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        core.store()
            .ledger()
            .posting_by_key(&skipped)
            .await
            .expect("read")
            .is_none()
    );
    assert_ledger_exact(&db, &core).await;
}

async fn a_tick_killed_half_way_then_run_again_bills_the_same(db: TestDb) {
    let (core, _clock) = core_at(&db, Config::default(), t0()).await;
    let servers = seed(&db, &core, 300, 3).await;
    let now = t0() + hours(5) + Duration::minutes(2);
    let small = TickLimits {
        batch_servers: 40,
        batch_rows: 1_000,
        max_batches: Some(3),
    };
    // A run that stops for good after three committed batches...
    let partial = core
        .billing
        .bill_hours(now, small)
        .await
        .expect("part of a tick");
    assert_eq!(
        (partial.batches, partial.servers, partial.postings),
        (3, 120, 600)
    );
    // ...and one killed half-way, once it has committed a batch of its own, its open
    // transaction lost with its process (here: its own connections, closed).
    // On PostgreSQL its sessions carry a name of their own, to be waited for below.
    let crashing_url = if db.url.starts_with("sqlite:") {
        db.url.clone()
    } else {
        let mut url = url::Url::parse(&db.url).expect("a URL");
        url.query_pairs_mut()
            .append_pair("application_name", "killed-tick");
        url.to_string()
    };
    let (crashing, _) = replica_at(&crashing_url, now).await;
    let billing = crashing.billing.clone();
    let killed = tokio::spawn(async move {
        billing
            .bill_hours(
                now,
                TickLimits {
                    batch_servers: 3,
                    max_batches: None,
                    ..small
                },
            )
            .await
    });
    while usage_postings(&db).await <= 600 && !killed.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    killed.abort();
    let outcome = killed.await;
    assert!(
        outcome.as_ref().is_err_and(|error| error.is_cancelled()),
        "the tick is killed before it is done: {outcome:?}"
    );
    crashing.store().close().await;
    drop(crashing);
    // A process that dies takes its transaction with it. Here its connections are closed and
    // dropped instead, which on PostgreSQL may leave what it sent last (a COMMIT) still to
    // run; wait for its sessions to end, as a restarted process would find them. On SQLite,
    // nobody may hold the write lock any more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut gone = false;
    while !gone && std::time::Instant::now() < deadline {
        gone = if db.url.starts_with("sqlite:") {
            let mut probe = Writer::open(&db.url).await;
            probe.try_run("BEGIN IMMEDIATE; ROLLBACK").await
        } else {
            scalar(
                &db.url,
                "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'killed-tick'",
            )
            .await
                == 0
        };
        if !gone {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
    assert!(
        gone,
        "the killed tick's sessions are still there after 30 s"
    );
    let before = usage_postings(&db).await;
    assert!(
        600 < before && before < 1_500,
        "the killed tick committed some batches but not all: {before} postings"
    );
    let rerun = core
        .billing
        .bill_hours(now, TickLimits::default())
        .await
        .expect("the rerun");
    assert_eq!(
        i64::try_from(rerun.postings).expect("a count"),
        1_500 - before
    );
    assert_eq!(usage_postings(&db).await, 1_500);
    assert_eq!(usage_total(&db).await, expected_total(&servers, 5));
    assert_eq!(
        core.billing
            .bill_hours(now, TickLimits::default())
            .await
            .expect("again")
            .postings,
        0
    );
    assert_ledger_exact(&db, &core).await;
}

async fn the_clock_moved_back_makes_no_gap_and_no_duplicate(db: TestDb) {
    let (core, clock) = core_at(&db, Config::default(), t0()).await;
    let servers = seed(&db, &core, 10, 5).await;
    let system = Actor::system();
    let mut billed = Vec::new();
    for at in [
        t0() + hours(3) + Duration::minutes(5),
        // moved back 30 minutes, into the hour before
        t0() + hours(2) + Duration::minutes(35),
        t0() + hours(3) + Duration::minutes(20),
        t0() + hours(4) + Duration::minutes(1),
    ] {
        clock.set(at);
        billed.push(
            core.billing
                .run_once(&system, None)
                .await
                .expect("tick")
                .usage
                .postings,
        );
    }
    assert_eq!(billed, [30, 0, 0, 10]);
    for id in 1..=10 {
        for hour in 0..4 {
            let key = usage_key(ServerId(id), t0() + hours(hour));
            assert!(
                core.store()
                    .ledger()
                    .posting_by_key(&key)
                    .await
                    .expect("read")
                    .is_some()
            );
        }
    }
    assert_eq!(usage_postings(&db).await, 40);
    assert_eq!(usage_total(&db).await, expected_total(&servers, 4));
    assert_ledger_exact(&db, &core).await;
}

async fn every_hour_is_priced_as_the_rule_says(db: TestDb) {
    let (core, _clock) = core_at(&db, Config::default(), t0()).await;
    let owner = customer(core.store().as_ref(), 1, t0()).await.id.0;
    let at = |h: i64, m: i64| t0() + hours(h) + Duration::minutes(m);
    let base = SeedServer {
        rate_running: 2_000_000,
        rate_stopped: 150_001,
        rate_since: at(0, 20),
        billed_until: at(1, 0),
        created_at: at(0, 20),
        ..SeedServer::running(owner, at(0, 20), 2_000_000)
    };
    let seeds = vec![
        // 1: running throughout, rate snapshot taken mid-hour
        base.clone(),
        // 2: stopped at 02:30, started and stopped again at 04:59
        base.clone(),
        // 3: suspended at 02:10
        SeedServer {
            suspended_at: Some(at(2, 10)),
            ..base.clone()
        },
        // 4: deleted at 03:15
        base.clone(),
        // 5: created at 04:40, its first hour charged at creation
        SeedServer {
            rate_since: at(4, 40),
            created_at: at(4, 40),
            billed_until: at(5, 0),
            ..base.clone()
        },
        // 6 and 7: never made, or still being made: never billed
        SeedServer {
            state: "failed",
            ..base.clone()
        },
        SeedServer {
            state: "creating",
            ..base.clone()
        },
        // 8: stopped throughout, and stopping costs nothing: no postings at all
        SeedServer {
            state: "stopped",
            rate_stopped: 0,
            rate_hours: 1,
            rate_running: 7_000,
            ..base.clone()
        },
        // 9: a cheap hourly rate
        SeedServer {
            rate_hours: 1,
            rate_running: 7_000,
            rate_stopped: 1_000,
            ..base.clone()
        },
    ];
    let ids = insert_servers(&db.url, 1, &seeds).await;
    change_state(&db.url, ids[1], "stopped", at(2, 30)).await;
    change_state(&db.url, ids[1], "running", at(4, 59)).await;
    change_state(&db.url, ids[1], "stopped", at(4, 59)).await;
    execute(
        &db.url,
        &format!(
            "INSERT INTO server_events (server_id, at, state, source) VALUES ({}, {}, 'suspended', 'billing')",
            ids[2],
            sql_time(at(2, 10))
        ),
    )
    .await;
    change_state(&db.url, ids[3], "deleted", at(3, 15)).await;
    execute(
        &db.url,
        &format!(
            "UPDATE servers SET deleted_at = {} WHERE id = {}",
            sql_time(at(3, 15)),
            ids[3]
        ),
    )
    .await;

    let history = |i: usize, billed_until: DateTime<Utc>| {
        let seed = &seeds[i];
        let mut events = vec![(
            seed.created_at,
            if seed.state == "stopped" {
                "stopped"
            } else {
                "running"
            }
            .to_owned(),
        )];
        let mut state = seed.state.to_owned();
        let mut deleted_at = None;
        match i {
            1 => {
                events.push((at(2, 30), "stopped".into()));
                events.push((at(4, 59), "running".into()));
                events.push((at(4, 59), "stopped".into()));
                state = "stopped".into();
            }
            2 => events.push((at(2, 10), "suspended".into())),
            3 => {
                events.push((at(3, 15), "deleted".into()));
                state = "deleted".into();
                deleted_at = Some(at(3, 15));
            }
            _ => {}
        }
        ServerHistory {
            id: ids[i],
            state,
            rate_running: seed.rate_running,
            rate_stopped: seed.rate_stopped,
            rate_hours: seed.rate_hours,
            rate_since: seed.rate_since,
            billed_until: billed_until.max(seed.billed_until),
            created_at: seed.created_at,
            suspended_at: seed.suspended_at,
            deleted_at,
            events,
        }
    };

    let catch_up = i64::from(Config::default().billing.max_catchup_hours);
    let mut expected_count = 0;
    for (now, billed_until) in [(at(8, 10), at(1, 0)), (at(9, 1), at(8, 0))] {
        let report = core
            .billing
            .run_once(&Actor::system(), Some(now))
            .await
            .expect("tick");
        let mut count = 0;
        for (i, id) in ids.iter().enumerate() {
            for charge in history(i, billed_until).charges(now, catch_up) {
                let key = usage_key(*id, charge.hour);
                let posting = core
                    .store()
                    .ledger()
                    .posting_by_key(&key)
                    .await
                    .expect("read")
                    .unwrap_or_else(|| panic!("{key} is billed"));
                assert_eq!(posting.amount.micros(), charge.amount, "{key}");
                count += 1;
            }
        }
        assert_eq!(
            report.usage.postings, count,
            "nothing billed beyond the rule"
        );
        expected_count += count;
    }
    assert_eq!(usage_postings(&db).await, expected_count as i64);
    assert!(
        expected_count > 20,
        "the story bills a fair number of hours"
    );
    assert_ledger_exact(&db, &core).await;
}

/// An hour already posted by someone else (a first hour charged while the tick ran) is left
/// out, and the balances stay exact: the UNIQUE key refuses the batch that posts it, and the
/// batch runs again looking for posted keys.
async fn an_hour_posted_outside_the_tick_is_not_billed_again(db: TestDb) {
    use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
    use hostdeck_core::money::Money;
    use hostdeck_core::policy::Via;

    let (core, clock) = core_at(&db, Config::default(), t0()).await;
    let servers = seed(&db, &core, 6, 3).await;
    let owner = core
        .store()
        .users()
        .user(hostdeck_core::ids::UserId(servers[3].user))
        .await
        .expect("read")
        .expect("the owner")
        .wallet;
    let early = hour_cost(servers[3].rate_running, servers[3].rate_hours, 1);
    core.ledger
        .post(
            &Actor::system(),
            PostingRequest {
                debit: owner,
                credit: core.store().ledger().system_account(SystemAccount::Usage),
                amount: Money::from_micros(early),
                kind: PostingKind::Usage,
                key: usage_key(ServerId(4), t0() + hours(1)),
                reference: Some("server:4".into()),
                memo: None,
                actor_user: None,
                actor_via: Via::System,
                overdraft: Overdraft::Allow,
            },
        )
        .await
        .expect("an hour posted outside the tick");
    clock.set(t0() + hours(2) + Duration::minutes(5));
    let tick = core
        .billing
        .run_once(&Actor::system(), None)
        .await
        .expect("tick");
    // Two hours of six servers, one of them already posted.
    assert_eq!(tick.usage.postings, 11);
    assert_eq!(usage_postings(&db).await, 12);
    assert_eq!(usage_total(&db).await, expected_total(&servers, 2));
    assert_ledger_exact(&db, &core).await;
}

/// Something else (a resize bills a server's own hours) moves a server's `billed_until` while
/// a batch that read it is running: the batch must not bill that server too. The other writer
/// holds the server until the tick's batch has read it and waits for it (PostgreSQL), or holds
/// the database until the tick waits for it (SQLite), then commits.
async fn a_server_billed_elsewhere_while_a_batch_runs_is_billed_once(db: TestDb) {
    let (core, _clock) = core_at(&db, Config::default(), t0()).await;
    let count = 40;
    seed(&db, &core, count, 10).await;
    let now = t0() + hours(1) + Duration::minutes(1);
    let contested = 17;
    let move_it = format!(
        "UPDATE server_billing SET billed_until = {} WHERE server_id = {contested}",
        sql_time(t0() + hours(1))
    );
    let mut other = Writer::open(&db.url).await;
    other.run(other.begin()).await;
    other.run(&move_it).await;

    let billing = core.billing.clone();
    let tick = tokio::spawn(async move { billing.bill_hours(now, TickLimits::default()).await });
    if db.url.starts_with("sqlite:") {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    } else {
        let waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
                       AND wait_event_type = 'Lock'";
        let mut tries = 0;
        while scalar(&db.url, waiting).await == 0 {
            tries += 1;
            assert!(
                tries < 500,
                "the tick never waited for the contested server"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    assert!(!tick.is_finished(), "the tick waits for the other writer");
    other.run("COMMIT").await;

    let totals = tick.await.expect("the tick runs").expect("the tick");
    let posted = integers(
        &db.url,
        "SELECT CAST(SUBSTR(reference, 8) AS BIGINT) FROM postings WHERE kind = 'usage' ORDER BY 1",
    )
    .await;
    let others: Vec<i64> = (1..=count as i64).filter(|id| *id != contested).collect();
    assert_eq!(
        posted, others,
        "every server billed once, the contested one by the other writer"
    );
    assert_eq!(totals.postings as usize, posted.len());
    assert_ledger_exact(&db, &core).await;
}

/// A connection of its own, to hold a transaction open while the tick runs.
enum Writer {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Writer {
    async fn open(url: &str) -> Self {
        use sqlx::Connection;
        if url.starts_with("sqlite:") {
            Self::Sqlite(sqlx::SqliteConnection::connect(url).await.expect("connect"))
        } else {
            Self::Postgres(sqlx::PgConnection::connect(url).await.expect("connect"))
        }
    }

    fn begin(&self) -> &'static str {
        match self {
            Self::Sqlite(_) => "BEGIN IMMEDIATE",
            Self::Postgres(_) => "BEGIN",
        }
    }

    async fn run(&mut self, sql: &str) {
        self.execute(sql)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Whether `sql` ran.
    async fn try_run(&mut self, sql: &str) -> bool {
        self.execute(sql).await.is_ok()
    }

    async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Self::Sqlite(connection) => sqlx::raw_sql(sql).execute(connection).await.map(|_| ()),
            Self::Postgres(connection) => sqlx::raw_sql(sql).execute(connection).await.map(|_| ()),
        }
    }
}

/// After downtime, a window's due servers owe more hours than one batch posts: each batch
/// takes them in id order while their hours fit, always at least one, and skips servers that
/// are not due.
async fn a_batch_takes_the_due_servers_whose_hours_fit(db: TestDb) {
    let (core, _clock) = core_at(&db, Config::default(), t0()).await;
    let servers = seed(&db, &core, 10, 2).await;
    execute(
        &db.url,
        "UPDATE servers SET state = 'creating' WHERE id = 4",
    )
    .await;
    let due: Vec<SeedServer> = servers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, s)| s.clone())
        .collect();
    let limits = |rows| TickLimits {
        batch_servers: 100,
        batch_rows: rows,
        max_batches: None,
    };
    // Five hours each, twelve rows a batch: two servers a batch, the last one alone.
    let first = core
        .billing
        .bill_hours(t0() + hours(5) + Duration::minutes(1), limits(12))
        .await
        .expect("tick");
    assert_eq!((first.batches, first.servers, first.postings), (5, 9, 45));
    assert_eq!(first.amount.micros(), expected_total(&due, 5));
    // Five more hours each, three rows a batch: a server that owes more than a batch posts
    // is still billed, alone.
    let second = core
        .billing
        .bill_hours(t0() + hours(10) + Duration::minutes(1), limits(3))
        .await
        .expect("tick");
    assert_eq!(
        (second.batches, second.servers, second.postings),
        (9, 9, 45)
    );
    assert_eq!(usage_total(&db).await, expected_total(&due, 10));
    let creating = "SELECT COUNT(*) FROM postings WHERE reference = 'server:4'";
    assert_eq!(scalar(&db.url, creating).await, 0);
    assert_ledger_exact(&db, &core).await;
}
