//! PayPal's records as stored: orders and webhook events. The rules are in
//! [`crate::payments`].

use chrono::{DateTime, Utc};

use crate::ids::UserId;
use crate::money::Money;

/// Where an order stands, as hostdeck knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderStatus {
    /// Created at PayPal; the customer has not come back yet.
    Created,
    /// Captured and credited.
    Completed,
    /// Captured, but PayPal holds the money for review; a webhook settles it.
    Pending,
    /// The capture was declined.
    Declined,
    /// Captured with something wrong (amount, currency, customer): credited nobody.
    Failed,
    /// The customer cancelled at PayPal.
    Cancelled,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 6] = [
        Self::Created,
        Self::Completed,
        Self::Pending,
        Self::Declined,
        Self::Failed,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Completed => "completed",
            Self::Pending => "pending",
            Self::Declined => "declined",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

/// An order hostdeck created at PayPal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredOrder {
    pub id: String,
    pub user: UserId,
    pub amount: Money,
    pub currency: String,
    pub request_id: String,
    pub status: OrderStatus,
    pub capture_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What became of a stored webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    Pending,
    Done,
    /// A refund whose capture has not arrived yet.
    Waiting,
    /// Credited nobody; billing staff were alerted.
    Rejected,
    /// A type hostdeck does not act on.
    Ignored,
}

impl EventStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Waiting => "waiting",
            Self::Rejected => "rejected",
            Self::Ignored => "ignored",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Done,
            Self::Waiting,
            Self::Rejected,
            Self::Ignored,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// An event's outcome, to record in the transaction of the posting it carried
/// ([`crate::ledger::Attached`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedEvent {
    pub id: String,
    pub status: EventStatus,
    pub outcome: String,
}

/// A verified webhook delivery to store ([`PaymentStore::insert_events`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// A webhook event as stored, leased for processing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub event_type: String,
    pub body: String,
    pub status: EventStatus,
    pub attempts: i64,
    pub outcome: Option<String>,
    pub received_at: DateTime<Utc>,
}
