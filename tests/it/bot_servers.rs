//! `/server` on Discord, through the fake Discord, with servers on the provider fakes: a
//! customer lists their servers, picks one by autocomplete (their own only, name and state
//! shown, id submitted), reads it, shuts it down through the confirm button (the result edits
//! the question), and boots it; another customer's id is refused and audited, in a command and
//! in a button; billing staff suspend and unsuspend; support looks a member's servers up.

use hostdeck_core::servers::ServerStatus;
use hostdeck_core::{Role, Via};
use hostdeck_e2e::bot::{self, BILLING_ROLE, GUILD, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{Member, ResponseKind};
use serde_json::json;

use crate::bot_basics::{WAIT, assert_no_problems, fake_discord, first_answer, text_of};
use crate::servers::{Cloud, audited, create, give_credit};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_controls_their_servers_on_discord_and_nobody_elses() {
    let discord = fake_discord().await;
    let cloud = Cloud::start().await;
    let db = TestDb::sqlite().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.providers = cloud.config("").providers;
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    let carl_account =
        bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    let dora_account =
        bot::linked_account(&app, "dora@example.com", Role::Customer, 3300, "dora").await;
    bot::linked_account(&app, "bea@example.com", Role::Billing, 3100, "bea").await;
    bot::linked_account(&app, "sam@example.com", Role::Support, 3400, "sam").await;
    let carl = Member::new(3200, "carl").in_guild(GUILD);
    let dora = Member::new(3300, "dora").in_guild(GUILD);
    let bea = Member::new(3100, "bea")
        .roles([BILLING_ROLE])
        .in_guild(GUILD);
    let sam = Member::new(3400, "sam")
        .roles([SUPPORT_ROLE])
        .in_guild(GUILD);
    for member in [&carl, &dora, &bea, &sam] {
        discord.add_member(member);
    }
    let core = app.core();
    let mut ids = Vec::new();
    for (account, key, provider) in [
        (&carl_account, "carl-web-1", "vf"),
        (&carl_account, "carl-db-1", "pve"),
        (&dora_account, "dora-web-1", "jel"),
    ] {
        give_credit(core, &account.user, "10.00").await;
        let actor = hostdeck_core::Actor::user(account.user.id, Role::Customer, Via::Portal);
        let created = core
            .servers
            .create(&actor, create(core, key, provider))
            .await
            .expect("create");
        ids.push(created.server.id);
    }
    let (carl_web, dora_web) = (ids[0], ids[2]);

    // /server list: Carl's two, only to Carl.
    let listed = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "list", "type": 1, "options": []}]),
    )
    .await;
    assert!(listed.ephemeral());
    let text = text_of(&listed);
    assert!(
        text.contains("web carl-web-1") && text.contains("web carl-db-1"),
        "{text}"
    );
    assert!(!text.contains("dora"), "{text}");

    // Autocomplete: Carl's servers by name and state, their ids as values.
    let typed = discord
        .autocomplete(
            &carl,
            "server",
            json!([{"name": "info", "type": 1, "options": [
                {"name": "server", "type": 4, "value": "web", "focused": true}
            ]}]),
        )
        .await;
    let answers = typed.wait(WAIT).await;
    assert_eq!(answers[0].kind, ResponseKind::Callback(8), "{answers:#?}");
    let choices = answers[0].choices();
    assert_eq!(choices.len(), 2, "{choices:#?}");
    assert!(choices.iter().any(|choice| {
        choice["name"]
            .as_str()
            .is_some_and(|name| name.contains("web carl-web-1") && name.contains("running"))
            && choice["value"] == json!(carl_web.0)
    }));
    assert!(answers[0].after < std::time::Duration::from_secs(3));

    // /server info with the picked id.
    let info = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "info", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0}
        ]}]),
    )
    .await;
    assert!(info.ephemeral());
    let text = text_of(&info);
    assert!(
        text.contains("State: running") && text.contains("vf"),
        "{text}"
    );

    // /server power shutdown: a question with a confirm button; pressing it edits the
    // question into the result.
    let question = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "power", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "action", "type": 4, "value": 1}
        ]}]),
    )
    .await;
    assert!(question.ephemeral());
    assert!(text_of(&question).contains("Shut down web carl-web-1?"));
    let button = question
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("server:power:"))
        .expect("a confirm button");
    assert_eq!(
        core.store()
            .servers()
            .server(carl_web)
            .await
            .expect("read")
            .expect("row")
            .state,
        ServerStatus::Running,
        "nothing happens before the click"
    );
    let message = question.message.clone().expect("the question");
    let pressed = discord.click(&carl, &message, &button).await;
    let answers = pressed.wait(WAIT).await;
    assert_eq!(answers[0].kind, ResponseKind::Callback(6), "{answers:#?}");
    let edit = answers
        .iter()
        .find(|answer| answer.kind == ResponseKind::EditOriginal)
        .expect("the result edits the question");
    assert!(edit.accepted(), "{edit:#?}");
    assert!(
        text_of(edit).contains("State: stopped"),
        "{}",
        text_of(edit)
    );
    assert!(edit.custom_ids().is_empty(), "the buttons are gone");
    assert_eq!(
        core.store()
            .servers()
            .server(carl_web)
            .await
            .expect("read")
            .expect("row")
            .state,
        ServerStatus::Stopped
    );

    // Boot needs no question.
    let booted = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "power", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "action", "type": 4, "value": 0}
        ]}]),
    )
    .await;
    assert!(
        text_of(&booted).contains("State: running"),
        "{}",
        text_of(&booted)
    );

    // Dora's server id, typed by Carl: refused as unknown, and audited.
    let before = audited(core, "server.get", "denied").await;
    let refused = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "info", "type": 1, "options": [
            {"name": "server", "type": 4, "value": dora_web.0}
        ]}]),
    )
    .await;
    assert!(refused.ephemeral());
    assert!(
        text_of(&refused).contains(&format!("You have no server {dora_web}")),
        "{}",
        text_of(&refused)
    );
    assert_eq!(audited(core, "server.get", "denied").await, before + 1);
    // And in /server power, with or without a question: refused before any button is shown.
    for action in [1, 0] {
        let refused = first_answer(
            &discord,
            &carl,
            "server",
            json!([{"name": "power", "type": 1, "options": [
                {"name": "server", "type": 4, "value": dora_web.0},
                {"name": "action", "type": 4, "value": action}
            ]}]),
        )
        .await;
        assert!(
            refused.custom_ids().is_empty(),
            "no button for somebody else's server"
        );
        assert!(
            text_of(&refused).contains("You have no server"),
            "{}",
            text_of(&refused)
        );
    }
    assert_eq!(audited(core, "server.get", "denied").await, before + 2);
    assert_eq!(audited(core, "server.power", "denied").await, 1);
    assert_eq!(cloud.jel.environments().len(), 1);
    assert_eq!(
        core.store()
            .servers()
            .server(dora_web)
            .await
            .expect("read")
            .expect("row")
            .state,
        ServerStatus::Running
    );

    // Billing staff suspend Carl's server; Carl cannot boot it; they unsuspend it.
    let suspended = first_answer(
        &discord,
        &bea,
        "server",
        json!([{"name": "suspend", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "reason", "type": 3, "value": "chargeback"}
        ]}]),
    )
    .await;
    assert!(
        text_of(&suspended).contains("is suspended"),
        "{}",
        text_of(&suspended)
    );
    let refused = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "power", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "action", "type": 4, "value": 0}
        ]}]),
    )
    .await;
    assert!(
        text_of(&refused).contains("suspended"),
        "{}",
        text_of(&refused)
    );
    let customer_try = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "unsuspend", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "reason", "type": 3, "value": "please"}
        ]}]),
    )
    .await;
    assert!(
        text_of(&customer_try).contains("billing or admin"),
        "{}",
        text_of(&customer_try)
    );
    let lifted = first_answer(
        &discord,
        &bea,
        "server",
        json!([{"name": "unsuspend", "type": 1, "options": [
            {"name": "server", "type": 4, "value": carl_web.0},
            {"name": "reason", "type": 3, "value": "resolved"}
        ]}]),
    )
    .await;
    assert!(
        text_of(&lifted).contains("State: running"),
        "{}",
        text_of(&lifted)
    );

    // Support looks Carl's servers up.
    let looked = first_answer(
        &discord,
        &sam,
        "server",
        json!([{"name": "lookup", "type": 1, "options": [
            {"name": "member", "type": 6, "value": carl.user_id.to_string()}
        ]}]),
    )
    .await;
    assert!(looked.ephemeral());
    let text = text_of(&looked);
    assert!(
        text.contains("carl@example.com") && text.contains("web carl-db-1"),
        "{text}"
    );
    assert!(
        text.contains("web carl-web-1") && !text.contains("dora-web-1"),
        "the lookup lists Carl's servers and only his: {text}"
    );
    // /server create: plan choices with their price, the cost shown, and a confirm button
    // that makes one server however often it is pressed.
    let typed = discord
        .autocomplete(
            &carl,
            "server",
            json!([{"name": "create", "type": 1, "options": [
                {"name": "name", "type": 3, "value": "api"},
                {"name": "hostname", "type": 3, "value": "api.example.com"},
                {"name": "plan", "type": 3, "value": "sma", "focused": true},
                {"name": "template", "type": 3, "value": "11"}
            ]}]),
        )
        .await;
    let answers = typed.wait(WAIT).await;
    let choices = answers[0].choices();
    assert!(
        choices
            .iter()
            .any(|choice| choice["value"] == json!("small")
                && choice["name"]
                    .as_str()
                    .is_some_and(|name| name.contains("a month"))),
        "{choices:#?}"
    );
    let before = cloud.vf.servers().len();
    let asked = first_answer(
        &discord,
        &carl,
        "server",
        json!([{"name": "create", "type": 1, "options": [
            {"name": "name", "type": 3, "value": "api"},
            {"name": "hostname", "type": 3, "value": "api.example.com"},
            {"name": "plan", "type": 3, "value": "small"},
            {"name": "template", "type": 3, "value": "11"},
            {"name": "location", "type": 3, "value": "vf"}
        ]}]),
    )
    .await;
    assert!(asked.ephemeral());
    let text = text_of(&asked);
    assert!(
        text.contains("Per month") && text.contains("Charged now"),
        "{text}"
    );
    assert_eq!(
        cloud.vf.servers().len(),
        before,
        "nothing made before the click"
    );
    let button = asked
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("server:create:"))
        .expect("a confirm button");
    let message = asked.message.clone().expect("the question");
    // Pressed twice in a row, the second press before the first one's answer.
    let pressed = discord.click(&carl, &message, &button).await;
    let pressed_again = discord.click(&carl, &message, &button).await;
    let answers = pressed.wait(WAIT).await;
    let edit = answers
        .iter()
        .find(|answer| answer.kind == ResponseKind::EditOriginal)
        .expect("the result");
    assert!(
        text_of(edit).contains("api is created"),
        "{}",
        text_of(edit)
    );
    // What it charged, to the micro, as the confirm card said it would.
    let first_hour = core
        .pricing
        .quote(&hostdeck_core::pricing::Size::Plan("small".into()))
        .expect("the small plan")
        .first_hour()
        .display_exact(&core.config.billing.currency);
    assert!(
        text_of(edit).contains(&first_hour),
        "{first_hour} in {}",
        text_of(edit)
    );
    assert!(edit.custom_ids().is_empty(), "the buttons are gone");
    // The second press: the same server, nothing more.
    let answers = pressed_again.wait(WAIT).await;
    let edit = answers
        .iter()
        .find(|answer| answer.kind == ResponseKind::EditOriginal)
        .expect("the result");
    assert!(
        text_of(edit).contains("api is created"),
        "{}",
        text_of(edit)
    );
    assert_eq!(cloud.vf.servers().len(), before + 1, "one server");
    let api: Vec<_> = core
        .store()
        .servers()
        .servers_of(Some(carl_account.user.id))
        .await
        .expect("Carl's servers")
        .into_iter()
        .filter(|server| server.name == "api")
        .collect();
    assert_eq!(api.len(), 1, "one row");
    assert_eq!(
        crate::servers::usage_postings(core, api[0].id).await,
        1,
        "one charge"
    );
    let request: i64 = button
        .trim_start_matches("server:create:")
        .parse()
        .expect("a request id");
    // Nobody else can confirm Carl's request.
    let dora_actor = hostdeck_core::Actor::user(dora_account.user.id, Role::Customer, Via::Discord);
    let refused = core
        .servers
        .create_held(&dora_actor, request, &[])
        .await
        .expect_err("not Dora's");
    assert!(refused.to_string().contains("not yours"), "{refused}");

    assert_no_problems(&discord);
    cloud.assert_clean();
    app.running.shutdown().await.expect("shutdown");
}
