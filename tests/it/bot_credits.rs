//! `/credits` end to end as billing staff live it: the reason modal, the confirm button that
//! shows the amount, one posting however often the button is pressed, a restart between the
//! button and the click, the customer's DM through the outbox (waiting out Discord's 429), and
//! mentions typed into the reason that reach nobody.

use std::time::Duration;

use hostdeck_core::Role;
use hostdeck_core::audit::AuditRecord;
use hostdeck_core::ledger::PostingKind;
use hostdeck_core::store::Page;
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::bot::{self, BILLING_ROLE, GUILD, Linked};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{FakeDiscord, Member, Response, ResponseKind};
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, assert_no_problems, fake_discord, first_answer, text_of};

struct Story {
    discord: FakeDiscord,
    webhook: hostdeck_fakes::discord::Webhook,
    db: TestDb,
    app: TestApp,
    billing: Member,
    customer: Member,
    customer_account: Linked,
}

async fn story() -> Story {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let webhook = discord.create_webhook(GUILD, "billing");
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.discord.billing_webhook = Some(secrecy::SecretString::from(webhook.url.clone()));
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    bot::linked_account(&app, "bea@example.com", Role::Billing, 3100, "bea").await;
    let customer_account =
        bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    let billing = Member::new(3100, "bea")
        .roles([BILLING_ROLE])
        .in_guild(GUILD);
    let customer = Member::new(3200, "carl").in_guild(GUILD);
    discord.add_member(&billing);
    discord.add_member(&customer);
    Story {
        discord,
        webhook,
        db,
        app,
        billing,
        customer,
        customer_account,
    }
}

/// `/credits add` for Carl: the modal opens, the reason is given, the confirm message comes.
async fn ask_for_credit(story: &Story, amount: &str, reason: &str) -> Response {
    let open = story
        .discord
        .slash(
            &story.billing,
            "credits",
            json!([{"name": "add", "type": 1, "options": [
                {"name": "member", "type": 6, "value": story.customer.user_id.to_string()},
                {"name": "amount", "type": 3, "value": amount},
            ]}]),
        )
        .await;
    let responses = open.wait(WAIT).await;
    assert_eq!(
        responses[0].kind,
        ResponseKind::Callback(9),
        "{responses:#?}"
    );
    let modal = responses[0].modal_custom_id().expect("a modal").to_owned();
    let submit = story
        .discord
        .submit_modal(&story.billing, &modal, [("reason", reason)])
        .await;
    let responses = submit.wait(WAIT).await;
    assert_eq!(
        responses[0].kind,
        ResponseKind::Callback(4),
        "{responses:#?}"
    );
    responses[0].clone()
}

async fn adjustments(story: &Story) -> Vec<hostdeck_core::ledger::StatementLine> {
    let statement = story
        .app
        .core()
        .store()
        .ledger()
        .statement(story.customer_account.user.wallet, Page::first(50))
        .await
        .expect("the statement");
    statement
        .items
        .into_iter()
        .filter(|line| line.kind == PostingKind::Adjustment)
        .collect()
}

async fn audit(app: &TestApp) -> Vec<AuditRecord> {
    app.core()
        .store()
        .audit()
        .audit_log(Page::first(200))
        .await
        .expect("the audit log")
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credit_is_added_once_through_the_modal_and_the_confirm_button() {
    let story = story().await;
    let confirm = ask_for_credit(&story, "10.00", "Outage on 3 May").await;
    assert!(confirm.ephemeral());
    let text = text_of(&confirm);
    assert!(
        text.contains("carl@example.com") && text.contains("Outage on 3 May"),
        "{text}"
    );
    let ids = confirm.custom_ids();
    let button = ids
        .iter()
        .find(|id| id.starts_with("credits:confirm:"))
        .expect("a confirm button")
        .clone();
    let label = &confirm.payload()["components"][0]["components"][0]["label"];
    assert_eq!(label, "Add $10.00");
    assert!(
        adjustments(&story).await.is_empty(),
        "nothing moves before the click"
    );

    // Two clicks before the first is answered: one posting.
    let message = confirm.message.clone().expect("the confirm message");
    let first = story.discord.click(&story.billing, &message, &button).await;
    let second = story.discord.click(&story.billing, &message, &button).await;
    let first = first.wait(WAIT).await;
    let second = second.wait(WAIT).await;
    for responses in [&first, &second] {
        assert!(responses[0].accepted(), "{responses:#?}");
    }
    let lines = adjustments(&story).await;
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0].amount.micros(), 10_000_000);
    assert_eq!(lines[0].memo.as_deref(), Some("Outage on 3 May"));
    let texts = [text_of(&first[0]), text_of(&second[0])];
    assert!(
        texts.iter().any(|text| text.contains("Credit adjusted")),
        "{texts:?}"
    );

    // Replaying the confirmation (the same request again, as a replayed interaction would)
    // finds the first posting.
    let request_id: i64 = button
        .trim_start_matches("credits:confirm:")
        .parse()
        .expect("a request id");
    let access = story
        .app
        .core()
        .discord_links
        .access(&hostdeck_core::discord_links::DiscordMember {
            user_id: story.billing.user_id,
            name: "bea".into(),
            guild_id: Some(GUILD),
            role_ids: vec![BILLING_ROLE],
        })
        .await
        .expect("access");
    let replay = story
        .app
        .core()
        .discord_links
        .confirm_credit(&access, request_id)
        .await
        .expect("a replay is answered");
    assert!(!replay.new);
    assert_eq!(adjustments(&story).await.len(), 1);

    // Audited once, attributed to Bea's account.
    let entries: Vec<AuditRecord> = audit(&story.app)
        .await
        .into_iter()
        .filter(|entry| entry.action == "credits.adjust")
        .collect();
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0].via, "discord");
    assert!(entries[0].actor_user.is_some());

    // Carl is told in a DM, through the outbox.
    story
        .discord
        .wait_until(WAIT, "Carl's DM", |discord| {
            !discord.dms_to(story.customer.user_id).is_empty()
        })
        .await;
    let dm = &story.discord.dms_to(story.customer.user_id)[0];
    assert!(
        dm["content"]
            .as_str()
            .is_some_and(|text| text.contains("$10.00 was added")),
        "{dm}"
    );
    // Billing staff are told in their channel, once.
    story
        .discord
        .wait_until(WAIT, "the billing post", |discord| {
            !discord.webhook_posts(story.webhook.id).is_empty()
        })
        .await;
    let posts = story.discord.webhook_posts(story.webhook.id);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(
        posts[0]["content"]
            .as_str()
            .is_some_and(|text| text.contains("carl@example.com"))
    );
    assert_no_problems(&story.discord);
    story.app.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_confirm_button_works_after_a_restart() {
    let story = story().await;
    let confirm = ask_for_credit(&story, "2.50", "Goodwill").await;
    let button = confirm
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("credits:confirm:"))
        .expect("a confirm button");
    let message = confirm.message.clone().expect("the confirm message");

    // hostdeck restarts: a new process, the same database.
    let Story {
        discord,
        db,
        app,
        billing,
        customer_account,
        ..
    } = story;
    app.running.shutdown().await.expect("shutdown");
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.database.url = secrecy::SecretString::from(db.url.clone());
    let app = TestApp::start(hostdeck_core::Core::open(config).await.expect("a core")).await;
    discord
        .wait_until(WAIT, "the new bot's session", |discord| {
            discord.identifies().len() >= 2 && discord.is_ready()
        })
        .await;

    let press = discord.click(&billing, &message, &button).await;
    let responses = press.wait(WAIT).await;
    assert_eq!(
        responses[0].kind,
        ResponseKind::Callback(7),
        "{responses:#?}"
    );
    assert!(text_of(&responses[0]).contains("Credit adjusted"));
    let balance = app
        .core()
        .store()
        .ledger()
        .account_balance(customer_account.user.wallet)
        .await
        .expect("balance");
    assert_eq!(balance.micros(), 2_500_000);
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("shutdown");
}

/// Every body the bot sent to Discord: interaction callbacks, followups, messages, webhooks.
fn bodies(discord: &FakeDiscord) -> Vec<(String, Value)> {
    discord
        .recorder()
        .calls()
        .into_iter()
        .filter(|call| call.method == "POST" || call.method == "PATCH")
        .map(|call| (call.path().to_owned(), call.body.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_in_what_people_type_reach_nobody() {
    let story = story().await;
    let reason = "ping @everyone and @here, <@&2103> and <@3200>";
    let confirm = ask_for_credit(&story, "1.00", reason).await;
    let button = confirm
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("credits:confirm:"))
        .expect("a confirm button");
    let message = confirm.message.clone().expect("the message");
    let press = story.discord.click(&story.billing, &message, &button).await;
    press.wait(WAIT).await;
    story
        .discord
        .wait_until(WAIT, "the DM and the billing post", |discord| {
            !discord.dms_to(3200).is_empty() && !discord.webhook_posts(story.webhook.id).is_empty()
        })
        .await;
    let sent = bodies(&story.discord);
    let messages: Vec<&(String, Value)> = sent
        .iter()
        .filter(|(path, _)| {
            path.contains("/callback") || path.contains("/messages") || path.contains("/webhooks/")
        })
        .filter(|(_, body)| {
            let data = if body["data"].is_object() {
                &body["data"]
            } else {
                body
            };
            data.get("content").is_some() || data.get("embeds").is_some()
        })
        .collect();
    assert!(messages.len() >= 3, "{messages:#?}");
    for (path, body) in messages {
        let data = if body["data"].is_object() {
            &body["data"]
        } else {
            body
        };
        assert_eq!(
            data["allowed_mentions"]["parse"],
            json!([]),
            "{path}: every message allows no mentions: {body}"
        );
        for field in ["users", "roles"] {
            assert!(
                data["allowed_mentions"][field]
                    .as_array()
                    .is_none_or(|list| list.is_empty()),
                "{path}: {body}"
            );
        }
        let text = body.to_string();
        for raw in ["@everyone", "@here", "<@&2103>", "<@3200>"] {
            assert!(!text.contains(raw), "{path} sent {raw} live: {text}");
        }
    }
    assert_no_problems(&story.discord);
    story.app.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_dm_is_sent_after_retry_after() {
    let story = story().await;
    story
        .discord
        .rate_limit("/channels/", 1, Duration::from_millis(1500));
    let confirm = ask_for_credit(&story, "3.00", "Refund of a failed build").await;
    let button = confirm
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("credits:confirm:"))
        .expect("a confirm button");
    let message = confirm.message.clone().expect("the message");
    let clicked = std::time::Instant::now();
    story
        .discord
        .click(&story.billing, &message, &button)
        .await
        .wait(WAIT)
        .await;
    story
        .discord
        .wait_until(Duration::from_secs(15), "the DM after the 429", |discord| {
            !discord.dms_to(story.customer.user_id).is_empty()
        })
        .await;
    assert!(
        clicked.elapsed() >= Duration::from_millis(1500),
        "the DM waited out retry_after ({:?})",
        clicked.elapsed()
    );
    assert_eq!(story.discord.dms_to(story.customer.user_id).len(), 1);
    let _ = &story.db;
    story.app.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whois_shows_support_the_linked_customer_and_billing_staff_the_balance() {
    let story = story().await;
    bot::linked_account(&story.app, "sam@example.com", Role::Support, 3300, "sam").await;
    let support = Member::new(3300, "sam")
        .roles([bot::SUPPORT_ROLE])
        .in_guild(GUILD);
    // Carl has two tickets, one of them closed: one is open.
    let carl = hostdeck_core::Actor::user(
        story.customer_account.user.id,
        Role::Customer,
        hostdeck_core::Via::Portal,
    );
    let mut opened = Vec::new();
    for subject in ["Disk full", "Invoice"] {
        let ticket = story
            .app
            .core()
            .tickets
            .open(
                &carl,
                hostdeck_core::tickets::OpenTicket {
                    subject: subject.to_owned(),
                    body: "Help".to_owned(),
                    department: "technical".to_owned(),
                    ..Default::default()
                },
            )
            .await
            .expect("Carl opens a ticket");
        opened.push(ticket.id);
    }
    story
        .app
        .core()
        .tickets
        .close(&carl, opened[1], "solved")
        .await
        .expect("Carl closes one");
    let answer = first_answer(
        &story.discord,
        &support,
        "whois",
        json!([{"name": "member", "type": 6, "value": story.customer.user_id.to_string()}]),
    )
    .await;
    let text = text_of(&answer);
    assert!(text.contains("Email: carl@example.com"), "{text}");
    // Support may not read customers' billing (as on the portal): no balance for them.
    assert!(!text.contains("Balance"), "{text}");
    assert!(text.contains("Servers: 0"), "{text}");
    assert!(text.contains("Open tickets: 1"), "{text}");
    // Billing staff see it.
    let answer = first_answer(
        &story.discord,
        &story.billing,
        "whois",
        json!([{"name": "member", "type": 6, "value": story.customer.user_id.to_string()}]),
    )
    .await;
    let text = text_of(&answer);
    assert!(text.contains("Email: carl@example.com"), "{text}");
    assert!(text.contains("Balance: $0.00"), "{text}");
    // Billing staff do not read tickets: no count for them.
    assert!(!text.contains("Open tickets"), "{text}");
    assert_no_problems(&story.discord);
    story.app.running.shutdown().await.expect("shutdown");
}

/// Billing staff hear of a credit adjustment through their webhook even when the bot is off:
/// a webhook carries its own token. The outbox stores no webhook address, only "billing".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_staff_posts_go_out_without_a_bot_token() {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let webhook = discord.create_webhook(GUILD, "billing");
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.discord.token = None;
    config.discord.billing_webhook = Some(secrecy::SecretString::from(webhook.url.clone()));
    let app = bot::start(&db, config).await;
    bot::linked_account(&app, "bea@example.com", Role::Billing, 3100, "bea").await;
    bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    let discord_links = &app.core().discord_links;
    let mut access = discord_links
        .access(&hostdeck_core::discord_links::DiscordMember {
            user_id: 3100,
            name: "bea".into(),
            guild_id: Some(GUILD),
            role_ids: vec![BILLING_ROLE],
        })
        .await
        .expect("access");
    // Bea's account has two factors on (linked_account turns them on for staff).
    access.actor = access.actor.with_two_factor();
    let (request, _) = discord_links
        .request_credit(
            &access,
            "no-bot",
            3200,
            hostdeck_core::money::Money::from_micros(4_000_000),
            "Goodwill",
        )
        .await
        .expect("a request");
    discord_links
        .confirm_credit(&access, request.id)
        .await
        .expect("posted");
    discord
        .wait_until(WAIT, "the billing post", |discord| {
            !discord.webhook_posts(webhook.id).is_empty()
        })
        .await;
    let posts = discord.webhook_posts(webhook.id);
    assert_eq!(posts.len(), 1, "{posts:#?}");
    assert!(
        posts[0]["content"]
            .as_str()
            .is_some_and(|text| text.contains("carl@example.com") && text.contains("$4.00")),
        "{posts:#?}"
    );
    let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
    let recipients: Vec<String> =
        sqlx::query_scalar("SELECT recipient FROM outbox WHERE channel = 'discord_webhook'")
            .fetch_all(&pool)
            .await
            .expect("the outbox");
    assert_eq!(
        recipients,
        vec![hostdeck_core::notify::BILLING_STAFF.to_owned()]
    );
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credits_take_amounts_in_the_one_grammar() {
    let story = story().await;
    for bad in ["1_000", "+5", "5.", ".5", " 5", "5.001"] {
        let answer = first_answer(
            &story.discord,
            &story.billing,
            "credits",
            json!([{"name": "add", "type": 1, "options": [
                {"name": "member", "type": 6, "value": story.customer.user_id.to_string()},
                {"name": "amount", "type": 3, "value": bad},
            ]}]),
        )
        .await;
        assert_eq!(
            answer.kind,
            ResponseKind::Callback(4),
            "{bad:?}: {answer:#?}"
        );
        let text = text_of(&answer);
        assert!(text.contains("such as 10 or 10.50"), "{bad:?}: {text}");
    }
    assert!(adjustments(&story).await.is_empty());
    // The good form opens the modal for the reason.
    let confirm = ask_for_credit(&story, "5", "Goodwill").await;
    assert!(text_of(&confirm).contains("5.00"), "{}", text_of(&confirm));
    assert_no_problems(&story.discord);
}
