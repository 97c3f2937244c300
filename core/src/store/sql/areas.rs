//! [`Store`] for [`SqlStore`]: one accessor per area, each answered by the area's own
//! implementation in this folder.

use super::SqlStore;
use super::billing::BillingDialect;
use crate::error::Result;
use crate::store::{EngineKind, Store};

#[hostdeck_macros::sql_bounds(BillingDialect)]
#[async_trait::async_trait]
impl<DB> Store for SqlStore<DB> {
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

    fn assistant(&self) -> &dyn crate::store::assistant::AssistantStore {
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

    fn tickets(&self) -> &dyn crate::store::tickets::TicketStore {
        self
    }

    fn status(&self) -> &dyn crate::store::status::StatusStore {
        self
    }

    fn knowledge(&self) -> &dyn crate::store::knowledge::KnowledgeStore {
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
