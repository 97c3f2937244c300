//! Who is invoking, and may they: the member from the interaction, their actor from core, and
//! the one table of which permission each command needs. The global check runs before every
//! command; core checks again inside every service call.

use hostdeck_core::Permission;
use hostdeck_core::discord_links::{DiscordMember, MemberAccess};
use poise::serenity_prelude as serenity;

use crate::errors::BotError;
use crate::{Context, Data};

/// A command of this bot, what it needs, and how `/help` describes it.
pub struct CommandRule {
    pub name: &'static str,
    pub permission: Permission,
    pub help: &'static str,
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandRule] = &[
    CommandRule {
        name: "help",
        permission: Permission::ViewHelp,
        help: "the commands you may use here",
    },
    CommandRule {
        name: "link",
        permission: Permission::LinkDiscord,
        help: "link your Discord account with a code from your account page",
    },
    CommandRule {
        name: "unlink",
        permission: Permission::UpdateOwnProfile,
        help: "unlink your Discord account",
    },
    CommandRule {
        name: "balance",
        permission: Permission::ReadOwnBilling,
        help: "your balance, what your servers cost an hour, and how long it lasts",
    },
    CommandRule {
        name: "whois",
        permission: Permission::ReadAnyUser,
        help: "a member's linked customer account (staff)",
    },
    CommandRule {
        name: "credits",
        permission: Permission::AdjustCredits,
        help: "add or remove a customer's credit, with a reason (billing staff)",
    },
    CommandRule {
        name: "server",
        // Each subcommand's own permission (control, suspend, look up) is checked by core.
        permission: Permission::ReadOwnServers,
        help: "your servers: list, info, power, create, resize; staff: suspend, unsuspend, lookup",
    },
];

/// Subcommands that need more than their command: checked, and a refusal audited, before the
/// subcommand runs, like every command's own rule (core checks again inside the call).
pub const SUBCOMMANDS: &[(&str, Permission)] = &[
    ("server power", Permission::ControlOwnServers),
    ("server resize", Permission::ControlOwnServers),
    ("server create", Permission::CreateServers),
    ("server suspend", Permission::SuspendServers),
    ("server unsuspend", Permission::SuspendServers),
    ("server lookup", Permission::ReadAnyServer),
];

/// The extra permission a subcommand needs, by its qualified name (`server suspend`).
pub fn subcommand_permission(qualified_name: &str) -> Option<Permission> {
    SUBCOMMANDS
        .iter()
        .find(|(name, _)| *name == qualified_name)
        .map(|(_, permission)| *permission)
}

/// The rule of a command by its top-level name.
pub fn rule_for(qualified_name: &str) -> Option<&'static CommandRule> {
    let root = qualified_name.split(' ').next().unwrap_or_default();
    COMMANDS.iter().find(|rule| rule.name == root)
}

/// The member behind an interaction: user, guild, and role ids (none in a DM).
pub fn member_from(
    user: &serenity::User,
    guild_id: Option<serenity::GuildId>,
    member: Option<&serenity::Member>,
) -> DiscordMember {
    DiscordMember {
        user_id: user.id.get(),
        name: user.name.clone(),
        guild_id: guild_id.map(|id| id.get()),
        role_ids: member
            .map(|member| member.roles.iter().map(|role| role.get()).collect())
            .unwrap_or_default(),
    }
}

pub fn member_of(ctx: Context<'_>) -> DiscordMember {
    match ctx {
        poise::Context::Application(app) => member_from(
            &app.interaction.user,
            app.interaction.guild_id,
            app.interaction.member.as_deref(),
        ),
        poise::Context::Prefix(prefix) => {
            member_from(&prefix.msg.author, prefix.msg.guild_id, None)
        }
    }
}

/// The invoking member's access, as the check resolved it.
pub async fn access(ctx: Context<'_>) -> Result<MemberAccess, BotError> {
    if let Some(access) = ctx.invocation_data::<MemberAccess>().await {
        return Ok(access.clone());
    }
    Ok(ctx.data().core.discord.access(&member_of(ctx)).await?)
}

/// The check before every command: resolve the member, require the command's permission (a
/// refusal is audited by core and answered by `on_error`), keep the access for the command.
pub fn check(ctx: Context<'_>) -> poise::BoxFuture<'_, Result<bool, BotError>> {
    Box::pin(async move {
        let data: &Data = ctx.data();
        let name = ctx.command().qualified_name.clone();
        let access = data.core.discord.access(&member_of(ctx)).await?;
        let Some(rule) = rule_for(&name) else {
            let error = hostdeck_core::Error::Forbidden(format!("/{name} is not a command here."));
            data.core
                .discord
                .record_refusal(&access, &name, &error)
                .await;
            return Err(error.into());
        };
        data.core
            .discord
            .require(&access, rule.permission, &name)
            .await?;
        if let Some(permission) = subcommand_permission(&name) {
            data.core
                .discord
                .require(&access, permission, &name)
                .await?;
        }
        ctx.set_invocation_data(access).await;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_exactly_one_rule() {
        let commands = crate::commands::all();
        for command in &commands {
            assert!(
                rule_for(&command.qualified_name).is_some(),
                "/{} has no permission rule",
                command.qualified_name
            );
            // The framework names subcommands "parent child" when it starts.
            for sub in &command.subcommands {
                let name = format!("{} {}", command.name, sub.name);
                let rule = rule_for(&name).map(|rule| rule.name);
                assert_eq!(rule, Some(&*command.name), "/{name}");
            }
        }
        assert_eq!(commands.len(), COMMANDS.len());
        assert!(rule_for("ask").is_none());
        // Every subcommand rule names a real subcommand.
        for (name, _) in SUBCOMMANDS {
            let (parent, child) = name.split_once(' ').expect("parent child");
            assert!(
                commands.iter().any(|command| command.name == parent
                    && command.subcommands.iter().any(|sub| sub.name == child)),
                "/{name} is not a subcommand"
            );
        }
    }
}
