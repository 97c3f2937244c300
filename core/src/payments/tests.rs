use super::amounts::paypal_value;
use super::refunds::RefundFacts;
use super::*;

#[test]
fn paypal_values_have_the_currencys_decimals() {
    assert_eq!(
        paypal_value(Money::from_micros(10_000_000), "USD").ok(),
        Some("10.00".to_owned())
    );
    assert_eq!(
        paypal_value(Money::from_micros(12_340_000), "EUR").ok(),
        Some("12.34".to_owned())
    );
    assert_eq!(
        paypal_value(Money::from_micros(1_000_000_000), "JPY").ok(),
        Some("1000".to_owned())
    );
    assert!(paypal_value(Money::from_micros(10_001_000), "USD").is_err());
}

#[test]
fn a_refund_finds_its_capture_by_the_up_link() {
    let refund = json!({
        "id": "1JU08902781691411",
        "status": "COMPLETED",
        "amount": {"currency_code": "USD", "value": "10.00"},
        "links": [
            {"rel": "self", "href": "https://api-m.paypal.com/v2/payments/refunds/1JU08902781691411"},
            {"rel": "up", "href": "https://api-m.paypal.com/v2/payments/captures/2GG279541U471931P"}
        ]
    });
    let facts = RefundFacts::from_json(&refund, None).expect("a refund");
    assert_eq!(facts.capture_id, "2GG279541U471931P");
    assert_eq!(facts.value, "10.00");
}
