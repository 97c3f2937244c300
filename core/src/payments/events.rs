//! Webhook events: verified deliveries stored and answered at once, then processed by the
//! worker (leased, retried, given up after [`EVENT_ATTEMPTS`] tries with billing staff alerted).

use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use super::orders::{CaptureFacts, Settlement};
use super::refunds::RefundFacts;
use super::webhook::{Rejection, WebhookHeaders};
use super::{EVENT_ATTEMPTS, EVENT_BATCH, EVENT_LEASE, EventEnd, Payments, capture_key};
use crate::error::{Error, Result};
use crate::ledger::PostingKind;
use crate::store::payments::{EventStatus, NewEvent, StoredEvent};

/// A received webhook: stored (or known already).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub event_id: String,
    pub new: bool,
}

impl Payments {
    /// A webhook delivery: verified, then stored once by event id. Processing happens later,
    /// from the store ([`Self::process_pending`]).
    pub async fn receive_webhook(
        &self,
        headers: &WebhookHeaders,
        body: &[u8],
    ) -> std::result::Result<Received, Rejection> {
        self.verifier
            .verify(self.client.as_deref(), headers, body)
            .await?;
        let event: Value = serde_json::from_slice(body)
            .map_err(|_| Rejection::Forged("the body is not a JSON event".into()))?;
        let (Some(id), Some(event_type)) = (event["id"].as_str(), event["event_type"].as_str())
        else {
            return Err(Rejection::Forged("the event has no id or type".into()));
        };
        if id.is_empty() || id.len() > 128 || event_type.len() > 128 {
            return Err(Rejection::Forged(
                "the event id or type is malformed".into(),
            ));
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| Rejection::Forged("the body is not UTF-8".into()))?;
        // Stored with the deliveries that arrive with it, in one commit; answered only once
        // that commit is durable.
        let new = self
            .deliveries
            .submit(NewEvent {
                id: id.to_owned(),
                event_type: event_type.to_owned(),
                body: text.to_owned(),
                received_at: self.clock.now(),
            })
            .await
            .unwrap_or_else(|| Err("the delivery writer stopped".to_owned()))
            .map_err(Rejection::Unavailable)?;
        if new {
            self.wake.notify_one();
        }
        Ok(Received {
            event_id: id.to_owned(),
            new,
        })
    }

    /// Processes every pending event; returns how many were processed.
    pub async fn process_pending(&self) -> Result<usize> {
        let mut processed = 0;
        // The events in hand are processed side by side: each posts under its own key, and a
        // refund that decides to wait while its capture is being credited is woken again (see
        // `process`), so their order does not matter. More are claimed whenever half of them
        // are done, so that one slow event does not hold up the rest of its batch.
        let mut running = tokio::task::JoinSet::new();
        let mut drained = false;
        // A failed claim (or a failure to set an event aside) ends the round, but only once
        // the events in hand are done.
        let mut failure = None;
        loop {
            if !drained && running.len() <= EVENT_BATCH as usize / 2 {
                let room = EVENT_BATCH - u32::try_from(running.len()).unwrap_or(EVENT_BATCH);
                let now = self.clock.now();
                let lease = chrono::Duration::from_std(EVENT_LEASE).unwrap_or_default();
                match self
                    .store
                    .payments()
                    .claim_events(now, now + lease, room)
                    .await
                {
                    Ok(batch) => {
                        drained = batch.is_empty();
                        for event in batch {
                            let payments = self.clone();
                            running.spawn(async move {
                                let outcome = payments.process(&event).await;
                                (event, outcome)
                            });
                        }
                    }
                    Err(error) => {
                        drained = true;
                        failure = Some(error);
                    }
                }
            }
            let Some(joined) = running.join_next().await else {
                if drained {
                    return failure.map_or(Ok(processed), Err);
                }
                continue;
            };
            match joined {
                Ok((_, Ok(()))) => processed += 1,
                Ok((event, Err(error))) => {
                    tracing::error!(event = %event.id, attempts = event.attempts, %error, "a PayPal event could not be processed");
                    if event.attempts >= EVENT_ATTEMPTS {
                        match self.give_up(&event, &error).await {
                            Ok(()) => processed += 1,
                            // Reported once the events in hand are done, like a failed claim;
                            // the event stays leased and comes back after its lease.
                            Err(error) => {
                                drained = true;
                                failure = Some(error);
                            }
                        }
                    }
                    // Otherwise left leased: it is tried again when the lease runs out.
                }
                Err(error) => tracing::error!(%error, "processing a PayPal event panicked"),
            }
        }
    }

    pub(super) async fn process(&self, event: &StoredEvent) -> Result<()> {
        let body: Value = serde_json::from_str(&event.body)
            .map_err(|error| Error::internal("reading a stored PayPal event", error))?;
        let resource = &body["resource"];
        let mut order_update = None;
        let end = match event.event_type.as_str() {
            "PAYMENT.CAPTURE.COMPLETED" => {
                let Some(facts) = CaptureFacts::from_json(resource) else {
                    return self
                        .finish(event, EventStatus::Rejected, None, "no capture")
                        .await;
                };
                let order_id = resource["supplementary_data"]["related_ids"]["order_id"]
                    .as_str()
                    .unwrap_or_default();
                let order = match self.store.payments().order(order_id).await? {
                    Some(order) => Some(order),
                    None => self.store.payments().order_by_capture(&facts.id).await?,
                };
                let settled = self.settle(order, &facts, Some(event)).await?;
                order_update = settled.update;
                let (status, outcome) = match settled.settlement {
                    Settlement::Credited { new, .. } => (
                        EventStatus::Done,
                        if new { "credited" } else { "credited before" }.to_owned(),
                    ),
                    Settlement::Pending => (EventStatus::Done, "pending".to_owned()),
                    Settlement::Declined => (EventStatus::Done, "declined".to_owned()),
                    Settlement::Rejected(why) => (EventStatus::Rejected, why),
                };
                EventEnd {
                    recorded: settled.recorded,
                    ..EventEnd::unrecorded(status, None, outcome)
                }
            }
            "PAYMENT.CAPTURE.REFUNDED" | "PAYMENT.CAPTURE.REVERSED" => {
                let kind = if event.event_type.ends_with("REVERSED") {
                    PostingKind::Reversal
                } else {
                    PostingKind::Refund
                };
                let Some(refund) = RefundFacts::from_json(resource, None) else {
                    return self
                        .finish(event, EventStatus::Rejected, None, "no refund")
                        .await;
                };
                self.apply_refund(&refund, kind, None, Some(event)).await?
            }
            _ => EventEnd::unrecorded(EventStatus::Ignored, None, "not acted on".to_owned()),
        };
        if end.recorded {
            // Finished in the transaction of the posting it carried.
            return Ok(());
        }
        self.store
            .payments()
            .finish_event(
                &event.id,
                end.status,
                end.waiting_for.as_deref(),
                &end.outcome,
                order_update
                    .as_ref()
                    .map(|(id, status, capture)| (id.as_str(), *status, capture.as_str())),
                self.clock.now(),
            )
            .await?;
        if let Some(capture_id) = end.waiting_for {
            // The capture may have been credited while this refund was deciding to wait.
            if self
                .store
                .ledger()
                .posting_by_key(&capture_key(&capture_id))
                .await?
                .is_some()
            {
                self.store.payments().wake_waiting(&capture_id).await?;
                self.wake.notify_one();
            }
        }
        Ok(())
    }

    /// An event that failed every try: it is set aside as rejected and billing staff are told,
    /// so that what it carried (a credit, a refund) is seen to by hand.
    pub(super) async fn give_up(&self, event: &StoredEvent, error: &Error) -> Result<()> {
        let why = format!(
            "PayPal event {} ({}) could not be processed after {} attempts and is no longer \
             retried; nothing it carries was applied. Last error: {error}",
            event.id, event.event_type, event.attempts,
        );
        self.alert(&why).await?;
        self.finish(event, EventStatus::Rejected, None, &why).await
    }

    pub(super) async fn finish(
        &self,
        event: &StoredEvent,
        status: EventStatus,
        waiting_for: Option<&str>,
        outcome: &str,
    ) -> Result<()> {
        self.store
            .payments()
            .finish_event(
                &event.id,
                status,
                waiting_for,
                outcome,
                None,
                self.clock.now(),
            )
            .await
    }

    /// Processes events as they arrive (and every few seconds, for other replicas' and for
    /// leases that ran out) until `stop` turns true.
    pub async fn run_worker(self, mut stop: watch::Receiver<bool>) {
        loop {
            if let Err(error) = self.process_pending().await {
                tracing::error!(%error, "the PayPal event worker could not read its events");
            }
            tokio::select! {
                _ = stop.wait_for(|stop| *stop) => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(5)) => {}
            }
        }
    }
}
