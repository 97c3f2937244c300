//! [`Store`] for [`SqlStore`]: one accessor per area, each answered by the area's own
//! implementation in this folder.

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Executor, IntoArguments};

use super::billing::BillingDialect;
use super::{Column, SqlStore};
use crate::error::Result;
use crate::store::{EngineKind, Store};

#[async_trait::async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: BillingDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    i64: Column<DB>,
    bool: Column<DB>,
    String: Column<DB>,
    DateTime<Utc>: Column<DB>,
    Option<i64>: Column<DB>,
    Option<String>: Column<DB>,
    Option<DateTime<Utc>>: Column<DB>,
{
    fn engine(&self) -> EngineKind {
        DB::KIND
    }
    fn users(&self) -> &dyn crate::store::users::UserStore {
        self
    }

    fn auth(&self) -> &dyn crate::store::auth::AuthStore {
        self
    }

    fn ledger(&self) -> &dyn crate::store::ledger::LedgerStore {
        self
    }

    fn audit(&self) -> &dyn crate::store::audit::AuditStore {
        self
    }

    fn outbox(&self) -> &dyn crate::store::outbox::OutboxStore {
        self
    }

    fn settings(&self) -> &dyn crate::store::settings::SettingStore {
        self
    }

    fn throttle(&self) -> &dyn crate::store::throttle::ThrottleStore {
        self
    }

    fn idempotency(&self) -> &dyn crate::store::idempotency::IdempotencyStore {
        self
    }

    fn servers(&self) -> &dyn crate::store::servers::ServerStore {
        self
    }

    fn billing(&self) -> &dyn crate::store::billing::BillingStore {
        self
    }

    fn payments(&self) -> &dyn crate::store::payments::PaymentStore {
        self
    }

    fn discord(&self) -> &dyn crate::store::discord::DiscordStore {
        self
    }

    fn ssh_keys(&self) -> &dyn crate::store::ssh_keys::SshKeyStore {
        self
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.reader).await?;
        Ok(())
    }

    async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
