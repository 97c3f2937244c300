//! The work the clock brings: SLA warnings and escalations, auto-close warnings and closes
//! ([`Tickets::run_due`]), and the SLA report.

use chrono::{DateTime, Utc};

use super::Tickets;
use super::access::{Changed, Current, Plan, name_of, target};
use super::notices::{Notices, headline};
use super::policy::TicketAction;
use super::sla::{DueOutcome, DueStep, SlaReport, report, step_for};
use crate::audit::AuditEntry;
use crate::error::{Error, Result};
use crate::policy::Actor;
use crate::records::tickets::{Door, NewTicketMessage, Ticket};
use crate::store::tickets::{DueQuery, Effects};

/// Tickets looked at per run; the next run takes the rest.
const BATCH: u32 = 200;
/// The longest period a report covers.
const MAX_REPORT_DAYS: i64 = 400;

fn span(duration: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX / 4)
}

impl Tickets {
    /// SLA warnings and escalations, auto-close warnings and closes that are due; each once.
    pub async fn run_due(&self) -> Result<DueOutcome> {
        let now = self.clock.now();
        let config = &self.config.tickets;
        let query = DueQuery {
            now,
            sla_until: now + span(config.warn_before),
            quiet_since: now - span(config.autoclose_warn_after),
            warned_before: now - span(config.autoclose_after),
            limit: BATCH,
        };
        let system = Actor::system();
        let mut outcome = DueOutcome::default();
        for ticket in self.store.tickets().due_tickets(&query).await? {
            let Some(step) = step_for(config, &ticket, now) else {
                continue;
            };
            let action = match step {
                DueStep::Autoclose => TicketAction::Close,
                _ => TicketAction::Read,
            };
            let wants_messages = step == DueStep::Autoclose;
            let changed = self
                .change(&system, ticket.id, action, wants_messages, |current| {
                    // Decided again on the ticket as it is now: a reply in between cancels it.
                    Ok(step_for(config, &current.ticket, current.now)
                        .filter(|now_due| *now_due == step)
                        .map(|step| self.due_plan(&system, current, step)))
                })
                .await;
            match changed {
                Ok(Changed::Done(..)) => match step {
                    DueStep::SlaWarning => outcome.sla_warnings += 1,
                    DueStep::SlaBreach => outcome.sla_breaches += 1,
                    DueStep::AutocloseWarning => outcome.autoclose_warnings += 1,
                    DueStep::Autoclose => outcome.autoclosed += 1,
                },
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(ticket = %ticket.id, %error, "a due ticket step failed; the next run tries again");
                }
            }
        }
        let forgotten = self
            .store
            .tickets()
            .purge_request_keys(now - super::keys::KEYS_KEPT)
            .await;
        if let Err(error) = forgotten {
            tracing::warn!(%error, "old idempotency keys were not forgotten; the next run tries again");
        }
        Ok(outcome)
    }

    fn due_plan(&self, system: &Actor, current: &Current, step: DueStep) -> Plan {
        let now = current.now;
        let mut next = current.ticket.clone();
        let notices = Notices::new(&self.config);
        let (notices, message, action) = match step {
            DueStep::SlaWarning => {
                next.sla_warned_at = Some(now);
                let text = format!(
                    "SLA warning: {} is due {} and waits on staff.",
                    headline(&next),
                    when(next.due_at)
                );
                (notices.staff(text, false), None, "ticket.sla_warning")
            }
            DueStep::SlaBreach => {
                next.sla_breached_at = Some(now);
                next.breaches = next.breaches.saturating_add(1);
                next.sla_warned_at = next.sla_warned_at.or(Some(now));
                let text = format!(
                    "SLA breached: {} was due {} and still waits on staff.",
                    headline(&next),
                    when(next.due_at)
                );
                (notices.staff(text, true), None, "ticket.sla_breach")
            }
            DueStep::AutocloseWarning => {
                next.autoclose_warned_at = Some(now);
                let closes = now + span(self.config.tickets.autoclose_after);
                let warning = format!(
                    "We have not heard from you on this ticket for a while. It closes on {} \
                     unless you answer; you can reopen it for a while after that.",
                    closes.format("%Y-%m-%d %H:%M UTC")
                );
                let message = NewTicketMessage {
                    ticket: next.id,
                    author: None,
                    author_name: self.config.company.name.clone(),
                    author_staff: false,
                    door: Door::System,
                    body: warning.clone(),
                    note: false,
                    attachments: Vec::new(),
                    discord_message_id: None,
                    created_at: now,
                };
                let notices =
                    notices
                        .sync(&next)
                        .autoclose_email(&current.customer, &next, &warning);
                (notices, Some(message), "ticket.autoclose_warning")
            }
            DueStep::Autoclose => {
                let reason = Some("Closed after no answer from the customer".to_owned());
                return self.close_plan(system, current, reason, TicketAction::Close);
            }
        };
        let audit = AuditEntry::new(system, action).target(target(next.id));
        Plan {
            ticket: next,
            message,
            effects: Effects {
                outbox: notices.rows(),
                audit: vec![audit],
            },
        }
    }

    /// First-response and resolution times of the tickets opened in `[from, to)`: overall,
    /// per department and per assignee (median and 90th percentile).
    pub async fn report(
        &self,
        actor: &Actor,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<SlaReport> {
        self.may_at_all(actor, TicketAction::Report).await?;
        if to <= from || to - from > chrono::Duration::days(MAX_REPORT_DAYS) {
            return Err(Error::invalid(
                "to",
                format!(
                    "a report covers a period of up to {MAX_REPORT_DAYS} days, `from` before `to`"
                ),
            ));
        }
        let tickets: Vec<Ticket> = self
            .store
            .tickets()
            .tickets_opened_between(from, to)
            .await?;
        let mut names = std::collections::HashMap::new();
        for assignee in tickets.iter().filter_map(|ticket| ticket.assignee) {
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(assignee) {
                let name = match self.store.users().user(assignee).await? {
                    Some(user) => name_of(&user),
                    None => format!("User {assignee}"),
                };
                slot.insert(name);
            }
        }
        Ok(report(from, to, &tickets, |user| {
            names.get(&user).cloned().unwrap_or_default()
        }))
    }
}

fn when(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(
        || "now".to_owned(),
        |at| at.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}
