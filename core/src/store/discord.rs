//! What the Discord side of the platform keeps: linked accounts, one-time link codes, and
//! staff credit adjustments waiting for their confirm button. A trait of its own beside
//! [`super::Store`] (reached through [`super::Store::discord`]), so it grows without touching
//! the main trait.

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::ids::UserId;
use crate::money::Money;
use crate::records::users::User;

/// A Discord user bound to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordLink {
    pub discord_user_id: u64,
    pub user: UserId,
    /// The Discord username when the link was made.
    pub discord_name: String,
    pub linked_at: DateTime<Utc>,
}

/// A `/credits` adjustment to store when its reason is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreditRequest {
    pub idempotency_key: String,
    pub requested_by: u64,
    pub customer: UserId,
    /// Positive adds credit, negative takes it away.
    pub amount: Money,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// How a credit request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditDecision {
    Posted,
    Cancelled,
}

impl CreditDecision {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Posted => "posted",
            Self::Cancelled => "cancelled",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "posted" => Some(Self::Posted),
            "cancelled" => Some(Self::Cancelled),
            _ => None,
        }
    }
}

/// A stored credit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRequest {
    pub id: i64,
    pub idempotency_key: String,
    pub requested_by: u64,
    pub customer: UserId,
    pub amount: Money,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub decision: Option<CreditDecision>,
    pub posting_id: Option<i64>,
}

impl CreditRequest {
    pub(crate) fn decision_from(text: Option<&str>) -> Option<CreditDecision> {
        text.and_then(CreditDecision::parse)
    }
}

#[async_trait::async_trait]
pub trait DiscordStore: Send + Sync {
    /// Stores a link code's hash; the user's earlier unused codes stop working.
    async fn insert_link_code(
        &self,
        user: UserId,
        hash: &str,
        created_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    /// Uses up a live code with this hash, once; whose it was, or `None`.
    async fn redeem_link_code(&self, hash: &str, at: DateTime<Utc>) -> Result<Option<UserId>>;
    /// Binds the Discord user to the account, replacing any earlier link of either.
    async fn link_discord(&self, link: &DiscordLink) -> Result<()>;
    /// Removes the Discord user's link; the account it was linked to, if any.
    async fn unlink_discord_user(&self, discord_user_id: u64) -> Result<Option<UserId>>;
    /// Removes the account's link; the Discord user it was linked to, if any.
    async fn unlink_account(&self, user: UserId) -> Result<Option<u64>>;
    async fn link_of_discord_user(
        &self,
        discord_user_id: u64,
    ) -> Result<Option<(DiscordLink, User)>>;
    async fn link_of_account(&self, user: UserId) -> Result<Option<DiscordLink>>;
    async fn count_discord_links(&self) -> Result<u64>;

    /// Stores the request once per key and returns what is stored under the key.
    async fn insert_credit_request(&self, request: &NewCreditRequest) -> Result<CreditRequest>;
    async fn credit_request(&self, id: i64) -> Result<Option<CreditRequest>>;
    /// Records how the request ended; `false` if it had already ended.
    async fn decide_credit_request(
        &self,
        id: i64,
        decision: CreditDecision,
        posting_id: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<bool>;
    /// Notes the posting of a request claimed as posted.
    async fn record_credit_posting(&self, id: i64, posting_id: i64) -> Result<()>;
    /// Undoes a claim to post whose posting failed, so the request may be cancelled or
    /// confirmed again; `false` if there was no such claim.
    async fn release_credit_claim(&self, id: i64) -> Result<bool>;
}
