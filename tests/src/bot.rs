//! hostdeck with its Discord bot pointed at a fake Discord (`hostdeck_fakes::discord`): the
//! config that routes REST and the gateway there, one guild with a role id per staff role, and
//! shortcuts to make linked members.

use std::sync::Arc;

use hostdeck_core::Role;
use hostdeck_core::clock::SystemClock;
use hostdeck_core::config::Config;
use hostdeck_core::discord_links::DiscordMember;
use hostdeck_core::users::User;
use secrecy::{ExposeSecret, SecretString};

use crate::app::TestApp;
use crate::db::TestDb;

/// The guild the bot serves in these tests.
pub const GUILD: u64 = 2000;
/// Another guild the bot is in, where staff roles mean nothing.
pub const OTHER_GUILD: u64 = 2900;
pub const ADMIN_ROLE: u64 = 2101;
pub const SUPPORT_ROLE: u64 = 2102;
pub const BILLING_ROLE: u64 = 2103;

/// The Discord role id configured for `role` (customers have none).
pub fn role_id(role: Role) -> Option<u64> {
    match role {
        Role::Admin => Some(ADMIN_ROLE),
        Role::Support => Some(SUPPORT_ROLE),
        Role::Billing => Some(BILLING_ROLE),
        Role::Customer => None,
    }
}

/// The config of a platform whose bot talks to the fake at `api_base` with `token`.
pub fn config(api_base: &str, token: &str) -> Config {
    let mut config = Config::default();
    config.discord.token = Some(SecretString::from(token.to_owned()));
    config.discord.api_base = url::Url::parse(api_base).expect("the fake's base is a URL");
    config.discord.guild_id = Some(GUILD);
    config.discord.roles.admin = vec![ADMIN_ROLE];
    config.discord.roles.support = vec![SUPPORT_ROLE];
    config.discord.roles.billing = vec![BILLING_ROLE];
    config.discord.shards = Some(1);
    config
}

/// The platform, bot included, on `db` with `config`.
pub async fn start(db: &TestDb, config: Config) -> TestApp {
    TestApp::start(db.core_with(config, Arc::new(SystemClock)).await).await
}

/// A linked account: who it is on the platform and on Discord.
pub struct Linked {
    pub user: User,
    pub discord_user_id: u64,
    /// A portal and API session of the account (with two-factor for staff).
    pub token: String,
}

/// Creates an account with `role` (two-factor on for staff, as staff must have it), and links
/// the Discord user `discord_user_id` to it through a portal code, as a person would.
pub async fn linked_account(
    app: &TestApp,
    email: &str,
    role: Role,
    discord_user_id: u64,
    name: &str,
) -> Linked {
    let signed_in = app.user(email, role).await;
    let mut token = signed_in.token.clone();
    if role != Role::Customer {
        token = app.turn_on_two_factor(&signed_in.token).await.0;
    }
    let core = app.core();
    let actor = hostdeck_core::Actor::user(signed_in.user.id, role, hostdeck_core::Via::Portal);
    let code = core
        .discord_links
        .issue_code(&actor)
        .await
        .expect("a link code");
    let member = DiscordMember {
        user_id: discord_user_id,
        name: name.to_owned(),
        guild_id: Some(GUILD),
        role_ids: Vec::new(),
    };
    let user = core
        .discord_links
        .link(&member, code.code.expose_secret())
        .await
        .expect("the code links");
    Linked {
        user,
        discord_user_id,
        token,
    }
}
