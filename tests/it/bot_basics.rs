//! The bot against the fake Discord: it starts, gets READY and registers its commands as
//! designed; a customer links with a portal code and sees their real balance; used and expired
//! codes are refused. That nothing a person typed becomes a mention is `bot_credits`' story.

use std::time::Duration;

use hostdeck_core::Role;
use hostdeck_core::money::Money;
use hostdeck_e2e::bot::{self, GUILD, OTHER_GUILD};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{FakeDiscord, Member, Response, ResponseKind};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

pub const WAIT: Duration = Duration::from_secs(10);

pub async fn fake_discord() -> FakeDiscord {
    FakeDiscord::builder()
        .guild(GUILD)
        .guild(OTHER_GUILD)
        .start()
        .await
}

pub fn assert_no_problems(discord: &FakeDiscord) {
    let problems = discord.recorder().problems();
    assert!(problems.is_empty(), "problems: {problems:#?}");
}

/// All text of a response: content and every embed's title, description, fields and footer.
pub fn text_of(response: &Response) -> String {
    let mut text = response.content().unwrap_or_default().to_owned();
    for embed in response.embeds() {
        for key in ["title", "description"] {
            text.push('\n');
            text.push_str(embed[key].as_str().unwrap_or_default());
        }
        for field in embed["fields"].as_array().into_iter().flatten() {
            text.push_str(&format!(
                "\n{}: {}",
                field["name"].as_str().unwrap_or_default(),
                field["value"].as_str().unwrap_or_default()
            ));
        }
        text.push('\n');
        text.push_str(embed["footer"]["text"].as_str().unwrap_or_default());
    }
    text
}

/// The first answer to `/name`, which must be an accepted callback.
pub async fn first_answer(
    discord: &FakeDiscord,
    member: &Member,
    name: &str,
    options: Value,
) -> Response {
    let reply = discord.slash(member, name, options).await;
    let responses = reply.wait(WAIT).await;
    let first = responses
        .first()
        .unwrap_or_else(|| panic!("/{name} got no answer"))
        .clone();
    assert!(first.accepted(), "/{name}: {first:#?}");
    // A deferred answer is completed by a followup: read that instead.
    if first.kind == ResponseKind::Callback(5) {
        let responses = reply.wait_for(2, WAIT).await;
        return responses.get(1).cloned().unwrap_or(first);
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_gets_ready_and_registers_its_commands() {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let app = bot::start(&db, bot::config(&discord.api_base(), &discord.token())).await;
    discord.wait_ready(WAIT).await;
    discord
        .wait_until(WAIT, "the commands", |discord| {
            !discord.registered_commands(Some(GUILD)).is_empty()
        })
        .await;

    let registered = discord.registered_commands(Some(GUILD));
    let names: Vec<&str> = registered
        .iter()
        .filter_map(|command| command["name"].as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "ask", "help", "link", "unlink", "balance", "whois", "credits", "server", "ticket",
            "status", "incident"
        ]
    );
    assert!(discord.registered_commands(None).is_empty(), "guild only");
    let command = |name: &str| {
        registered
            .iter()
            .find(|command| command["name"] == name)
            .cloned()
            .expect("registered")
    };
    assert_eq!(
        command("balance")["description"],
        "Shows your balance, what your servers cost an hour, and how long your credit lasts."
    );
    let link = command("link");
    assert_eq!(link["options"][0]["name"], "code");
    assert_eq!(link["options"][0]["type"], 3);
    assert_eq!(link["options"][0]["required"], true);
    let whois = command("whois");
    assert_eq!(whois["options"][0]["name"], "member");
    assert_eq!(whois["options"][0]["type"], 6);
    assert_eq!(whois["options"][0]["description"], "The member to look up");
    // Staff commands are hidden from members without a permission by default...
    assert!(whois["default_member_permissions"].is_string(), "{whois}");
    assert!(command("help")["default_member_permissions"].is_null());
    let credits = command("credits");
    assert!(credits["default_member_permissions"].is_string());
    let subcommands: Vec<(&str, u64)> = credits["options"]
        .as_array()
        .expect("subcommands")
        .iter()
        .map(|option| {
            (
                option["name"].as_str().unwrap_or_default(),
                option["type"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(subcommands, vec![("add", 1), ("remove", 1)]);
    let add = &credits["options"][0];
    assert_eq!(add["options"][0]["name"], "member");
    assert_eq!(add["options"][0]["type"], 6);
    assert_eq!(add["options"][1]["name"], "amount");
    assert_eq!(
        add["options"][1]["description"],
        "How much to add, such as 10.00"
    );

    // ...and /help shows a stranger only what they may use.
    let stranger = Member::new(3999, "stranger").in_guild(GUILD);
    let help = first_answer(&discord, &stranger, "help", json!([])).await;
    assert!(help.ephemeral());
    let text = text_of(&help);
    assert!(text.contains("/help") && text.contains("/link"), "{text}");
    assert!(
        !text.contains("/balance") && !text.contains("/credits"),
        "{text}"
    );
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_links_with_a_portal_code_and_sees_the_real_balance() {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let app = bot::start(&db, bot::config(&discord.api_base(), &discord.token())).await;
    discord.wait_ready(WAIT).await;
    let alice = Member::new(3000, "alice").in_guild(GUILD);

    // Not linked yet: /balance is refused and says what to do.
    let refused = first_answer(&discord, &alice, "balance", json!([])).await;
    assert!(refused.ephemeral());
    assert!(text_of(&refused).contains("/link"), "{}", text_of(&refused));

    // Alice makes a code on the portal's account page.
    let signed_in = app.user("alice@example.com", Role::Customer).await;
    let visit = app.portal_visit(Some(&signed_in.token), "/account").await;
    let page = app.portal_post(&visit, "/account/discord/code", &[]).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("the page");
    let code = html
        .split("/link code:")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the code on the page")
        .to_owned();
    assert_eq!(code.len(), 9, "{code}");

    // Billing staff give her 12.50 of credit, and she runs one server at 0.01 an hour.
    let admin = hostdeck_core::Actor::cli();
    let user = app
        .core()
        .store()
        .users()
        .user(signed_in.user.id)
        .await
        .expect("read")
        .expect("alice");
    app.core()
        .ledger
        .adjust(
            &admin,
            &user,
            Money::parse("12.50").expect("amount"),
            "welcome",
            "welcome-alice",
        )
        .await
        .expect("credit");
    db.raw(&format!(
        "INSERT INTO servers (user_id, provider, create_key, name, hostname, plan, vcpus, memory_mib, \
         disk_gib, image, state, rate_running, rate_stopped, rate_hours, rate_since, \
         created_at, state_changed_at) VALUES ({}, 'sandbox', 'k1', 'web', 'web.example', 'small', 1, \
         1024, 20, 'debian-12', 'running', 7300000, 730000, 730, '2026-01-01T00:00:00Z', \
         '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');\n\
         INSERT INTO server_billing (server_id, billed_until) \
         SELECT id, '2026-01-01T00:00:00Z' FROM servers WHERE create_key = 'k1'",
        user.id
    ))
    .await
    .expect("a running server");

    let linked = first_answer(
        &discord,
        &alice,
        "link",
        json!([{"name": "code", "type": 3, "value": code}]),
    )
    .await;
    assert!(linked.ephemeral());
    assert!(
        text_of(&linked).contains("alice@example.com"),
        "{}",
        text_of(&linked)
    );

    let balance = first_answer(&discord, &alice, "balance", json!([])).await;
    assert!(balance.ephemeral());
    let text = text_of(&balance);
    assert!(text.contains("Balance: $12.50"), "{text}");
    assert!(text.contains("Burn rate: $0.01 per hour"), "{text}");
    assert!(text.contains("about 1250 hours"), "{text}");

    // The portal shows the link, and the code is spent.
    let account = app
        .http
        .get(app.url("/account"))
        .header("cookie", visit.cookies.clone())
        .send()
        .await
        .expect("GET /account")
        .text()
        .await
        .expect("the page");
    assert!(
        account.contains("Linked to Discord user <strong>alice</strong>"),
        "{account}"
    );

    let bob = Member::new(3001, "bob").in_guild(GUILD);
    let reused = first_answer(
        &discord,
        &bob,
        "link",
        json!([{"name": "code", "type": 3, "value": code}]),
    )
    .await;
    assert!(reused.ephemeral());
    assert!(
        text_of(&reused).contains("does not work"),
        "{}",
        text_of(&reused)
    );

    // An expired code is refused the same way.
    let bob_account = app.user("bob@example.com", Role::Customer).await;
    let actor = hostdeck_core::Actor::user(
        bob_account.user.id,
        Role::Customer,
        hostdeck_core::Via::Portal,
    );
    let expired = app
        .core()
        .discord_links
        .issue_code(&actor)
        .await
        .expect("a code");
    db.raw("UPDATE discord_link_codes SET expires_at = '2020-01-01T00:00:00Z'")
        .await
        .expect("age the code");
    let refused = first_answer(
        &discord,
        &bob,
        "link",
        json!([{"name": "code", "type": 3, "value": expired.code.expose_secret()}]),
    )
    .await;
    assert!(
        text_of(&refused).contains("does not work"),
        "{}",
        text_of(&refused)
    );
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_shards_resumes_and_reconnects() {
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .guild(OTHER_GUILD)
        .shards(2)
        .start()
        .await;
    let db = TestDb::sqlite().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    // As many shards as Discord recommends.
    config.discord.shards = None;
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    let mut shards = discord.connected_shards();
    shards.sort_unstable();
    assert_eq!(shards, vec![[0, 2], [1, 2]]);

    // Discord asks every shard to reconnect: they resume their sessions.
    discord.reconnect_all().await;
    discord.wait_resumed(2, WAIT).await;
    let member = Member::new(3500, "dana").in_guild(GUILD);
    let help = first_answer(&discord, &member, "help", json!([])).await;
    assert!(text_of(&help).contains("/link"));

    // The network drops: the shards come back and answer again.
    discord.drop_connections().await;
    discord
        .wait_until(Duration::from_secs(20), "the shards back", |discord| {
            discord.is_ready() && discord.connected_shards().len() == 2
        })
        .await;
    let help = first_answer(&discord, &member, "help", json!([])).await;
    assert!(text_of(&help).contains("/link"));
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}
