//! The `hostdeck` binary as an operator meets it: first run with no config at all, config
//! errors that exit 2 naming the key, `config check` that never prints a secret, `admin create`
//! with the password on standard input, `billing tick` run by hand, and a database that cannot
//! be reached.
//!
//! (The root package's only integration test; the rest of `tests/` is the hostdeck-e2e crate.)

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hostdeck");

/// The binary in an empty directory, with no HOSTDECK_* variables from the caller.
fn hostdeck(dir: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env_remove("HOSTDECK_LOG_FORMAT");
    for (key, _) in std::env::vars() {
        if key.starts_with("HOSTDECK_") {
            command.env_remove(key);
        }
    }
    command
}

fn run(command: &mut Command, stdin: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hostdeck");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("hostdeck finishes")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills the child if the test fails before it stops it.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_starts_in_an_empty_directory_with_no_config_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = Server(
        hostdeck(dir.path())
            .arg("serve")
            .env("HOSTDECK_WEB__BIND", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hostdeck serve"),
    );
    let stderr = server.0.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("serve never said it was ready:\n{}", log.join("\n")));
        if let Some(rest) = line.split("hostdeck is ready on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
        log.push(line);
    };
    assert!(
        log.iter()
            .any(|line| line.contains("the Discord bot is off: discord.token is not set")),
        "one line says why the bot is off:\n{}",
        log.join("\n")
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let health = runtime.block_on(async {
        reqwest::get(format!("http://{address}/healthz"))
            .await
            .expect("GET /healthz")
            .status()
    });
    assert_eq!(health, 200);
    assert!(
        dir.path().join("data/hostdeck.db").is_file(),
        "the SQLite database is created on first run"
    );

    let stopped = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(stopped.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("wait") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "a graceful stop exits 0, got {status}");
}

/// The database, its WAL files, the data and mail folders and each spooled email are the
/// service user's alone after a first run, even under a umask that would share them all.
#[cfg(unix)]
#[test]
fn first_run_keeps_the_database_and_the_mail_spool_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new("sh");
    command
        .args(["-c", "umask 000 && exec \"$0\" serve", BIN])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("HOSTDECK_WEB__BIND", "127.0.0.1:0")
        .env_remove("HOSTDECK_LOG_FORMAT");
    for (key, _) in std::env::vars() {
        if key.starts_with("HOSTDECK_") && key != "HOSTDECK_WEB__BIND" {
            command.env_remove(key);
        }
    }
    let mut server = Server(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hostdeck serve"),
    );
    let stderr = server.0.stderr.take().expect("stderr");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("serve says it is ready");
        if let Some(rest) = line.split("hostdeck is ready on http://").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .expect("an address")
                .to_owned();
        }
    };
    // A sign-up, so the spool gets an email.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let status = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("http://{address}/api/v1/auth/register"))
            .header("content-type", "application/json")
            .body(r#"{"email": "ada@example.com", "password": "violet kettle orbit 42"}"#)
            .send()
            .await
            .expect("POST register")
            .status()
    });
    assert_eq!(status, 202);
    let spool = dir.path().join("data/mail");
    let started = Instant::now();
    let eml = loop {
        let found = std::fs::read_dir(&spool).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| path.extension().is_some_and(|ext| ext == "eml"))
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no email in the spool"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let data = dir.path().join("data");
    for (path, expected) in [
        (data.clone(), 0o700),
        (spool, 0o700),
        (data.join("hostdeck.db"), 0o600),
        (data.join("hostdeck.db-wal"), 0o600),
        (data.join("hostdeck.db-shm"), 0o600),
        (eml, 0o600),
    ] {
        assert_eq!(
            mode(&path),
            expected,
            "{} is {:o}",
            path.display(),
            mode(&path)
        );
    }
}

#[test]
fn a_bad_config_value_exits_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        dir.path().join("bad.toml"),
        "[web]\nbind = \"everywhere\"\n",
    )
    .expect("write");
    let output = run(
        hostdeck(dir.path()).args(["--config", "bad.toml", "serve"]),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("web.bind") && stderr.contains("127.0.0.1:8080"),
        "{stderr}"
    );

    std::fs::write(
        dir.path().join("typo.toml"),
        "[database]\nurll = \"sqlite://x.db\"\n",
    )
    .expect("write");
    let output = run(
        hostdeck(dir.path()).args(["--config", "typo.toml", "migrate"]),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("database.urll") && stderr.contains("url"),
        "{stderr}"
    );

    let output = run(
        hostdeck(dir.path())
            .arg("serve")
            .env("HOSTDECK_WEB__REQUEST_TIMEOUT", "soon"),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("web.request_timeout") && stderr.contains("HOSTDECK_WEB__REQUEST_TIMEOUT"),
        "{stderr}"
    );

    let output = run(
        hostdeck(dir.path()).args(["--config", "missing.toml", "serve"]),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("missing.toml"),
        "{}",
        text(&output.stderr)
    );
    // The pricing file is checked at start too, and its problems name their line.
    std::fs::create_dir(dir.path().join("config")).expect("mkdir");
    std::fs::write(
        dir.path().join("config/pricing.toml"),
        "[[plans]]\nname = \"small\"\nvcpus = 1\nmemory_mib = 1024\ndisk_gib = 25\nmonthly = \"five\"\n",
    )
    .expect("write");
    let output = run(hostdeck(dir.path()).arg("serve"), "");
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("config/pricing.toml line 6") && stderr.contains("\"five\""),
        "{stderr}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "nothing is created when the config is bad"
    );
}

#[test]
fn config_check_prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = run(
        hostdeck(dir.path())
            .args(["config", "check"])
            .env("HOSTDECK_DISCORD__TOKEN", "MTA.bot-token-do-not-print")
            .env(
                "HOSTDECK_DATABASE__URL",
                "postgres://app:hunter2@db.internal:5432/hostdeck",
            )
            .env("HOSTDECK_WEB__BIND", "0.0.0.0:9000"),
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("bind = \"0.0.0.0:9000\""), "{stdout}");
    assert!(
        stdout.contains("postgres://app:[redacted]@db.internal:5432/hostdeck"),
        "{stdout}"
    );
    assert!(stdout.contains("token = \"[redacted]\""), "{stdout}");
    let everything = format!("{stdout}{}", text(&output.stderr));
    assert!(
        !everything.contains("hunter2") && !everything.contains("do-not-print"),
        "{everything}"
    );
}

#[test]
fn config_check_renders_the_assistant_prompts_and_hides_the_gemini_key() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let prompts = dir.path().join("my-prompts");
    std::fs::create_dir(&prompts).expect("a prompts folder");
    std::fs::write(
        prompts.join("system.jinja"),
        "You help {{ company }}. {{ canary }}",
    )
    .expect("a template");
    std::fs::write(prompts.join("question.jinja"), "{{ question }} {% if %}").expect("a template");
    let output = run(
        hostdeck(dir.path())
            .args(["config", "check"])
            .env("HOSTDECK_ASSISTANT__PROMPTS_DIR", &prompts)
            .env("HOSTDECK_GEMINI__API_KEY", "AIza-do-not-print"),
        "",
    );
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    assert!(stderr.contains("question.jinja"), "{stderr}");
    std::fs::write(prompts.join("question.jinja"), "{{ question }}").expect("a template");
    let output = run(
        hostdeck(dir.path())
            .args(["config", "check"])
            .env("HOSTDECK_ASSISTANT__PROMPTS_DIR", &prompts)
            .env("HOSTDECK_GEMINI__API_KEY", "AIza-do-not-print"),
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let everything = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(
        everything.contains("api_key = \"[redacted]\""),
        "{everything}"
    );
    assert!(!everything.contains("do-not-print"), "{everything}");
}

#[test]
fn amounts_with_a_decimal_point_can_be_set_from_the_environment() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = run(
        hostdeck(dir.path())
            .args(["config", "check"])
            .env("HOSTDECK_BILLING__MONTHLY_FREE_CREDIT", "1.50")
            .env("HOSTDECK_BILLING__SIGNUP_CREDIT", "2"),
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("monthly_free_credit = \"1.50\""),
        "{stdout}"
    );
    assert!(stdout.contains("signup_credit = \"2.00\""), "{stdout}");

    // Still checked as amounts, and the message names the variable.
    let output = run(
        hostdeck(dir.path())
            .args(["config", "check"])
            .env("HOSTDECK_BILLING__MONTHLY_FREE_CREDIT", "1.1234567"),
        "",
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("HOSTDECK_BILLING__MONTHLY_FREE_CREDIT"),
        "{stderr}"
    );
}

#[test]
fn admin_create_takes_the_password_on_stdin() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let output = run(
        hostdeck(dir.path()).args([
            "admin",
            "create",
            "--email",
            "Boss@Example.com",
            "--role",
            "admin",
        ]),
        "a long admin password\n",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("Created admin account"),
        "{}",
        text(&output.stdout)
    );

    let again = run(
        hostdeck(dir.path()).args(["admin", "create", "--email", "boss@example.com"]),
        "another long password\n",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );

    let weak = run(
        hostdeck(dir.path()).args(["admin", "create", "--email", "x@example.com"]),
        "short\n",
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(
        text(&weak.stderr).contains("at least 8 characters"),
        "{}",
        text(&weak.stderr)
    );

    let no_role = run(
        hostdeck(dir.path()).args([
            "admin",
            "create",
            "--email",
            "x@example.com",
            "--role",
            "root",
        ]),
        "a long password here\n",
    );
    assert_eq!(no_role.status.code(), Some(1));
    assert!(
        text(&no_role.stderr).contains("not a role"),
        "{}",
        text(&no_role.stderr)
    );

    let empty = run(
        hostdeck(dir.path()).args(["admin", "create", "--email", "y@example.com"]),
        "",
    );
    assert_eq!(empty.status.code(), Some(1));
    assert!(
        text(&empty.stderr).contains("no password given"),
        "{}",
        text(&empty.stderr)
    );
}

#[test]
/// The command's own job: it runs a tick at `--now`, prints what it did, and gives the monthly
/// credit once. (With no servers it bills nothing; the metering itself is the billing_tick
/// stories' subject.)
fn billing_tick_prints_what_it_did_and_gives_the_monthly_credit_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let created = run(
        hostdeck(dir.path()).args([
            "admin",
            "create",
            "--email",
            "customer@example.com",
            "--role",
            "customer",
        ]),
        "a long customer password\n",
    );
    assert!(created.status.success(), "{}", text(&created.stderr));

    std::fs::write(
        dir.path().join("credit.toml"),
        "[billing]\nmonthly_free_credit = \"1.50\"\n",
    )
    .expect("write");
    let tick = || {
        run(
            hostdeck(dir.path()).args([
                "--config",
                "credit.toml",
                "billing",
                "tick",
                "--now",
                "2026-11-02T05:30:00Z",
            ]),
            "",
        )
    };
    let first = tick();
    assert!(first.status.success(), "{}", text(&first.stderr));
    let stdout = text(&first.stdout);
    assert!(
        stdout.contains(
            "Billed 0 server hour(s), $0.00 in all, through 2026-11-02 05:00 UTC; \
             0 server(s) brought up to date in 0 batch(es)."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("Gave this month's free credit to 1 customer(s)."),
        "{stdout}"
    );

    let again = tick();
    assert!(again.status.success(), "{}", text(&again.stderr));
    let stdout = text(&again.stdout);
    assert!(stdout.contains("Billed 0 server hour(s)"), "{stdout}");
    assert!(
        !stdout.contains("free credit"),
        "the monthly credit is given once: {stdout}"
    );
}

#[test]
fn an_unreachable_database_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    // Port 9 (discard) on loopback: nothing listens there.
    let output = run(
        hostdeck(dir.path())
            .arg("migrate")
            .env(
                "HOSTDECK_DATABASE__URL",
                "postgres://app:hunter2@127.0.0.1:9/hostdeck",
            )
            .env("HOSTDECK_DATABASE__CONNECT_TIMEOUT", "2s"),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("could not connect to the database"),
        "{stderr}"
    );
    assert!(
        stderr.contains("database.url"),
        "says what to check: {stderr}"
    );
    assert!(
        !stderr.contains("hunter2") && !stderr.contains("panicked"),
        "{stderr}"
    );

    // A SQLite path that cannot be created.
    std::fs::write(dir.path().join("occupied"), "a file, not a directory").expect("write");
    let output = run(
        hostdeck(dir.path())
            .arg("migrate")
            .env("HOSTDECK_DATABASE__URL", "sqlite://occupied/hostdeck.db"),
        "",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("could not prepare the database"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(hostdeck(dir.path()).arg("migrate"), "");
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("up to date"));
}

#[test]
fn bot_register_commands_registers_in_the_configured_guild() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let discord = runtime.block_on(
        hostdeck_fakes::discord::FakeDiscord::builder()
            .guild(2000)
            .start(),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");

    // Without a token there is nothing to register, and the error says why.
    let output = run(hostdeck(dir.path()).args(["bot", "register-commands"]), "");
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("discord.token is not set"),
        "{}",
        text(&output.stderr)
    );

    let output = run(
        hostdeck(dir.path())
            .args(["bot", "register-commands"])
            .env("HOSTDECK_DISCORD__TOKEN", discord.token())
            .env("HOSTDECK_DISCORD__API_BASE", discord.api_base())
            .env("HOSTDECK_DISCORD__GUILD_ID", "2000"),
        "",
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("Registered 11 commands in guild 2000"),
        "{}",
        text(&output.stdout)
    );
    let names: Vec<String> = discord
        .registered_commands(Some(2000))
        .iter()
        .filter_map(|command| command["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "ask", "help", "link", "unlink", "balance", "whois", "credits", "server", "ticket",
            "status", "incident"
        ]
    );
    assert!(discord.recorder().problems().is_empty());
}

#[test]
fn kb_export_then_import_round_trips_and_reports_per_slug() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let export = run(hostdeck(dir.path()).args(["kb", "export", "kb"]), "");
    assert!(export.status.success(), "{}", text(&export.stderr));
    assert!(
        text(&export.stdout).contains("Wrote "),
        "{}",
        text(&export.stdout)
    );
    let exported = dir.path().join("kb");
    let starter = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/knowledge");
    for entry in std::fs::read_dir(&starter).expect("config/knowledge") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().expect("a name");
        assert_eq!(
            std::fs::read_to_string(exported.join(name)).expect("exported"),
            std::fs::read_to_string(&path).expect("shipped"),
            "{name:?} exports as shipped"
        );
    }

    let again = run(hostdeck(dir.path()).args(["kb", "import", "kb"]), "");
    assert!(again.status.success(), "{}", text(&again.stderr));
    let report = text(&again.stdout);
    assert!(report.contains("unchanged power-actions"), "{report}");
    assert!(report.contains("0 created, 0 updated,"), "{report}");

    let file = exported.join("power-actions.md");
    let edited = std::fs::read_to_string(&file)
        .expect("read")
        .replace("four power actions", "four power actions (and no more)");
    std::fs::write(&file, edited).expect("edit");
    std::fs::write(
        exported.join("new-one.md"),
        "+++\ntitle = \"New\"\nkind = \"faq\"\ntags = []\n+++\n\nA new article.\n",
    )
    .expect("write");
    let changed = run(hostdeck(dir.path()).args(["kb", "import", "kb"]), "");
    let report = text(&changed.stdout);
    assert!(report.contains("updated   power-actions"), "{report}");
    assert!(report.contains("created   new-one"), "{report}");
    assert!(report.contains("1 created, 1 updated,"), "{report}");

    std::fs::write(
        exported.join("broken.md"),
        "+++\ntitle = \"Broken\"\nkind = \"faq\"\ntags = [\n+++\n\nBody.\n",
    )
    .expect("write");
    let refused = run(hostdeck(dir.path()).args(["kb", "import", "kb"]), "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("broken.md, line"),
        "{}",
        text(&refused.stderr)
    );
}
