//! The command line: one binary, a subcommand per job.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hostdeck",
    version,
    about = "The operations platform of a VPS hosting business: Discord bot, customer portal, JSON API and billing.",
    after_help = "Configuration: config/hostdeck.toml (or --config), overridden by HOSTDECK_SECTION__KEY \
                  environment variables. Logs: RUST_LOG filters, HOSTDECK_LOG_FORMAT=json for JSON lines."
)]
pub struct Cli {
    /// Config file to read instead of config/hostdeck.toml.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the platform: web portal, JSON API, webhooks, scheduler, and the bot when configured.
    Serve,
    /// Bring the database schema up to date, then exit.
    Migrate,
    /// Work with the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Administer accounts.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Hourly billing.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Work with the Discord bot.
    #[command(subcommand)]
    Bot(BotCommand),
    /// The knowledge base: help articles as Markdown files, one `<slug>.md` each.
    #[command(subcommand)]
    Kb(KbCommand),
}

#[derive(Debug, Subcommand)]
pub enum KbCommand {
    /// Read every `<slug>.md` of DIR into the knowledge base and print, per slug, whether it
    /// was created, updated or unchanged. A bad file stops the import before anything is
    /// written, naming the file and the line.
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Write every article, drafts included, to DIR as `<slug>.md` (created when missing;
    /// files of the same name are replaced).
    Export {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum BotCommand {
    /// Register the slash commands with Discord: in discord.guild_id when set, else globally.
    RegisterCommands,
}

#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Bill every hour that ended and is not billed yet, give due credit, walk the balance
    /// rules, and print what was done. Safe beside `serve`: every hour is billed once.
    Tick(BillingTick),
}

#[derive(Debug, Args)]
pub struct BillingTick {
    /// Bill as if it were this time (RFC 3339, e.g. 2026-11-21T10:05:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<chrono::DateTime<chrono::FixedOffset>>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the configuration and print the effective values, secrets redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account. The password is read from standard input.
    Create(CreateAccount),
}

#[derive(Debug, Args)]
pub struct CreateAccount {
    /// The account's email address.
    #[arg(long)]
    pub email: String,
    /// customer, support, billing or admin.
    #[arg(long, default_value = "admin")]
    pub role: String,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_a_global_option() {
        let cli = Cli::try_parse_from(["hostdeck", "serve", "--config", "x.toml"]).expect("parses");
        assert_eq!(cli.config, Some(PathBuf::from("x.toml")));
        assert!(matches!(cli.command, Command::Serve));
        let cli = Cli::try_parse_from(["hostdeck", "--config", "y.toml", "config", "check"])
            .expect("parses");
        assert!(matches!(cli.command, Command::Config(ConfigCommand::Check)));
    }

    #[test]
    fn billing_tick_takes_an_optional_time() {
        let cli = Cli::try_parse_from(["hostdeck", "billing", "tick"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Billing(BillingCommand::Tick(BillingTick { now: None }))
        ));
        let cli = Cli::try_parse_from([
            "hostdeck",
            "billing",
            "tick",
            "--now",
            "2026-11-21T10:05:00Z",
        ])
        .expect("parses");
        let Command::Billing(BillingCommand::Tick(tick)) = cli.command else {
            panic!("billing tick")
        };
        assert_eq!(
            tick.now.map(|now| now.to_rfc3339()).as_deref(),
            Some("2026-11-21T10:05:00+00:00")
        );
        assert!(
            Cli::try_parse_from(["hostdeck", "billing", "tick", "--now", "yesterday"]).is_err()
        );
    }

    #[test]
    fn bot_register_commands_parses() {
        let cli = Cli::try_parse_from(["hostdeck", "bot", "register-commands"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Bot(BotCommand::RegisterCommands)
        ));
    }

    #[test]
    fn kb_import_and_export_take_a_folder() {
        let cli =
            Cli::try_parse_from(["hostdeck", "kb", "import", "config/knowledge"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Kb(KbCommand::Import { dir }) if dir == std::path::Path::new("config/knowledge")
        ));
        assert!(Cli::try_parse_from(["hostdeck", "kb", "export"]).is_err());
    }

    #[test]
    fn admin_create_needs_an_email() {
        assert!(Cli::try_parse_from(["hostdeck", "admin", "create"]).is_err());
        let cli = Cli::try_parse_from([
            "hostdeck", "admin", "create", "--email", "a@b.co", "--role", "billing",
        ])
        .expect("parses");
        let Command::Admin(AdminCommand::Create(create)) = cli.command else {
            panic!("admin create")
        };
        assert_eq!(
            (create.email.as_str(), create.role.as_str()),
            ("a@b.co", "billing")
        );
    }
}
