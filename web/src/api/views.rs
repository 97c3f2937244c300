//! What the API answers with: plain, documented shapes built from core's types.

use chrono::{DateTime, Utc};
use hostdeck_core::auth::api_keys::ApiKeyInfo;
use hostdeck_core::auth::sessions::IssuedSession;
use hostdeck_core::ledger::StatementLine;
use hostdeck_core::money::{Currency, Money};
use hostdeck_core::policy::Scope;
use hostdeck_core::pricing::{Pricing, Quote};
use hostdeck_core::store::Paginated;
use hostdeck_core::users::User;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub email: String,
    /// customer, support, billing or admin.
    pub role: String,
    /// active or disabled.
    pub status: String,
    pub display_name: Option<String>,
    pub email_verified: bool,
    pub two_factor: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.0,
            email: user.email.clone(),
            role: user.role.as_str().into(),
            status: user.status.as_str().into(),
            display_name: user.display_name.clone(),
            email_verified: user.email_verified_at.is_some(),
            two_factor: user.two_factor,
            created_at: user.created_at,
        }
    }
}

/// An amount of money, exact and as text.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoneyView {
    /// Exact decimal text, e.g. "10.00" or "0.002739".
    pub amount: String,
    /// Millionths of the currency unit.
    pub micros: i64,
    pub currency: String,
    /// As people read it, with the currency's decimals and symbol, e.g. "$12.34" (rounded;
    /// compute with `micros`).
    pub display: String,
}

impl MoneyView {
    pub fn new(money: Money, currency: &Currency) -> Self {
        Self {
            amount: money.amount_text(),
            micros: money.micros(),
            currency: currency.code().into(),
            display: money.display(currency),
        }
    }

    /// A price of an hour: `display` keeps every significant decimal (`$0.006849`).
    pub fn rate(money: Money, currency: &Currency) -> Self {
        Self {
            display: money.display_exact(currency),
            ..Self::new(money, currency)
        }
    }
}

/// A customer's balance against what their servers cost.
#[derive(Debug, Serialize, ToSchema)]
pub struct StandingView {
    pub balance: MoneyView,
    /// What the servers cost an hour now (running servers at the running rate, the others at
    /// the stopped rate).
    pub burn_per_hour: MoneyView,
    /// Whole hours the balance lasts at that pace; null when nothing is billed.
    pub hours_left: Option<i64>,
    /// Under `billing.low_balance_hours` of burn, or below zero.
    pub low_balance: bool,
    /// When the balance went below zero; null while it is zero or more.
    pub negative_since: Option<chrono::DateTime<chrono::Utc>>,
    /// When the servers are (or were) suspended for the unpaid balance.
    pub suspend_at: Option<chrono::DateTime<chrono::Utc>>,
    pub suspended: bool,
}

impl StandingView {
    pub fn new(standing: &hostdeck_core::billing::Standing, currency: &Currency) -> Self {
        Self {
            balance: MoneyView::new(standing.balance, currency),
            burn_per_hour: MoneyView::new(standing.burn_per_hour, currency),
            hours_left: standing.hours_left,
            low_balance: standing.low_balance,
            negative_since: standing.negative_since,
            suspend_at: standing.suspend_at,
            suspended: standing.suspended,
        }
    }
}

/// A line of the caller's statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionView {
    pub id: i64,
    /// top_up, usage, refund, reversal, adjustment, signup_credit, free_credit, transfer or
    /// usage_refund.
    pub kind: String,
    /// Positive when money came in.
    pub amount: MoneyView,
    pub balance_after: Option<MoneyView>,
    pub reference: Option<String>,
    pub memo: Option<String>,
    /// What it was for, for people: a usage line names the server and the hour billed
    /// ("server web-1, 2026-12-07 10:00–11:00 UTC").
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TransactionView {
    pub fn new(line: &StatementLine, currency: &Currency) -> Self {
        Self {
            id: line.id.0,
            kind: line.kind.as_str().into(),
            amount: MoneyView::new(line.amount, currency),
            balance_after: line.balance_after.map(|b| MoneyView::new(b, currency)),
            reference: line.reference.clone(),
            memo: line.memo.clone(),
            description: line.description(),
            created_at: line.created_at,
        }
    }
}

/// A page of results.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageView<T: ToSchema> {
    pub items: Vec<T>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
}

impl<T: ToSchema> PageView<T> {
    pub fn map<U>(page: &Paginated<U>, view: impl Fn(&U) -> T) -> Self {
        Self {
            items: page.items.iter().map(view).collect(),
            page: page.page,
            limit: page.limit,
            total: page.total,
        }
    }
}

/// `?page=&limit=`: pages count from 1; limit 1 to 200 (default 50).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl PageQuery {
    pub fn page(&self) -> hostdeck_core::Result<hostdeck_core::store::Page> {
        hostdeck_core::store::Page::new(
            self.page.unwrap_or(1),
            self.limit
                .unwrap_or(hostdeck_core::store::Page::DEFAULT_LIMIT),
        )
    }
}

/// A session token, to send as `Authorization: Bearer`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl From<&IssuedSession> for SessionView {
    fn from(session: &IssuedSession) -> Self {
        Self {
            token: session.token.expose_secret().to_owned(),
            expires_at: session.expires_at,
        }
    }
}

/// A plain acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub message: String,
}

impl MessageView {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// An API key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyView {
    pub id: i64,
    pub name: String,
    /// The start of the key, e.g. "hd_4kZ9".
    pub prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<&ApiKeyInfo> for ApiKeyView {
    fn from(key: &ApiKeyInfo) -> Self {
        Self {
            id: key.id,
            name: key.name.clone(),
            prefix: key.prefix.clone(),
            last4: key.last4.clone(),
            scopes: key
                .scopes
                .iter()
                .map(|s: Scope| s.as_str().to_owned())
                .collect(),
            created_at: key.created_at,
            expires_at: key.expires_at,
            last_used_at: key.last_used_at,
            revoked: key.revoked_at.is_some(),
        }
    }
}

/// The error shape of every failure.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorView {
    pub error: ErrorBody,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// not_found, unauthenticated, forbidden, invalid, conflict, rate_limited, unavailable or
    /// internal.
    pub code: String,
    pub message: String,
    /// The offending field, for invalid input.
    pub field: Option<String>,
    /// For internal errors: quote it to support.
    pub reference: Option<String>,
}

/// What a server costs.
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceView {
    pub first_hour: MoneyView,
    /// The average hourly price while running, as decimal text.
    pub per_hour: String,
    pub per_month: MoneyView,
}

impl PriceView {
    pub fn new(quote: &Quote, pricing: &Pricing, currency: &Currency) -> Self {
        Self {
            first_hour: MoneyView::rate(quote.first_hour(), currency),
            per_hour: quote.per_hour_text(),
            per_month: MoneyView::new(pricing.monthly_price(quote), currency),
        }
    }
}
