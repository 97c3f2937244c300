//! Maintenance mode on Discord: while it is on, commands, buttons and modals are refused with
//! the same notice the web shows, and nothing moves; an admin still gets in.

use hostdeck_core::money::Money;
use hostdeck_core::{Actor, Role};
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::bot::{self, ADMIN_ROLE, BILLING_ROLE, GUILD, Linked};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{Member, ResponseKind};
use serde_json::json;

use crate::bot_basics::{WAIT, assert_no_problems, fake_discord, first_answer, text_of};

async fn balance_of(app: &TestApp, linked: &Linked) -> Money {
    app.core()
        .store()
        .ledger()
        .account_balance(linked.user.wallet)
        .await
        .expect("balance")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_refuses_commands_buttons_and_modals_but_admits_admins() {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let app = bot::start(&db, bot::config(&discord.api_base(), &discord.token())).await;
    discord.wait_ready(WAIT).await;
    bot::linked_account(&app, "bea@example.com", Role::Billing, 3100, "bea").await;
    let carl = bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    bot::linked_account(&app, "ada@example.com", Role::Admin, 3300, "ada").await;
    bot::linked_account(&app, "cy@example.com", Role::Customer, 3400, "cy").await;
    let billing = Member::new(3100, "bea")
        .roles([BILLING_ROLE])
        .in_guild(GUILD);
    let customer = Member::new(3200, "carl").in_guild(GUILD);
    let admin = Member::new(3300, "ada").roles([ADMIN_ROLE]).in_guild(GUILD);
    // The Discord admin role on a member linked to a customer account.
    let role_only = Member::new(3400, "cy").roles([ADMIN_ROLE]).in_guild(GUILD);
    for member in [&billing, &customer, &admin, &role_only] {
        discord.add_member(member);
    }
    let credit = |amount: &str| {
        json!([{"name": "add", "type": 1, "options": [
            {"name": "member", "type": 6, "value": customer.user_id.to_string()},
            {"name": "amount", "type": 3, "value": amount},
        ]}])
    };

    // Before maintenance: a confirm button, and a reason modal left open.
    let open = discord.slash(&billing, "credits", credit("10.00")).await;
    let modal = open.wait(WAIT).await[0]
        .modal_custom_id()
        .expect("a modal")
        .to_owned();
    let submitted = discord
        .submit_modal(&billing, &modal, [("reason", "Outage on 3 May")])
        .await;
    let confirm = submitted.wait(WAIT).await[0].clone();
    let button = confirm
        .custom_ids()
        .into_iter()
        .find(|id| id.starts_with("credits:confirm:"))
        .expect("a confirm button");
    let message = confirm.message.clone().expect("the confirm message");
    let open = discord.slash(&billing, "credits", credit("5.00")).await;
    let second_modal = open.wait(WAIT).await[0]
        .modal_custom_id()
        .expect("a modal")
        .to_owned();

    let before = balance_of(&app, &carl).await;
    app.core()
        .maintenance
        .enable(&Actor::cli(), "Upgrading the database")
        .await
        .expect("maintenance on");
    let refused = |text: &str| {
        text.contains("is under maintenance") && text.contains("Upgrading the database")
    };

    let balance = first_answer(&discord, &customer, "balance", json!([])).await;
    assert!(balance.ephemeral());
    assert!(refused(&text_of(&balance)), "{}", text_of(&balance));
    // A Discord role alone is not an admin: the linked account must be one too.
    let balance = first_answer(&discord, &role_only, "balance", json!([])).await;
    assert!(refused(&text_of(&balance)), "{}", text_of(&balance));

    let press = discord.click(&billing, &message, &button).await;
    let answer = press.wait(WAIT).await[0].clone();
    assert_eq!(answer.kind, ResponseKind::Callback(4), "{answer:#?}");
    assert!(answer.ephemeral());
    assert!(refused(&text_of(&answer)), "{}", text_of(&answer));

    let submit = discord
        .submit_modal(&billing, &second_modal, [("reason", "Goodwill")])
        .await;
    let answer = submit.wait(WAIT).await[0].clone();
    assert!(refused(&text_of(&answer)), "{}", text_of(&answer));

    assert_eq!(
        balance_of(&app, &carl).await,
        before,
        "nothing moved during maintenance"
    );

    // The status stays open to everyone, as the web's status page does.
    let status = first_answer(&discord, &customer, "status", json!([])).await;
    let text = text_of(&status);
    assert!(!refused(&text), "{text}");
    let stranger = Member::new(3500, "someone").in_guild(GUILD);
    discord.add_member(&stranger);
    let status = first_answer(&discord, &stranger, "status", json!([])).await;
    assert!(!refused(&text_of(&status)), "{}", text_of(&status));
    // Declaring an incident is not: the customer is refused by maintenance.
    let declare = first_answer(
        &discord,
        &customer,
        "incident",
        json!([{"name": "resolve", "type": 1, "options": [
            {"name": "incident", "type": 4, "value": 1},
            {"name": "message", "type": 3, "value": "done"},
        ]}]),
    )
    .await;
    assert!(refused(&text_of(&declare)), "{}", text_of(&declare));

    // An admin still gets in.
    let help = first_answer(&discord, &admin, "help", json!([])).await;
    let text = text_of(&help);
    assert!(!refused(&text) && text.contains("/credits"), "{text}");
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}
