//! Support knows the status, on both engines: an incident declared through core by support on
//! the Frankfurt servers shows on the public page; in `/ask`'s account context of a customer
//! with a server there and not of one in Amsterdam; on the ticket pages (customer's and staff's)
//! and in the API (`/api/v1/tickets/{id}/incidents`) of a ticket opened during it, and not of one
//! opened before it or by the other customer; on the portal's page of the affected server only;
//! and after it is resolved, only on the ticket opened during it. On Discord, `/server info` of
//! an affected server shows it, and so does the card that opens the thread of a ticket opened
//! during it.

use hostdeck_core::assistant::{AskerFacts, OwnAccount};
use hostdeck_core::ids::ServerId;
use hostdeck_core::providers::{CreateKey, Image};
use hostdeck_core::servers::{CreateChoice, CreateServer};
use hostdeck_core::tickets::{OpenTicket, TicketId};
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::bot::{self, GUILD};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::betterstack::FakeBetterstack;
use hostdeck_fakes::discord::{FakeDiscord, Member};
use serde_json::json;

use crate::bot_basics::{WAIT, first_answer, text_of};
use crate::servers::{give_credit, plan};
use crate::status_portal::{all_up, config, incident, platform, refresh};
use crate::tickets_portal::page;

on_both_engines!(support_sees_the_incidents_that_touch_a_customer);

/// A server of `actor`'s on the sandbox provider `provider`.
async fn server(core: &Core, actor: &Actor, key: &str, provider: &str) -> ServerId {
    let request = CreateServer::new(
        CreateKey::parse(key).expect("a key"),
        CreateChoice {
            name: format!("web {key}"),
            hostname: format!("{key}.example.com"),
            size: plan(core),
            image: Image::Template("debian-12".into()),
            location: Some(provider.to_owned()),
        },
    );
    core.servers
        .create(actor, request)
        .await
        .expect("a server")
        .server
        .id
}

async fn ticket(core: &Core, actor: &Actor, subject: &str, server: ServerId) -> TicketId {
    core.tickets
        .open(
            actor,
            OpenTicket {
                subject: subject.into(),
                body: format!("Help with {subject}."),
                department: "technical".into(),
                server: Some(server),
                ..OpenTicket::default()
            },
        )
        .await
        .expect("a ticket")
        .id
}

/// What `/ask` tells the model about the asker: the assistant's own facts over the services.
async fn ask_context(core: &Core, actor: &Actor) -> String {
    let facts = OwnAccount {
        users: core.users.clone(),
        servers: core.servers.clone(),
        ledger: core.ledger.clone(),
        store: core.store().clone(),
        currency: core.config.billing.currency.clone(),
        status: core.status.clone(),
    };
    facts
        .describe(actor)
        .await
        .expect("the account context")
        .expect("a customer has one")
}

const TITLE: &str = "Frankfurt network down";
const UPDATE: &str = "Packet loss on the Frankfurt uplink.";

async fn support_sees_the_incidents_that_touch_a_customer(db: TestDb) {
    let fake = FakeBetterstack::start().await;
    let now = chrono::Utc::now();
    let platform = platform(&db, config(&fake.base_url(), fake.token()), now).await;
    all_up(&fake, now);
    let clock = platform.clock.clone();
    let app = TestApp::start(platform.core).await;
    let core = app.core();
    refresh(core).await;
    let ada = app.user("ada@example.test", Role::Customer).await;
    let bob = app.user("bob@example.test", Role::Customer).await;
    let sam = app.user("sam@example.test", Role::Support).await;
    let ada_actor = Actor::user(ada.user.id, Role::Customer, Via::Portal);
    let bob_actor = Actor::user(bob.user.id, Role::Customer, Via::Portal);
    let sam_actor = Actor::user(sam.user.id, Role::Support, Via::Portal).with_two_factor();
    give_credit(core, &ada.user, "10.00").await;
    give_credit(core, &bob.user, "10.00").await;
    let ada_server = server(core, &ada_actor, "ada-web-1", "fra").await;
    let bob_server = server(core, &bob_actor, "bob-web-1", "ams").await;
    let before = ticket(core, &ada_actor, "Before anything", ada_server).await;
    assert!(
        ask_context(core, &ada_actor)
            .await
            .contains("active incidents affecting them: none")
    );

    clock.advance(chrono::Duration::minutes(1));
    core.status
        .declare(&sam_actor, incident(TITLE, &["vps-fra"], UPDATE))
        .await
        .expect("declared by support");
    clock.advance(chrono::Duration::minutes(1));

    let (_, html) = page(&app, "", "/status").await;
    assert!(html.contains(TITLE), "{html}");

    // /ask: Ada's context names it with its latest update; Bob's does not.
    let context = ask_context(core, &ada_actor).await;
    assert!(
        context.contains(TITLE) && context.contains(UPDATE),
        "{context}"
    );
    assert!(context.contains("Frankfurt VPS"), "{context}");
    let context = ask_context(core, &bob_actor).await;
    assert!(!context.contains(TITLE), "{context}");
    assert!(
        context.contains("active incidents affecting them: none"),
        "{context}"
    );

    // Tickets opened during it show it to the customer and to staff.
    let during = ticket(core, &ada_actor, "My server is unreachable", ada_server).await;
    let bobs = ticket(core, &bob_actor, "A question", bob_server).await;
    let (status, html) = page(&app, &ada.token, &format!("/tickets/{during}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(TITLE) && html.contains(UPDATE), "{html}");
    let (_, html) = page(&app, &sam.token, &format!("/admin/tickets/{during}")).await;
    assert!(html.contains(TITLE), "staff see it: {html}");
    let (_, html) = page(&app, &ada.token, &format!("/tickets/{before}")).await;
    assert!(!html.contains(TITLE), "opened before it: {html}");
    let (_, html) = page(&app, &bob.token, &format!("/tickets/{bobs}")).await;
    assert!(!html.contains(TITLE), "another provider: {html}");
    let (_, html) = page(&app, &sam.token, &format!("/admin/tickets/{bobs}")).await;
    assert!(!html.contains(TITLE), "{html}");
    // The API says the same to both, and nothing of another customer's ticket.
    let incidents = |token: &str, ticket: TicketId| {
        let path = format!("/api/v1/tickets/{ticket}/incidents");
        let token = token.to_owned();
        let app = &app;
        async move { answer(app.get_as(&token, &path).await).await }
    };
    for token in [&ada.token, &sam.token] {
        let (status, body) = incidents(token, during).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body.as_array().map(Vec::len), Some(1), "{body}");
        assert_eq!(body[0]["incident"]["title"], TITLE, "{body}");
        assert_eq!(body[0]["affects"], json!(["Frankfurt VPS"]), "{body}");
        assert_eq!(body[0]["everyone"], false, "{body}");
    }
    assert_eq!(incidents(&ada.token, before).await, (200, json!([])));
    assert_eq!(incidents(&bob.token, bobs).await, (200, json!([])));
    let (status, body) = incidents(&bob.token, during).await;
    assert_eq!(status, 404, "another customer's ticket: {body}");

    // The server pages: Ada's Frankfurt server shows it, Bob's Amsterdam one does not.
    let (status, html) = page(&app, &ada.token, &format!("/servers/{ada_server}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(TITLE), "{html}");
    let (_, html) = page(&app, &bob.token, &format!("/servers/{bob_server}")).await;
    assert!(!html.contains(TITLE), "{html}");

    // Resolved: the ticket opened during it still says so; nothing new does.
    let declared = core
        .status
        .incidents(now)
        .await
        .expect("listed")
        .into_iter()
        .find(|each| each.title == TITLE)
        .expect("the incident");
    clock.advance(chrono::Duration::minutes(5));
    core.status
        .resolve(&sam_actor, declared.id, "The uplink is back.")
        .await
        .expect("resolved");
    clock.advance(chrono::Duration::minutes(1));
    let after = ticket(core, &ada_actor, "Slow again?", ada_server).await;
    let (_, html) = page(&app, &ada.token, &format!("/tickets/{during}")).await;
    assert!(html.contains(TITLE) && html.contains("resolved"), "{html}");
    let (_, html) = page(&app, &ada.token, &format!("/tickets/{after}")).await;
    assert!(!html.contains(TITLE), "{html}");
    let (_, html) = page(&app, &ada.token, &format!("/servers/{ada_server}")).await;
    assert!(!html.contains(TITLE), "{html}");
    assert!(
        ask_context(core, &ada_actor)
            .await
            .contains("active incidents affecting them: none")
    );
}

/// The channel whose private threads hold the tickets.
const SUPPORT_CHANNEL: u64 = 4400;

/// `/server info` on Discord names an incident on the server's provider, and the first message
/// of the thread of a ticket opened during it names it too (for the customer and staff in it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_info_and_ticket_threads_on_discord_name_the_incident() {
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .text_channel(GUILD, SUPPORT_CHANNEL, "support")
        .start()
        .await;
    let fake = FakeBetterstack::start().await;
    let db = TestDb::sqlite().await;
    let now = chrono::Utc::now();
    let mut config = config(&fake.base_url(), fake.token());
    config.discord = bot::config(&discord.api_base(), &discord.token()).discord;
    config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
    let platform = platform(&db, config, now).await;
    all_up(&fake, now);
    let app = TestApp::start(platform.core).await;
    discord.wait_ready(WAIT).await;
    let core = app.core();
    let carl = bot::linked_account(&app, "carl@example.test", Role::Customer, 3200, "carl").await;
    let member = Member::new(3200, "carl").in_guild(GUILD);
    discord.add_member(&member);
    let carl_actor = Actor::user(carl.user.id, Role::Customer, Via::Portal);
    give_credit(core, &carl.user, "10.00").await;
    let fra = server(core, &carl_actor, "carl-web-1", "fra").await;
    let ams = server(core, &carl_actor, "carl-web-2", "ams").await;
    let sam = crate::status_portal::support(core, "sam@example.test").await;
    core.status
        .declare(&sam, incident(TITLE, &["vps-fra"], UPDATE))
        .await
        .expect("declared");
    let info = |id: ServerId| {
        json!([{"name": "info", "type": 1, "options": [
            {"name": "server", "type": 4, "value": id.0}
        ]}])
    };
    let answer = first_answer(&discord, &member, "server", info(fra)).await;
    let text = text_of(&answer);
    assert!(text.contains(TITLE) && text.contains(UPDATE), "{text}");
    assert!(text.contains("/status#incident-"), "{text}");
    let answer = first_answer(&discord, &member, "server", info(ams)).await;
    let text = text_of(&answer);
    assert!(!text.contains(TITLE), "{text}");

    // Tickets opened now: the Frankfurt one's thread card names the incident, the other's not.
    for server in [fra, ams] {
        ticket(core, &carl_actor, "Is it down?", server).await;
    }
    discord
        .wait_until(WAIT, "both tickets' threads with their cards", |discord| {
            let threads = discord.threads_in(SUPPORT_CHANNEL);
            threads.len() == 2
                && threads.iter().all(|thread| {
                    let id = thread["id"].as_str().and_then(|id| id.parse().ok());
                    id.is_some_and(|id| !discord.messages_in(id).is_empty())
                })
        })
        .await;
    let mut cards: Vec<String> = discord
        .threads_in(SUPPORT_CHANNEL)
        .iter()
        .filter_map(|thread| thread["id"].as_str().and_then(|id| id.parse().ok()))
        .map(|id| discord.messages_in(id)[0]["embeds"].to_string())
        .collect();
    cards.sort_by_key(|card| !card.contains(TITLE));
    assert!(
        cards[0].contains("Opened during") && cards[0].contains(TITLE),
        "{cards:?}"
    );
    assert!(cards[0].contains("Frankfurt VPS"), "{cards:?}");
    assert!(!cards[1].contains(TITLE), "{cards:?}");
}
