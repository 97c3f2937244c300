//! Which permission each Discord command needs: the bot's global check reads this table before
//! every command (and core checks again inside every service call), and `/help` lists from it.
//! The bot defines the commands themselves; a bot test holds the two to one another.

use crate::policy::{Actor, Permission};

/// A Discord command, what it needs, and how `/help` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRule {
    pub name: &'static str,
    pub permission: Permission,
    pub help: &'static str,
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandRule] = &[
    CommandRule {
        name: "ask",
        permission: Permission::Ask,
        help: "ask a question: answered from our help articles, with sources and a way to a person",
    },
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
    CommandRule {
        name: "ticket",
        // Each subcommand's own permission is checked below; core checks the ticket itself.
        permission: Permission::ReadOwnTickets,
        help: "support tickets: open, close, reopen, transcript; staff: claim, assign, priority, note, suggest",
    },
    CommandRule {
        name: "status",
        permission: Permission::ViewStatus,
        help: "the status of the platform: its components, incidents and maintenance",
    },
    CommandRule {
        name: "incident",
        permission: Permission::ManageIncidents,
        help: "declare, update and resolve incidents and maintenance on the status (support, admin)",
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
    ("ticket open", Permission::WriteOwnTickets),
    ("ticket claim", Permission::ManageTickets),
    ("ticket assign", Permission::ManageTickets),
    ("ticket priority", Permission::ManageTickets),
    ("ticket note", Permission::ReplyAsStaff),
    ("ticket suggest", Permission::ReplyAsStaff),
    ("ticket close", Permission::WriteOwnTickets),
    ("ticket reopen", Permission::WriteOwnTickets),
    ("ticket transcript", Permission::ReadOwnTickets),
];

/// Commands maintenance mode leaves open, as the web leaves the status page open: while the
/// platform is down for maintenance, people most want to know what is going on.
pub const OPEN_DURING_MAINTENANCE: &[&str] = &["status"];

/// Whether the command `qualified_name` answers while maintenance keeps everyone else out.
pub fn open_during_maintenance(qualified_name: &str) -> bool {
    OPEN_DURING_MAINTENANCE.contains(&qualified_name)
}

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

/// The commands `actor` may use, in `/help`'s order.
pub fn offered_to(actor: &Actor) -> impl Iterator<Item = &'static CommandRule> + '_ {
    COMMANDS
        .iter()
        .filter(move |rule| actor.can(rule.permission))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Via;

    #[test]
    fn subcommands_find_their_command_and_strangers_see_only_public_commands() {
        assert_eq!(
            rule_for("server suspend").map(|rule| rule.name),
            Some("server")
        );
        assert!(rule_for("nonsense").is_none());
        assert_eq!(
            subcommand_permission("server lookup"),
            Some(Permission::ReadAnyServer)
        );
        let offered: Vec<_> = offered_to(&Actor::anonymous(Via::Discord))
            .map(|rule| rule.name)
            .collect();
        assert_eq!(offered, vec!["ask", "help", "link", "status"]);
    }
}
