//! Users: `users` and the wallet (their ledger account) each one gets.

use chrono::{DateTime, Utc};

use super::{Page, Paginated};
use crate::email::Email;
use crate::error::Result;
use crate::ids::UserId;
use crate::policy::Role;
use crate::records::users::{NewUser, User, UserStatus};

#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account and its wallet in one transaction. A taken email is a `conflict`.
    async fn insert_user(&self, user: &NewUser, at: DateTime<Utc>) -> Result<User>;

    async fn user(&self, id: UserId) -> Result<Option<User>>;

    async fn user_by_email(&self, email: &Email) -> Result<Option<User>>;

    async fn list_users(&self, search: Option<&str>, page: Page) -> Result<Paginated<User>>;

    async fn set_user_role(&self, id: UserId, role: Role) -> Result<()>;

    async fn count_users_with_role(&self, role: Role) -> Result<u64>;

    /// Marks the email verified; `false` if it already was.
    async fn mark_email_verified(&self, user: UserId, at: DateTime<Utc>) -> Result<bool>;

    async fn set_display_name(&self, user: UserId, name: Option<&str>) -> Result<()>;

    async fn set_user_status(
        &self,
        user: UserId,
        status: UserStatus,
        at: DateTime<Utc>,
    ) -> Result<()>;
}
