//! Who is invoking, and may they: the member from the interaction and their actor from core.
//! The global check runs before every command: maintenance first (`/status` stays open), then
//! the permission core's table ([`hostdeck_core::discord_commands`]) says the command needs;
//! core checks again inside every service call. Buttons and modals pass the same maintenance check ([`admit`]).

use hostdeck_core::Core;
use hostdeck_core::discord_commands::{open_during_maintenance, rule_for, subcommand_permission};
use hostdeck_core::discord_links::{DiscordMember, MemberAccess};
use poise::serenity_prelude as serenity;

use crate::errors::BotError;
use crate::{Context, Data};

/// Who pressed a button or submitted a modal.
pub struct Invoker {
    pub member: DiscordMember,
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
    Ok(ctx
        .data()
        .core
        .discord_links
        .access(&member_of(ctx))
        .await?)
}

/// Whether maintenance lets the member in (core decides: while it is on, only admins, by their
/// Discord role and their linked account both); a refusal is the notice the web shows.
pub async fn admit(core: &Core, access: &MemberAccess) -> Result<(), BotError> {
    let account_role = access.account.as_ref().map(|user| user.role);
    core.maintenance
        .admit_member(&access.actor, account_role, &core.config.company.name)
        .await?;
    Ok(())
}

/// The check before every command: resolve the member, let maintenance refuse them, require
/// the command's permission (a refusal is audited by core and answered by `on_error`), keep the
/// access for the command.
pub fn check(ctx: Context<'_>) -> poise::BoxFuture<'_, Result<bool, BotError>> {
    Box::pin(async move {
        let data: &Data = ctx.data();
        let name = ctx.command().qualified_name.clone();
        let access = data.core.discord_links.access(&member_of(ctx)).await?;
        if !open_during_maintenance(&name) {
            admit(&data.core, &access).await?;
        }
        let Some(rule) = rule_for(&name) else {
            let error = hostdeck_core::Error::Forbidden(format!("/{name} is not a command here."));
            data.core
                .discord_links
                .record_refusal(&access, &name, &error)
                .await;
            return Err(error.into());
        };
        data.core
            .discord_links
            .require(&access, rule.permission, &name)
            .await?;
        if let Some(permission) = subcommand_permission(&name) {
            data.core
                .discord_links
                .require(&access, permission, &name)
                .await?;
        }
        ctx.set_invocation_data(access).await;
        Ok(true)
    })
}

#[cfg(test)]
mod tests {
    use hostdeck_core::discord_commands::{COMMANDS, SUBCOMMANDS, rule_for};

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
        assert!(rule_for("nonsense").is_none());
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
