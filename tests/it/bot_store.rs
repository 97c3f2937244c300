//! The Discord tables on both engines: a link code works once even when redeemed twice at the
//! same moment, links replace each other, a credit request is stored once per key and decided
//! once, and the burn rate reads only servers that are not deleted.

use chrono::{Duration, Utc};
use hostdeck_core::Role;
use hostdeck_core::email::Email;
use hostdeck_core::money::Money;
use hostdeck_core::store::discord::{CreditDecision, DiscordLink, NewCreditRequest};
use hostdeck_core::users::NewUser;
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;

on_both_engines!(discord_links_codes_and_credit_requests);

async fn discord_links_codes_and_credit_requests(db: TestDb) {
    let store = db.store.clone();
    let now = Utc::now();
    let new_user = |email: &str| NewUser {
        email: Email::parse(email).expect("email"),
        role: Role::Customer,
        password_hash: None,
        email_verified: true,
    };
    let ann = store
        .users()
        .insert_user(&new_user("ann@example.com"), now)
        .await
        .expect("ann");
    let ben = store
        .users()
        .insert_user(&new_user("ben@example.com"), now)
        .await
        .expect("ben");
    let discord = store.discord();

    // A code is used once, even by two redemptions at once; an expired one never.
    discord
        .insert_link_code(ann.id, "hash-1", now, now + Duration::minutes(10))
        .await
        .expect("a code");
    let (first, second) = tokio::join!(
        discord.redeem_link_code("hash-1", now),
        discord.redeem_link_code("hash-1", now)
    );
    let winners: Vec<_> = [first.expect("redeem"), second.expect("redeem")]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(winners, vec![ann.id]);
    discord
        .insert_link_code(ben.id, "hash-2", now, now + Duration::minutes(10))
        .await
        .expect("a code");
    assert_eq!(
        discord
            .redeem_link_code("hash-2", now + Duration::minutes(11))
            .await
            .expect("redeem"),
        None
    );
    // A new code ends the earlier one.
    discord
        .insert_link_code(ben.id, "hash-3", now, now + Duration::minutes(10))
        .await
        .expect("a code");
    assert_eq!(
        discord
            .redeem_link_code("hash-2", now)
            .await
            .expect("redeem"),
        None
    );

    // Links: one Discord user per account, replaced on relinking.
    let link = |discord_user_id: u64, user| DiscordLink {
        discord_user_id,
        user,
        discord_name: format!("d{discord_user_id}"),
        linked_at: now,
    };
    discord
        .link_discord(&link(900_000_000_000_000_001, ann.id))
        .await
        .expect("link");
    let (found, user) = discord
        .link_of_discord_user(900_000_000_000_000_001)
        .await
        .expect("read")
        .expect("linked");
    assert_eq!(
        (found.user, user.email.as_str()),
        (ann.id, "ann@example.com")
    );
    discord
        .link_discord(&link(900_000_000_000_000_002, ann.id))
        .await
        .expect("relink");
    assert!(
        discord
            .link_of_discord_user(900_000_000_000_000_001)
            .await
            .expect("read")
            .is_none()
    );
    assert_eq!(discord.count_discord_links().await.expect("count"), 1);
    assert_eq!(
        discord.unlink_account(ann.id).await.expect("unlink"),
        Some(900_000_000_000_000_002)
    );
    assert_eq!(
        discord
            .unlink_discord_user(900_000_000_000_000_002)
            .await
            .expect("unlink"),
        None
    );

    // A credit request is stored once per key and decided once.
    let request = NewCreditRequest {
        idempotency_key: "discord:77".into(),
        requested_by: 42,
        customer: ben.id,
        amount: Money::from_micros(-1_500_000),
        reason: "duplicate charge".into(),
        created_at: now,
        expires_at: now + Duration::minutes(15),
    };
    let stored = discord
        .insert_credit_request(&request)
        .await
        .expect("store");
    let again = discord
        .insert_credit_request(&NewCreditRequest {
            reason: "another reason".into(),
            ..request.clone()
        })
        .await
        .expect("store again");
    assert_eq!(stored, again);
    assert_eq!(stored.amount, Money::from_micros(-1_500_000));
    assert!(
        discord
            .decide_credit_request(stored.id, CreditDecision::Posted, Some(5), now)
            .await
            .expect("decide")
    );
    assert!(
        !discord
            .decide_credit_request(stored.id, CreditDecision::Cancelled, None, now)
            .await
            .expect("decide again")
    );
    let decided = discord
        .credit_request(stored.id)
        .await
        .expect("read")
        .expect("found");
    assert_eq!(decided.decision, Some(CreditDecision::Posted));
    assert_eq!(decided.posting_id, Some(5));

    // Rates of live servers only.
    for (key, state, deleted) in [
        ("a", "running", false),
        ("b", "stopped", false),
        ("c", "running", true),
    ] {
        db.raw(&format!(
            "INSERT INTO servers (user_id, provider, create_key, name, hostname, plan, vcpus, \
             memory_mib, disk_gib, image, state, rate_running, rate_stopped, rate_hours, \
             rate_since, created_at, state_changed_at, deleted_at) VALUES \
             ({}, 'sandbox', '{key}', 'n', 'h', 'p', 1, 1, 1, 'i', '{state}', 730, 73, 730, \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', {});\n\
             INSERT INTO server_billing (server_id, billed_until) \
             SELECT id, '2026-01-01T00:00:00Z' FROM servers WHERE create_key = '{key}'",
            ben.id,
            if deleted {
                "'2026-01-02T00:00:00Z'"
            } else {
                "NULL"
            }
        ))
        .await
        .expect("a server");
    }
    let rate = hostdeck_core::burn_rate::burn_rate_of(store.as_ref(), ben.id)
        .await
        .expect("burn rate");
    // 1 micro an hour running + 0.1 stopped.
    assert_eq!(rate.per_hour(), Money::from_micros(2));
    assert_eq!(rate.hours_left(Money::from_micros(11)), Some(10));
}
