//! What config sections share, below every section: amounts written as text, secrets shown
//! redacted, and the error that names each wrong key. It imports no section, so any area's
//! section can use it.

use secrecy::SecretString;
use serde::Serializer;

/// What is wrong with the config, one line per problem, each naming its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<String>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, line) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "config error: {line}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// What a secret is shown as (the store's word, which its database URLs are shown with).
pub use crate::store::config::REDACTED;

/// Shows a secret as set or not, never its value.
pub fn serialize_secret<S: Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str(REDACTED),
        None => serializer.serialize_none(),
    }
}

/// An amount in the config, written as people write it: text (`"5.00"`) or a whole number
/// (`5`). A TOML float (`5.5`) would pass through binary floating point, so it is refused with a
/// hint to quote it; so is an amount below zero.
pub mod amount {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::money::Money;

    #[derive(Deserialize)]
    #[serde(untagged)]
    pub(super) enum Written {
        Text(String),
        Whole(i64),
        Float(f64),
    }

    impl Written {
        pub(super) fn money<E: serde::de::Error>(self) -> Result<Money, E> {
            let text = match self {
                Written::Text(text) => text,
                Written::Whole(units) => units.to_string(),
                Written::Float(value) => {
                    return Err(E::custom(format!(
                        "write amounts as text, such as \"{value}\", not as a number with a point"
                    )));
                }
            };
            let money = Money::parse(&text).map_err(|error| E::custom(error.to_string()))?;
            if money.is_negative() {
                return Err(E::custom(format!(
                    "{text:?} is below zero; write an amount of zero or more, like \"1.00\""
                )));
            }
            Ok(money)
        }
    }

    pub fn serialize<S: Serializer>(money: &Money, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&money.amount_text())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        Written::deserialize(deserializer)?.money()
    }
}

/// A list of config amounts, each read like [`amount`].
pub mod amounts {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::amount::Written;
    use crate::money::Money;

    pub fn serialize<S: Serializer>(list: &[Money], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(list.iter().map(|money| money.amount_text()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Money>, D::Error> {
        Vec::<Written>::deserialize(deserializer)?
            .into_iter()
            .map(Written::money)
            .collect()
    }
}
