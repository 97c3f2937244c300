//! The ledger: postings, balances and statements. The rules are in [`crate::ledger`].

use chrono::{DateTime, Utc};

use super::{Page, Paginated};
use crate::error::Result;
use crate::ids::AccountId;
use crate::money::Money;
use crate::records::ledger::{
    Attached, Discrepancy, PostOutcome, Posted, Posting, PostingRequest, StatementLine,
    SystemAccount,
};

#[async_trait::async_trait]
pub trait LedgerStore: Send + Sync {
    fn system_account(&self, which: SystemAccount) -> AccountId;

    /// Posts once per key; see [`crate::ledger`] for the rules. [`Self::post_with`] with
    /// nothing attached.
    async fn post(&self, request: &PostingRequest, at: DateTime<Utc>) -> Result<PostOutcome> {
        Ok(self
            .post_with(request, at, &Attached::nothing())
            .await?
            .outcome)
    }

    /// Posts once per key and, in the same transaction and only when the posting is new, writes
    /// what is `attached` (its audit entry, its webhook event's outcome, ...).
    async fn post_with(
        &self,
        request: &PostingRequest,
        at: DateTime<Utc>,
        attached: &Attached,
    ) -> Result<Posted>;

    /// Several postings, each as [`Self::post_with`]: each posting with its records commits or
    /// not on its own, and one's refusal or failure does not hold up the others, but where the
    /// engine can they share one commit (group commit). One answer per item, in order.
    async fn post_group(
        &self,
        items: &[(PostingRequest, Attached)],
        at: DateTime<Utc>,
    ) -> Vec<Result<Posted>> {
        let mut results = Vec::with_capacity(items.len());
        for (request, attached) in items {
            results.push(self.post_with(request, at, attached).await);
        }
        results
    }

    async fn posting_by_key(&self, key: &str) -> Result<Option<Posting>>;

    async fn count_postings(&self) -> Result<u64>;

    async fn account_balance(&self, account: AccountId) -> Result<Money>;

    async fn statement(&self, account: AccountId, page: Page) -> Result<Paginated<StatementLine>>;

    async fn ledger_discrepancies(&self) -> Result<Vec<Discrepancy>>;
}
