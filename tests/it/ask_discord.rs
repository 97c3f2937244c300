//! `/ask` and `/ticket suggest` through the fake Discord and the fake Gemini, over the starter
//! knowledge base: the command is deferred at once and answered with numbered sources linking
//! to help pages; "Solved" stores feedback, "Ask a follow-up" continues the conversation kept
//! on the server (the system instruction on every turn, fresh sources), "Open a ticket" opens a
//! ticket with the question, the answer and its sources and its thread with the member in it;
//! nothing relevant costs no model call; Gemini failing or unreachable still answers before
//! Discord's deadline; an unlinked member is told how to link before a ticket; somebody else's
//! answer is not theirs to use; the daily limit says when the next question is allowed; a
//! staff draft is shown only to staff, never sent by itself, and carries no staff notes.

use std::time::Duration;

use hostdeck_core::records::assistant::AnswerId;
use hostdeck_core::tickets::{OpenTicket, TicketId};
use hostdeck_core::{Actor, Role, Via};
use hostdeck_e2e::app::TestApp;
use hostdeck_e2e::bot::{self, GUILD, Linked, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::on_both_engines;
use hostdeck_fakes::discord::{FakeDiscord, Member, Reply as Interaction, Response, ResponseKind};
use hostdeck_fakes::gemini::{FakeGemini, Reply};
use serde_json::{Value, json};

use crate::ask_doors::with_gemini;
use crate::bot_basics::{WAIT, assert_no_problems, text_of};

const SUPPORT_CHANNEL: u64 = 4100;
const PAYPAL: &str = "how do i add credit with paypal?";
const NONSENSE: &str = "qwxz plvrk zzyzx frobnicate";
/// Discord's deadline for the first answer to an interaction.
const DEADLINE: Duration = Duration::from_secs(3);

struct Guild {
    discord: FakeDiscord,
    gemini: FakeGemini,
    app: TestApp,
    carl: Linked,
}

async fn guild(db: &TestDb, tweak: impl FnOnce(&mut hostdeck_core::config::Config)) -> Guild {
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .text_channel(GUILD, SUPPORT_CHANNEL, "support")
        .start()
        .await;
    let gemini = FakeGemini::start().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
    config.web.public_url = Some("https://portal.example.com".parse().expect("url"));
    with_gemini(&mut config, &gemini);
    tweak(&mut config);
    let app = bot::start(db, config).await;
    discord.wait_ready(WAIT).await;
    let carl = bot::linked_account(&app, "carl@example.com", Role::Customer, 3200, "carl").await;
    discord.add_member(&carl_member());
    Guild {
        discord,
        gemini,
        app,
        carl,
    }
}

fn carl_member() -> Member {
    Member::new(3200, "carl").in_guild(GUILD)
}

fn answered(text: &str) -> Reply {
    Reply::Answer {
        status: "answered",
        answer: text.into(),
        citations: vec!["kb-1".into(), "kb-42".into()],
        needs_human: false,
    }
}

/// Asks `/ask question` as `member`: the deferral within Discord's deadline, then the answer.
async fn ask(discord: &FakeDiscord, member: &Member, question: &str) -> Response {
    let reply = discord
        .slash(
            member,
            "ask",
            json!([{"name": "question", "type": 3, "value": question}]),
        )
        .await;
    deferred_answer(&reply).await
}

/// The answer to an interaction that is deferred first, then completed.
async fn deferred_answer(reply: &Interaction) -> Response {
    let responses = reply.wait_for(2, WAIT + Duration::from_secs(5)).await;
    let first = &responses[0];
    assert!(first.accepted(), "{first:#?}");
    assert_eq!(
        first.kind,
        ResponseKind::Callback(5),
        "deferred: {first:#?}"
    );
    assert!(first.after < DEADLINE, "deferred in {:?}", first.after);
    let last = responses.last().cloned().expect("an answer");
    assert!(last.accepted(), "{last:#?}");
    last
}

/// The kept answer a message's buttons name.
fn answer_id(response: &Response) -> AnswerId {
    response
        .custom_ids()
        .iter()
        .find_map(|id| id.strip_prefix("ask:solved:")?.parse().ok())
        .map(AnswerId)
        .unwrap_or_else(|| panic!("no Solved button: {response:#?}"))
}

fn message_of(response: &Response) -> Value {
    response.message.clone().expect("the message the answer is")
}

on_both_engines!(ask_on_discord_answers_and_its_buttons_work);

async fn ask_on_discord_answers_and_its_buttons_work(db: TestDb) {
    let g = guild(&db, |_| {}).await;
    let discord = &g.discord;
    g.gemini.script(answered(
        "Open **Billing**, choose Top up. @everyone <@&2101>",
    ));
    let first = ask(discord, &carl_member(), PAYPAL).await;
    assert!(first.ephemeral(), "only the asker sees it");
    let text = text_of(&first);
    assert!(text.contains("Top up"), "{text}");
    assert!(
        !text.contains("@everyone") && !text.contains("<@&2101>"),
        "{text}"
    );
    assert!(
        text.contains("1. [") && text.contains("](https://portal.example.com/help/"),
        "numbered sources linking to help pages: {text}"
    );
    assert!(!text.contains("2. ["), "only ids that were sent: {text}");
    assert_eq!(first.payload()["allowed_mentions"]["parse"], json!([]));
    let ids = first.custom_ids();
    for prefix in ["ask:solved:", "ask:follow:", "ask:ticket:"] {
        assert!(ids.iter().any(|id| id.starts_with(prefix)), "{ids:?}");
    }
    let first_id = answer_id(&first);
    let store = g.app.core().store().assistant();

    // Solved: the feedback is stored on the answer.
    let solved = discord
        .click(
            &carl_member(),
            &message_of(&first),
            &format!("ask:solved:{first_id}"),
        )
        .await;
    let answers = solved.wait(WAIT).await;
    assert!(text_of(&answers[0]).contains("solved"), "{answers:#?}");
    let kept = store
        .kept_answer(first_id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.feedback.as_deref(), Some("solved"));

    // Somebody else cannot use Carl's answer.
    let dora = Member::new(3300, "dora").in_guild(GUILD);
    let refused = discord
        .click(
            &dora,
            &message_of(&first),
            &format!("ask:follow:{first_id}"),
        )
        .await;
    let answers = refused.wait(WAIT).await;
    assert!(
        text_of(&answers[0]).contains("no longer exists"),
        "{answers:#?}"
    );

    // A follow-up: a modal, then the answer continuing the conversation.
    let follow = discord
        .click(
            &carl_member(),
            &message_of(&first),
            &format!("ask:follow:{first_id}"),
        )
        .await;
    let opened = follow.wait(WAIT).await;
    let form = opened[0].modal_custom_id().expect("a modal").to_owned();
    g.gemini.script(answered(
        "The least you can add is shown on the Billing page.",
    ));
    let submitted = discord
        .submit_modal(
            &carl_member(),
            &form,
            [("question", "is there a minimum paypal top up amount?")],
        )
        .await;
    let second = deferred_answer(&submitted).await;
    assert!(
        text_of(&second).contains("least you can add"),
        "{second:#?}"
    );
    let requests = g.gemini.generate_requests();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(
            request.pointer("/systemInstruction/parts/0/text").is_some(),
            "the system instruction on every turn"
        );
    }
    let contents = requests[1]["contents"].as_array().expect("contents");
    assert_eq!(contents.len(), 3, "the earlier turn and the new one");
    assert_eq!(contents[0]["parts"][0]["text"], PAYPAL);
    let turn = contents[2]["parts"][0]["text"].as_str().unwrap_or_default();
    assert!(
        turn.contains("<source id=\"kb-1\""),
        "fresh sources: {turn}"
    );
    let kept = store
        .kept_answer(first_id)
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(kept.feedback.as_deref(), Some("followed_up"));

    // Open a ticket from the follow-up's answer: the question, the answer and the sources.
    let second_id = answer_id(&second);
    let ticket = discord
        .click(
            &carl_member(),
            &message_of(&second),
            &format!("ask:ticket:{second_id}"),
        )
        .await;
    let done = deferred_answer(&ticket).await;
    let done_text = text_of(&done);
    assert!(done_text.contains("Ticket #"), "{done_text}");
    assert!(
        done_text.contains(&format!("<#{SUPPORT_CHANNEL}>")),
        "{done_text}"
    );
    let kept = store
        .kept_answer(second_id)
        .await
        .expect("read")
        .expect("kept");
    let ticket_id = kept.ticket.expect("the answer's ticket");
    let carl = Actor::user(g.carl.user.id, Role::Customer, Via::Portal);
    let messages = g
        .app
        .core()
        .tickets
        .messages(&carl, ticket_id)
        .await
        .expect("Carl reads his ticket");
    let body = &messages[0].body;
    assert!(body.contains(PAYPAL), "the earlier question: {body}");
    assert!(body.contains("minimum paypal top up"), "{body}");
    assert!(body.contains("least you can add"), "the answer: {body}");
    assert!(body.contains("https://portal.example.com/help/"), "{body}");
    // Pressed again, the same ticket.
    let again = discord
        .click(
            &carl_member(),
            &message_of(&second),
            &format!("ask:ticket:{second_id}"),
        )
        .await;
    let again = deferred_answer(&again).await;
    assert!(text_of(&again).contains(&format!("Ticket #{ticket_id}")));
    // The ticket sync opens its private thread with Carl in it.
    discord
        .wait_until(WAIT, "the ticket's thread with Carl", |discord| {
            discord.threads_in(SUPPORT_CHANNEL).iter().any(|thread| {
                thread["id"]
                    .as_str()
                    .and_then(|id| id.parse().ok())
                    .is_some_and(|id| discord.thread_members(id).contains(&3200))
            })
        })
        .await;
    assert!(g.gemini.problems().is_empty(), "{:?}", g.gemini.problems());
    assert_no_problems(discord);
}

/// Nothing relevant: "I don't know" and a ticket offer, with no model call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_relevant_costs_no_model_call() {
    let db = TestDb::sqlite().await;
    let g = guild(&db, |_| {}).await;
    let answer = ask(&g.discord, &carl_member(), NONSENSE).await;
    let text = text_of(&answer);
    assert!(text.contains("I don't know"), "{text}");
    assert!(text.contains("Open a ticket"), "{text}");
    assert!(g.gemini.generate_requests().is_empty(), "no model call");
    // The question's embedding may be asked for (to rank); nothing else reaches Gemini.
    let calls = g.gemini.recorder().calls();
    assert!(
        calls.iter().all(|call| call.uri.contains("mbedContent")),
        "{:?}",
        calls.iter().map(|call| &call.uri).collect::<Vec<_>>()
    );
}

/// Gemini failing, hanging or unreachable: a helpful answer, deferred in time, never a crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_failing_or_unreachable_still_answers_in_time() {
    let db = TestDb::sqlite().await;
    let g = guild(&db, |_| {}).await;
    g.gemini
        .script(Reply::Wire("unary-failure-finish-reason-safety.json"));
    let answer = ask(&g.discord, &carl_member(), PAYPAL).await;
    let text = text_of(&answer);
    assert!(
        text.contains("/help/"),
        "the articles that look relevant: {text}"
    );
    g.gemini
        .recorder()
        .fail_next("generateContent", 5, hostdeck_fakes::server::Fault::Hang);
    let answer = ask(&g.discord, &carl_member(), PAYPAL).await;
    assert!(text_of(&answer).contains("/help/"), "{answer:#?}");

    // Unreachable: nothing listens where Gemini should be.
    let db = TestDb::sqlite().await;
    let g = guild(&db, |config| {
        config.gemini.base_url = "http://127.0.0.1:9/".parse().expect("url");
    })
    .await;
    let answer = ask(&g.discord, &carl_member(), PAYPAL).await;
    assert!(text_of(&answer).contains("/help/"), "{answer:#?}");
    assert_no_problems(&g.discord);
}

/// An unlinked member gets answers, and is told how to link before opening a ticket; the daily
/// limit says when the next question is allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlinked_members_are_answered_and_told_how_to_open_a_ticket() {
    let db = TestDb::sqlite().await;
    let g = guild(&db, |config| {
        config.assistant.unlinked_questions_per_day = 1;
    })
    .await;
    let stranger = Member::new(3900, "stranger").in_guild(GUILD);
    g.gemini.script(answered("Open Billing and choose Top up."));
    let answer = ask(&g.discord, &stranger, PAYPAL).await;
    assert!(text_of(&answer).contains("Top up"));
    let id = answer_id(&answer);
    let ticket = g
        .discord
        .click(&stranger, &message_of(&answer), &format!("ask:ticket:{id}"))
        .await;
    let refused = deferred_answer(&ticket).await;
    assert!(text_of(&refused).contains("/link"), "{refused:#?}");
    let over = ask(&g.discord, &stranger, PAYPAL).await;
    let text = text_of(&over);
    assert!(text.contains("00:00 UTC"), "{text}");
    assert_eq!(g.gemini.generate_requests().len(), 1);
}

/// `/ticket suggest` in a ticket's thread: a draft only the staff member sees, built from the
/// customer's words (no staff notes), sent only when they press Send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suggested_reply_is_shown_to_staff_only_and_sent_when_they_choose() {
    let db = TestDb::sqlite().await;
    let g = guild(&db, |_| {}).await;
    let sam = bot::linked_account(&g.app, "sam@example.com", Role::Support, 3400, "sam").await;
    let sam_member = Member::new(3400, "sam")
        .roles([SUPPORT_ROLE])
        .in_guild(GUILD);
    g.discord.add_member(&sam_member);
    let core = g.app.core();
    let carl = Actor::user(g.carl.user.id, Role::Customer, Via::Portal);
    let staff = Actor::user(sam.user.id, Role::Support, Via::Portal).with_two_factor();
    let ticket = core
        .tickets
        .open(
            &carl,
            OpenTicket {
                subject: "Paying with PayPal".into(),
                body: "How do I add credit with PayPal?".into(),
                department: core.config.tickets.departments[0].clone(),
                ..OpenTicket::default()
            },
        )
        .await
        .expect("opened");
    core.tickets
        .note(&staff, ticket.id, "internal: customer-secret-note-7781")
        .await
        .expect("a note");
    let thread = wait_thread(&g.discord, ticket.id, &g.app).await;

    g.gemini.script(answered(
        "Hello! Open Billing, choose Top up and pay with PayPal.",
    ));
    let asked = g
        .discord
        .slash(
            &sam_member.clone().in_channel(thread),
            "ticket",
            json!([{"name": "suggest", "type": 1, "options": []}]),
        )
        .await;
    let draft = deferred_answer(&asked).await;
    assert!(draft.ephemeral(), "only the staff member sees it");
    assert!(text_of(&draft).contains("Open Billing"), "{draft:#?}");
    let requests = g.gemini.generate_requests();
    let sent = requests[0].to_string();
    assert!(sent.contains("How do I add credit with PayPal"), "{sent}");
    assert!(
        !sent.contains("customer-secret-note-7781"),
        "no staff notes"
    );
    assert!(
        !sent.contains("<account nonce="),
        "no account facts in a draft"
    );
    // Nothing was sent to the customer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let posted_draft = g.discord.bot_posts_in(thread).iter().any(|post| {
        post["content"]
            .as_str()
            .is_some_and(|c| c.contains("Open Billing"))
    });
    assert!(!posted_draft, "the draft is not posted to the thread");
    let messages = core
        .tickets
        .messages(&staff, ticket.id)
        .await
        .expect("read");
    assert_eq!(
        messages
            .iter()
            .filter(|m| m.author_staff && !m.note)
            .count(),
        0
    );

    // Customers may not ask for drafts.
    let refused = g
        .discord
        .slash(
            &carl_member().in_channel(thread),
            "ticket",
            json!([{"name": "suggest", "type": 1, "options": []}]),
        )
        .await;
    let answers = refused.wait(WAIT).await;
    assert!(answers[0].ephemeral(), "{answers:#?}");
    assert!(text_of(&answers[0]).contains("you need"), "{answers:#?}");
    assert_eq!(
        g.gemini.generate_requests().len(),
        1,
        "no draft for a customer"
    );

    // Edit and send: the form is prefilled with the draft; what is submitted is the reply.
    let custom_id = format!("ticket:suggest-edit:{}", ticket.id);
    let pressed = g
        .discord
        .click(&sam_member, &message_of(&draft), &custom_id)
        .await;
    let opened = pressed.wait(WAIT).await;
    let modal = opened[0].payload().to_string();
    assert!(modal.contains("Open Billing"), "prefilled: {modal}");
    let form = opened[0].modal_custom_id().expect("a modal").to_owned();
    let sent = g
        .discord
        .submit_modal(
            &sam_member,
            &form,
            [("body", "Hi Carl: Billing, then Top up.")],
        )
        .await;
    let answers = sent.wait(WAIT).await;
    assert!(text_of(&answers[0]).contains("Reply sent"), "{answers:#?}");
    let messages = core
        .tickets
        .messages(&staff, ticket.id)
        .await
        .expect("read");
    assert!(
        messages
            .iter()
            .any(|m| m.author_staff && !m.note && m.body == "Hi Carl: Billing, then Top up.")
    );
}

async fn wait_thread(discord: &FakeDiscord, ticket: TicketId, app: &TestApp) -> u64 {
    discord
        .wait_until(WAIT, "the ticket's thread", |discord| {
            !discord.threads_in(SUPPORT_CHANNEL).is_empty()
        })
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let threads = discord.threads_in(SUPPORT_CHANNEL);
        for thread in threads {
            let id: u64 = thread["id"]
                .as_str()
                .and_then(|id| id.parse().ok())
                .expect("an id");
            let found = app.core().tickets.ticket_by_thread(id).await.expect("read");
            if found.is_some_and(|t| t.id == ticket) {
                return id;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no thread");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
