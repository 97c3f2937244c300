//! The rules of `/credits` and `/link` in core, on both engines: a confirm racing a cancel
//! ends one way and the ledger agrees, a cancelled or expired request posts nothing, only the
//! staff member who asked may decide, taking credit away never leaves a negative balance, and
//! link codes are throttled.

use std::sync::Arc;

use chrono::Utc;
use hostdeck_core::clock::ManualClock;
use hostdeck_core::discord_links::{
    CREDIT_REQUEST_TTL, DiscordMember, LINK_CODE_TTL, MemberAccess,
};
use hostdeck_core::email::Email;
use hostdeck_core::error::Error;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::money::Money;
use hostdeck_core::store::Page;
use hostdeck_core::store::discord::CreditDecision;
use hostdeck_core::users::{NewUser, User};
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::bot::{BILLING_ROLE, GUILD};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use secrecy::ExposeSecret;

on_both_engines!(
    confirm_and_cancel_end_one_way,
    credit_requests_are_decided_by_their_rules
);

struct Story {
    core: Core,
    clock: Arc<ManualClock>,
    customer: User,
}

async fn story(db: &TestDb) -> Story {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let mut config = hostdeck_e2e::bot::config("http://127.0.0.1:9/", "unused");
    config.discord.token = None;
    let core = db.core_with(config, clock.clone()).await;
    let customer = link(&core, "carl@example.com", Role::Customer, 3200).await;
    for (email, id) in [("bea@example.com", 3100), ("bob@example.com", 3101)] {
        link(&core, email, Role::Billing, id).await;
    }
    Story {
        core,
        clock,
        customer,
    }
}

/// An account linked to the Discord user `discord_user_id` through a code.
async fn link(core: &Core, email: &str, role: Role, discord_user_id: u64) -> User {
    let user = core
        .store()
        .users()
        .insert_user(
            &NewUser {
                email: Email::parse(email).expect("email"),
                role,
                password_hash: None,
                email_verified: true,
            },
            core.clock.now(),
        )
        .await
        .expect("a user");
    let actor = Actor::user(user.id, role, Via::Portal);
    let code = core.discord_links.issue_code(&actor).await.expect("a code");
    core.discord_links
        .link(&member(discord_user_id, &[]), code.code.expose_secret())
        .await
        .expect("linked");
    user
}

fn member(user_id: u64, roles: &[u64]) -> DiscordMember {
    DiscordMember {
        user_id,
        name: format!("m{user_id}"),
        guild_id: Some(GUILD),
        role_ids: roles.to_vec(),
    }
}

/// A billing staff member in the guild, signed in with two factors.
async fn billing(core: &Core, discord_user_id: u64) -> MemberAccess {
    let mut access = core
        .discord_links
        .access(&member(discord_user_id, &[BILLING_ROLE]))
        .await
        .expect("access");
    access.actor = access.actor.with_two_factor();
    access
}

async fn adjustments(story: &Story) -> Vec<Money> {
    story
        .core
        .store()
        .ledger()
        .statement(story.customer.wallet, Page::first(100))
        .await
        .expect("the statement")
        .items
        .into_iter()
        .filter(|line| line.kind == PostingKind::Adjustment)
        .map(|line| line.amount)
        .collect()
}

async fn confirm_and_cancel_end_one_way(db: TestDb) {
    let story = story(&db).await;
    let bea = billing(&story.core, 3100).await;
    let discord = &story.core.discord_links;
    let mut posted = 0;
    for round in 0..8 {
        let (request, _) = discord
            .request_credit(
                &bea,
                &format!("race-{round}"),
                3200,
                Money::from_micros(1_000_000),
                "Race",
            )
            .await
            .expect("a request");
        let (confirm, cancel) = tokio::join!(
            discord.confirm_credit(&bea, request.id),
            discord.cancel_credit(&bea, request.id)
        );
        let stored = story
            .core
            .store()
            .discord()
            .credit_request(request.id)
            .await
            .expect("read")
            .expect("stored");
        match (confirm, cancel) {
            (Ok(outcome), Err(Error::Conflict(_))) => {
                assert!(outcome.new);
                assert_eq!(stored.decision, Some(CreditDecision::Posted));
                assert_eq!(stored.posting_id, Some(outcome.posting.id.0));
                posted += 1;
            }
            (Err(Error::Conflict(_)), Ok(cancelled)) => {
                assert_eq!(cancelled.decision, Some(CreditDecision::Cancelled));
                assert_eq!(stored.decision, Some(CreditDecision::Cancelled));
                assert_eq!(stored.posting_id, None);
            }
            other => panic!("both or neither won in round {round}: {other:?}"),
        }
        assert_eq!(adjustments(&story).await.len(), posted, "round {round}");
    }
}

async fn credit_requests_are_decided_by_their_rules(db: TestDb) {
    let story = story(&db).await;
    let bea = billing(&story.core, 3100).await;
    let bob = billing(&story.core, 3101).await;
    let discord = &story.core.discord_links;
    let ask = |key: &'static str, micros: i64| {
        let bea = bea.clone();
        async move {
            discord
                .request_credit(&bea, key, 3200, Money::from_micros(micros), "Rules")
                .await
                .expect("a request")
                .0
        }
    };

    // Cancelled: confirming afterwards posts nothing; cancelling again is answered the same.
    let request = ask("cancelled", 2_000_000).await;
    let cancelled = discord
        .cancel_credit(&bea, request.id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.decision, Some(CreditDecision::Cancelled));
    assert!(matches!(
        discord.confirm_credit(&bea, request.id).await,
        Err(Error::Conflict(_))
    ));
    let again = discord
        .cancel_credit(&bea, request.id)
        .await
        .expect("cancel");
    assert_eq!(again.decision, Some(CreditDecision::Cancelled));
    assert!(adjustments(&story).await.is_empty());

    // Another staff member may neither confirm nor cancel Bea's request.
    let request = ask("bea's", 3_000_000).await;
    assert!(matches!(
        discord.confirm_credit(&bob, request.id).await,
        Err(Error::Forbidden(_))
    ));
    assert!(matches!(
        discord.cancel_credit(&bob, request.id).await,
        Err(Error::Forbidden(_))
    ));
    assert!(adjustments(&story).await.is_empty());
    let posted = discord
        .confirm_credit(&bea, request.id)
        .await
        .expect("posted");
    assert_eq!(posted.balance_after, Some(Money::from_micros(3_000_000)));
    assert!(matches!(
        discord.cancel_credit(&bea, request.id).await,
        Err(Error::Conflict(_))
    ));

    // Past its time a request posts nothing.
    let request = ask("late", 1_000_000).await;
    story
        .clock
        .advance(CREDIT_REQUEST_TTL + chrono::Duration::seconds(1));
    assert!(matches!(
        discord.confirm_credit(&bea, request.id).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        adjustments(&story).await,
        vec![Money::from_micros(3_000_000)]
    );

    // Taking away more than the balance is refused and moves nothing; the request stays
    // open, so it can still be cancelled.
    let request = ask("too much", -5_000_000).await;
    assert!(discord.confirm_credit(&bea, request.id).await.is_err());
    assert_eq!(
        adjustments(&story).await,
        vec![Money::from_micros(3_000_000)]
    );
    let stored = story
        .core
        .store()
        .discord()
        .credit_request(request.id)
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(stored.decision, None);
    let cancelled = discord
        .cancel_credit(&bea, request.id)
        .await
        .expect("cancel");
    assert_eq!(cancelled.decision, Some(CreditDecision::Cancelled));
    // Taking away what is there works, down to zero.
    let request = ask("all of it", -3_000_000).await;
    let posted = discord
        .confirm_credit(&bea, request.id)
        .await
        .expect("posted");
    assert_eq!(posted.balance_after, Some(Money::ZERO));

    // Link codes: five in a few minutes, then a wait; a code older than its time is refused.
    let carl = Actor::user(story.customer.id, Role::Customer, Via::Portal);
    for _ in 0..5 {
        discord.issue_code(&carl).await.expect("a code");
    }
    assert!(matches!(
        discord.issue_code(&carl).await,
        Err(Error::RateLimited { .. })
    ));
    story.clock.advance(chrono::Duration::minutes(11));
    let code = discord
        .issue_code(&carl)
        .await
        .expect("a code after the wait");
    story
        .clock
        .advance(LINK_CODE_TTL + chrono::Duration::seconds(1));
    assert!(
        discord
            .link(&member(3900, &[]), code.code.expose_secret())
            .await
            .is_err()
    );
    // Tries at /link by one member are throttled too, even with a good code at the end.
    let code = discord.issue_code(&carl).await.expect("a code");
    for _ in 0..5 {
        assert!(discord.link(&member(3901, &[]), "AAAA-AAAA").await.is_err());
    }
    assert!(matches!(
        discord
            .link(&member(3901, &[]), code.code.expose_secret())
            .await,
        Err(Error::RateLimited { .. })
    ));
}
