#[test]
fn a_forwarded_entry_that_is_no_address_never_makes_the_proxy_the_client() {
    let web = super::WebConfig {
        trusted_proxies: vec!["10.0.0.1".parse().expect("a proxy")],
        ..Default::default()
    };
    let proxy = "10.0.0.1".parse().expect("an address");
    let ask = |values: &[&[u8]]| web.client_address(proxy, values.iter().copied());
    assert_eq!(ask(&[b"198.51.100.7"]), "198.51.100.7");
    assert_eq!(ask(&[b"198.51.100.7, 10.0.0.1"]), "198.51.100.7");
    for garbage in [
        &b"\xff\xfe"[..],
        b"198.51.100.7, not-an-address",
        b"caf\xc3\xa9",
    ] {
        let client = ask(&[garbage]);
        assert!(client.starts_with("xff:"), "{client}");
        assert_ne!(client, "10.0.0.1");
    }
    assert_ne!(
        ask(&[b"one"]),
        ask(&[b"two"]),
        "different clients stay apart"
    );
    // Not UTF-8 in the header is still read: the entry to the right is believed.
    assert_eq!(ask(&[b"\xff, 203.0.113.5"]), "203.0.113.5");
}

use super::*;

#[test]
fn defaults_need_no_file() {
    let config = Config::from_toml("").expect("defaults are valid");
    assert_eq!(config.web.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.database.url.expose_secret(),
        "sqlite://data/hostdeck.db"
    );
    assert_eq!(config.billing.currency.code(), "USD");
    assert!(config.discord.token.is_none());
}

#[test]
fn an_unknown_key_is_named() {
    let error = Config::from_toml("[web]\nbnd = \"127.0.0.1:1\"\n").expect_err("unknown key");
    let text = error.to_string();
    assert!(text.contains("web.bnd"), "{text}");
    assert!(text.contains("bind"), "{text}");
}

#[test]
fn a_bad_value_is_named_with_what_is_expected() {
    let error = Config::from_toml("[web]\nbind = \"nope\"\n").expect_err("bad value");
    let text = error.to_string();
    assert!(text.contains("web.bind"), "{text}");
    let error = Config::from_toml("[billing]\ncurrency = \"DOLLARS\"\n").expect_err("bad currency");
    assert!(error.to_string().contains("billing.currency"), "{error}");
    let error = Config::from_toml("[database]\nurl = \"mysql://x\"\n").expect_err("bad url");
    assert!(error.to_string().contains("database.url"), "{error}");
}

#[test]
fn billing_limits_are_checked() {
    for (toml, key) in [
        (
            "[billing]\ntick_interval = \"0s\"\n",
            "billing.tick_interval",
        ),
        (
            "[billing]\ntick_interval = \"500ms\"\n",
            "billing.tick_interval",
        ),
        (
            "[billing]\nmax_catchup_hours = 0\n",
            "billing.max_catchup_hours",
        ),
        (
            "[billing]\nsignup_credit = \"1000000000.01\"\n",
            "billing.signup_credit",
        ),
        (
            "[billing]\nmonthly_free_credit = \"1000000000.01\"\n",
            "billing.monthly_free_credit",
        ),
    ] {
        let error = Config::from_toml(toml).expect_err(toml);
        assert!(error.to_string().contains(key), "{toml}: {error}");
    }
    let config = Config::from_toml(
        "[billing]\ntick_interval = \"1s\"\nmax_catchup_hours = 1\n\
         signup_credit = \"1000000000\"\nmonthly_free_credit = \"1000000000\"\n",
    )
    .expect("the limits themselves are allowed");
    assert_eq!(config.billing.max_catchup_hours, 1);
}

#[test]
fn secrets_never_print() {
    let config = Config::from_toml(
        "[database]\nurl = \"postgres://app:hunter2@db.internal/hostdeck\"\n[discord]\ntoken = \"MTIz.secret-token\"\n",
    )
    .expect("valid");
    let shown = config.redacted_toml();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("secret-token"), "{shown}");
    assert!(
        shown.contains("postgres://app:[redacted]@db.internal/hostdeck"),
        "{shown}"
    );
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("secret-token"),
        "{debug}"
    );
}

#[test]
fn the_redacted_output_loads_back() {
    let config = Config::from_toml("[web]\nbind = \"0.0.0.0:9000\"\n").expect("valid");
    let again = Config::from_toml(&config.redacted_toml()).expect("round trip");
    assert_eq!(again.web.bind, config.web.bind);
}

#[test]
fn the_example_file_documents_every_key_and_loads() {
    let example = include_str!("../../../config/hostdeck.example.toml");
    // Every key, uncommented, must load...
    let uncommented: String = example
        .lines()
        .map(|line| {
            line.strip_prefix("# ")
                .filter(|rest| looks_like_setting(rest))
                .unwrap_or(line)
        })
        .collect::<Vec<_>>()
        .join("\n")
        // Relative paths are relative to where hostdeck runs: the repository root.
        .replace(
            "\"config/pricing.toml\"",
            concat!(
                "\"",
                env!("CARGO_MANIFEST_DIR"),
                "/../config/pricing.toml\""
            ),
        )
        // A PEM file of roots must exist to load: the unit tests' root stands in.
        .replace(
            "\"/etc/hostdeck/paypal-roots.pem\"",
            concat!(
                "\"",
                env!("CARGO_MANIFEST_DIR"),
                "/src/payments/testdata/root.pem\""
            ),
        );
    assert!(uncommented.contains("/../config/pricing.toml"));
    let full =
        Config::from_toml(&uncommented).expect("the example config loads with every key set");
    // `config check` can show it all, the status components' tables too.
    let shown = full.redacted_toml();
    assert!(shown.contains("[[status.components]]"), "{shown}");
    assert!(!shown.contains("your-betterstack-uptime-token"), "{shown}");
    // ...and every key of the config must appear in it, in its own section. JSON keeps the
    // keys whose value is None (TOML would drop them); the providers section hides an unset
    // drift_webhook, so it is set here.
    let mut config = Config::default();
    config.providers.drift_webhook = Some(SecretString::from("set"));
    let sections = serde_json::to_value(&config).expect("json");
    let sections = sections.as_object().expect("sections");
    for (section, table) in sections {
        let text = section_text(example, section)
            .unwrap_or_else(|| panic!("[{section}] is not documented"));
        for key in table.as_object().expect("a table").keys() {
            assert!(
                settings(text).any(|setting| setting == key.as_str()),
                "{section}.{key} is not documented"
            );
        }
    }
    // Every key a provider may have, as NAME.key in the providers section.
    let provider: crate::providers::ProviderConfig =
        toml::from_str("kind = \"sandbox\"").expect("a provider");
    let provider = serde_json::to_value(&provider).expect("json");
    let text = section_text(example, "providers").expect("[providers]");
    for key in provider.as_object().expect("a table").keys() {
        assert!(
            settings(text).any(|setting| setting
                .rsplit_once('.')
                .is_some_and(|(_, last)| last == key)),
            "providers.NAME.{key} is not documented"
        );
    }
}

#[test]
fn settings_match_whole_keys_in_their_own_section() {
    let example = "[a]\n# base_url = \"x\"\n[b]\nurl = 1\n";
    let a: Vec<&str> = settings(section_text(example, "a").expect("a")).collect();
    assert_eq!(a, ["base_url"]);
    assert!(!a.contains(&"url"), "url is not base_url");
    let b: Vec<&str> = settings(section_text(example, "b").expect("b")).collect();
    assert_eq!(b, ["url"]);
    assert!(section_text(example, "c").is_none());
}

/// The lines of `[section]`, up to the next section header.
fn section_text<'a>(example: &'a str, section: &str) -> Option<&'a str> {
    let header = format!("[{section}]");
    let start = example
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .find(|(_, line)| line.trim() == header)
        .map(|(at, line)| at + line.len())?;
    let rest = &example[start..];
    let end = rest
        .lines()
        .scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line))
        })
        .skip(1)
        .find(|(_, line)| line.starts_with('['))
        .map_or(rest.len(), |(at, _)| at);
    Some(&rest[..end])
}

/// The keys set, or shown commented out, in a piece of the example: `key = ` at a line's
/// start, after an optional `# `.
fn settings(text: &str) -> impl Iterator<Item = &str> {
    text.lines().filter_map(|line| {
        let line = line.strip_prefix("# ").unwrap_or(line);
        line.split_once(" = ")
            .map(|(key, _)| key)
            .filter(|key| looks_like_setting(&format!("{key} = x")))
    })
}

fn looks_like_setting(text: &str) -> bool {
    text.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
    })
}
