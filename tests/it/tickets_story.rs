//! The support desk's story across every door at once, on both engines: the fake Discord with
//! the bot, the real portal over HTTP, the API, and email over real SMTP. One story, three
//! starts: the customer opens the ticket in the portal, with `/ticket open` (its modal), or
//! through the API. Then: a private thread appears with the card whose "Customer context"
//! button shows staff the customer (and nobody else); staff claim it with the button (they join
//! the thread) and pick a priority; staff answer in the thread; the customer reads the answer
//! in the portal and gets it by email; the customer answers in the portal and it appears in
//! the thread under their name; staff add a note (button and modal) that the customer never
//! sees, in the portal, the API, the transcript, any email or the thread; staff close it with
//! the confirm and a reason; the transcript is emailed; the customer rates it (portal, Discord
//! or API, by start); staff reopen it with the button and the thread opens again. Mentions and
//! markup typed into the subject, the messages, the close reason and the rating's comment stay
//! inert everywhere.
//!
//! Also, on SQLite: `/ticket assign` adds the assignee to the thread, and another customer's
//! ticket is "not found" to every `/ticket` command and button that names it.

use std::sync::Arc;

use hostdeck_core::clock::SystemClock;
use hostdeck_core::tickets::{Door, Priority, TicketId, TicketMessage, TicketStatus};
use hostdeck_core::{Actor, Core, Role, Via};
use hostdeck_e2e::app::{TestApp, answer};
use hostdeck_e2e::bot::{self, GUILD, Linked, OTHER_GUILD, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_e2e::smtp::SmtpServer;
use hostdeck_fakes::discord::{FakeDiscord, Member, Response};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, assert_no_problems, first_answer, text_of};
use crate::bot_tickets::{assert_thread_inert, bot_post, id_of, only_thread, staff_conversation};
use crate::tickets_portal::{HOSTILE, assert_inert, mail_to, page, submit};

/// The channel whose private threads hold the tickets.
const SUPPORT_CHANNEL: u64 = 4100;
/// What the staff note says; it must never reach the customer.
const NOTE: &str = "NOTE-ONLY-FOR-STAFF refund pending";
const CARL_EMAIL: &str = "carl@example.com";

hostdeck_e2e::on_both_engines!(
    the_story_started_in_the_portal,
    the_story_started_with_ticket_open,
    the_story_started_through_the_api
);

async fn the_story_started_in_the_portal(db: TestDb) {
    the_story(db, Start::Portal).await;
}

async fn the_story_started_with_ticket_open(db: TestDb) {
    the_story(db, Start::Discord).await;
}

async fn the_story_started_through_the_api(db: TestDb) {
    the_story(db, Start::Api).await;
}

/// Where the customer opens the ticket (and, by the same door, rates it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Portal,
    Discord,
    Api,
}

impl Start {
    fn door(self) -> Door {
        match self {
            Self::Portal => Door::Portal,
            Self::Discord => Door::Discord,
            Self::Api => Door::Api,
        }
    }
}

/// The fake Discord, the platform with its bot and real SMTP, a linked customer (Carl) and
/// linked support staff (Sam).
struct Desk {
    discord: FakeDiscord,
    app: TestApp,
    smtp: SmtpServer,
    carl: Linked,
    sam: Linked,
}

impl Desk {
    /// `None` (the test says it skipped) without an SMTP server to send through.
    async fn open(db: &TestDb) -> Option<Self> {
        let smtp = SmtpServer::start().await?;
        let discord = FakeDiscord::builder()
            .guild(GUILD)
            .guild(OTHER_GUILD)
            .text_channel(GUILD, SUPPORT_CHANNEL, "support")
            .start()
            .await;
        let mut config = bot::config(&discord.api_base(), &discord.token());
        config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
        config.smtp.url = Some(SecretString::from(smtp.url()));
        config.smtp.from = "Example Hosting <no-reply@example.test>".into();
        let core = db.core_with(config, Arc::new(SystemClock)).await;
        let app = TestApp::start_with_smtp(core).await;
        discord.wait_ready(WAIT).await;
        let carl = bot::linked_account(&app, CARL_EMAIL, Role::Customer, 3200, "carl").await;
        let sam = bot::linked_account(&app, "sam@example.com", Role::Support, 3400, "sam").await;
        let desk = Self {
            discord,
            app,
            smtp,
            carl,
            sam,
        };
        desk.discord.add_member(&desk.carl_member());
        desk.discord.add_member(&desk.sam_member());
        Some(desk)
    }

    fn core(&self) -> &Core {
        self.app.core()
    }

    fn carl_member(&self) -> Member {
        Member::new(3200, "carl").in_guild(GUILD)
    }

    fn sam_member(&self) -> Member {
        Member::new(3400, "sam")
            .roles([SUPPORT_ROLE])
            .in_guild(GUILD)
    }

    fn staff(&self) -> Actor {
        Actor::user(self.sam.user.id, Role::Support, Via::Portal).with_two_factor()
    }

    /// Carl opens the ticket through `start`; its id.
    async fn open_ticket(&self, start: Start, subject: &str, body: &str) -> TicketId {
        match start {
            Start::Portal => {
                let visit = self
                    .app
                    .portal_visit(Some(&self.carl.token), "/tickets/new")
                    .await;
                let fields = [
                    ("department", "technical"),
                    ("server", ""),
                    ("priority", "normal"),
                    ("subject", subject),
                    ("body", body),
                ];
                let (status, location) = submit(&self.app, &visit, "/tickets", &fields).await;
                assert_eq!(status, 303, "{location}");
                let id = location
                    .trim_start_matches("/tickets/")
                    .split('?')
                    .next()
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_else(|| panic!("the ticket's id in {location}"));
                TicketId(id)
            }
            Start::Discord => {
                let asked = first_answer(
                    &self.discord,
                    &self.carl_member(),
                    "ticket",
                    json!([{"name": "open", "type": 1, "options": [
                        {"name": "department", "type": 3, "value": "technical"}
                    ]}]),
                )
                .await;
                let form = asked.modal_custom_id().expect("a modal").to_owned();
                let opened = self
                    .discord
                    .submit_modal(
                        &self.carl_member(),
                        &form,
                        [("subject", subject), ("body", body)],
                    )
                    .await;
                // Deferred at once (only Carl sees it), then the answer naming the ticket.
                let answers = opened.wait_for(2, WAIT).await;
                assert!(answers[0].ephemeral(), "{answers:#?}");
                let text = text_of(&answers[1]);
                let id = text
                    .split("ticket #")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_else(|| panic!("the ticket's id in {text}"));
                TicketId(id)
            }
            Start::Api => {
                let (status, opened) = answer(
                    self.app
                        .post_json(
                            Some(&self.carl.token),
                            "/api/v1/tickets",
                            &json!({
                                "subject": subject, "body": body, "department": "technical"
                            }),
                        )
                        .await,
                )
                .await;
                assert_eq!(status, 201, "{opened}");
                TicketId(opened["id"].as_i64().expect("an id"))
            }
        }
    }

    /// The one ticket thread, once the bot made it.
    async fn thread(&self) -> u64 {
        only_thread(&self.discord, SUPPORT_CHANNEL).await
    }

    /// Waits for the bot's post in `thread` that contains `text`.
    async fn posted(&self, thread: u64, text: &str) -> Value {
        bot_post(&self.discord, thread, text).await
    }

    /// The ticket's card in its thread: the bot's post with buttons.
    fn card(&self, thread: u64) -> Value {
        self.discord
            .bot_posts_in(thread)
            .into_iter()
            .find(|post| {
                post["components"]
                    .as_array()
                    .is_some_and(|rows| !rows.is_empty())
            })
            .expect("the ticket's card")
    }

    /// `member` clicks `custom_id` on `message`; the answers.
    async fn click(&self, member: &Member, message: &Value, custom_id: &str) -> Vec<Response> {
        let answers = self
            .discord
            .click(member, message, custom_id)
            .await
            .wait(WAIT)
            .await;
        assert!(answers[0].accepted(), "{custom_id}: {answers:#?}");
        answers
    }

    /// `member` submits the modal `custom_id`; the answers.
    async fn submit<'a>(
        &self,
        member: &Member,
        custom_id: &str,
        fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Vec<Response> {
        let answers = self
            .discord
            .submit_modal(member, custom_id, fields)
            .await
            .wait(WAIT)
            .await;
        assert!(answers[0].accepted(), "{custom_id}: {answers:#?}");
        answers
    }

    /// The conversation as staff see it, once `check` holds of it.
    async fn conversation(
        &self,
        ticket: TicketId,
        what: &str,
        check: impl Fn(&[TicketMessage]) -> bool,
    ) -> Vec<TicketMessage> {
        staff_conversation(self.core(), &self.staff(), ticket, what, check).await
    }
}

async fn the_story(db: TestDb, start: Start) {
    let Some(desk) = Desk::open(&db).await else {
        return;
    };
    let (discord, app) = (&desk.discord, &desk.app);
    let (carl, sam) = (desk.carl_member(), desk.sam_member());

    // Carl opens a ticket; mentions and markup in the subject and the text.
    let subject = format!("Down {HOSTILE}");
    let first = format!("It stopped answering. {HOSTILE}");
    let id = desk.open_ticket(start, &subject, &first).await;

    // A private thread with Carl in it, the card first, then his text under his name.
    let thread = desk.thread().await;
    assert_eq!(discord.channel(thread).expect("the thread")["type"], 12);
    discord
        .wait_until(WAIT, "Carl in the thread", |discord| {
            discord.thread_members(thread).contains(&3200)
        })
        .await;
    let opened = desk.posted(thread, "It stopped answering.").await;
    let line = format!("(customer, via {})", start.door().as_str());
    assert!(
        opened["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("**carl") && c.contains(&line)),
        "{opened}"
    );
    let card = desk.card(thread);
    assert!(card["embeds"].to_string().contains(&format!("#{id}")));

    // The customer's context, from the card: for staff, never for the customer.
    let context = desk
        .click(&sam, &card, &format!("ticket:context:{id}"))
        .await;
    let shown = text_of(&context[0]);
    assert!(context[0].ephemeral(), "{shown}");
    assert!(
        shown.contains(CARL_EMAIL) && shown.contains("Balance"),
        "{shown}"
    );
    let refused = desk
        .click(&carl, &card, &format!("ticket:context:{id}"))
        .await;
    let shown = text_of(&refused[0]);
    assert!(refused[0].ephemeral(), "{shown}");
    assert!(!shown.contains("Balance"), "{shown}");

    // Sam claims it (and joins the thread) and raises the priority with the select.
    let claimed = desk.click(&sam, &card, &format!("ticket:claim:{id}")).await;
    assert!(text_of(&claimed[0]).contains("Claimed"), "{claimed:#?}");
    discord
        .wait_until(WAIT, "Sam in the thread", |discord| {
            discord.thread_members(thread).contains(&3400)
        })
        .await;
    let picked = discord
        .select(&sam, &card, &format!("ticket:priority:{id}"), &["high"])
        .await
        .wait(WAIT)
        .await;
    assert!(
        text_of(&picked[0]).contains("Priority changed"),
        "{picked:#?}"
    );
    let ticket = desk
        .core()
        .tickets
        .get(&desk.staff(), id)
        .await
        .expect("staff read it");
    assert_eq!(
        (ticket.assignee, ticket.priority),
        (Some(desk.sam.user.id), Priority::High)
    );

    // Sam answers in the thread: stored under his account...
    let answer_text = "Rebooted the host; please check again.";
    discord
        .post_message(&sam.clone().in_channel(thread), answer_text)
        .await;
    let messages = desk
        .conversation(id, "Sam's answer", |messages| {
            messages.iter().any(|m| m.body == answer_text)
        })
        .await;
    let stored = messages
        .iter()
        .find(|m| m.body == answer_text)
        .expect("stored");
    assert_eq!(
        (stored.author, stored.author_staff, stored.door),
        (Some(desk.sam.user.id), true, Door::Discord)
    );
    // ...Carl reads it in the portal and gets it by email, with a link.
    let (status, html) = page(app, &desk.carl.token, &format!("/tickets/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains(answer_text), "{html}");
    assert_inert(&html, "the customer's ticket page");
    let mail = mail_to(&desk.smtp, CARL_EMAIL, |mail| {
        mail.text.contains(answer_text)
    })
    .await;
    assert!(mail.subject.contains(&format!("#{id}")), "{}", mail.subject);
    assert!(
        mail.text.contains(&format!("/tickets/{id}")),
        "{}",
        mail.text
    );

    // Carl answers in the portal: in the thread under his name, inert.
    let visit = app
        .portal_visit(Some(&desk.carl.token), &format!("/tickets/{id}"))
        .await;
    let second = format!("Works again, thanks {HOSTILE}");
    let (status, _) = submit(
        app,
        &visit,
        &format!("/tickets/{id}/reply"),
        &[("body", &second)],
    )
    .await;
    assert_eq!(status, 303);
    let relayed = desk.posted(thread, "Works again, thanks").await;
    assert!(
        relayed["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("**carl") && c.contains("(customer, via portal)")),
        "{relayed}"
    );

    // Sam writes a note with the card's button and its modal.
    let asked = desk.click(&sam, &card, &format!("ticket:note:{id}")).await;
    let form = asked[0]
        .modal_custom_id()
        .expect("the note's modal")
        .to_owned();
    let noted = desk.submit(&sam, &form, [("note", NOTE)]).await;
    assert!(text_of(&noted[0]).contains("Note added"), "{noted:#?}");
    desk.conversation(id, "the note", |messages| {
        messages.iter().any(|m| m.note && m.body == NOTE)
    })
    .await;

    // Sam closes it: the button asks to confirm, the confirm asks for the reason.
    let asked = desk.click(&sam, &card, &format!("ticket:close:{id}")).await;
    assert!(asked[0].ephemeral());
    let confirm = asked[0].message.clone().expect("the confirm message");
    let asked = desk
        .click(&sam, &confirm, &format!("ticket:close-confirm:{id}"))
        .await;
    let form = asked[0]
        .modal_custom_id()
        .expect("the reason's modal")
        .to_owned();
    let reason = format!("Host rebooted {HOSTILE}");
    let closed = desk
        .submit(&sam, &form, [("reason", reason.as_str())])
        .await;
    assert!(text_of(&closed[0]).contains("Closed"), "{closed:#?}");
    discord
        .wait_until(WAIT, "the thread archived", |discord| {
            discord
                .channel(thread)
                .is_some_and(|channel| channel["thread_metadata"]["archived"] == true)
        })
        .await;

    // The transcript is emailed: the whole conversation, no note.
    let transcript = mail_to(&desk.smtp, CARL_EMAIL, |mail| {
        mail.subject.contains("closed") && mail.text.contains("Works again, thanks")
    })
    .await;
    assert!(transcript.text.contains("It stopped answering."));
    assert!(transcript.text.contains(answer_text));

    // Carl rates it, through the door he opened it by.
    rate(&desk, start, id, &card).await;
    let ticket = desk
        .core()
        .tickets
        .get(&desk.staff(), id)
        .await
        .expect("staff read it");
    assert_eq!(ticket.rating, Some(4), "{ticket:#?}");
    assert_eq!(ticket.status, TicketStatus::Closed);

    // The note is nowhere Carl looks: portal pages, the API, the transcript, any email.
    for path in [
        format!("/tickets/{id}"),
        format!("/tickets/{id}/transcript"),
        format!("/tickets/{id}/transcript.html"),
        "/tickets".to_owned(),
    ] {
        let (status, html) = page(app, &desk.carl.token, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!html.contains("NOTE-ONLY"), "{path} shows the note");
        assert_inert(&html, &path);
    }
    let (status, listed) = answer(
        app.get_as(&desk.carl.token, &format!("/api/v1/tickets/{id}/messages"))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert!(!listed.to_string().contains("NOTE-ONLY"), "{listed}");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    let (_, staff_listed) = answer(
        app.get_as(&desk.sam.token, &format!("/api/v1/tickets/{id}/messages"))
            .await,
    )
    .await;
    assert!(staff_listed.to_string().contains(NOTE), "{staff_listed}");
    for mail in desk.smtp.all() {
        assert!(!mail.raw.contains("NOTE-ONLY"), "an email has the note");
        // Plain text only: no markup in an email can render.
        assert!(
            !mail.raw.to_ascii_lowercase().contains("text/html"),
            "{}",
            mail.raw
        );
    }
    let everything: String = discord
        .messages_in(thread)
        .iter()
        .map(|message| format!("{}{}", message["content"], message["embeds"]))
        .collect();
    assert!(
        !everything.contains("NOTE-ONLY"),
        "a note reached the thread"
    );

    // Sam reopens it with the button: the thread opens again.
    let reopened = desk
        .click(&sam, &card, &format!("ticket:reopen:{id}"))
        .await;
    assert!(text_of(&reopened[0]).contains("Reopened"), "{reopened:#?}");
    discord
        .wait_until(WAIT, "the thread unarchived", |discord| {
            discord
                .channel(thread)
                .is_some_and(|channel| channel["thread_metadata"]["archived"] == false)
        })
        .await;

    assert_thread_inert(discord, thread);
    assert_no_problems(discord);
    desk.app.running.shutdown().await.expect("a clean shutdown");
}

/// Carl gives four stars with a hostile comment, by the door he opened the ticket through.
async fn rate(desk: &Desk, start: Start, id: TicketId, card: &Value) {
    let comment = format!("quick {HOSTILE}");
    match start {
        Start::Portal => {
            let visit = desk
                .app
                .portal_visit(Some(&desk.carl.token), &format!("/tickets/{id}"))
                .await;
            let fields = [("stars", "4"), ("comment", comment.as_str())];
            let (status, _) =
                submit(&desk.app, &visit, &format!("/tickets/{id}/rating"), &fields).await;
            assert_eq!(status, 303);
            let (_, html) = page(&desk.app, &desk.carl.token, &format!("/tickets/{id}")).await;
            assert!(html.contains("You rated this ticket 4 of 5."), "{html}");
            assert_inert(&html, "the rated ticket");
        }
        Start::Discord => {
            let carl = desk.carl_member();
            let asked = desk.click(&carl, card, &format!("ticket:rate:{id}")).await;
            let form = asked[0]
                .modal_custom_id()
                .expect("the rating's modal")
                .to_owned();
            let rated = desk
                .submit(
                    &carl,
                    &form,
                    [("stars", "4"), ("comment", comment.as_str())],
                )
                .await;
            assert!(text_of(&rated[0]).contains("Thank you"), "{rated:#?}");
        }
        Start::Api => {
            let (status, rated) = answer(
                desk.app
                    .post_json(
                        Some(&desk.carl.token),
                        &format!("/api/v1/tickets/{id}/rating"),
                        &json!({ "stars": 4, "comment": comment }),
                    )
                    .await,
            )
            .await;
            assert_eq!(status, 200, "{rated}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_adds_the_assignee_and_strangers_find_nothing() {
    let db = TestDb::sqlite().await;
    let discord = FakeDiscord::builder()
        .guild(GUILD)
        .guild(OTHER_GUILD)
        .text_channel(GUILD, SUPPORT_CHANNEL, "support")
        .start()
        .await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    config.discord.support_channel_id = Some(SUPPORT_CHANNEL);
    let app = bot::start(&db, config).await;
    discord.wait_ready(WAIT).await;
    let carl = bot::linked_account(&app, CARL_EMAIL, Role::Customer, 3200, "carl").await;
    bot::linked_account(&app, "dan@example.com", Role::Customer, 3300, "dan").await;
    bot::linked_account(&app, "sam@example.com", Role::Support, 3400, "sam").await;
    let tess = bot::linked_account(&app, "tess@example.com", Role::Support, 3500, "tess").await;
    let dan = Member::new(3300, "dan").in_guild(GUILD);
    let sam = Member::new(3400, "sam")
        .roles([SUPPORT_ROLE])
        .in_guild(GUILD);
    for member in [
        Member::new(3200, "carl").in_guild(GUILD),
        dan.clone(),
        sam.clone(),
        Member::new(3500, "tess")
            .roles([SUPPORT_ROLE])
            .in_guild(GUILD),
    ] {
        discord.add_member(&member);
    }
    let carl_actor = Actor::user(carl.user.id, Role::Customer, Via::Portal);
    let ticket = app
        .core()
        .tickets
        .open(
            &carl_actor,
            hostdeck_core::tickets::OpenTicket {
                subject: "Carl's own".to_owned(),
                body: "private words".to_owned(),
                department: "billing".to_owned(),
                ..Default::default()
            },
        )
        .await
        .expect("Carl opens a ticket");
    let id = ticket.id;
    discord
        .wait_until(WAIT, "the ticket's thread", |discord| {
            !discord.threads_in(SUPPORT_CHANNEL).is_empty()
        })
        .await;
    let thread = id_of(&discord.threads_in(SUPPORT_CHANNEL)[0]);

    // Sam assigns it to Tess by naming her: she joins the thread.
    let assigned = first_answer(
        &discord,
        &sam.clone().in_channel(thread),
        "ticket",
        json!([{"name": "assign", "type": 1, "options": [
            {"name": "member", "type": 6, "value": "3500"}
        ]}]),
    )
    .await;
    assert!(
        text_of(&assigned).contains("Assigned"),
        "{}",
        text_of(&assigned)
    );
    let now = app
        .core()
        .tickets
        .get(&Actor::system(), id)
        .await
        .expect("read");
    assert_eq!(now.assignee, Some(tess.user.id));
    discord
        .wait_until(WAIT, "Tess in the thread", |discord| {
            discord.thread_members(thread).contains(&3500)
        })
        .await;

    // Dan, another customer, names Carl's ticket: it does not exist for him.
    for (sub, options) in [
        (
            "close",
            json!([{"name": "reason", "type": 3, "value": "mine"}]),
        ),
        ("reopen", json!([])),
        ("transcript", json!([])),
    ] {
        let mut options = options.as_array().cloned().unwrap_or_default();
        options.push(json!({"name": "ticket", "type": 4, "value": id.0}));
        let answered = first_answer(
            &discord,
            &dan,
            "ticket",
            json!([{"name": sub, "type": 1, "options": options}]),
        )
        .await;
        let text = text_of(&answered);
        assert!(answered.ephemeral(), "/ticket {sub}: {text}");
        assert!(
            text.contains(&format!("no ticket {id}")),
            "/ticket {sub}: {text}"
        );
        assert!(
            !text.contains("Carl") && !text.contains("private"),
            "{text}"
        );
    }
    // And the card's buttons, pressed by him, find nothing either.
    let card = discord
        .bot_posts_in(thread)
        .into_iter()
        .find(|post| {
            post["components"]
                .as_array()
                .is_some_and(|rows| !rows.is_empty())
        })
        .expect("the card");
    for prefix in ["claim", "reopen", "context"] {
        let answered = discord
            .click(&dan, &card, &format!("ticket:{prefix}:{id}"))
            .await
            .wait(WAIT)
            .await;
        let text = text_of(&answered[0]);
        assert!(answered[0].ephemeral(), "{prefix}: {text}");
        assert!(
            text.contains(&format!("no ticket {id}")),
            "{prefix}: {text}"
        );
    }
    let picked = discord
        .select(&dan, &card, &format!("ticket:priority:{id}"), &["urgent"])
        .await
        .wait(WAIT)
        .await;
    assert!(
        text_of(&picked[0]).contains(&format!("no ticket {id}")),
        "{picked:#?}"
    );
    // The modals behind buttons check again when submitted.
    let asked = discord
        .click(&dan, &card, &format!("ticket:note:{id}"))
        .await
        .wait(WAIT)
        .await;
    let form = asked[0].modal_custom_id().expect("a modal").to_owned();
    let noted = discord
        .submit_modal(&dan, &form, [("note", "hello")])
        .await
        .wait(WAIT)
        .await;
    assert!(
        text_of(&noted[0]).contains(&format!("no ticket {id}")),
        "{noted:#?}"
    );
    let now = app
        .core()
        .tickets
        .get(&Actor::system(), id)
        .await
        .expect("read");
    assert_eq!(
        (now.status, now.priority, now.assignee),
        (ticket.status, ticket.priority, Some(tess.user.id)),
        "nothing Dan did changed it"
    );
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("a clean shutdown");
}
