//! What the API answers with: plain, documented shapes built from core's types.

use chrono::{DateTime, Utc};
use hostdeck_core::auth::api_keys::ApiKeyInfo;
use hostdeck_core::auth::sessions::IssuedSession;
use hostdeck_core::ledger::StatementLine;
use hostdeck_core::money::{Currency, Money};
use hostdeck_core::policy::Scope;
use hostdeck_core::pricing::{Pricing, Quote};
use hostdeck_core::store::Paginated;
use hostdeck_core::tickets::sla::{SlaFigures, Timing};
use hostdeck_core::tickets::{CustomerContext, SlaReport, Ticket, TicketMessage};
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

// --- Tickets ---

/// A support ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    pub id: i64,
    /// The customer's account id.
    pub customer_id: i64,
    pub subject: String,
    pub department: String,
    /// low, normal, high or urgent.
    pub priority: String,
    /// The customer's server the ticket is about.
    pub server_id: Option<i64>,
    /// open (no staff reply yet), awaiting_staff, awaiting_customer or closed.
    pub status: String,
    /// The staff member's account id.
    pub assignee_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    /// The next SLA deadline: the first response while there is none, then the resolution.
    pub due_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_reason: Option<String>,
    pub closed_by: Option<i64>,
    /// 1 to 5 stars, once closed.
    pub rating: Option<u8>,
    pub rating_comment: Option<String>,
    /// portal, api, discord, email or system.
    pub opened_via: String,
    /// The ticket's Discord thread (a snowflake, as text).
    pub discord_thread_id: Option<String>,
}

impl From<&Ticket> for TicketView {
    fn from(ticket: &Ticket) -> Self {
        Self {
            id: ticket.id.0,
            customer_id: ticket.customer.0,
            subject: ticket.subject.clone(),
            department: ticket.department.clone(),
            priority: ticket.priority.as_str().into(),
            server_id: ticket.server.map(|server| server.0),
            status: ticket.status.as_str().into(),
            assignee_id: ticket.assignee.map(|user| user.0),
            created_at: ticket.created_at,
            first_response_at: ticket.first_response_at,
            last_activity_at: ticket.last_activity_at,
            due_at: ticket.due_at,
            closed_at: ticket.closed_at,
            close_reason: ticket.close_reason.clone(),
            closed_by: ticket.closed_by.map(|user| user.0),
            rating: ticket.rating,
            rating_comment: ticket.rating_comment.clone(),
            opened_via: ticket.opened_via.as_str().into(),
            discord_thread_id: ticket.discord_thread_id.map(|id| id.to_string()),
        }
    }
}

/// One page of tickets, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketListView {
    pub tickets: Vec<TicketView>,
    /// Send as `before` for the next page; null on the last page.
    pub next_before: Option<i64>,
}

/// A file posted in the ticket's Discord thread, kept as a link.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentView {
    pub name: String,
    pub size: u64,
    pub url: String,
}

/// One message of a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketMessageView {
    pub id: i64,
    pub ticket_id: i64,
    /// The author's account id; null for the platform or a Discord member without an account.
    pub author_id: Option<i64>,
    pub author_name: String,
    pub author_staff: bool,
    /// portal, api, discord, email or system.
    pub door: String,
    /// The text as written (a Markdown subset); show it as text, never as HTML.
    pub body: String,
    /// A staff-only note (only staff ever see one).
    pub note: bool,
    pub attachments: Vec<AttachmentView>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl From<&TicketMessage> for TicketMessageView {
    fn from(message: &TicketMessage) -> Self {
        Self {
            id: message.id.0,
            ticket_id: message.ticket.0,
            author_id: message.author.map(|user| user.0),
            author_name: message.author_name.clone(),
            author_staff: message.author_staff,
            door: message.door.as_str().into(),
            body: message.body.clone(),
            note: message.note,
            attachments: message
                .attachments
                .iter()
                .map(|file| AttachmentView {
                    name: file.name.clone(),
                    size: file.size,
                    url: file.url.clone(),
                })
                .collect(),
            created_at: message.created_at,
            edited_at: message.edited_at,
            deleted_at: message.deleted_at,
        }
    }
}

/// One of the customer's servers, as staff see it beside a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContextServerView {
    pub id: i64,
    pub name: String,
    pub plan: String,
    pub location: String,
    pub state: String,
    pub suspended_at: Option<DateTime<Utc>>,
}

/// The customer as staff see them while answering a ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerContextView {
    pub customer: UserView,
    pub servers: Vec<ContextServerView>,
    pub balance: MoneyView,
    pub burn_per_hour: MoneyView,
    /// Whole hours the balance lasts; null when nothing is billed.
    pub hours_left: Option<i64>,
    pub negative_since: Option<DateTime<Utc>>,
    /// When billing suspended the servers for the unpaid balance.
    pub suspended_at: Option<DateTime<Utc>>,
    pub open_tickets: Vec<TicketView>,
    pub recent_tickets: Vec<TicketView>,
    /// The linked Discord member (a snowflake, as text).
    pub discord_user_id: Option<String>,
}

impl CustomerContextView {
    pub fn new(context: &CustomerContext, currency: &Currency) -> Self {
        Self {
            customer: UserView::from(&context.customer),
            servers: context
                .servers
                .iter()
                .map(|server| ContextServerView {
                    id: server.id.0,
                    name: server.name.clone(),
                    plan: server.plan.clone(),
                    location: server.provider.clone(),
                    state: server.state.as_str().into(),
                    suspended_at: server.suspended_at,
                })
                .collect(),
            balance: MoneyView::new(context.balance, currency),
            burn_per_hour: MoneyView::new(context.burn_per_hour, currency),
            hours_left: context.hours_left,
            negative_since: context.negative_since,
            suspended_at: context.suspended_at,
            open_tickets: context.open_tickets.iter().map(TicketView::from).collect(),
            recent_tickets: context
                .recent_tickets
                .iter()
                .map(TicketView::from)
                .collect(),
            discord_user_id: context.discord_user_id.map(|id| id.to_string()),
        }
    }
}

/// How long something took over a set of tickets, in seconds (nearest-rank percentiles).
#[derive(Debug, Serialize, ToSchema)]
pub struct TimingView {
    pub count: u64,
    pub median_secs: Option<i64>,
    pub p90_secs: Option<i64>,
}

/// First-response and resolution times of a group of tickets.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaFiguresView {
    /// Tickets opened in the period.
    pub tickets: u64,
    pub first_response: TimingView,
    pub resolution: TimingView,
    /// Tickets whose deadline passed.
    pub breached: u64,
}

impl From<&SlaFigures> for SlaFiguresView {
    fn from(figures: &SlaFigures) -> Self {
        let timing = |timing: &Timing| TimingView {
            count: timing.count,
            median_secs: timing.median_secs,
            p90_secs: timing.p90_secs,
        };
        Self {
            tickets: figures.tickets,
            first_response: timing(&figures.first_response),
            resolution: timing(&figures.resolution),
            breached: figures.breached,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DepartmentSlaView {
    pub department: String,
    pub figures: SlaFiguresView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StaffSlaView {
    pub staff_id: i64,
    pub name: String,
    pub figures: SlaFiguresView,
}

/// The SLA report over the tickets opened in `[from, to)`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaReportView {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub overall: SlaFiguresView,
    pub by_department: Vec<DepartmentSlaView>,
    /// By assignee; unassigned tickets count only overall and in their department.
    pub by_staff: Vec<StaffSlaView>,
}

impl From<&SlaReport> for SlaReportView {
    fn from(report: &SlaReport) -> Self {
        Self {
            from: report.from,
            to: report.to,
            overall: SlaFiguresView::from(&report.overall),
            by_department: report
                .by_department
                .iter()
                .map(|row| DepartmentSlaView {
                    department: row.department.clone(),
                    figures: SlaFiguresView::from(&row.figures),
                })
                .collect(),
            by_staff: report
                .by_staff
                .iter()
                .map(|row| StaffSlaView {
                    staff_id: row.staff.0,
                    name: row.name.clone(),
                    figures: SlaFiguresView::from(&row.figures),
                })
                .collect(),
        }
    }
}
