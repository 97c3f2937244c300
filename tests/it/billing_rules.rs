//! Credit and the balance rules: sign-up and monthly free credit once each; a customer whose
//! server runs their balance down is told when it runs low, warned below zero, reminded,
//! suspended after the grace period, and unsuspended by a top-up; every step once, by email,
//! in the audit log.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use hostdeck_core::billing::{BillingSuspension, grant_signup_credit};
use hostdeck_core::clock::ManualClock;
use hostdeck_core::config::{Config, DatabaseConfig};
use hostdeck_core::email::Email;
use hostdeck_core::ids::UserId;
use hostdeck_core::ledger::{Overdraft, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::store::Page;
use hostdeck_core::users::NewUser;
use hostdeck_core::{Actor, Core, ErrorCode, Role, Via};
use hostdeck_e2e::billing::{SeedServer, assert_balance_after_chains, customer, insert_servers};
use hostdeck_e2e::db::TestDb;
use secrecy::SecretString;

hostdeck_e2e::on_both_engines!(
    verifying_an_email_gives_the_signup_credit_once,
    free_credit_is_given_once_per_customer_and_month,
    a_balance_run_down_walks_every_step_once,
    low_is_decided_at_the_exact_rate_shown_to_the_customer,
);

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0)
        .single()
        .expect("a time")
}

fn money(text: &str) -> Money {
    Money::parse(text).expect("an amount")
}

fn config() -> Config {
    let mut config = Config::default();
    config.billing.signup_credit = money("2.50");
    config.billing.monthly_free_credit = money("1.00");
    config.billing.low_balance_hours = 10;
    config.billing.grace_hours = 4;
    config
}

async fn verifying_an_email_gives_the_signup_credit_once(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t0()));
    let core = db.core_with(config(), clock.clone()).await;
    let client = hostdeck_core::identity::Client {
        address: "127.0.0.1".into(),
        user_agent: "tests".into(),
    };
    core.identity
        .register(
            "dana@example.com",
            SecretString::from("a long and unguessable passphrase".to_owned()),
            &client,
        )
        .await
        .expect("registered");
    let sent = core
        .store()
        .outbox()
        .claim_outbox(t0(), t0() + Duration::minutes(1), 10)
        .await
        .expect("the outbox");
    let code = sent
        .iter()
        .find_map(|message| hostdeck_e2e::mail::code_in(message.payload["text"].as_str()?, 6))
        .expect("a verification code in the email");
    let dana = core
        .identity
        .verify_email("dana@example.com", &code, &client)
        .await
        .expect("verified");
    assert!(
        core.identity
            .verify_email("dana@example.com", &code, &client)
            .await
            .is_err()
    );
    assert_eq!(
        core.store()
            .ledger()
            .account_balance(dana.wallet)
            .await
            .expect("balance"),
        money("2.50")
    );
    let credit = core
        .store()
        .ledger()
        .posting_by_key(&format!("signup:{}", dana.id))
        .await
        .expect("read")
        .expect("the sign-up credit");
    assert_eq!(credit.kind, PostingKind::SignupCredit);
}

async fn free_credit_is_given_once_per_customer_and_month(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t0()));
    let core = db.core_with(config(), clock.clone()).await;
    let store = core.store().as_ref();
    let alice = customer(store, 0, t0()).await;
    let unverified = store
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse("new@example.com").expect("email"),
                role: Role::Customer,
                password_hash: None,
                email_verified: false,
            },
            t0(),
        )
        .await
        .expect("user");
    let staff = store
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse("support@example.com").expect("email"),
                role: Role::Support,
                password_hash: None,
                email_verified: true,
            },
            t0(),
        )
        .await
        .expect("user");
    for n in 1..=30 {
        customer(store, n, t0()).await;
    }

    for _ in 0..2 {
        grant_signup_credit(store, &core.config, &alice, t0())
            .await
            .expect("sign-up credit");
    }
    let none = grant_signup_credit(store, &core.config, &staff, t0())
        .await
        .expect("no sign-up credit for staff");
    assert!(none.is_none());
    let signup = store
        .ledger()
        .posting_by_key(&format!("signup:{}", alice.id))
        .await
        .expect("read")
        .expect("the sign-up credit");
    assert_eq!(
        (signup.kind, signup.amount),
        (PostingKind::SignupCredit, money("2.50"))
    );

    // Two replicas at the turn of the month: every verified customer credited once.
    let second = hostdeck_core::store::open(&DatabaseConfig {
        url: SecretString::from(db.url.clone()),
        max_connections: 4,
        ..DatabaseConfig::default()
    })
    .await
    .expect("a second store");
    let replica = Core::new(config(), second, clock.clone())
        .await
        .expect("a replica");
    let system = Actor::system();
    let (a, b) = tokio::join!(
        core.billing.run_once(&system, None),
        replica.billing.run_once(&system, None)
    );
    assert_eq!(
        a.expect("tick").monthly_credits + b.expect("tick").monthly_credits,
        31
    );
    let again = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(again.monthly_credits, 0, "once a month");
    clock.set(
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 5, 0)
            .single()
            .expect("a time"),
    );
    let december = core.billing.run_once(&system, None).await.expect("tick");
    assert_eq!(december.monthly_credits, 31);

    for month in ["2026-11", "2026-12"] {
        let key = format!("free:{}:{month}", alice.id);
        let posting = store
            .ledger()
            .posting_by_key(&key)
            .await
            .expect("read")
            .expect(&key);
        assert_eq!(posting.kind, PostingKind::FreeCredit);
        assert!(posting.credit_balance_after.is_some());
    }
    for nobody in [unverified.id, staff.id] {
        let key = format!("free:{nobody}:2026-11");
        assert!(
            store
                .ledger()
                .posting_by_key(&key)
                .await
                .expect("read")
                .is_none()
        );
    }
    let key = format!("signup:{}", staff.id);
    assert!(
        store
            .ledger()
            .posting_by_key(&key)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(
        store
            .ledger()
            .account_balance(alice.wallet)
            .await
            .expect("balance"),
        money("4.50")
    );
    assert!(
        core.ledger
            .discrepancies(&system)
            .await
            .expect("read")
            .is_empty()
    );
    assert_balance_after_chains(&db.url).await;
    replica.store().close().await;
}

/// Records what billing asked the server service to do.
#[derive(Default)]
struct Recorder(Mutex<Vec<(&'static str, UserId)>>);

impl Recorder {
    fn calls(&self) -> Vec<(&'static str, UserId)> {
        self.0.lock().expect("lock").clone()
    }
}

#[async_trait::async_trait]
impl BillingSuspension for Recorder {
    async fn suspend_all_for_billing(&self, user: UserId) -> hostdeck_core::Result<usize> {
        self.0.lock().expect("lock").push(("suspend", user));
        Ok(1)
    }

    async fn unsuspend_billing(&self, user: UserId) -> hostdeck_core::Result<usize> {
        self.0.lock().expect("lock").push(("unsuspend", user));
        Ok(1)
    }
}

async fn a_balance_run_down_walks_every_step_once(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut config = config();
    config.billing.monthly_free_credit = Money::ZERO;
    let core = db.core_with(config, clock.clone()).await;
    let store = core.store().clone();
    let carol = customer(store.as_ref(), 0, t0()).await;
    let other = customer(store.as_ref(), 1, t0()).await;
    // 1.00 an hour, exactly.
    let server = SeedServer {
        rate_running: 730_000_000,
        ..SeedServer::running(carol.id.0, t0(), 730_000_000)
    };
    insert_servers(&db.url, 1, &[server]).await;
    let top_up = |amount: &str, key: &str| {
        hostdeck_e2e::paypal::top_up(store.as_ref(), carol.wallet, money(amount), key)
    };
    let system = Actor::system();
    core.ledger
        .post(&system, top_up("12.00", "paypal:capture:1"))
        .await
        .expect("top-up");
    let recorder = Arc::new(Recorder::default());
    let billing = core.billing.with_suspension(recorder.clone());
    let mut steps = Vec::new();
    for hour in 1..=18 {
        clock.set(t0() + Duration::hours(hour) + Duration::minutes(1));
        let report = billing.run_once(&system, None).await.expect("tick");
        for step in report.steps {
            steps.push((hour, step.step, step.balance));
        }
        if hour == 14 {
            let standing = core
                .billing
                .standing(&Actor::user(carol.id, Role::Customer, Via::Portal), &carol)
                .await
                .expect("her own standing");
            assert_eq!(standing.balance, money("-2.00"));
            assert_eq!(standing.burn_per_hour, money("1.00"));
            assert_eq!(
                standing.suspend_at,
                Some(t0() + Duration::hours(17) + Duration::minutes(1))
            );
            let error = core
                .billing
                .standing(&Actor::user(other.id, Role::Customer, Via::Portal), &carol)
                .await
                .expect_err("not someone else's");
            assert_eq!(error.code(), ErrorCode::Forbidden);
        }
    }
    assert_eq!(
        steps,
        [
            (3, "low balance notice", money("9.00")),
            (13, "below zero warning", money("-1.00")),
            (15, "below zero reminder", money("-3.00")),
            (17, "servers suspended", money("-5.00")),
        ]
    );
    assert_eq!(recorder.calls(), [("suspend", carol.id)]);

    // A top-up back over zero lifts the suspension, once.
    core.ledger
        .post(&system, top_up("50.00", "paypal:capture:2"))
        .await
        .expect("top-up");
    clock.set(t0() + Duration::hours(18) + Duration::minutes(30));
    let report = billing.run_once(&system, None).await.expect("tick");
    assert_eq!(report.steps.len(), 1);
    assert_eq!(report.steps[0].step, "recovered");
    let again = billing.run_once(&system, None).await.expect("tick");
    assert!(again.steps.is_empty());
    assert_eq!(
        recorder.calls(),
        [("suspend", carol.id), ("unsuspend", carol.id)]
    );
    let standing = core
        .billing
        .standing(&system, &carol)
        .await
        .expect("standing");
    assert!(!standing.suspended && standing.negative_since.is_none());

    // One email per step, to her.
    assert_eq!(store.outbox().outbox_pending().await.expect("outbox"), 5);
    let audit = core
        .audit
        .list(&system, Page::first(100))
        .await
        .expect("audit");
    let actions: Vec<&str> = audit
        .items
        .iter()
        .filter(|entry| entry.target.as_deref() == Some(&format!("user:{}", carol.id)))
        .map(|entry| entry.action.as_str())
        .collect();
    for action in [
        "billing.low_balance_notice",
        "billing.below_zero_warning",
        "billing.below_zero_reminder",
        "billing.servers_suspended",
        "billing.recovered",
    ] {
        assert_eq!(
            actions.iter().filter(|a| **a == action).count(),
            1,
            "{action} audited once"
        );
    }
    assert!(
        core.ledger
            .discrepancies(&system)
            .await
            .expect("read")
            .is_empty()
    );
    assert_balance_after_chains(&db.url).await;
}

/// A $2/730h server burns 2739.726... micros an hour. Ten hours of it are 27_397.26 micros:
/// 27_395 lasts 9 whole hours (low), 27_398 lasts 10 (not low). A rate rounded down per server
/// (2_739) would call neither low; the notice, `/balance` and the portal must agree.
async fn low_is_decided_at_the_exact_rate_shown_to_the_customer(db: TestDb) {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut config = config();
    config.billing.monthly_free_credit = Money::ZERO;
    let core = db.core_with(config, clock.clone()).await;
    let store = core.store().clone();
    let low = customer(store.as_ref(), 0, t0()).await;
    let enough = customer(store.as_ref(), 1, t0()).await;
    let two_dollars = |user: i64| SeedServer {
        rate_stopped: 0,
        ..SeedServer::running(user, t0(), 2_000_000)
    };
    insert_servers(
        &db.url,
        1,
        &[two_dollars(low.id.0), two_dollars(enough.id.0)],
    )
    .await;
    let system = Actor::system();
    for (user, amount, key) in [
        (&low, "0.027395", "grant:low"),
        (&enough, "0.027398", "grant:enough"),
    ] {
        core.ledger
            .post(
                &system,
                PostingRequest {
                    debit: store.ledger().system_account(SystemAccount::Promotions),
                    credit: user.wallet,
                    amount: money(amount),
                    kind: PostingKind::Adjustment,
                    key: key.to_owned(),
                    reference: None,
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Allow,
                },
            )
            .await
            .expect("credit");
    }

    let now = t0() + Duration::minutes(30);
    let steps = core
        .billing
        .apply_balance_rules(now)
        .await
        .expect("the balance rules");
    let taken: Vec<(UserId, &str)> = steps.iter().map(|step| (step.user, step.step)).collect();
    assert_eq!(taken, [(low.id, "low balance notice")]);

    let standing = core
        .billing
        .standing(&system, &low)
        .await
        .expect("standing");
    assert_eq!(
        (
            standing.burn_per_hour,
            standing.hours_left,
            standing.low_balance
        ),
        (money("0.00274"), Some(9), true)
    );
    let standing = core
        .billing
        .standing(&system, &enough)
        .await
        .expect("standing");
    assert_eq!(
        (
            standing.burn_per_hour,
            standing.hours_left,
            standing.low_balance
        ),
        (money("0.00274"), Some(10), false)
    );

    let sent = store
        .outbox()
        .claim_outbox(now, now + Duration::minutes(1), 10)
        .await
        .expect("the outbox");
    let texts: Vec<&str> = sent
        .iter()
        .filter_map(|message| message.payload["text"].as_str())
        .collect();
    assert_eq!(texts.len(), 1, "one notice: {texts:?}");
    assert!(
        texts[0].contains("about $0.00274 an hour, so this lasts about 9 more hour(s)"),
        "the notice shows the figures /balance shows: {}",
        texts[0]
    );
}
