//! The permission matrix on Discord: every command of the bot, invoked by members in every
//! situation: no role, a role that looks right but has another id, each configured role (with
//! and without a linked staff account), in another guild, in a DM, linked and unlinked. Only
//! what the policy allows runs (and answers with its work, not a problem); everything else is
//! refused ephemerally and audited.

use hostdeck_core::Role;
use hostdeck_core::store::Page;
use hostdeck_e2e::bot::{self, ADMIN_ROLE, BILLING_ROLE, GUILD, OTHER_GUILD, SUPPORT_ROLE};
use hostdeck_e2e::db::TestDb;
use hostdeck_fakes::discord::{Member, ResponseKind};
use serde_json::{Value, json};

use crate::bot_basics::{WAIT, assert_no_problems, fake_discord, text_of};

/// A role id no platform role is configured with (say a role also called "billing").
const LOOKALIKE_ROLE: u64 = 2199;
/// The customer staff look up and credit.
const TARGET: u64 = 3900;

const PUBLIC: &[&str] = &["ask", "help", "link", "status"];
const CUSTOMER: &[&str] = &["ask", "help", "link", "balance", "status", "unlink"];
const SUPPORT: &[&str] = &[
    "ask", "help", "link", "balance", "whois", "server", "status", "incident", "unlink",
];
const BILLING: &[&str] = &[
    "ask", "help", "link", "balance", "whois", "credits", "status", "unlink",
];
const ADMIN: &[&str] = &[
    "ask", "help", "link", "balance", "whois", "credits", "server", "status", "incident", "unlink",
];

/// The commands in the order they are tried (`unlink` last: it changes who the member is).
fn invocations() -> Vec<(&'static str, Value)> {
    vec![
        // `/ask`: anyone, linked or not (answered from the help articles, deferred first).
        (
            "ask",
            json!([{"name": "question", "type": 3, "value": "how do i add credit with paypal?"}]),
        ),
        ("help", json!([])),
        (
            "link",
            json!([{"name": "code", "type": 3, "value": "NOPE-NOPE"}]),
        ),
        ("balance", json!([])),
        (
            "whois",
            json!([{"name": "member", "type": 6, "value": TARGET.to_string()}]),
        ),
        (
            "credits",
            json!([{"name": "add", "type": 1, "options": [
                {"name": "member", "type": 6, "value": TARGET.to_string()},
                {"name": "amount", "type": 3, "value": "1.00"},
            ]}]),
        ),
        // `/server lookup`: the command's own rule lets every linked member in, the
        // subcommand's (any customer's servers) only support and admins.
        (
            "server",
            json!([{"name": "lookup", "type": 1, "options": [
                {"name": "member", "type": 6, "value": TARGET.to_string()},
            ]}]),
        ),
        ("status", json!([])),
        (
            "incident",
            json!([{"name": "declare", "type": 1, "options": [
                {"name": "kind", "type": 3, "value": "incident"},
                {"name": "title", "type": 3, "value": "Portal slow"},
                {"name": "impact", "type": 3, "value": "minor"},
                {"name": "components", "type": 3, "value": "portal"},
                {"name": "message", "type": 3, "value": "Looking into it."},
            ]}]),
        ),
        ("unlink", json!([])),
    ]
}

struct Row {
    what: &'static str,
    member: Member,
    /// The account to link first, with its platform role.
    account: Option<Role>,
    allowed: &'static [&'static str],
}

fn rows() -> Vec<Row> {
    let in_guild = |id: u64, name: &str, roles: &[u64]| {
        Member::new(id, name)
            .roles(roles.iter().copied())
            .in_guild(GUILD)
    };
    vec![
        Row {
            what: "unlinked, no role",
            member: in_guild(4001, "u-none", &[]),
            account: None,
            allowed: PUBLIC,
        },
        Row {
            what: "unlinked, admin role",
            member: in_guild(4002, "u-admin", &[ADMIN_ROLE]),
            account: None,
            allowed: PUBLIC,
        },
        Row {
            what: "unlinked, billing role",
            member: in_guild(4003, "u-billing", &[BILLING_ROLE]),
            account: None,
            allowed: PUBLIC,
        },
        Row {
            what: "linked customer, no role",
            member: in_guild(4004, "c-none", &[]),
            account: Some(Role::Customer),
            allowed: CUSTOMER,
        },
        Row {
            what: "linked staff, a lookalike role with another id",
            member: in_guild(4005, "c-lookalike", &[LOOKALIKE_ROLE]),
            account: Some(Role::Billing),
            allowed: CUSTOMER,
        },
        Row {
            what: "linked customer account holding the billing role",
            member: in_guild(4006, "c-billing", &[BILLING_ROLE]),
            account: Some(Role::Customer),
            allowed: CUSTOMER,
        },
        Row {
            what: "linked support, support role",
            member: in_guild(4007, "s-support", &[SUPPORT_ROLE]),
            account: Some(Role::Support),
            allowed: SUPPORT,
        },
        Row {
            what: "linked billing, billing role",
            member: in_guild(4008, "b-billing", &[BILLING_ROLE]),
            account: Some(Role::Billing),
            allowed: BILLING,
        },
        Row {
            what: "linked admin, admin role",
            member: in_guild(4009, "a-admin", &[ADMIN_ROLE]),
            account: Some(Role::Admin),
            allowed: ADMIN,
        },
        Row {
            what: "linked admin, admin role id in another guild",
            member: Member::new(4010, "a-elsewhere")
                .roles([ADMIN_ROLE])
                .in_guild(OTHER_GUILD),
            account: Some(Role::Admin),
            allowed: CUSTOMER,
        },
        Row {
            what: "linked admin in a DM",
            member: Member::new(4011, "a-dm"),
            account: Some(Role::Admin),
            allowed: CUSTOMER,
        },
        Row {
            what: "unlinked in a DM",
            member: Member::new(4012, "u-dm"),
            account: None,
            allowed: PUBLIC,
        },
    ]
}

/// Refusals of `command` for the Discord user `user` in the audit log.
async fn refusals(app: &hostdeck_e2e::app::TestApp, user: u64, command: &str) -> usize {
    app.core()
        .store()
        .audit()
        .audit_log(Page::first(200))
        .await
        .expect("the audit log")
        .items
        .into_iter()
        .filter(|entry| {
            entry.action == "discord.command"
                && entry.outcome == "denied"
                && entry.target.as_deref() == Some(&format!("discord:{user}"))
                && entry
                    .detail
                    .as_ref()
                    .and_then(|detail| detail["command"].as_str())
                    .is_some_and(|name| name.split(' ').next() == Some(command))
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_times_every_kind_of_member() {
    let discord = fake_discord().await;
    let db = TestDb::sqlite().await;
    let mut config = bot::config(&discord.api_base(), &discord.token());
    // Every member asks in the same channel, one after another.
    config.assistant.channel_cooldown = std::time::Duration::ZERO;
    let app = bot::start(&db, config.clone()).await;
    discord.wait_ready(WAIT).await;
    // The same commands registered globally too, so they can be tried in another guild and in
    // DMs (the bot still serves only its configured guild's roles).
    let mut global = config.discord.clone();
    global.guild_id = None;
    hostdeck_bot::register_from_config(&global)
        .await
        .expect("global registration");
    bot::linked_account(&app, "target@example.com", Role::Customer, TARGET, "target").await;
    discord.add_member(&Member::new(TARGET, "target").in_guild(GUILD));

    let mut checked = 0;
    for (index, row) in rows().into_iter().enumerate() {
        if let Some(role) = row.account {
            bot::linked_account(
                &app,
                &format!("member{index}@example.com"),
                role,
                row.member.user_id,
                &row.member.username,
            )
            .await;
        }
        discord.add_member(&row.member);
        for (command, options) in invocations() {
            let reply = discord.slash(&row.member, command, options).await;
            let responses = reply.wait(WAIT).await;
            let first = responses
                .first()
                .unwrap_or_else(|| panic!("{}: /{command} got no answer", row.what));
            assert!(first.accepted(), "{}: /{command}: {first:#?}", row.what);
            let refused = refusals(&app, row.member.user_id, command).await;
            let allowed = row.allowed.contains(&command);
            if allowed {
                assert_eq!(
                    refused,
                    0,
                    "{}: /{command} should run: {}",
                    row.what,
                    text_of(first)
                );
                // Allowed means it did its work, not that it failed in another way (only
                // /link, given a made-up code, is answered with a problem).
                if command != "link" {
                    for response in &responses {
                        let text = text_of(response);
                        assert!(
                            !text.contains("That did not work"),
                            "{}: /{command} should work: {text}",
                            row.what
                        );
                    }
                }
                if command == "credits" {
                    assert_eq!(
                        first.kind,
                        ResponseKind::Callback(9),
                        "{}: the modal",
                        row.what
                    );
                }
            } else {
                assert_eq!(
                    refused, 1,
                    "{}: /{command} should be refused and audited once",
                    row.what
                );
                assert!(
                    first.ephemeral(),
                    "{}: /{command} refusal is ephemeral",
                    row.what
                );
                let text = text_of(first);
                assert!(
                    text.contains("you need") || text.contains("/link") || text.contains("sign in"),
                    "{}: /{command} says what is needed: {text}",
                    row.what
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, rows().len() * invocations().len());
    assert_no_problems(&discord);
    app.running.shutdown().await.expect("shutdown");
}
