//! The status report's rows (`status_*`): the lease that lets one replica per interval refresh
//! it, the stored report every replica reads, the samples behind per-day uptime, and hostdeck's
//! own incidents with their updates. A trait of its own beside [`super::Store`] (reached through
//! [`super::Store::status`]).

use chrono::{DateTime, NaiveDate, Utc};

use crate::error::Result;
use crate::ids::UserId;
use crate::records::status::{
    DayCounts, Incident, IncidentId, IncidentNotices, IncidentUpdate, NewIncident, StatusSample,
    StickyMessage, StoredReport,
};

#[async_trait::async_trait]
pub trait StatusStore: Send + Sync {
    /// Takes the lease `name` for `holder` until `until` if nobody holds it at `now` (its
    /// last holder's time is up); one statement, so of replicas asking at once exactly one gets it.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool>;

    /// Gives the lease `name` up at `now` if `holder` still has it, so the next asker takes it
    /// at once.
    async fn release_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()>;

    /// The sticky message of the status channel `channel_id`, if one was ever recorded.
    async fn sticky(&self, channel_id: u64) -> Result<Option<StickyMessage>>;
    /// Records the sticky message (insert or replace).
    async fn put_sticky(&self, sticky: &StickyMessage) -> Result<()>;
    /// Records the sticky message only while its message is still `expected` (one conditional
    /// statement: a message forgotten meanwhile stays forgotten); returns whether it did.
    async fn update_sticky(&self, sticky: &StickyMessage, expected: Option<u64>) -> Result<bool>;
    /// The nonce the next post in `channel_id` is sent with: the one stored by an earlier post
    /// whose outcome was never recorded, else `fresh`, stored now (before the post is sent).
    async fn sticky_post_nonce(&self, channel_id: u64, fresh: &str) -> Result<String>;
    /// Forgets the sticky message of `channel_id` if it is still `message_id` (one conditional
    /// statement, so a newer message recorded meanwhile is kept).
    async fn forget_sticky(&self, channel_id: u64, message_id: u64) -> Result<()>;

    /// Replaces the stored report.
    async fn put_report(&self, report: &StoredReport) -> Result<()>;
    /// The stored report, if one was ever computed.
    async fn report(&self) -> Result<Option<StoredReport>>;

    /// Records each component's state at `at` (a sample already there is kept).
    async fn record_samples(&self, at: DateTime<Utc>, samples: &[StatusSample]) -> Result<()>;
    /// Deletes samples taken before `before`.
    async fn purge_samples(&self, before: DateTime<Utc>) -> Result<u64>;
    /// Per UTC day from `from` on, how many samples of `component` were in each state.
    async fn day_counts(&self, component: &str, from: NaiveDate) -> Result<Vec<DayCounts>>;

    /// Stores an incident with its first update, and queues its `announce` post and the outbox
    /// rows `notices` makes for the subscribers read, all in the same transaction.
    async fn insert_incident(
        &self,
        new: &NewIncident,
        at: DateTime<Utc>,
        notices: IncidentNotices<'_>,
    ) -> Result<Incident>;
    /// Appends an update and moves the incident to its status (resolving it when the status is
    /// `resolved`), with the outbox rows `notices` makes, in one transaction. `None` when there
    /// is no such incident or it is resolved already (checked inside the transaction, so of two
    /// racing resolves only one writes and notifies).
    async fn add_incident_update(
        &self,
        id: IncidentId,
        update: &IncidentUpdate,
        notices: IncidentNotices<'_>,
    ) -> Result<Option<Incident>>;
    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>>;
    /// Incidents not resolved, and those resolved since `resolved_since`, newest first.
    async fn recent_incidents(&self, resolved_since: DateTime<Utc>) -> Result<Vec<Incident>>;

    /// Subscribes `user` to incident emails with the unsubscribe id `token`; a subscription
    /// already there is kept with its own id.
    async fn subscribe(&self, user: UserId, token: &str, at: DateTime<Utc>) -> Result<()>;
    /// Ends `user`'s subscription; whether there was one.
    async fn unsubscribe(&self, user: UserId) -> Result<bool>;
    /// Ends the subscription whose unsubscribe id is `token`; whose it was.
    async fn unsubscribe_token(&self, token: &str) -> Result<Option<UserId>>;
    async fn subscribed(&self, user: UserId) -> Result<bool>;
}
