//! [`TicketStore`] for both engines: plain `$N` SQL, each change one transaction with its
//! message, outbox rows and audit entries.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Column, SqlStore};
use crate::error::{Error, Result};
use crate::ids::{ServerId, TicketId, TicketMessageId, UserId};
use crate::records::tickets::{
    Assignee, Door, KeyedRequest, NewTicket, NewTicketMessage, Priority, RequestKey, Ticket,
    TicketFilter, TicketMessage, TicketStatus,
};
use crate::store::tickets::{
    DueQuery, Effects, MessageEdit, OpenEffects, TicketStore, TicketWrite, Written,
};

const TICKET_COLUMNS: &str = "id, customer_id, subject, department, priority, server_id, status, \
     assignee_id, created_at, first_response_at, last_activity_at, due_at, closed_at, \
     close_reason, closed_by, discord_thread_id, rating, rating_comment, sla_warned_at, \
     sla_breached_at, autoclose_warned_at, sla_started_at, breaches, opened_via, version";

const MESSAGE_COLUMNS: &str = "id, ticket_id, author_id, author_name, author_staff, door, body, \
     note, attachments, discord_message_id, created_at, edited_at, deleted_at";

const OPEN_COUNT: &str =
    "SELECT COUNT(*) FROM tickets WHERE customer_id = $1 AND status <> 'closed'";

/// A Discord snowflake as stored (they fit in 63 bits).
fn snowflake(id: u64) -> Result<i64> {
    i64::try_from(id).map_err(|_| Error::invalid("discord_id", format!("{id} is not a Discord id")))
}

fn read_snowflake(value: Option<i64>) -> Option<u64> {
    value.and_then(|id| u64::try_from(id).ok())
}

#[hostdeck_macros::row_bounds]
fn ticket_from_row<R: Row>(row: &R) -> Result<Ticket> {
    let priority: String = row.try_get("priority")?;
    let status: String = row.try_get("status")?;
    let via: String = row.try_get("opened_via")?;
    let rating: Option<i64> = row.try_get("rating")?;
    Ok(Ticket {
        id: TicketId(row.try_get("id")?),
        customer: UserId(row.try_get("customer_id")?),
        subject: row.try_get("subject")?,
        department: row.try_get("department")?,
        priority: Priority::parse(&priority)?,
        server: row.try_get::<Option<i64>, _>("server_id")?.map(ServerId),
        status: TicketStatus::parse(&status)?,
        assignee: row.try_get::<Option<i64>, _>("assignee_id")?.map(UserId),
        created_at: row.try_get("created_at")?,
        first_response_at: row.try_get("first_response_at")?,
        last_activity_at: row.try_get("last_activity_at")?,
        due_at: row.try_get("due_at")?,
        closed_at: row.try_get("closed_at")?,
        close_reason: row.try_get("close_reason")?,
        closed_by: row.try_get::<Option<i64>, _>("closed_by")?.map(UserId),
        discord_thread_id: read_snowflake(row.try_get("discord_thread_id")?),
        rating: rating.and_then(|stars| u8::try_from(stars).ok()),
        rating_comment: row.try_get("rating_comment")?,
        sla_warned_at: row.try_get("sla_warned_at")?,
        sla_breached_at: row.try_get("sla_breached_at")?,
        autoclose_warned_at: row.try_get("autoclose_warned_at")?,
        sla_started_at: row.try_get("sla_started_at")?,
        breaches: u32::try_from(row.try_get::<i64, _>("breaches")?).unwrap_or(u32::MAX),
        opened_via: Door::parse(&via)?,
        version: row.try_get("version")?,
    })
}

#[hostdeck_macros::row_bounds]
fn message_from_row<R: Row>(row: &R) -> Result<TicketMessage> {
    let door: String = row.try_get("door")?;
    let attachments: String = row.try_get("attachments")?;
    Ok(TicketMessage {
        id: TicketMessageId(row.try_get("id")?),
        ticket: TicketId(row.try_get("ticket_id")?),
        author: row.try_get::<Option<i64>, _>("author_id")?.map(UserId),
        author_name: row.try_get("author_name")?,
        author_staff: row.try_get("author_staff")?,
        door: Door::parse(&door)?,
        body: row.try_get("body")?,
        note: row.try_get("note")?,
        attachments: serde_json::from_str(&attachments)
            .map_err(|error| Error::internal("reading a ticket message's attachments", error))?,
        discord_message_id: read_snowflake(row.try_get("discord_message_id")?),
        created_at: row.try_get("created_at")?,
        edited_at: row.try_get("edited_at")?,
        deleted_at: row.try_get("deleted_at")?,
    })
}

/// A value bound to a listing's `$N`.
enum Arg {
    Int(i64),
    Text(String),
    Time(DateTime<Utc>),
}

/// The WHERE clause of a listing and what it binds.
fn list_conditions(filter: &TicketFilter, now: DateTime<Utc>) -> (String, Vec<Arg>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut args = Vec::new();
    let mut push = |condition: &str, arg: Option<Arg>, args: &mut Vec<Arg>| {
        if let Some(arg) = arg {
            args.push(arg);
        }
        conditions.push(condition.replace('?', &format!("${}", args.len())));
    };
    if let Some(status) = filter.status {
        push(
            "status = ?",
            Some(Arg::Text(status.as_str().into())),
            &mut args,
        );
    }
    if filter.open_only || filter.breaching_within.is_some() {
        push("status <> ?", Some(Arg::Text("closed".into())), &mut args);
    }
    if let Some(department) = &filter.department {
        push(
            "department = ?",
            Some(Arg::Text(department.clone())),
            &mut args,
        );
    }
    match filter.assignee {
        Some(Assignee::To(user)) => push("assignee_id = ?", Some(Arg::Int(user.0)), &mut args),
        Some(Assignee::Unassigned) => push("assignee_id IS NULL", None, &mut args),
        None => {}
    }
    if let Some(customer) = filter.customer {
        push("customer_id = ?", Some(Arg::Int(customer.0)), &mut args);
    }
    if let Some(server) = filter.server {
        push("server_id = ?", Some(Arg::Int(server.0)), &mut args);
    }
    if let Some(priority) = filter.priority {
        push(
            "priority = ?",
            Some(Arg::Text(priority.as_str().into())),
            &mut args,
        );
    }
    if let Some(within) = filter.breaching_within {
        push("due_at <= ?", Some(Arg::Time(now + within)), &mut args);
    }
    if let Some(before) = filter.before {
        push("id < ?", Some(Arg::Int(before.0)), &mut args);
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    (clause, args)
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    /// Inserts a message; `None` when its Discord message id is stored already.
    async fn insert_ticket_message(
        conn: &mut DB::Connection,
        message: &NewTicketMessage,
    ) -> Result<Option<TicketMessage>> {
        let attachments = serde_json::to_string(&message.attachments)
            .map_err(|error| Error::internal("writing a ticket message's attachments", error))?;
        let discord = message.discord_message_id.map(snowflake).transpose()?;
        let row = sqlx::query(
            "INSERT INTO ticket_messages (ticket_id, author_id, author_name, author_staff, door, \
             body, note, attachments, discord_message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (discord_message_id) DO NOTHING RETURNING id",
        )
        .bind(message.ticket.0)
        .bind(message.author.map(|user| user.0))
        .bind(message.author_name.clone())
        .bind(message.author_staff)
        .bind(message.door.as_str().to_owned())
        .bind(message.body.clone())
        .bind(message.note)
        .bind(attachments)
        .bind(discord)
        .bind(message.created_at)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id = TicketMessageId(row.try_get("id")?);
        Ok(Some(message.clone().stored(id)))
    }

    /// Locks the customer's row and counts their open tickets: a `conflict` at `max`.
    async fn within_open_limit(
        tx: &mut sqlx::Transaction<'static, DB>,
        customer: UserId,
        max: u32,
    ) -> Result<()> {
        sqlx::query(&format!(
            "SELECT id FROM users WHERE id = $1{}",
            DB::FOR_UPDATE
        ))
        .bind(customer.0)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| Error::NotFound(format!("There is no user {customer}.")))?;
        let open: i64 = sqlx::query(OPEN_COUNT)
            .bind(customer.0)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0usize)?;
        if open >= i64::from(max) {
            return Err(Error::Conflict(format!(
                "You have {open} open tickets, the most at once; close one you no longer need \
                 (or add to it) before opening or reopening another."
            )));
        }
        Ok(())
    }

    async fn write_effects(
        conn: &mut DB::Connection,
        effects: &Effects,
        at: DateTime<Utc>,
    ) -> Result<()> {
        for message in &effects.outbox {
            Self::write_outbox(&mut *conn, message, at).await?;
        }
        for entry in &effects.audit {
            Self::write_audit(&mut *conn, entry, at).await?;
        }
        Ok(())
    }

    /// Stores a client's key with what its request made; a `conflict` when the key is stored
    /// already (the caller's transaction is then rolled back: nothing of it is written).
    async fn write_request_key(
        conn: &mut DB::Connection,
        key: &RequestKey,
        message: &TicketMessage,
    ) -> Result<()> {
        let stored = sqlx::query(
            "INSERT INTO ticket_request_keys (scope, request_key, fingerprint, ticket_id,              message_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)              ON CONFLICT (scope, request_key) DO NOTHING",
        )
        .bind(key.scope.clone())
        .bind(key.key.clone())
        .bind(key.fingerprint.clone())
        .bind(message.ticket.0)
        .bind(message.id.0)
        .bind(message.created_at)
        .execute(conn)
        .await?;
        if DB::rows_affected(&stored) == 0 {
            return Err(Error::Conflict(
                "This idempotency key was used by a request made at the same time.".into(),
            ));
        }
        Ok(())
    }

    async fn ticket_in(conn: &mut DB::Connection, id: TicketId) -> Result<Option<Ticket>> {
        let row = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE id = $1"
        ))
        .bind(id.0)
        .fetch_optional(conn)
        .await?;
        row.as_ref().map(ticket_from_row).transpose()
    }

    async fn tickets_where<T>(&self, condition: &str, bind: T) -> Result<Vec<Ticket>>
    where
        T: Column<DB> + 'static,
    {
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE {condition}"
        ))
        .bind(bind)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    async fn messages_where(
        &self,
        condition: &str,
        ticket: TicketId,
    ) -> Result<Vec<TicketMessage>> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM ticket_messages WHERE ticket_id = $1{condition} ORDER BY id"
        ))
        .bind(ticket.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(message_from_row).collect()
    }
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> TicketStore for SqlStore<DB> {
    async fn insert_ticket(
        &self,
        ticket: &NewTicket,
        first: &NewTicketMessage,
        max_open: u32,
        effects: &OpenEffects<'_>,
        key: Option<&RequestKey>,
    ) -> Result<(Ticket, TicketMessage)> {
        let mut tx = self.begin_write().await?;
        if let Err(error) = Self::within_open_limit(&mut tx, ticket.customer, max_open).await {
            tx.rollback().await?;
            return Err(error);
        }
        let row = sqlx::query(
            "INSERT INTO tickets (customer_id, subject, department, priority, server_id, status, \
             created_at, last_activity_at, due_at, opened_via) \
             VALUES ($1, $2, $3, $4, $5, 'open', $6, $6, $7, $8) RETURNING id",
        )
        .bind(ticket.customer.0)
        .bind(ticket.subject.clone())
        .bind(ticket.department.clone())
        .bind(ticket.priority.as_str().to_owned())
        .bind(ticket.server.map(|server| server.0))
        .bind(ticket.created_at)
        .bind(ticket.due_at)
        .bind(ticket.opened_via.as_str().to_owned())
        .fetch_one(&mut *tx)
        .await?;
        let id = TicketId(row.try_get("id")?);
        let message = NewTicketMessage {
            ticket: id,
            ..first.clone()
        };
        let message = Self::insert_ticket_message(&mut tx, &message)
            .await?
            .ok_or_else(|| Error::Conflict("That message is stored already.".into()))?;
        if let Some(key) = key {
            Self::write_request_key(&mut tx, key, &message).await?;
        }
        let stored = Self::ticket_in(&mut tx, id)
            .await?
            .ok_or_else(|| Error::internal("opening a ticket", "the new row is gone"))?;
        Self::write_effects(&mut tx, &effects(&stored, &message), ticket.created_at).await?;
        tx.commit().await?;
        Ok((stored, message))
    }

    async fn write_ticket(&self, write: &TicketWrite) -> Result<Written> {
        let ticket = &write.ticket;
        let mut tx = self.begin_write().await?;
        if let Some(max) = write.open_limit
            && let Err(error) = Self::within_open_limit(&mut tx, ticket.customer, max).await
        {
            tx.rollback().await?;
            return Err(error);
        }
        let updated = sqlx::query(
            "UPDATE tickets SET subject = $1, department = $2, priority = $3, server_id = $4, \
             status = $5, assignee_id = $6, first_response_at = $7, last_activity_at = $8, \
             due_at = $9, closed_at = $10, close_reason = $11, closed_by = $12, rating = $13, \
             rating_comment = $14, sla_warned_at = $15, sla_breached_at = $16, \
             autoclose_warned_at = $17, sla_started_at = $18, breaches = $19, \
             version = version + 1 WHERE id = $20 AND version = $21",
        )
        .bind(ticket.subject.clone())
        .bind(ticket.department.clone())
        .bind(ticket.priority.as_str().to_owned())
        .bind(ticket.server.map(|server| server.0))
        .bind(ticket.status.as_str().to_owned())
        .bind(ticket.assignee.map(|user| user.0))
        .bind(ticket.first_response_at)
        .bind(ticket.last_activity_at)
        .bind(ticket.due_at)
        .bind(ticket.closed_at)
        .bind(ticket.close_reason.clone())
        .bind(ticket.closed_by.map(|user| user.0))
        .bind(ticket.rating.map(i64::from))
        .bind(ticket.rating_comment.clone())
        .bind(ticket.sla_warned_at)
        .bind(ticket.sla_breached_at)
        .bind(ticket.autoclose_warned_at)
        .bind(ticket.sla_started_at)
        .bind(i64::from(ticket.breaches))
        .bind(ticket.id.0)
        .bind(ticket.version)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&updated) == 0 {
            tx.rollback().await?;
            return Ok(Written::Stale);
        }
        let mut message = None;
        if let Some(new) = &write.message {
            match Self::insert_ticket_message(&mut tx, new).await? {
                Some(stored) => {
                    if let Some(key) = &write.request_key {
                        Self::write_request_key(&mut tx, key, &stored).await?;
                    }
                    message = Some(stored);
                }
                None => {
                    tx.rollback().await?;
                    let id = new.discord_message_id.unwrap_or_default();
                    return match self.message_by_discord_id(id).await? {
                        Some(existing) => Ok(Written::Duplicate(existing)),
                        None => Ok(Written::Stale),
                    };
                }
            }
        }
        Self::write_effects(&mut tx, &write.effects, write.at).await?;
        let stored = Self::ticket_in(&mut tx, ticket.id)
            .await?
            .ok_or_else(|| Error::internal("changing a ticket", "the row is gone"))?;
        tx.commit().await?;
        Ok(Written::Done {
            ticket: Box::new(stored),
            message,
        })
    }

    async fn request_key(&self, scope: &str, key: &str) -> Result<Option<KeyedRequest>> {
        let row = sqlx::query(
            "SELECT fingerprint, ticket_id, message_id FROM ticket_request_keys              WHERE scope = $1 AND request_key = $2",
        )
        .bind(scope.to_owned())
        .bind(key.to_owned())
        .fetch_optional(&self.writer)
        .await?;
        row.map(|row| {
            Ok(KeyedRequest {
                fingerprint: row.try_get("fingerprint")?,
                ticket: TicketId(row.try_get("ticket_id")?),
                message: TicketMessageId(row.try_get("message_id")?),
            })
        })
        .transpose()
    }

    async fn purge_request_keys(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM ticket_request_keys WHERE created_at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn ticket(&self, id: TicketId) -> Result<Option<Ticket>> {
        Ok(self.tickets_where("id = $1", id.0).await?.pop())
    }

    async fn ticket_by_thread(&self, thread_id: u64) -> Result<Option<Ticket>> {
        Ok(self
            .tickets_where("discord_thread_id = $1", snowflake(thread_id)?)
            .await?
            .pop())
    }

    async fn list_tickets(&self, filter: &TicketFilter, now: DateTime<Utc>) -> Result<Vec<Ticket>> {
        let (clause, args) = list_conditions(filter, now);
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets{clause} ORDER BY id DESC LIMIT {}",
            i64::from(filter.limit.clamp(1, TicketFilter::MAX_LIMIT)) + 1
        );
        let mut query = sqlx::query(&sql);
        for arg in args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
                Arg::Time(value) => query.bind(value),
            };
        }
        let rows = query.fetch_all(&self.reader).await?;
        rows.iter().map(ticket_from_row).collect()
    }

    async fn open_ticket_count(&self, customer: UserId) -> Result<u64> {
        Self::count_rows(&self.reader, sqlx::query(OPEN_COUNT).bind(customer.0)).await
    }

    async fn ticket_messages(&self, ticket: TicketId, notes: bool) -> Result<Vec<TicketMessage>> {
        let condition = if notes { "" } else { " AND note = FALSE" };
        self.messages_where(condition, ticket).await
    }

    async fn message_by_discord_id(
        &self,
        discord_message_id: u64,
    ) -> Result<Option<TicketMessage>> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM ticket_messages WHERE discord_message_id = $1"
        ))
        .bind(snowflake(discord_message_id)?)
        .fetch_optional(&self.writer)
        .await?;
        row.as_ref().map(message_from_row).transpose()
    }

    async fn unsynced_messages(&self, ticket: TicketId) -> Result<Vec<TicketMessage>> {
        self.messages_where(" AND note = FALSE AND discord_message_id IS NULL", ticket)
            .await
    }

    async fn mark_posted(
        &self,
        message: TicketMessageId,
        discord_message_id: u64,
    ) -> Result<Option<TicketId>> {
        let row = sqlx::query(
            "UPDATE ticket_messages SET discord_message_id = $1 \
             WHERE id = $2 AND discord_message_id IS NULL RETURNING ticket_id",
        )
        .bind(snowflake(discord_message_id)?)
        .bind(message.0)
        .fetch_optional(&self.writer)
        .await?;
        row.map(|row| Ok(TicketId(row.try_get("ticket_id")?)))
            .transpose()
    }

    async fn edit_message(
        &self,
        discord_message_id: u64,
        body: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM ticket_messages \
             WHERE discord_message_id = $1 AND door = 'discord'"
        ))
        .bind(snowflake(discord_message_id)?)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mut message) = row.as_ref().map(message_from_row).transpose()? else {
            tx.rollback().await?;
            return Ok(None);
        };
        if message.body == body {
            tx.rollback().await?;
            return Ok(Some(message));
        }
        sqlx::query(
            "INSERT INTO ticket_message_edits (message_id, body, edited_at) VALUES ($1, $2, $3)",
        )
        .bind(message.id.0)
        .bind(message.body.clone())
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE ticket_messages SET body = $1, edited_at = $2 WHERE id = $3")
            .bind(body.to_owned())
            .bind(at)
            .bind(message.id.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        body.clone_into(&mut message.body);
        message.edited_at = Some(at);
        Ok(Some(message))
    }

    async fn delete_message(
        &self,
        discord_message_id: u64,
        at: DateTime<Utc>,
    ) -> Result<Option<TicketMessage>> {
        let id = snowflake(discord_message_id)?;
        sqlx::query(
            "UPDATE ticket_messages SET deleted_at = $1 \
             WHERE discord_message_id = $2 AND deleted_at IS NULL AND door = 'discord'",
        )
        .bind(at)
        .bind(id)
        .execute(&self.writer)
        .await?;
        // Only what was written in Discord is deleted there: our copy of a portal or API
        // message going away (a moderator, a thread cleaned up) leaves the message as it is.
        Ok(self
            .message_by_discord_id(discord_message_id)
            .await?
            .filter(|message| message.door == Door::Discord && message.deleted_at.is_some()))
    }

    async fn message_edits(&self, message: TicketMessageId) -> Result<Vec<MessageEdit>> {
        let rows = sqlx::query(
            "SELECT body, edited_at FROM ticket_message_edits WHERE message_id = $1 ORDER BY id",
        )
        .bind(message.0)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MessageEdit {
                    body: row.try_get("body")?,
                    edited_at: row.try_get("edited_at")?,
                })
            })
            .collect()
    }

    async fn set_thread(&self, ticket: TicketId, thread_id: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tickets SET discord_thread_id = $1 \
             WHERE id = $2 AND discord_thread_id IS NULL",
        )
        .bind(snowflake(thread_id)?)
        .bind(ticket.0)
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn clear_thread(
        &self,
        ticket: TicketId,
        thread_id: u64,
        effects: &Effects,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tickets SET discord_thread_id = NULL, last_seen_message_id = NULL \
             WHERE id = $1 AND discord_thread_id = $2",
        )
        .bind(ticket.0)
        .bind(snowflake(thread_id)?)
        .execute(&mut *tx)
        .await?;
        if DB::rows_affected(&done) == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        Self::write_effects(&mut tx, effects, at).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn take_sync_lease(
        &self,
        ticket: TicketId,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tickets SET sync_lease_until = $1 \
             WHERE id = $2 AND (sync_lease_until IS NULL OR sync_lease_until <= $3)",
        )
        .bind(until)
        .bind(ticket.0)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn renew_sync_lease(
        &self,
        ticket: TicketId,
        held: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE tickets SET sync_lease_until = $1 WHERE id = $2 AND sync_lease_until = $3",
        )
        .bind(until)
        .bind(ticket.0)
        .bind(held)
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn release_sync_lease(&self, ticket: TicketId, held: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE tickets SET sync_lease_until = NULL WHERE id = $1 AND sync_lease_until = $2",
        )
        .bind(ticket.0)
        .bind(held)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn last_seen(&self, ticket: TicketId) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT last_seen_message_id FROM tickets WHERE id = $1")
            .bind(ticket.0)
            .fetch_optional(&self.writer)
            .await?;
        match row {
            Some(row) => Ok(read_snowflake(row.try_get("last_seen_message_id")?)),
            None => Ok(None),
        }
    }

    async fn set_last_seen(&self, ticket: TicketId, discord_message_id: u64) -> Result<()> {
        sqlx::query(
            "UPDATE tickets SET last_seen_message_id = $1 WHERE id = $2 \
             AND (last_seen_message_id IS NULL OR last_seen_message_id < $1)",
        )
        .bind(snowflake(discord_message_id)?)
        .bind(ticket.0)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn tickets_to_sync(&self, limit: u32) -> Result<Vec<TicketId>> {
        let rows = sqlx::query(
            "SELECT id FROM tickets t \
             WHERE (t.discord_thread_id IS NULL AND t.status <> 'closed') \
                OR EXISTS (SELECT 1 FROM ticket_messages m WHERE m.ticket_id = t.id \
                           AND m.note = FALSE AND m.discord_message_id IS NULL) \
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| Ok(TicketId(row.try_get("id")?)))
            .collect()
    }

    async fn open_threads(&self) -> Result<Vec<(TicketId, u64, Option<u64>)>> {
        let rows = sqlx::query(
            "SELECT id, discord_thread_id, last_seen_message_id FROM tickets \
             WHERE discord_thread_id IS NOT NULL AND status <> 'closed' ORDER BY id",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut threads = Vec::with_capacity(rows.len());
        for row in &rows {
            if let Some(thread) = read_snowflake(row.try_get("discord_thread_id")?) {
                threads.push((
                    TicketId(row.try_get("id")?),
                    thread,
                    read_snowflake(row.try_get("last_seen_message_id")?),
                ));
            }
        }
        Ok(threads)
    }

    async fn due_tickets(&self, query: &DueQuery) -> Result<Vec<Ticket>> {
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE \
             (status IN ('open', 'awaiting_staff') AND due_at IS NOT NULL AND due_at <= $1 \
              AND sla_breached_at IS NULL AND (sla_warned_at IS NULL OR due_at <= $2)) \
             OR (status = 'awaiting_customer' AND ((autoclose_warned_at IS NULL \
                 AND last_activity_at <= $3) OR autoclose_warned_at <= $4)) \
             ORDER BY id LIMIT $5"
        ))
        .bind(query.sla_until)
        .bind(query.now)
        .bind(query.quiet_since)
        .bind(query.warned_before)
        .bind(i64::from(query.limit))
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }

    async fn tickets_opened_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Ticket>> {
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLUMNS} FROM tickets WHERE created_at >= $1 AND created_at < $2 \
             ORDER BY id"
        ))
        .bind(from)
        .bind(to)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(ticket_from_row).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_number_their_parameters() {
        let filter = TicketFilter {
            open_only: true,
            assignee: Some(Assignee::Unassigned),
            department: Some("billing".into()),
            ..TicketFilter::default()
        };
        let (clause, args) = list_conditions(&filter, DateTime::<Utc>::MIN_UTC);
        assert_eq!(
            clause,
            " WHERE status <> $1 AND department = $2 AND assignee_id IS NULL"
        );
        assert_eq!(args.len(), 2);
    }
}
