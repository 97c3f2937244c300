//! Money: whole micro-units of the platform's one currency, never floats.
//!
//! `1 USD = 1_000_000` micros. `rust_decimal` is used to parse what people type and to show
//! amounts; arithmetic on stored amounts is checked `i64` arithmetic.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Micro-units in one unit of the currency.
pub const MICROS_PER_UNIT: i64 = 1_000_000;
/// Decimal places a stored amount can carry.
const SCALE: u32 = 6;
/// The most digits before the point of an amount people type: up to 999,999,999.
pub const MAX_WHOLE_DIGITS: usize = 9;

/// An amount of the platform currency in micro-units. Signed: a balance can be below zero.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    /// Whole units, e.g. `Money::from_units(10)` is 10.00.
    pub fn from_units(units: i64) -> Result<Self> {
        units
            .checked_mul(MICROS_PER_UNIT)
            .map(Self)
            .ok_or_else(|| Error::invalid("amount", "amount is too large"))
    }

    /// Parses what a person typed: `10`, `10.5`, `-3.25`, `0.000001`. At most six decimal
    /// places; anything finer would be silently lost, so it is refused.
    pub fn parse(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(Error::invalid("amount", "enter an amount, such as 10.00"));
        }
        let value = Decimal::from_str_exact(trimmed).map_err(|_| {
            Error::invalid(
                "amount",
                format!("{trimmed:?} is not an amount; write it like 10.00"),
            )
        })?;
        Self::from_decimal(value)
    }

    /// Parses an amount as a person enters it, at every door (API, portal, Discord), in one
    /// grammar: `^[0-9]{1,9}(\.[0-9]{1,D})?$` with D the currency's decimals
    /// ([`Currency::decimals`]): digits, then a point and one to D digits if wanted. No sign,
    /// spaces, thousands separators, exponents or a bare point (`1_000`, `+5`, `5.`, `.5` and
    /// ` 5` are refused), so what is read is what was meant.
    pub fn parse_entered(text: &str, currency: &Currency) -> Result<Self> {
        let places = currency.decimals();
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let digits = |part: &str, most: usize| {
            (1..=most).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
        };
        let valid = digits(whole, MAX_WHOLE_DIGITS)
            && fraction.is_none_or(|fraction| digits(fraction, places as usize));
        if !valid {
            return Err(Error::invalid(
                "amount",
                entered_form(text, currency, false),
            ));
        }
        Self::parse(text)
    }

    /// [`Self::parse_entered`] with an optional leading `-`, for credit adjustments, where a
    /// minus takes credit away. A `+` is refused as any other sign.
    pub fn parse_entered_signed(text: &str, currency: &Currency) -> Result<Self> {
        let (negative, size) = match text.strip_prefix('-') {
            Some(size) => (true, size),
            None => (false, text),
        };
        let amount = Self::parse_entered(size, currency)
            .map_err(|_| Error::invalid("amount", entered_form(text, currency, true)))?;
        Ok(if negative { Self(-amount.0) } else { amount })
    }

    pub fn from_decimal(value: Decimal) -> Result<Self> {
        if value.normalize().scale() > SCALE {
            return Err(Error::invalid(
                "amount",
                "amounts have at most six decimal places",
            ));
        }
        let micros = value
            .checked_mul(Decimal::from(MICROS_PER_UNIT))
            .and_then(|m| i64::try_from(m.trunc()).ok())
            .ok_or_else(|| Error::invalid("amount", "amount is too large"))?;
        Ok(Self(micros))
    }

    pub fn to_decimal(self) -> Decimal {
        Decimal::new(self.0, SCALE)
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Self)
    }

    pub fn checked_abs(self) -> Option<Money> {
        self.0.checked_abs().map(Self)
    }

    pub fn checked_neg(self) -> Option<Money> {
        self.0.checked_neg().map(Self)
    }

    /// The amount as people read it: at least two decimals, more only when the amount has them
    /// (`10.00`, `0.002739`), so nothing shown is a rounded lie.
    pub fn amount_text(self) -> String {
        let mut value = self.to_decimal().normalize();
        if value.scale() < 2 {
            value.rescale(2);
        }
        value.to_string()
    }

    /// The amount as people read a balance or a charge: the currency's decimals, rounded half
    /// away from zero, with its symbol (`$12.34`, `-€0.50`, `¥1235`, `12.34 CHF`). Exports and
    /// the API's `micros` keep the exact amount; rates per hour use [`Money::display_exact`].
    pub fn display(self, currency: &Currency) -> String {
        let mut value = self
            .to_decimal()
            .round_dp_with_strategy(currency.decimals(), RoundingStrategy::MidpointAwayFromZero);
        value.rescale(currency.decimals());
        currency.with_symbol(value)
    }

    /// The amount with every significant decimal (at least the currency's) and the currency's
    /// symbol: for prices of an hour, where `$0.006849` is not a rounding of `$0.01`.
    pub fn display_exact(self, currency: &Currency) -> String {
        let mut value = self.to_decimal().normalize();
        if value.scale() < currency.decimals() {
            value.rescale(currency.decimals());
        }
        currency.with_symbol(value)
    }
}

impl FromStr for Money {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// What an amount entered as `text` should look like, for the refusal.
fn entered_form(text: &str, currency: &Currency, signed: bool) -> String {
    let shown: String = text.chars().take(40).collect();
    let places = currency.decimals();
    let (form, example) = match places {
        0 => ("whole digits".to_owned(), "1000".to_owned()),
        1 => (
            "digits, with at most 1 decimal after a point".to_owned(),
            "10 or 10.5".to_owned(),
        ),
        _ => (
            format!("digits, with at most {places} decimals after a point"),
            format!("10 or 10.5{}", "0".repeat(places as usize - 1)),
        ),
    };
    let sign = if signed {
        " (a leading minus takes credit away)"
    } else {
        ""
    };
    format!(
        "{shown:?} is not an amount: write {currency} amounts as {form}, such as {example}{sign}, \
         without spaces, signs or separators"
    )
}

/// Decimal places of the minor unit of the currency `code`, as PayPal and card schemes take
/// it: none for the yen, forint, New Taiwan dollar and a few others, three for the dinars,
/// two for the rest.
pub fn decimals_of(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "HUF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
        | "TWD" | "UGX" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// An ISO 4217 currency code, e.g. `USD`. The platform has exactly one, from config.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Currency(String);

impl Currency {
    pub fn parse(code: &str) -> Result<Self> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() == 3 && upper.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Self(upper))
        } else {
            Err(Error::invalid(
                "currency",
                format!("{code:?} is not a currency code; use three letters such as USD or EUR"),
            ))
        }
    }

    pub fn code(&self) -> &str {
        &self.0
    }

    /// Decimal places of the currency's minor unit ([`decimals_of`]).
    pub fn decimals(&self) -> u32 {
        decimals_of(&self.0)
    }

    /// `value` as people write an amount of this currency: `$12.34`, `-£3.00`, `12.34 CHF`.
    fn with_symbol(&self, value: Decimal) -> String {
        let sign = if value.is_sign_negative() && !value.is_zero() {
            "-"
        } else {
            ""
        };
        let digits = value.abs();
        let symbol = match self.0.as_str() {
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            _ => return format!("{sign}{digits} {}", self.0),
        };
        format!("{sign}{symbol}{digits}")
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self("USD".into())
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Currency::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_people_type() {
        assert_eq!(
            Money::parse("10").ok(),
            Some(Money::from_micros(10_000_000))
        );
        assert_eq!(
            Money::parse(" 10.50 ").ok(),
            Some(Money::from_micros(10_500_000))
        );
        assert_eq!(
            Money::parse("-3.25").ok(),
            Some(Money::from_micros(-3_250_000))
        );
        assert_eq!(Money::parse("0.000001").ok(), Some(Money::from_micros(1)));
        assert_eq!(Money::parse("0.0000010").ok(), Some(Money::from_micros(1)));
    }

    #[test]
    fn refuses_what_would_lose_precision_or_is_not_money() {
        for bad in [
            "",
            "abc",
            "1.0000001",
            "1e3",
            "NaN",
            "99999999999999999999",
            "1,5",
        ] {
            let err = Money::parse(bad).expect_err(bad);
            assert_eq!(err.code(), crate::ErrorCode::Invalid, "{bad}");
        }
    }

    #[test]
    fn people_enter_amounts_in_one_grammar() {
        let usd = Currency::default();
        for good in ["5", "5.5", "5.50", "0.01", "999999999.99", "0"] {
            assert!(Money::parse_entered(good, &usd).is_ok(), "{good}");
        }
        assert_eq!(
            Money::parse_entered("10.5", &usd).ok(),
            Some(Money::from_micros(10_500_000))
        );
        for bad in [
            "1_000",
            "+5",
            "5.",
            ".5",
            " 5",
            "5 ",
            "-5",
            "1,000",
            "1e3",
            "5.001",
            "",
            ".",
            "1000000000",
            "５",
            "0x10",
            "NaN",
        ] {
            let error = Money::parse_entered(bad, &usd).expect_err(bad);
            assert_eq!(error.code(), crate::ErrorCode::Invalid, "{bad}");
            assert!(error.to_string().contains("such as 10 or 10.50"), "{error}");
        }
        let yen = Currency::parse("JPY").expect("a currency");
        assert!(Money::parse_entered("1000", &yen).is_ok());
        let error = Money::parse_entered("1000.5", &yen).expect_err("half a yen");
        assert!(error.to_string().contains("whole digits"), "{error}");
        assert_eq!(
            Money::parse_entered_signed("-2.50", &usd).ok(),
            Some(Money::from_micros(-2_500_000))
        );
        for bad in ["+2.50", "--2", "- 2", "-.5", "-", " -2"] {
            let error = Money::parse_entered_signed(bad, &usd).expect_err(bad);
            assert!(error.to_string().contains("a leading minus"), "{error}");
        }
    }

    #[test]
    fn shows_two_decimals_or_every_significant_one() {
        assert_eq!(Money::from_micros(10_000_000).amount_text(), "10.00");
        assert_eq!(Money::from_micros(10_500_000).amount_text(), "10.50");
        assert_eq!(Money::from_micros(2_739).amount_text(), "0.002739");
        assert_eq!(Money::from_micros(-1).amount_text(), "-0.000001");
        assert_eq!(Money::ZERO.amount_text(), "0.00");
    }

    #[test]
    fn shows_balances_with_the_currencys_decimals_and_rates_exactly() {
        let usd = Currency::default();
        assert_eq!(Money::from_micros(1_234_560_000).display(&usd), "$1234.56");
        assert_eq!(Money::from_micros(12_344_999).display(&usd), "$12.34");
        assert_eq!(Money::from_micros(12_345_000).display(&usd), "$12.35");
        assert_eq!(Money::from_micros(-12_345_000).display(&usd), "-$12.35");
        assert_eq!(Money::from_micros(-1).display(&usd), "$0.00");
        assert_eq!(Money::ZERO.display(&usd), "$0.00");
        assert_eq!(Money::from_micros(6_849).display_exact(&usd), "$0.006849");
        assert_eq!(Money::from_micros(10_000_000).display_exact(&usd), "$10.00");
        let parse = |code| Currency::parse(code).expect("a currency");
        assert_eq!(
            Money::from_micros(1_234_500_000).display(&parse("JPY")),
            "¥1235"
        );
        assert_eq!(
            Money::from_micros(1_234_500).display(&parse("KWD")),
            "1.235 KWD"
        );
        assert_eq!(
            Money::from_micros(-500_000).display(&parse("EUR")),
            "-€0.50"
        );
        assert_eq!(
            Money::from_micros(2_000_000).display(&parse("CHF")),
            "2.00 CHF"
        );
    }

    #[test]
    fn round_trips_every_shown_amount() {
        for micros in [
            0,
            1,
            -1,
            999_999,
            1_000_000,
            2_739_726,
            i64::MAX,
            i64::MIN + 1,
        ] {
            let money = Money::from_micros(micros);
            assert_eq!(Money::parse(&money.amount_text()).ok(), Some(money));
        }
    }

    #[test]
    fn currency_codes() {
        assert_eq!(
            Currency::parse("eur").map(|c| c.to_string()).ok(),
            Some("EUR".into())
        );
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("U$D").is_err());
    }
}
