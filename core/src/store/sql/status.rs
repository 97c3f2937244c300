//! [`StatusStore`] for both engines: plain `$N` SQL, like the rest of [`super::SqlStore`].
//! Days are written as `YYYY-MM-DD` text beside each sample, so both engines group by the
//! same column without date functions.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::records::status::{
    ComponentState, DayCounts, Impact, Incident, IncidentId, IncidentKind, IncidentNotices,
    IncidentStatus, IncidentUpdate, NewIncident, StatusSample, StickyMessage, StoredReport,
    Subscriber,
};
use crate::store::status::StatusStore;

const INCIDENT_COLUMNS: &str = "SELECT id, kind, title, impact, status, components, starts_at, \
     ends_at, created_at, resolved_at, created_by FROM status_incidents";

/// How many incidents a listing returns at most.
const RECENT_LIMIT: i64 = 100;

#[hostdeck_macros::row_bounds]
fn incident_from_row<R: Row>(row: &R) -> Result<Incident> {
    let components: String = row.try_get("components")?;
    Ok(Incident {
        id: IncidentId(row.try_get("id")?),
        kind: IncidentKind::parse(&row.try_get::<String, _>("kind")?)?,
        title: row.try_get("title")?,
        impact: Impact::parse(&row.try_get::<String, _>("impact")?)?,
        status: IncidentStatus::parse(&row.try_get::<String, _>("status")?)?,
        components: serde_json::from_str(&components)
            .map_err(|error| Error::internal("reading an incident's components", error))?,
        starts_at: row.try_get("starts_at")?,
        ends_at: row.try_get("ends_at")?,
        created_at: row.try_get("created_at")?,
        resolved_at: row.try_get("resolved_at")?,
        created_by: row.try_get::<Option<i64>, _>("created_by")?.map(UserId),
        updates: Vec::new(),
    })
}

#[hostdeck_macros::row_bounds]
fn update_from_row<R: Row>(row: &R) -> Result<IncidentUpdate> {
    Ok(IncidentUpdate {
        status: IncidentStatus::parse(&row.try_get::<String, _>("status")?)?,
        message: row.try_get("message")?,
        at: row.try_get("at")?,
        author: row.try_get::<Option<i64>, _>("author")?.map(UserId),
    })
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    async fn with_updates(&self, mut incident: Incident) -> Result<Incident> {
        let rows = sqlx::query(
            "SELECT status, message, at, author FROM status_incident_updates \
             WHERE incident_id = $1 ORDER BY id",
        )
        .bind(incident.id.0)
        .fetch_all(&self.writer)
        .await?;
        incident.updates = rows.iter().map(update_from_row).collect::<Result<_>>()?;
        Ok(incident)
    }
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> StatusStore for SqlStore<DB> {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO status_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = $2, expires_at = $3 \
             WHERE status_leases.expires_at <= $4 RETURNING holder",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(until)
        .bind(now)
        .fetch_optional(&self.writer)
        .await?;
        Ok(row.is_some())
    }

    async fn release_lease(&self, name: &str, holder: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE status_leases SET expires_at = $3 WHERE name = $1 AND holder = $2 \
             AND expires_at > $3",
        )
        .bind(name.to_owned())
        .bind(holder.to_owned())
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn sticky(&self, channel_id: u64) -> Result<Option<StickyMessage>> {
        let row = sqlx::query(
            "SELECT message_id, report_hash, posted_at, written_at, not_before, post_nonce \
             FROM status_sticky WHERE channel_id = $1",
        )
        .bind(channel_id.to_string())
        .fetch_optional(&self.writer)
        .await?;
        row.map(|row| {
            let message_id: Option<String> = row.try_get("message_id")?;
            Ok(StickyMessage {
                channel_id,
                message_id: message_id.and_then(|id| id.parse().ok()),
                report_hash: row.try_get("report_hash")?,
                posted_at: row.try_get("posted_at")?,
                written_at: row.try_get("written_at")?,
                not_before: row.try_get("not_before")?,
                post_nonce: row.try_get("post_nonce")?,
            })
        })
        .transpose()
    }

    async fn put_sticky(&self, sticky: &StickyMessage) -> Result<()> {
        sqlx::query(
            "INSERT INTO status_sticky (channel_id, message_id, report_hash, posted_at, \
             written_at, not_before, post_nonce) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (channel_id) DO UPDATE SET message_id = $2, report_hash = $3, \
             posted_at = $4, written_at = $5, not_before = $6, post_nonce = $7",
        )
        .bind(sticky.channel_id.to_string())
        .bind(sticky.message_id.map(|id| id.to_string()))
        .bind(sticky.report_hash.clone())
        .bind(sticky.posted_at)
        .bind(sticky.written_at)
        .bind(sticky.not_before)
        .bind(sticky.post_nonce.clone())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn update_sticky(&self, sticky: &StickyMessage, expected: Option<u64>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE status_sticky SET message_id = $2, report_hash = $3, posted_at = $4, \
             written_at = $5, not_before = $6, post_nonce = $7 WHERE channel_id = $1 \
             AND (message_id = $8 OR (message_id IS NULL AND $9))",
        )
        .bind(sticky.channel_id.to_string())
        .bind(sticky.message_id.map(|id| id.to_string()))
        .bind(sticky.report_hash.clone())
        .bind(sticky.posted_at)
        .bind(sticky.written_at)
        .bind(sticky.not_before)
        .bind(sticky.post_nonce.clone())
        .bind(expected.map(|id| id.to_string()))
        .bind(expected.is_none())
        .execute(&self.writer)
        .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn sticky_post_nonce(&self, channel_id: u64, fresh: &str) -> Result<String> {
        let nonce: String = sqlx::query_scalar(
            "INSERT INTO status_sticky (channel_id, post_nonce) VALUES ($1, $2) \
             ON CONFLICT (channel_id) DO UPDATE \
             SET post_nonce = COALESCE(status_sticky.post_nonce, $2) RETURNING post_nonce",
        )
        .bind(channel_id.to_string())
        .bind(fresh.to_owned())
        .fetch_one(&self.writer)
        .await?;
        Ok(nonce)
    }

    async fn forget_sticky(&self, channel_id: u64, message_id: u64) -> Result<()> {
        sqlx::query(
            "UPDATE status_sticky SET message_id = NULL, report_hash = NULL \
             WHERE channel_id = $1 AND message_id = $2",
        )
        .bind(channel_id.to_string())
        .bind(message_id.to_string())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn put_report(&self, report: &StoredReport) -> Result<()> {
        sqlx::query(
            "INSERT INTO status_reports (id, body, computed_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET body = $1, computed_at = $2 \
             WHERE status_reports.computed_at <= $2",
        )
        .bind(report.body.clone())
        .bind(report.computed_at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn report(&self) -> Result<Option<StoredReport>> {
        let row = sqlx::query("SELECT body, computed_at FROM status_reports WHERE id = 1")
            .fetch_optional(&self.reader)
            .await?;
        row.map(|row| {
            Ok(StoredReport {
                body: row.try_get("body")?,
                computed_at: row.try_get("computed_at")?,
            })
        })
        .transpose()
    }

    async fn record_samples(&self, at: DateTime<Utc>, samples: &[StatusSample]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for sample in samples {
            sqlx::query(
                "INSERT INTO status_samples (component, at, day, state) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (component, at) DO NOTHING",
            )
            .bind(sample.component.clone())
            .bind(at)
            .bind(day_text(at.date_naive()))
            .bind(sample.state.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn purge_samples(&self, before: DateTime<Utc>) -> Result<u64> {
        let done = sqlx::query("DELETE FROM status_samples WHERE at < $1")
            .bind(before)
            .execute(&self.writer)
            .await?;
        Ok(DB::rows_affected(&done))
    }

    async fn day_counts(&self, component: &str, from: NaiveDate) -> Result<Vec<DayCounts>> {
        let rows = sqlx::query(
            "SELECT day, state, COUNT(*) AS samples FROM status_samples \
             WHERE component = $1 AND day >= $2 GROUP BY day, state ORDER BY day, state",
        )
        .bind(component.to_owned())
        .bind(day_text(from))
        .fetch_all(&self.reader)
        .await?;
        let mut days: Vec<DayCounts> = Vec::new();
        for row in &rows {
            let text: String = row.try_get("day")?;
            let day = NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map_err(|error| Error::internal("reading a sample's day", error))?;
            let state = ComponentState::parse(&row.try_get::<String, _>("state")?)?;
            let samples = u64::try_from(row.try_get::<i64, _>("samples")?).unwrap_or(0);
            match days.last_mut() {
                Some(last) if last.day == day => last.counts.push((state, samples)),
                _ => days.push(DayCounts {
                    day,
                    counts: vec![(state, samples)],
                }),
            }
        }
        Ok(days)
    }

    async fn insert_incident(
        &self,
        new: &NewIncident,
        at: DateTime<Utc>,
        notices: IncidentNotices<'_>,
    ) -> Result<Incident> {
        let components = serde_json::to_string(&new.components)
            .map_err(|error| Error::internal("writing an incident's components", error))?;
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO status_incidents (kind, title, impact, status, components, starts_at, \
             ends_at, created_at, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             RETURNING id",
        )
        .bind(new.kind.as_str().to_owned())
        .bind(new.title.clone())
        .bind(new.impact.as_str().to_owned())
        .bind(new.first_update.status.as_str().to_owned())
        .bind(components)
        .bind(new.starts_at)
        .bind(new.ends_at)
        .bind(at)
        .bind(new.first_update.author.map(|user| user.0))
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        insert_update(&mut tx, id, &new.first_update).await?;
        if let Some(post) = &new.announce {
            Self::write_outbox(&mut *tx, post, at).await?;
        }
        notify(&mut tx, IncidentId(id), notices, at).await?;
        tx.commit().await?;
        self.incident(IncidentId(id)).await?.ok_or_else(|| {
            Error::internal("reading an incident back", "it was not found".to_owned())
        })
    }

    async fn add_incident_update(
        &self,
        id: IncidentId,
        update: &IncidentUpdate,
        notices: IncidentNotices<'_>,
    ) -> Result<Option<Incident>> {
        let mut tx = self.begin_write().await?;
        let resolved_at = (update.status == IncidentStatus::Resolved).then_some(update.at);
        let found = sqlx::query(
            "UPDATE status_incidents SET status = $2, resolved_at = $3 \
             WHERE id = $1 AND resolved_at IS NULL RETURNING id",
        )
        .bind(id.0)
        .bind(update.status.as_str().to_owned())
        .bind(resolved_at)
        .fetch_optional(&mut *tx)
        .await?;
        if found.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_update(&mut tx, id.0, update).await?;
        notify(&mut tx, id, notices, update.at).await?;
        tx.commit().await?;
        self.incident(id).await
    }

    async fn incident(&self, id: IncidentId) -> Result<Option<Incident>> {
        let row = sqlx::query(&format!("{INCIDENT_COLUMNS} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.writer)
            .await?;
        match row.as_ref().map(incident_from_row).transpose()? {
            Some(incident) => Ok(Some(self.with_updates(incident).await?)),
            None => Ok(None),
        }
    }

    async fn recent_incidents(&self, resolved_since: DateTime<Utc>) -> Result<Vec<Incident>> {
        let rows = sqlx::query(&format!(
            "{INCIDENT_COLUMNS} WHERE resolved_at IS NULL OR resolved_at >= $1 \
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(resolved_since)
        .bind(RECENT_LIMIT)
        .fetch_all(&self.reader)
        .await?;
        let mut incidents = Vec::with_capacity(rows.len());
        for row in &rows {
            incidents.push(self.with_updates(incident_from_row(row)?).await?);
        }
        Ok(incidents)
    }

    async fn subscribe(&self, user: UserId, token: &str, at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO status_subscriptions (user_id, token, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO NOTHING",
        )
        .bind(user.0)
        .bind(token.to_owned())
        .bind(at)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn unsubscribe(&self, user: UserId) -> Result<bool> {
        let done = sqlx::query("DELETE FROM status_subscriptions WHERE user_id = $1")
            .bind(user.0)
            .execute(&self.writer)
            .await?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn unsubscribe_token(&self, token: &str) -> Result<Option<UserId>> {
        let row =
            sqlx::query("DELETE FROM status_subscriptions WHERE token = $1 RETURNING user_id")
                .bind(token.to_owned())
                .fetch_optional(&self.writer)
                .await?;
        row.map(|row| Ok(UserId(row.try_get("user_id")?)))
            .transpose()
    }

    async fn subscribed(&self, user: UserId) -> Result<bool> {
        let row = sqlx::query("SELECT user_id FROM status_subscriptions WHERE user_id = $1")
            .bind(user.0)
            .fetch_optional(&self.reader)
            .await?;
        Ok(row.is_some())
    }
}

#[hostdeck_macros::sql_bounds]
async fn insert_update<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    incident: i64,
    update: &IncidentUpdate,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO status_incident_updates (incident_id, status, message, at, author) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(incident)
    .bind(update.status.as_str().to_owned())
    .bind(update.message.clone())
    .bind(update.at)
    .bind(update.author.map(|user| user.0))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Reads the active subscribers inside the change's transaction and writes the outbox rows
/// `notices` makes for them.
#[hostdeck_macros::sql_bounds]
async fn notify<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    incident: IncidentId,
    notices: IncidentNotices<'_>,
    at: DateTime<Utc>,
) -> Result<()> {
    let rows = sqlx::query(
        "SELECT s.user_id, s.token, u.email FROM status_subscriptions s \
         JOIN users u ON u.id = s.user_id \
         WHERE u.status = 'active' AND u.email_verified_at IS NOT NULL ORDER BY s.user_id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let subscribers = rows
        .iter()
        .map(|row| -> Result<Subscriber> {
            Ok(Subscriber {
                user: UserId(row.try_get("user_id")?),
                token: row.try_get("token")?,
                email: row.try_get("email")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    for message in notices(incident, &subscribers) {
        SqlStore::<DB>::write_outbox(&mut **tx, &message, at).await?;
    }
    Ok(())
}
