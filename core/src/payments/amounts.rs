//! Amounts as PayPal writes them. A leaf: the `[paypal]` section checks its amounts with it,
//! and the orders and refunds send them.

use crate::error::{Error, Result};
use crate::money::Money;

/// The currency and value of an `amount` object PayPal sent, as it wrote them (empty where
/// it left them out).
pub(super) fn read_amount(amount: &serde_json::Value) -> (String, String) {
    let text = |key: &str| amount[key].as_str().unwrap_or_default().to_owned();
    (text("currency_code"), text("value"))
}

/// Decimal places PayPal takes for a currency.
pub(super) fn decimals(currency: &str) -> u32 {
    crate::money::decimals_of(currency)
}

/// An amount as PayPal writes it: exactly the currency's decimals.
pub(super) fn paypal_value(amount: Money, currency: &str) -> Result<String> {
    let places = decimals(currency);
    let unit = 10i64.pow(6 - places);
    if amount.micros() % unit != 0 {
        return Err(Error::invalid(
            "amount",
            format!("{currency} amounts have at most {places} decimal places"),
        ));
    }
    let mut value = amount.to_decimal();
    value.rescale(places);
    Ok(value.to_string())
}
