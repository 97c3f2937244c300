//! What the fake PayPal remembers: access tokens, orders, captures, refunds, and the answers it
//! keeps for `PayPal-Request-Id` replays; and how each resource looks on the wire.
//!
//! Rendering lives beside the state so an order, its capture and a webhook's resource are built
//! by one function each, and the answers and the events cannot drift apart.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::{Capture, CaptureOutcome, CaptureStatus, Money, Order, OrderStatus, Refund};

/// The merchant hostdeck's credentials belong to.
pub(super) const MERCHANT_EMAIL: &str = "merchant@hostdeck.example";
/// The buyer who clicks "Pay" on the approve page.
pub(super) const BUYER_EMAIL: &str = "buyer@example.com";

/// Everything that changes while the fake runs, behind one lock.
pub(super) struct Books {
    pub tokens: HashMap<String, Instant>,
    pub token_lifetime: Duration,
    pub webhooks: HashSet<String>,
    pub orders: HashMap<String, OrderRecord>,
    /// Order ids in creation order, so `orders()` lists them as they came.
    pub order_ids: Vec<String>,
    pub captures: HashMap<String, CaptureRecord>,
    pub refunds: HashMap<String, RefundRecord>,
    pub next_captures: VecDeque<CaptureOutcome>,
    /// Successful answers by (method and path, `PayPal-Request-Id`).
    pub replies: HashMap<(String, String), StoredReply>,
    /// The raw body of every webhook transmission, so the verify API can check the bytes that
    /// were signed rather than a re-serialisation of them.
    pub transmissions: HashMap<String, Vec<u8>>,
    pub merchant_id: String,
    pub payer_id: String,
}

pub(super) struct StoredReply {
    pub request: Option<Value>,
    pub status: u16,
    pub body: Value,
}

pub(super) struct OrderRecord {
    pub id: String,
    pub status: OrderStatus,
    /// `purchase_units[0]` as hostdeck sent it: PayPal echoes it back.
    pub unit: Value,
    pub amount: Money,
    pub return_url: Option<String>,
    pub cancel_url: Option<String>,
    pub request_id: Option<String>,
    pub capture_id: Option<String>,
    pub created: String,
    pub updated: String,
}

pub(super) struct CaptureRecord {
    pub id: String,
    pub order_id: String,
    pub status: CaptureStatus,
    pub amount: Money,
    pub custom_id: Option<String>,
    pub invoice_id: Option<String>,
    pub refund_ids: Vec<String>,
    pub created: String,
    pub updated: String,
}

pub(super) struct RefundRecord {
    pub id: String,
    pub capture_id: String,
    pub amount: Money,
    pub custom_id: Option<String>,
    pub invoice_id: Option<String>,
    pub note_to_payer: Option<String>,
    pub created: String,
}

impl Books {
    pub fn new() -> Self {
        Self {
            tokens: HashMap::new(),
            // PayPal's tokens live nine hours.
            token_lifetime: Duration::from_secs(32_400),
            webhooks: HashSet::new(),
            orders: HashMap::new(),
            order_ids: Vec::new(),
            captures: HashMap::new(),
            refunds: HashMap::new(),
            next_captures: VecDeque::new(),
            replies: HashMap::new(),
            transmissions: HashMap::new(),
            merchant_id: account_id(),
            payer_id: account_id(),
        }
    }

    pub fn token_is_valid(&self, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|expiry| *expiry > Instant::now())
    }

    /// What has been refunded of a capture so far, in minor units.
    pub fn refunded_minor(&self, capture: &CaptureRecord) -> i64 {
        capture
            .refund_ids
            .iter()
            .filter_map(|id| self.refunds.get(id))
            .filter_map(|refund| refund.amount.minor_units())
            .sum()
    }

    /// Records a completed refund of `amount` against `capture_id` and moves the capture to
    /// REFUNDED or PARTIALLY_REFUNDED.
    pub fn add_refund(
        &mut self,
        capture_id: &str,
        amount: Money,
        custom_id: Option<String>,
        invoice_id: Option<String>,
        note_to_payer: Option<String>,
    ) -> String {
        let id = resource_id();
        let now = now();
        self.refunds.insert(
            id.clone(),
            RefundRecord {
                id: id.clone(),
                capture_id: capture_id.to_owned(),
                amount,
                custom_id,
                invoice_id,
                note_to_payer,
                created: now.clone(),
            },
        );
        let refunded = self.captures.get_mut(capture_id).map(|capture| {
            capture.refund_ids.push(id.clone());
            capture.updated = now;
            capture.amount.minor_units().unwrap_or(0)
        });
        if let (Some(captured), Some(capture)) = (refunded, self.captures.get(capture_id)) {
            let status = if self.refunded_minor(capture) >= captured {
                CaptureStatus::Refunded
            } else {
                CaptureStatus::PartiallyRefunded
            };
            if let Some(capture) = self.captures.get_mut(capture_id) {
                capture.status = status;
            }
        }
        id
    }

    /// The order as `GET /v2/checkout/orders/{id}` shows it.
    pub fn order_json(&self, order: &OrderRecord, base: &str) -> Value {
        let mut unit = order.unit.clone();
        if let Some(unit) = unit.as_object_mut() {
            unit.entry("reference_id")
                .or_insert_with(|| json!("default"));
            unit.insert(
                "payee".into(),
                json!({"email_address": MERCHANT_EMAIL, "merchant_id": self.merchant_id}),
            );
            if let Some(payments) = self.payments_json(order, base) {
                unit.insert("payments".into(), payments);
            }
        }
        let mut body = json!({
            "id": order.id,
            "intent": "CAPTURE",
            "status": order.status.as_str(),
            "purchase_units": [unit],
            "create_time": order.created,
            "update_time": order.updated,
            "links": self.order_links(order, base),
        });
        if order.status != OrderStatus::Created {
            body["payment_source"] = self.payment_source_json();
            body["payer"] = self.payer_json();
        }
        body
    }

    /// The order as a capture answers it without `Prefer: return=representation`.
    pub fn captured_order_json(&self, order: &OrderRecord, base: &str) -> Value {
        let reference_id = order.unit["reference_id"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        json!({
            "id": order.id,
            "status": order.status.as_str(),
            "payment_source": self.payment_source_json(),
            "purchase_units": [{
                "reference_id": reference_id,
                "payments": self.payments_json(order, base).unwrap_or_else(|| json!({})),
            }],
            "payer": self.payer_json(),
            "links": self.order_links(order, base),
        })
    }

    /// The minimal answer to creating an order.
    pub fn created_order_json(&self, order: &OrderRecord, base: &str) -> Value {
        json!({
            "id": order.id,
            "status": order.status.as_str(),
            "links": self.order_links(order, base),
        })
    }

    fn payments_json(&self, order: &OrderRecord, base: &str) -> Option<Value> {
        let capture = self.captures.get(order.capture_id.as_deref()?)?;
        let mut payments = json!({ "captures": [self.capture_json(capture, base, false)] });
        let refunds: Vec<Value> = capture
            .refund_ids
            .iter()
            .filter_map(|id| self.refunds.get(id))
            .map(|refund| self.refund_json(refund, base))
            .collect();
        if !refunds.is_empty() {
            payments["refunds"] = Value::Array(refunds);
        }
        Some(payments)
    }

    fn order_links(&self, order: &OrderRecord, base: &str) -> Value {
        let this = format!("{base}/v2/checkout/orders/{}", order.id);
        let mut links = vec![json!({"href": this, "rel": "self", "method": "GET"})];
        if order.status == OrderStatus::Created {
            links.push(json!({
                "href": format!("{base}/checkoutnow?token={}", order.id),
                "rel": "approve",
                "method": "GET",
            }));
        }
        if order.status != OrderStatus::Completed {
            links.push(json!({"href": this, "rel": "update", "method": "PATCH"}));
            links.push(
                json!({"href": format!("{this}/capture"), "rel": "capture", "method": "POST"}),
            );
        }
        Value::Array(links)
    }

    fn payment_source_json(&self) -> Value {
        json!({"paypal": {
            "email_address": BUYER_EMAIL,
            "account_id": self.payer_id,
            "account_status": "VERIFIED",
            "name": {"given_name": "Ada", "surname": "Buyer"},
            "address": {"country_code": "US"},
        }})
    }

    fn payer_json(&self) -> Value {
        json!({
            "name": {"given_name": "Ada", "surname": "Buyer"},
            "email_address": BUYER_EMAIL,
            "payer_id": self.payer_id,
            "address": {"country_code": "US"},
        })
    }

    /// A capture inside an order, or (`standalone`) as `GET /v2/payments/captures/{id}` and the
    /// PAYMENT.CAPTURE.* webhooks show it, with the order id and the payee.
    pub fn capture_json(&self, capture: &CaptureRecord, base: &str, standalone: bool) -> Value {
        let this = format!("{base}/v2/payments/captures/{}", capture.id);
        let mut body = json!({
            "id": capture.id,
            "status": capture.status.as_str(),
            "amount": capture.amount.to_json(),
            "final_capture": true,
            "seller_protection": {
                "status": "ELIGIBLE",
                "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
            },
            "links": [
                {"href": this, "rel": "self", "method": "GET"},
                {"href": format!("{this}/refund"), "rel": "refund", "method": "POST"},
                {"href": format!("{base}/v2/checkout/orders/{}", capture.order_id), "rel": "up", "method": "GET"},
            ],
            "create_time": capture.created,
            "update_time": capture.updated,
        });
        match capture.status {
            CaptureStatus::Pending => {
                body["status_details"] = json!({"reason": "PENDING_REVIEW"});
            }
            CaptureStatus::Declined | CaptureStatus::Failed => {}
            _ => {
                let gross = capture.amount.minor_units().unwrap_or(0);
                let fee = fee_minor(gross, capture.amount.decimals());
                body["seller_receivable_breakdown"] = json!({
                    "gross_amount": capture.amount.to_json(),
                    "paypal_fee": capture.amount.with_minor(fee).to_json(),
                    "net_amount": capture.amount.with_minor(gross - fee).to_json(),
                });
            }
        }
        if let Some(custom_id) = &capture.custom_id {
            body["custom_id"] = json!(custom_id);
        }
        if let Some(invoice_id) = &capture.invoice_id {
            body["invoice_id"] = json!(invoice_id);
        }
        if standalone {
            body["supplementary_data"] = json!({"related_ids": {"order_id": capture.order_id}});
            body["payee"] =
                json!({"email_address": MERCHANT_EMAIL, "merchant_id": self.merchant_id});
        }
        body
    }

    /// A refund as the refund API answers it and PAYMENT.CAPTURE.REFUNDED/REVERSED carry it.
    pub fn refund_json(&self, refund: &RefundRecord, base: &str) -> Value {
        let total = self
            .captures
            .get(&refund.capture_id)
            .map(|capture| self.refunded_minor(capture))
            .unwrap_or(0);
        let mut body = json!({
            "id": refund.id,
            "status": "COMPLETED",
            "amount": refund.amount.to_json(),
            "seller_payable_breakdown": {
                "gross_amount": refund.amount.to_json(),
                "paypal_fee": refund.amount.with_minor(0).to_json(),
                "net_amount": refund.amount.to_json(),
                "total_refunded_amount": refund.amount.with_minor(total).to_json(),
            },
            "links": [
                {"href": format!("{base}/v2/payments/refunds/{}", refund.id), "rel": "self", "method": "GET"},
                {"href": format!("{base}/v2/payments/captures/{}", refund.capture_id), "rel": "up", "method": "GET"},
            ],
            "create_time": refund.created,
            "update_time": refund.created,
        });
        if let Some(custom_id) = &refund.custom_id {
            body["custom_id"] = json!(custom_id);
        }
        if let Some(invoice_id) = &refund.invoice_id {
            body["invoice_id"] = json!(invoice_id);
        }
        if let Some(note) = &refund.note_to_payer {
            body["note_to_payer"] = json!(note);
        }
        body
    }
}

impl OrderRecord {
    pub fn snapshot(&self) -> Order {
        Order {
            id: self.id.clone(),
            status: self.status,
            amount: self.amount.clone(),
            reference_id: text(&self.unit["reference_id"]),
            custom_id: text(&self.unit["custom_id"]),
            invoice_id: text(&self.unit["invoice_id"]),
            return_url: self.return_url.clone(),
            cancel_url: self.cancel_url.clone(),
            request_id: self.request_id.clone(),
            capture_id: self.capture_id.clone(),
        }
    }
}

impl CaptureRecord {
    pub fn snapshot(&self) -> Capture {
        Capture {
            id: self.id.clone(),
            order_id: self.order_id.clone(),
            status: self.status,
            amount: self.amount.clone(),
            custom_id: self.custom_id.clone(),
            invoice_id: self.invoice_id.clone(),
            refund_ids: self.refund_ids.clone(),
        }
    }

    pub fn new(order: &OrderRecord, status: CaptureStatus, amount: Money) -> Self {
        let now = now();
        Self {
            id: resource_id(),
            order_id: order.id.clone(),
            status,
            amount,
            custom_id: text(&order.unit["custom_id"]),
            invoice_id: text(&order.unit["invoice_id"]),
            refund_ids: Vec::new(),
            created: now.clone(),
            updated: now,
        }
    }
}

impl RefundRecord {
    pub fn snapshot(&self) -> Refund {
        Refund {
            id: self.id.clone(),
            capture_id: self.capture_id.clone(),
            amount: self.amount.clone(),
        }
    }
}

/// Why an amount cannot be used, as PayPal's `issue` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AmountIssue {
    DecimalPrecision,
    ZeroOrNegative,
}

impl AmountIssue {
    pub fn issue(self) -> &'static str {
        match self {
            Self::DecimalPrecision => "DECIMAL_PRECISION",
            Self::ZeroOrNegative => "CANNOT_BE_ZERO_OR_NEGATIVE",
        }
    }
}

impl Money {
    /// Currencies PayPal takes without decimals.
    const WHOLE: [&'static str; 3] = ["JPY", "HUF", "TWD"];

    pub(super) fn decimals(&self) -> u32 {
        if Self::WHOLE.contains(&self.currency_code.as_str()) {
            0
        } else {
            2
        }
    }

    /// The value in the currency's minor units, checked as PayPal checks it.
    pub(super) fn parse_minor(&self) -> Result<i64, AmountIssue> {
        let (whole, fraction) = match self.value.split_once('.') {
            Some((whole, fraction)) => (whole, fraction),
            None => (self.value.as_str(), ""),
        };
        let negative = whole.starts_with('-');
        let whole = whole.trim_start_matches('-');
        let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) || (whole.is_empty() && fraction.is_empty()) {
            return Err(AmountIssue::DecimalPrecision);
        }
        if fraction.len() > self.decimals() as usize {
            return Err(AmountIssue::DecimalPrecision);
        }
        let scale = 10_i64.pow(self.decimals());
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| AmountIssue::DecimalPrecision)?
        };
        let fraction_scaled: i64 = if fraction.is_empty() {
            0
        } else {
            let padded = format!("{fraction:0<width$}", width = self.decimals() as usize);
            padded.parse().map_err(|_| AmountIssue::DecimalPrecision)?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|w| w.checked_add(fraction_scaled))
            .ok_or(AmountIssue::DecimalPrecision)?;
        if negative || minor <= 0 {
            return Err(AmountIssue::ZeroOrNegative);
        }
        Ok(minor)
    }

    pub(super) fn minor_units(&self) -> Option<i64> {
        self.parse_minor().ok()
    }

    /// The same currency with another value, written as PayPal writes it ("7.50").
    pub(super) fn with_minor(&self, minor: i64) -> Money {
        let decimals = self.decimals();
        let value = if decimals == 0 {
            minor.to_string()
        } else {
            let scale = 10_i64.pow(decimals);
            let sign = if minor < 0 { "-" } else { "" };
            let minor = minor.abs();
            format!(
                "{sign}{}.{:0width$}",
                minor / scale,
                minor % scale,
                width = decimals as usize
            )
        };
        Money::new(&self.currency_code, &value)
    }

    pub(super) fn to_json(&self) -> Value {
        json!({"currency_code": self.currency_code, "value": self.value})
    }

    pub(super) fn from_json(value: &Value) -> Option<Money> {
        Some(Money::new(
            value["currency_code"].as_str()?,
            value["value"].as_str()?,
        ))
    }
}

/// A plausible PayPal fee: 3.49% plus a fixed part, never more than the payment.
fn fee_minor(gross: i64, decimals: u32) -> i64 {
    let fixed = if decimals == 0 { 40 } else { 49 };
    (gross * 349 / 10_000 + fixed).min(gross)
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// `2026-11-21T06:33:24Z`: PayPal's timestamps have whole seconds.
pub(super) fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.gen_range(0..alphabet.len())]))
        .collect()
}

/// Order, capture and refund ids: 17 upper-case letters and digits, like `5O190127TN364715T`.
pub(super) fn resource_id() -> String {
    random_from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 17)
}

/// Payer and merchant ids: 13 characters of PayPal's base-32 alphabet.
pub(super) fn account_id() -> String {
    random_from(b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ", 13)
}

pub(super) fn hex(len: usize) -> String {
    random_from(b"0123456789abcdef", len)
}

pub(super) fn token_text(len: usize) -> String {
    random_from(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        len,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_as_paypal_reads_them() {
        let usd = |value: &str| Money::new("USD", value).parse_minor();
        assert_eq!(usd("10.00"), Ok(1000));
        assert_eq!(usd("10"), Ok(1000));
        assert_eq!(usd("0.5"), Ok(50));
        assert_eq!(usd("10.001"), Err(AmountIssue::DecimalPrecision));
        assert_eq!(usd("0.00"), Err(AmountIssue::ZeroOrNegative));
        assert_eq!(usd("-1.00"), Err(AmountIssue::ZeroOrNegative));
        assert_eq!(
            Money::new("JPY", "1.5").parse_minor(),
            Err(AmountIssue::DecimalPrecision)
        );
        assert_eq!(Money::new("USD", "1.00").with_minor(750).value, "7.50");
        assert_eq!(Money::new("JPY", "1").with_minor(750).value, "750");
    }
}
