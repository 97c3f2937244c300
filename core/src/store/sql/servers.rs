//! [`ServerStore`] over both engines: plain `$N` SQL, one transaction per change, an event row
//! beside every state that really changed.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::SqlStore;
use super::ledger::Refusal;
use crate::error::{Error, Result};
use crate::ids::{AccountId, ServerId, UserId};
use crate::money::Money;
use crate::policy::Via;
use crate::records::ledger::{Attached, Overdraft, PostingKind, PostingRequest, SystemAccount};
use crate::records::limits::{CREATE_WINDOW, InUse};
use crate::records::meter::{hour_of, posting_reference, refund_key, usage_key};
use crate::records::providers::{RemoteId, Resources};
use crate::records::servers::{NewServerRow, Rate, Server, ServerStatus};
use crate::store::ledger::LedgerStore;
use crate::store::servers::{
    CreateStart, EventSource, FirstHour, HeldCreate, ResizeHeld, ResizeHold, SUSPENDED_EVENT,
    ServerEvent, ServerRate, ServerStore,
};

macro_rules! server_columns {
    () => {
        "id, user_id, provider, remote_id, create_key, name, hostname, plan, vcpus, memory_mib, \
         disk_gib, image, location, state, suspended_at, suspend_reason, rate_running, \
         rate_stopped, rate_hours, rate_since, billed_until, created_at, state_changed_at, \
         deleted_at FROM servers JOIN server_billing ON server_billing.server_id = servers.id"
    };
}

const BY_ID: &str = concat!("SELECT ", server_columns!(), " WHERE id = $1");
const BY_KEY: &str = concat!("SELECT ", server_columns!(), " WHERE create_key = $1");
const OF_USER: &str = concat!(
    "SELECT ",
    server_columns!(),
    " WHERE user_id = $1 AND deleted_at IS NULL ORDER BY id"
);
const OF_EVERYBODY: &str = concat!(
    "SELECT ",
    server_columns!(),
    " WHERE deleted_at IS NULL ORDER BY id"
);
const ON_PROVIDER: &str = concat!(
    "SELECT ",
    server_columns!(),
    " WHERE provider = $1 AND deleted_at IS NULL ORDER BY id"
);

#[hostdeck_macros::row_bounds]
fn server_from_row<R: Row>(row: &R) -> Result<Server> {
    let number = |column: &str| -> Result<u64> {
        let value: i64 = row.try_get(column)?;
        u64::try_from(value)
            .map_err(|error| Error::internal(format!("reading servers.{column}"), error))
    };
    Ok(Server {
        id: ServerId(row.try_get("id")?),
        user: UserId(row.try_get("user_id")?),
        provider: row.try_get("provider")?,
        remote_id: row
            .try_get::<Option<String>, _>("remote_id")?
            .map(RemoteId::new),
        key: row.try_get("create_key")?,
        name: row.try_get("name")?,
        hostname: row.try_get("hostname")?,
        plan: row.try_get("plan")?,
        resources: Resources {
            vcpus: u32::try_from(number("vcpus")?)
                .map_err(|error| Error::internal("reading servers.vcpus", error))?,
            memory_mib: number("memory_mib")?,
            disk_gib: number("disk_gib")?,
        },
        image: row.try_get("image")?,
        location: row.try_get("location")?,
        state: ServerStatus::parse(&row.try_get::<String, _>("state")?)?,
        suspended_at: row.try_get("suspended_at")?,
        suspend_reason: row.try_get("suspend_reason")?,
        rate: Rate {
            running: row.try_get("rate_running")?,
            stopped: row.try_get("rate_stopped")?,
            hours: row.try_get("rate_hours")?,
            since: row.try_get("rate_since")?,
        },
        billed_until: row.try_get("billed_until")?,
        created_at: row.try_get("created_at")?,
        state_changed_at: row.try_get("state_changed_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

fn signed(value: u64, column: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid("size", format!("{column} is too large")))
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    async fn one_server(&self, sql: &'static str, bind: String) -> Result<Option<Server>> {
        let row = sqlx::query(sql)
            .bind(bind)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(server_from_row).transpose()
    }

    async fn server_by_key_in(conn: &mut DB::Connection, key: &str) -> Result<Server> {
        let row = sqlx::query(BY_KEY)
            .bind(key.to_owned())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| {
                Error::internal(
                    "creating a server",
                    "the create key is taken but its server cannot be read",
                )
            })?;
        server_from_row(&row)
    }

    /// Locks a wallet row until the transaction ends (SQLite's write transaction already keeps
    /// every other writer out), so that what a customer's creates and resizes count and spend
    /// is counted and spent one after the other. Returns the balance.
    async fn lock_wallet(conn: &mut DB::Connection, wallet: AccountId) -> Result<i64> {
        let row = sqlx::query(&format!(
            "SELECT balance FROM accounts WHERE id = $1{}",
            DB::FOR_UPDATE
        ))
        .bind(wallet.0)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no account {wallet}.")))?;
        Ok(row.try_get("balance")?)
    }

    /// What `user` has now, `except` one server, for the ceilings: servers not deleted and
    /// their sizes (a server being resized at the larger of its two sizes), and creates started
    /// after `now` less [`CREATE_WINDOW`].
    async fn in_use(
        conn: &mut DB::Connection,
        user: UserId,
        except: ServerId,
        now: DateTime<Utc>,
    ) -> Result<InUse> {
        let size = |column: &str| {
            format!(
                "CAST(COALESCE(SUM(CASE WHEN deleted_at IS NULL THEN \
                   CASE WHEN resizing_until > $4 AND resizing_{column} > {column} \
                     THEN resizing_{column} ELSE {column} END \
                 ELSE 0 END), 0) AS BIGINT) AS {column}"
            )
        };
        let row = sqlx::query(&format!(
            "SELECT \
               CAST(COALESCE(SUM(CASE WHEN deleted_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS servers, \
               {}, {}, {}, \
               CAST(COALESCE(SUM(CASE WHEN created_at > $3 THEN 1 ELSE 0 END), 0) AS BIGINT) AS recent \
             FROM servers WHERE user_id = $1 AND id <> $2",
            size("vcpus"),
            size("memory_mib"),
            size("disk_gib"),
        ))
        .bind(user.0)
        .bind(except.0)
        .bind(now - CREATE_WINDOW)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        let count = |column: &str| -> Result<u64> {
            Ok(u64::try_from(row.try_get::<i64, _>(column)?).unwrap_or(0))
        };
        Ok(InUse {
            servers: count("servers")?,
            vcpus: count("vcpus")?,
            memory_mib: count("memory_mib")?,
            disk_gib: count("disk_gib")?,
            recent_creates: count("recent")?,
        })
    }

    /// After a create's row is written in `conn` (inserted, or a failed one taken back): the
    /// customer's ceilings, then its first hour. `Err` is a ceiling passed; `Ok(Some(balance))`
    /// that the balance does not cover the hour. Either way the caller rolls back.
    async fn start_in(
        &self,
        conn: &mut DB::Connection,
        id: ServerId,
        new: &NewServerRow,
        first: &FirstHour<'_>,
    ) -> Result<Option<i64>> {
        if let Some(limits) = first.limits {
            let mut in_use = Self::in_use(&mut *conn, new.user, id, new.rate.since).await?;
            // A failed create taken back keeps one row whose `created_at` is rewritten: its
            // earlier attempts in the window are its first hours charged then (each attempt
            // charges one, refunded when it failed), so retrying one key is no way around the
            // rate.
            let earlier = sqlx::query(
                "SELECT COUNT(*) AS attempts FROM postings \
                 WHERE reference = $1 AND kind = $2 AND created_at > $3",
            )
            .bind(posting_reference(id))
            .bind(PostingKind::Usage.as_str().to_owned())
            .bind(new.rate.since - CREATE_WINDOW)
            .fetch_one(&mut *conn)
            .await?;
            in_use.recent_creates +=
                u64::try_from(earlier.try_get::<i64, _>("attempts")?).unwrap_or(0);
            limits.check_create(&in_use, &new.resources)?;
        }
        if !first.amount.is_positive() {
            return Ok(None);
        }
        // The hour's key, or the next `+N` after keys an earlier attempt charged and refunded.
        let hour_key = usage_key(id, hour_of(new.rate.since));
        let mut key = hour_key.clone();
        let mut next = 1u32;
        while Self::posted_amount(&mut *conn, &key).await?.is_some() {
            key = format!("{hour_key}+{next}");
            next += 1;
        }
        let request = PostingRequest {
            debit: first.wallet,
            credit: self.system_account(SystemAccount::Usage),
            amount: first.amount,
            kind: PostingKind::Usage,
            key,
            reference: Some(posting_reference(id)),
            memo: None,
            actor_user: None,
            actor_via: Via::System,
            overdraft: first.overdraft,
        };
        request.validate()?;
        match self
            .write_posting(&mut *conn, &request, new.rate.since, &Attached::nothing())
            .await?
        {
            Ok(_) => Ok(None),
            Err(Refusal::NoFunds(_)) => {
                Ok(Some(Self::lock_wallet(&mut *conn, first.wallet).await?))
            }
            Err(Refusal::KeyUsed) => Err(Error::internal(
                "charging a server's first hour",
                "its key was free a moment ago",
            )),
            Err(Refusal::Capped(_)) => Err(Error::internal(
                "charging a server's first hour",
                "a first hour carries no cap",
            )),
        }
    }

    /// Refunds the usage posting of `key` (to the wallet it came from), unless it does not
    /// exist or was refunded already. Whether a refund was posted.
    async fn refund_in(
        &self,
        conn: &mut DB::Connection,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(charge) = sqlx::query(
            "SELECT debit_account, credit_account, amount, reference FROM postings \
             WHERE idempotency_key = $1 AND kind = 'usage'",
        )
        .bind(key.to_owned())
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(false);
        };
        if Self::posted_amount(&mut *conn, &refund_key(key))
            .await?
            .is_some()
        {
            return Ok(false);
        }
        let request = PostingRequest {
            debit: AccountId(charge.try_get("credit_account")?),
            credit: AccountId(charge.try_get("debit_account")?),
            amount: Money::from_micros(charge.try_get("amount")?),
            kind: PostingKind::UsageRefund,
            key: refund_key(key),
            reference: charge.try_get("reference")?,
            memo: None,
            actor_user: None,
            actor_via: Via::System,
            overdraft: Overdraft::Allow,
        };
        match self
            .write_posting(&mut *conn, &request, at, &Attached::nothing())
            .await?
        {
            Ok(_) => Ok(true),
            // Refunded meanwhile by another transaction: the caller rolls back, and the balance
            // this one moved with it.
            Err(_) => Err(Error::internal(
                "refunding a server's first hour",
                "the refund could not be posted",
            )),
        }
    }
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> ServerStore for SqlStore<DB> {
    async fn server_rates(&self, user: UserId) -> Result<Vec<ServerRate>> {
        // Billable as the tick reads it (`UNBILLABLE_STATES`), and not deleted.
        let rows = sqlx::query(&format!(
            "SELECT state, suspended_at IS NULL AS unsuspended, rate_running, rate_stopped, \
             rate_hours FROM servers WHERE user_id = $1 AND deleted_at IS NULL \
             AND state NOT IN ('deleted', {}) ORDER BY id",
            super::billing::unbillable_states()
        ))
        .bind(user.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServerRate {
                    // A suspended server pays the stopped rate, as the tick bills it.
                    running: row.try_get::<String, _>("state")? == "running"
                        && row.try_get::<bool, _>("unsuspended")?,
                    rate_running: row.try_get("rate_running")?,
                    rate_stopped: row.try_get("rate_stopped")?,
                    rate_hours: row.try_get("rate_hours")?,
                })
            })
            .collect()
    }

    async fn insert_server(
        &self,
        new: &NewServerRow,
        first: Option<&FirstHour<'_>>,
    ) -> Result<CreateStart> {
        let mut tx = self.begin_write().await?;
        if let Some(first) = first {
            Self::lock_wallet(&mut *tx, first.wallet).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO servers (user_id, provider, remote_id, create_key, name, hostname, plan, \
             vcpus, memory_mib, disk_gib, image, location, state, rate_running, rate_stopped, \
             rate_hours, rate_since, created_at, state_changed_at) \
             VALUES ($1, $2, NULL, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'creating', $12, $13, $14, \
             $15, $15, $15) ON CONFLICT (create_key) DO NOTHING RETURNING id",
        )
        .bind(new.user.0)
        .bind(new.provider.clone())
        .bind(new.key.as_str().to_owned())
        .bind(new.name.clone())
        .bind(new.hostname.clone())
        .bind(new.plan.clone())
        .bind(i64::from(new.resources.vcpus))
        .bind(signed(new.resources.memory_mib, "memory_mib")?)
        .bind(signed(new.resources.disk_gib, "disk_gib")?)
        .bind(new.image.clone())
        .bind(new.location.clone())
        .bind(new.rate.running)
        .bind(new.rate.stopped)
        .bind(new.rate.hours)
        .bind(new.rate.since)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inserted) = inserted else {
            // Another request with the same key got there first.
            let taken = Self::server_by_key_in(&mut *tx, new.key.as_str()).await;
            tx.rollback().await?;
            return Ok(CreateStart::Taken(taken?));
        };
        let id = ServerId(inserted.try_get("id")?);
        sqlx::query("INSERT INTO server_billing (server_id, billed_until) VALUES ($1, $2)")
            .bind(id.0)
            .bind(new.billed_until)
            .execute(&mut *tx)
            .await?;
        if let Some(first) = first {
            // On an error the transaction is dropped, which rolls it back.
            if let Some(balance) = self.start_in(&mut *tx, id, new, first).await? {
                tx.rollback().await?;
                return Ok(CreateStart::NoFunds {
                    balance: Money::from_micros(balance),
                });
            }
        }
        let server = Self::server_by_key_in(&mut *tx, new.key.as_str()).await?;
        tx.commit().await?;
        Ok(CreateStart::Started(server))
    }

    async fn server(&self, id: ServerId) -> Result<Option<Server>> {
        let row = sqlx::query(BY_ID)
            .bind(id.0)
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(server_from_row).transpose()
    }

    async fn server_by_key(&self, key: &str) -> Result<Option<Server>> {
        self.one_server(BY_KEY, key.to_owned()).await
    }

    async fn servers_of(&self, user: Option<UserId>) -> Result<Vec<Server>> {
        let rows = match user {
            Some(user) => {
                sqlx::query(OF_USER)
                    .bind(user.0)
                    .fetch_all(&self.reader)
                    .await?
            }
            None => sqlx::query(OF_EVERYBODY).fetch_all(&self.reader).await?,
        };
        rows.iter().map(server_from_row).collect()
    }

    async fn servers_on(&self, provider: &str) -> Result<Vec<Server>> {
        let rows = sqlx::query(ON_PROVIDER)
            .bind(provider.to_owned())
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(server_from_row).collect()
    }

    async fn retry_failed_server(
        &self,
        id: ServerId,
        new: &NewServerRow,
        first: Option<&FirstHour<'_>>,
    ) -> Result<CreateStart> {
        let mut tx = self.begin_write().await?;
        if let Some(first) = first {
            Self::lock_wallet(&mut *tx, first.wallet).await?;
        }
        let row = sqlx::query(
            "UPDATE servers SET state = 'creating', deleted_at = NULL, plan = $2, vcpus = $3, \
             memory_mib = $4, disk_gib = $5, rate_running = $6, rate_stopped = $7, \
             rate_hours = $8, rate_since = $9, created_at = $9, state_changed_at = $9 \
             WHERE id = $1 AND state = 'failed' RETURNING id",
        )
        .bind(id.0)
        .bind(new.plan.clone())
        .bind(i64::from(new.resources.vcpus))
        .bind(signed(new.resources.memory_mib, "memory_mib")?)
        .bind(signed(new.resources.disk_gib, "disk_gib")?)
        .bind(new.rate.running)
        .bind(new.rate.stopped)
        .bind(new.rate.hours)
        .bind(new.rate.since)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            tx.rollback().await?;
            let taken = self
                .server(id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("There is no server {id}.")))?;
            return Ok(CreateStart::Taken(taken));
        }
        sqlx::query("UPDATE server_billing SET billed_until = $2 WHERE server_id = $1")
            .bind(id.0)
            .bind(new.billed_until)
            .execute(&mut *tx)
            .await?;
        if let Some(first) = first
            && let Some(balance) = self.start_in(&mut *tx, id, new, first).await?
        {
            tx.rollback().await?;
            return Ok(CreateStart::NoFunds {
                balance: Money::from_micros(balance),
            });
        }
        let server = Self::server_by_key_in(&mut *tx, new.key.as_str()).await?;
        tx.commit().await?;
        Ok(CreateStart::Started(server))
    }

    async fn server_created(
        &self,
        id: ServerId,
        remote: &RemoteId,
        state: ServerStatus,
        at: DateTime<Utc>,
        source: EventSource,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE servers SET remote_id = $2, state = $3, state_changed_at = $4 \
             WHERE id = $1 AND state = 'creating' RETURNING id",
        )
        .bind(id.0)
        .bind(remote.as_str().to_owned())
        .bind(state.as_str().to_owned())
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event::<DB>(&mut tx, id, state.as_str(), source, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn begin_resize(
        &self,
        id: ServerId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "UPDATE servers SET resizing_until = $3 \
             WHERE id = $1 AND (resizing_until IS NULL OR resizing_until <= $2) RETURNING id",
        )
        .bind(id.0)
        .bind(now)
        .bind(until)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn hold_resize(&self, hold: &ResizeHold<'_>) -> Result<ResizeHeld> {
        let mut tx = self.begin_write().await?;
        let balance = Self::lock_wallet(&mut *tx, hold.wallet).await?;
        let row = sqlx::query(concat!("SELECT ", server_columns!(), " WHERE id = $1"))
            .bind(hold.server.0)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("There is no server {}.", hold.server)))?;
        let server = server_from_row(&row)?;
        let in_use = Self::in_use(&mut *tx, server.user, server.id, hold.at).await?;
        hold.limits.check_totals(&in_use, &hold.to)?;
        // Counted by the next hold or create until the resize ends, at the larger size.
        sqlx::query(
            "UPDATE servers SET resizing_vcpus = $2, resizing_memory_mib = $3, \
             resizing_disk_gib = $4 WHERE id = $1",
        )
        .bind(server.id.0)
        .bind(i64::from(hold.to.vcpus))
        .bind(signed(hold.to.memory_mib, "memory_mib")?)
        .bind(signed(hold.to.disk_gib, "disk_gib")?)
        .execute(&mut *tx)
        .await?;
        let Some(larger) = hold.larger else {
            tx.commit().await?;
            return Ok(ResizeHeld::Held { top_up: None });
        };
        if balance < larger.hour.micros() {
            tx.rollback().await?;
            return Ok(ResizeHeld::NoFunds {
                balance: Money::from_micros(balance),
            });
        }
        let current = hour_of(hold.at);
        let mut top_up = None;
        if server.billed_until > current {
            // The current hour was paid already: it is topped up to the new rate now, while
            // the balance is known to cover it, rather than after the provider answered.
            let owed = Self::hour_top_up(
                &mut *tx,
                server.id,
                server.state.as_str(),
                current,
                (larger.rate_running, larger.rate_stopped, larger.rate_hours),
            )
            .await?;
            if let Some((amount, key)) = owed {
                let request = PostingRequest {
                    debit: hold.wallet,
                    credit: self.system_account(SystemAccount::Usage),
                    amount: Money::from_micros(amount),
                    kind: PostingKind::Usage,
                    key: key.clone(),
                    reference: Some(posting_reference(server.id)),
                    memo: None,
                    actor_user: None,
                    actor_via: Via::System,
                    overdraft: Overdraft::Forbid,
                };
                request.validate()?;
                if self
                    .write_posting(&mut *tx, &request, hold.at, &Attached::nothing())
                    .await?
                    .is_err()
                {
                    tx.rollback().await?;
                    return Ok(ResizeHeld::NoFunds {
                        balance: Money::from_micros(balance),
                    });
                }
                top_up = Some((key, Money::from_micros(amount)));
            }
        }
        tx.commit().await?;
        Ok(ResizeHeld::Held { top_up })
    }

    async fn end_resize(
        &self,
        id: ServerId,
        top_up: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE servers SET resizing_until = NULL, resizing_vcpus = NULL, \
             resizing_memory_mib = NULL, resizing_disk_gib = NULL WHERE id = $1",
        )
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if let Some(key) = top_up {
            self.refund_in(&mut *tx, key, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn server_failed(
        &self,
        id: ServerId,
        attempt: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE servers SET state = 'failed', state_changed_at = $2, deleted_at = $2 \
             WHERE id = $1 AND state = 'creating' AND created_at <= $3 RETURNING rate_since",
        )
        .bind(id.0)
        .bind(at)
        .bind(attempt)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(false);
        };
        // This attempt's first hour is the hour of its `rate_since`, under the hour's key or a
        // `+N` after those of earlier attempts (refunded when they failed).
        let since: DateTime<Utc> = row.try_get("rate_since")?;
        let hour_key = usage_key(id, hour_of(since));
        let mut key = hour_key.clone();
        let mut next = 1u32;
        while Self::posted_amount(&mut *tx, &key).await?.is_some() {
            self.refund_in(&mut *tx, &key, at).await?;
            key = format!("{hour_key}+{next}");
            next += 1;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn set_server_states(
        &self,
        changes: &[(ServerId, ServerStatus)],
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<usize> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let mut changed = 0;
        for (id, state) in changes {
            let row = sqlx::query(
                "UPDATE servers SET state = $2, state_changed_at = $3 \
                 WHERE id = $1 AND state <> $2 AND deleted_at IS NULL \
                 AND state NOT IN ('creating', 'failed', 'deleted') RETURNING id",
            )
            .bind(id.0)
            .bind(state.as_str().to_owned())
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            if row.is_some() {
                insert_event::<DB>(&mut tx, *id, state.as_str(), source, at).await?;
                changed += 1;
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn set_server_suspension(
        &self,
        id: ServerId,
        reason: Option<&str>,
        state: ServerStatus,
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row =
            match reason {
                Some(reason) => {
                    sqlx::query(
                        "UPDATE servers SET suspended_at = $2, suspend_reason = $3, state = $4, \
                     state_changed_at = $2 WHERE id = $1 AND suspended_at IS NULL \
                     AND deleted_at IS NULL RETURNING id",
                    )
                    .bind(id.0)
                    .bind(at)
                    .bind(reason.to_owned())
                    .bind(state.as_str().to_owned())
                    .fetch_optional(&mut *tx)
                    .await?
                }
                None => sqlx::query(
                    "UPDATE servers SET suspended_at = NULL, suspend_reason = NULL, state = $3, \
                     state_changed_at = $2 WHERE id = $1 AND suspended_at IS NOT NULL \
                     AND deleted_at IS NULL RETURNING id",
                )
                .bind(id.0)
                .bind(at)
                .bind(state.as_str().to_owned())
                .fetch_optional(&mut *tx)
                .await?,
            };
        if row.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        let event = if reason.is_some() {
            SUSPENDED_EVENT
        } else {
            state.as_str()
        };
        insert_event::<DB>(&mut tx, id, event, source, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn server_deleted(
        &self,
        id: ServerId,
        source: EventSource,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE servers SET state = 'deleted', deleted_at = $2, state_changed_at = $2 \
             WHERE id = $1 AND deleted_at IS NULL RETURNING id",
        )
        .bind(id.0)
        .bind(at)
        .fetch_optional(&mut *tx)
        .await?;
        if row.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_event::<DB>(&mut tx, id, ServerStatus::Deleted.as_str(), source, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_create_request(&self, request: &HeldCreate, at: DateTime<Utc>) -> Result<i64> {
        let row = sqlx::query(
            "INSERT INTO server_create_requests (user_id, name, hostname, plan, template, \
             location, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(request.user.0)
        .bind(request.name.clone())
        .bind(request.hostname.clone())
        .bind(request.plan.clone())
        .bind(request.template.clone())
        .bind(request.location.clone())
        .bind(at)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.try_get("id")?)
    }

    async fn create_request(&self, id: i64) -> Result<Option<HeldCreate>> {
        let row = sqlx::query(
            "SELECT user_id, name, hostname, plan, template, location \
             FROM server_create_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|row| {
            Ok(HeldCreate {
                user: UserId(row.try_get("user_id")?),
                name: row.try_get("name")?,
                hostname: row.try_get("hostname")?,
                plan: row.try_get("plan")?,
                template: row.try_get("template")?,
                location: row.try_get("location")?,
            })
        })
        .transpose()
    }

    async fn server_events(&self, id: ServerId) -> Result<Vec<ServerEvent>> {
        let rows = sqlx::query(
            "SELECT at, state, source FROM server_events WHERE server_id = $1 ORDER BY at, id",
        )
        .bind(id.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServerEvent {
                    at: row.try_get("at")?,
                    state: row.try_get("state")?,
                    source: row.try_get("source")?,
                })
            })
            .collect()
    }

    async fn server_charged(&self, id: ServerId) -> Result<Money> {
        let total: i64 = sqlx::query(
            "SELECT CAST(COALESCE(SUM(CASE WHEN kind = 'usage' THEN amount ELSE -amount END), 0) \
             AS BIGINT) FROM postings WHERE kind IN ('usage', 'usage_refund') AND reference = $1",
        )
        .bind(crate::records::meter::posting_reference(id))
        .fetch_one(&self.reader)
        .await?
        .try_get(0usize)?;
        Ok(Money::from_micros(total))
    }
}

#[hostdeck_macros::sql_bounds]
async fn insert_event<DB>(
    tx: &mut sqlx::Transaction<'_, DB>,
    id: ServerId,
    state: &str,
    source: EventSource,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query("INSERT INTO server_events (server_id, at, state, source) VALUES ($1, $2, $3, $4)")
        .bind(id.0)
        .bind(at)
        .bind(state.to_owned())
        .bind(source.as_str().to_owned())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
