//! What the store keeps for payments and statements: PayPal orders, received webhook events,
//! and the filtered reads of a wallet's postings that statements need.
//!
//! A separate trait from [`super::Store`] (reached through [`super::Store::payments`]) so the
//! payment tables have one home; the one implementation is the generic SQL store.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::{AccountId, UserId};
use crate::money::Money;
use crate::records::ledger::StatementLine;
pub use crate::records::payments::{
    EventStatus, FinishedEvent, NewEvent, OrderStatus, StoredEvent, StoredOrder,
};
pub use crate::records::statements::StatementFilter;

use super::{Page, Paginated};

#[async_trait::async_trait]
pub trait PaymentStore: Send + Sync {
    async fn insert_order(&self, order: &StoredOrder) -> Result<()>;
    async fn order(&self, id: &str) -> Result<Option<StoredOrder>>;
    async fn order_by_capture(&self, capture_id: &str) -> Result<Option<StoredOrder>>;
    /// Records what became of an order's capture. A capture id is kept once set.
    async fn set_order_status(
        &self,
        id: &str,
        status: OrderStatus,
        capture_id: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Marks an order the customer cancelled at PayPal, if it is still `created`; `true` when
    /// it was.
    async fn cancel_order(&self, id: &str, at: DateTime<Utc>) -> Result<bool>;
    async fn orders_of(&self, user: UserId, limit: u32) -> Result<Vec<StoredOrder>>;
    /// What a credited capture credited and what its refunds debited so far; `None` for a
    /// capture that credited nothing.
    async fn capture_refunds(&self, capture_id: &str) -> Result<Option<(Money, Money)>>;

    /// Stores one event unless its id is known; `true` when it is new.
    async fn insert_event(
        &self,
        id: &str,
        event_type: &str,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let new = self
            .insert_events(&[NewEvent {
                id: id.to_owned(),
                event_type: event_type.to_owned(),
                body: body.to_owned(),
                received_at: at,
            }])
            .await?;
        Ok(new.first().copied().unwrap_or(false))
    }
    /// Stores several deliveries in one commit (group commit), each unless its id is known:
    /// for each, in order, `true` when it is new. An id given twice is stored once, and only
    /// its first is new. Either all of them are committed or, on an error, none.
    async fn insert_events(&self, events: &[NewEvent]) -> Result<Vec<bool>>;
    /// Leases up to `limit` pending events until `lease_until`, oldest first.
    async fn claim_events(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;
    /// Records an event's outcome and, in the same transaction, what became of its order
    /// (`(order id, status, capture id)`).
    async fn finish_event(
        &self,
        id: &str,
        status: EventStatus,
        waiting_for: Option<&str>,
        outcome: &str,
        order: Option<(&str, OrderStatus, &str)>,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Puts the events waiting for `capture_id` back in the queue; returns how many.
    async fn wake_waiting(&self, capture_id: &str) -> Result<u64>;
    async fn count_events(&self, status: EventStatus) -> Result<u64>;

    /// A wallet's postings matching `filter`, newest first.
    async fn statement_filtered(
        &self,
        account: AccountId,
        filter: &StatementFilter,
        page: Page,
    ) -> Result<Paginated<StatementLine>>;
    /// Every posting of a wallet matching `filter`, oldest first (exports), at most `cap`.
    async fn statement_lines(
        &self,
        account: AccountId,
        filter: &StatementFilter,
        cap: u32,
    ) -> Result<Vec<StatementLine>>;
    /// The wallet's balance just before `at` (zero before its first posting).
    async fn balance_before(&self, account: AccountId, at: DateTime<Utc>) -> Result<Money>;
    /// Usage charges to a wallet since `since`: (when, amount) of each, oldest first, with
    /// usage refunds to it as negative amounts (a create that failed cost nothing).
    async fn usage_since(
        &self,
        account: AccountId,
        since: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, Money)>>;
}
