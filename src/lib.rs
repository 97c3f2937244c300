//! The `hostdeck` binary as a library: the CLI, `serve`, and the jobs the CLI runs. Kept as a
//! library so end-to-end tests can start the very same platform in-process.

pub mod cli;
pub mod connections;
pub mod logging;
pub mod serve;

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use hostdeck_core::config::Config;
use hostdeck_core::email::Email;
use hostdeck_core::users::NewAccount;
use hostdeck_core::{Actor, Core, Role};
use secrecy::SecretString;

use cli::{AdminCommand, BillingCommand, BotCommand, Cli, Command, ConfigCommand, KbCommand};

/// Exit code for a configuration (or usage) error, as clap uses for usage errors.
pub const EXIT_CONFIG: u8 = 2;

pub fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    logging::init();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            eprintln!("See config/hostdeck.example.toml for every key and what it expects.");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command, config, started)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config, started: Instant) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(config, started).await,
        Command::Migrate => {
            let core = Core::open(config).await?;
            core.close().await;
            println!("The database is up to date.");
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            hostdeck_core::assistant::prompts::Prompts::check(&config)
                .map_err(|problem| anyhow::anyhow!("assistant prompts: {problem}"))?;
            print!("{}", config.redacted_toml());
            eprintln!("The configuration is valid.");
            Ok(())
        }
        Command::Bot(BotCommand::RegisterCommands) => {
            let count = hostdeck_bot::register_from_config(&config.discord)
                .await
                .map_err(|error| anyhow::anyhow!(error))?;
            match config.discord.guild_id {
                Some(guild) => println!("Registered {count} commands in guild {guild}."),
                None => println!(
                    "Registered {count} global commands (Discord may take a while to show them)."
                ),
            }
            Ok(())
        }
        Command::Admin(AdminCommand::Create(create)) => {
            let email = Email::parse(&create.email)?;
            let role = Role::parse(&create.role)?;
            let password = read_password()?;
            let core = Core::open(config).await?;
            let account = NewAccount {
                email,
                role,
                password,
                email_verified: true,
            };
            let created = core.users.create(&Actor::cli(), account).await;
            core.close().await;
            let user = created?;
            println!(
                "Created {} account {} for {}.",
                user.role, user.id, user.email
            );
            Ok(())
        }
        Command::Kb(command) => knowledge(command, config).await,
        Command::Billing(BillingCommand::Tick(tick)) => {
            let core = Core::open(config).await?;
            let now = tick.now.map(|now| now.with_timezone(&chrono::Utc));
            let report = core.billing.run_once(&Actor::cli(), now).await;
            core.close().await;
            println!("{}", report?.describe(&core.config.billing.currency));
            Ok(())
        }
    }
}

/// `hostdeck kb import|export DIR`.
async fn knowledge(command: KbCommand, config: Config) -> anyhow::Result<()> {
    use hostdeck_core::knowledge::{Saved, files};
    let core = Core::open(config).await?;
    let done = match command {
        KbCommand::Import { dir } => match files::read_dir(&dir) {
            Ok(found) => core
                .knowledge
                .import(&Actor::cli(), &found)
                .await
                .map(|report| {
                    for (slug, saved) in &report.articles {
                        println!("{:<9} {slug}", saved.as_str());
                    }
                    println!(
                        "{} created, {} updated, {} unchanged.",
                        report.count(Saved::Created),
                        report.count(Saved::Updated),
                        report.count(Saved::Unchanged)
                    );
                }),
            Err(error) => Err(error),
        },
        KbCommand::Export { dir } => match core.knowledge.export(&Actor::cli()).await {
            Ok(written) => files::write_dir(&dir, &written).map(|()| {
                println!("Wrote {} articles to {}.", written.len(), dir.display());
            }),
            Err(error) => Err(error),
        },
    };
    core.close().await;
    Ok(done?)
}

/// The password from standard input: typed without echo on a terminal, else the first line.
fn read_password() -> anyhow::Result<SecretString> {
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!(
            "no password given: pipe it on standard input, e.g. `echo \"$PASSWORD\" | hostdeck admin create --email you@example.com`"
        );
    }
    Ok(SecretString::from(password))
}
