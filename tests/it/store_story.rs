//! The store story: accounts, wallets, postings, audit and pagination, told once and run on
//! both engines.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use hostdeck_core::audit::AuditEntry;
use hostdeck_core::clock::{Clock, ManualClock};
use hostdeck_core::email::Email;
use hostdeck_core::ledger::{Overdraft, PostOutcome, PostingKind, PostingRequest, SystemAccount};
use hostdeck_core::money::Money;
use hostdeck_core::store::Page;
use hostdeck_core::users::{NewAccount, NewUser, User};
use hostdeck_core::{Actor, ErrorCode, Role, Via};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use secrecy::SecretString;

on_both_engines!(
    accounts_wallets_postings_and_audit,
    ledger_rules_hold_in_the_schema
);

fn usd(text: &str) -> Money {
    Money::parse(text).expect("an amount")
}

fn top_up(
    wallet: &User,
    amount: &str,
    key: &str,
    paypal: hostdeck_core::ids::AccountId,
) -> PostingRequest {
    PostingRequest {
        debit: paypal,
        credit: wallet.wallet,
        amount: usd(amount),
        kind: PostingKind::TopUp,
        key: key.to_owned(),
        reference: Some(format!("capture-{key}")),
        memo: None,
        actor_user: None,
        actor_via: Via::System,
        overdraft: Overdraft::Forbid,
    }
}

async fn accounts_wallets_postings_and_audit(db: TestDb) {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
            .single()
            .expect("a time"),
    ));
    let core = db.core(clock.clone()).await;
    let system = Actor::system();

    // An operator creates a billing clerk; Alice signs up as a customer.
    let clerk = core
        .users
        .create(
            &Actor::cli(),
            NewAccount {
                email: Email::parse("Clerk@Example.com").expect("email"),
                role: Role::Billing,
                password: SecretString::from("a long clerk password"),
                email_verified: true,
            },
        )
        .await
        .expect("create the clerk");
    let alice = core
        .store()
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse("alice@example.com").expect("email"),
                role: Role::Customer,
                password_hash: None,
                email_verified: false,
            },
            clock.now(),
        )
        .await
        .expect("create alice");
    assert_eq!(alice.role, Role::Customer);
    assert!(alice.email_verified_at.is_none());

    // The same address in another case is the same person.
    let again = core
        .store()
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse("ALICE@Example.COM").expect("email"),
                role: Role::Customer,
                password_hash: None,
                email_verified: false,
            },
            clock.now(),
        )
        .await
        .expect_err("a second account for alice");
    assert_eq!(again.code(), ErrorCode::Conflict);
    let found = core
        .store()
        .users()
        .user_by_email(&Email::parse("Alice@EXAMPLE.com").expect("email"))
        .await
        .expect("look up")
        .expect("alice is found whatever the case");
    assert_eq!(found.id, alice.id);

    // Staff list users, a page at a time; the search is literal.
    let clerk_actor = Actor::user(clerk.id, Role::Billing, Via::Portal).with_two_factor();
    let page_two = core
        .users
        .list(
            &clerk_actor,
            Some("EXAMPLE"),
            Page::new(2, 1).expect("page"),
        )
        .await
        .expect("list");
    assert_eq!(
        (page_two.total, page_two.items.len(), page_two.pages()),
        (2, 1, 2)
    );
    assert_eq!(page_two.items[0].id, alice.id);
    let literal = core
        .users
        .list(&clerk_actor, Some("%"), Page::default())
        .await
        .expect("list");
    assert_eq!(literal.total, 0, "a % in the search is not a wildcard");
    let alice_actor = Actor::user(alice.id, Role::Customer, Via::Portal);
    let refused = core
        .users
        .list(&alice_actor, None, Page::default())
        .await
        .expect_err("customers cannot list");
    assert_eq!(refused.code(), ErrorCode::Forbidden);

    // Alice tops up 10.00 through PayPal, and the webhook replays it: one posting.
    let paypal = core.ledger.system_account(SystemAccount::Paypal);
    let first = core
        .ledger
        .post(&system, top_up(&alice, "10.00", "cap-1", paypal))
        .await
        .expect("top up");
    assert!(first.is_new());
    clock.advance(chrono::Duration::minutes(5));
    let replay = core
        .ledger
        .post(&system, top_up(&alice, "10.00", "cap-1", paypal))
        .await
        .expect("replay");
    assert_eq!(replay, PostOutcome::Replayed(first.posting().clone()));
    let changed = core
        .ledger
        .post(&system, top_up(&alice, "12.00", "cap-1", paypal))
        .await
        .expect_err("same key, other amount");
    assert_eq!(changed.code(), ErrorCode::Conflict);
    assert_eq!(
        core.ledger
            .balance(&alice_actor, &alice)
            .await
            .expect("balance"),
        usd("10.00")
    );

    // Three hours of a server, one of them allowed to run into overdraft later.
    let usage = core.ledger.system_account(SystemAccount::Usage);
    for hour in 0..3 {
        let request = PostingRequest {
            debit: alice.wallet,
            credit: usage,
            amount: usd("0.006849"),
            kind: PostingKind::Usage,
            key: format!("usage:1:{hour}"),
            reference: Some("server:1".into()),
            memo: None,
            actor_user: None,
            actor_via: Via::System,
            overdraft: Overdraft::Allow,
        };
        core.ledger.post(&system, request).await.expect("usage");
    }
    assert_eq!(
        core.ledger
            .balance(&alice_actor, &alice)
            .await
            .expect("balance"),
        usd("9.979453")
    );

    // Taking away more than she has, without overdraft, is refused and changes nothing.
    let too_much = core
        .ledger
        .adjust(&clerk_actor, &alice, usd("-20"), "chargeback", "too-much")
        .await
        .expect_err("not enough credit");
    assert_eq!(too_much.code(), ErrorCode::Conflict);
    assert!(
        too_much.to_string().contains("Not enough credit"),
        "{too_much}"
    );

    // The clerk adds goodwill credit with a reason; Alice herself may not.
    let goodwill = core
        .ledger
        .adjust(
            &clerk_actor,
            &alice,
            usd("5"),
            "outage on 1 March",
            "interaction-77",
        )
        .await
        .expect("adjust");
    assert!(goodwill.is_new());
    let twice = core
        .ledger
        .adjust(
            &clerk_actor,
            &alice,
            usd("5"),
            "outage on 1 March",
            "interaction-77",
        )
        .await
        .expect("replayed adjustment");
    assert!(!twice.is_new(), "the same interaction posts once");
    let denied = core
        .ledger
        .adjust(&alice_actor, &alice, usd("100"), "please", "self")
        .await
        .expect_err("customers cannot adjust");
    assert_eq!(denied.code(), ErrorCode::Forbidden);

    // Her statement: newest first, signed amounts, the balance after each line, in pages.
    let statement = core
        .ledger
        .statement(&alice_actor, &alice, Page::new(1, 2).expect("page"))
        .await
        .expect("statement");
    assert_eq!(statement.total, 5);
    assert_eq!(statement.items[0].kind, PostingKind::Adjustment);
    assert_eq!(statement.items[0].amount, usd("5"));
    assert_eq!(statement.items[0].balance_after, Some(usd("14.979453")));
    assert_eq!(statement.items[1].amount, usd("-0.006849"));
    let last_page = core
        .ledger
        .statement(&alice_actor, &alice, Page::new(3, 2).expect("page"))
        .await
        .expect("statement");
    assert_eq!(last_page.items.len(), 1);
    assert_eq!(last_page.items[0].kind, PostingKind::TopUp);
    assert_eq!(last_page.items[0].balance_after, Some(usd("10")));
    let other = core
        .ledger
        .statement(
            &Actor::user(clerk.id, Role::Customer, Via::Portal),
            &alice,
            Page::default(),
        )
        .await;
    assert_eq!(other.expect_err("not hers").code(), ErrorCode::Forbidden);

    // The books balance.
    assert!(
        core.ledger
            .discrepancies(&system)
            .await
            .expect("check")
            .is_empty()
    );
    assert_eq!(
        core.store().ledger().count_postings().await.expect("count"),
        5
    );
    let by_key = core
        .store()
        .ledger()
        .posting_by_key("cap-1")
        .await
        .expect("read")
        .expect("posted");
    assert_eq!(by_key.id, first.posting().id);

    // The audit log says who did what, through which door, newest first.
    core.audit
        .record(
            AuditEntry::new(&alice_actor, "profile.update").target(format!("user:{}", alice.id)),
        )
        .await
        .expect("audit");
    let admin = Actor::user(clerk.id, Role::Admin, Via::Portal).with_two_factor();
    let log = core
        .audit
        .list(&admin, Page::new(1, 10).expect("page"))
        .await
        .expect("audit log");
    let actions: Vec<_> = log
        .items
        .iter()
        .map(|entry| entry.action.as_str())
        .collect();
    assert_eq!(actions, ["profile.update", "credits.adjust", "user.create"]);
    assert_eq!(log.items[1].actor_user, Some(clerk.id));
    assert_eq!(log.items[1].via, "portal");
    assert_eq!(
        log.items[1]
            .detail
            .as_ref()
            .and_then(|d| d["reason"].as_str()),
        Some("outage on 1 March")
    );
    assert_eq!(log.items[2].via, "cli");
    let log_page_two = core
        .audit
        .list(&admin, Page::new(2, 2).expect("page"))
        .await
        .expect("audit log");
    assert_eq!((log_page_two.total, log_page_two.items.len()), (3, 1));
    let refused = core
        .audit
        .list(&clerk_actor, Page::default())
        .await
        .expect_err("billing cannot read the audit log");
    assert_eq!(refused.code(), ErrorCode::Forbidden);

    // An admin promotes Alice; nobody can demote themselves out of admin.
    let promoted = core
        .users
        .set_role(&admin, alice.id, Role::Support)
        .await
        .expect("promote");
    assert_eq!(promoted.role, Role::Support);
    assert_eq!(
        core.users
            .count_with_role(Role::Support)
            .await
            .expect("count"),
        1
    );
}

async fn ledger_rules_hold_in_the_schema(db: TestDb) {
    let core = db.core_now().await;
    let alice = core
        .store()
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse("alice@example.com").expect("email"),
                role: Role::Customer,
                password_hash: None,
                email_verified: true,
            },
            Utc::now(),
        )
        .await
        .expect("alice");
    let paypal = core.ledger.system_account(SystemAccount::Paypal);
    core.ledger
        .post(&Actor::system(), top_up(&alice, "1", "k1", paypal))
        .await
        .expect("post");

    // Postings are append-only, whatever reaches the database.
    assert!(
        db.raw("UPDATE postings SET amount = 1").await.is_err(),
        "postings cannot be changed"
    );
    assert!(
        db.raw("DELETE FROM postings").await.is_err(),
        "postings cannot be deleted"
    );
    assert!(db.raw("INSERT INTO postings (debit_account, credit_account, amount, kind, idempotency_key, actor_via, created_at) VALUES (1, 1, 5, 'x', 'y', 'system', '2026-01-01T00:00:00Z')").await.is_err(), "no posting from an account to itself");
    assert_eq!(
        core.store().ledger().count_postings().await.expect("count"),
        1
    );

    // Bad requests never reach the database.
    for (request, field) in [
        (
            PostingRequest {
                amount: Money::ZERO,
                ..top_up(&alice, "1", "k2", paypal)
            },
            "amount",
        ),
        (
            PostingRequest {
                credit: paypal,
                ..top_up(&alice, "1", "k3", paypal)
            },
            "credit",
        ),
        (
            PostingRequest {
                key: " ".into(),
                ..top_up(&alice, "1", "k4", paypal)
            },
            "key",
        ),
    ] {
        let error = core
            .ledger
            .post(&Actor::system(), request)
            .await
            .expect_err("invalid");
        assert!(
            matches!(error, hostdeck_core::Error::Invalid { field: Some(f), .. } if f == field),
            "{error:?}"
        );
    }
    // People cannot post raw entries, whatever their role.
    let admin = Actor::user(alice.id, Role::Admin, Via::Api).with_two_factor();
    let error = core
        .ledger
        .post(&admin, top_up(&alice, "1", "k5", paypal))
        .await
        .expect_err("platform only");
    assert_eq!(error.code(), ErrorCode::Forbidden);
}
