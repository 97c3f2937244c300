//! Resizing a server: a new plan or custom size for a server that exists, priced like a create,
//! made on the provider first, then billed and recorded.
//!
//! The order is fixed: permission and ownership; the server's resize mark (one resize of a
//! server at a time, across replicas, so that everything after it reads the server as it is);
//! the server's state, the new size (checked as a create checks it, within the provider's
//! largest server; a disk never shrinks) and the price; then the hold, one transaction with the
//! owner's wallet row locked: the customer's ceilings with the new size, and for a larger rate
//! the balance against an hour of it, and the current hour topped up to the new rate now if it
//! was paid already (so parallel resizes cannot all spend the same credit); then the provider
//! (once, never retried: a resize whose answer was lost is for a person to check); then one
//! transaction that bills the hours owed at the old rate and switches the rate (the rule is in
//! [`crate::billing`], "Resizes"). A provider that refuses or fails leaves the database as it
//! was: the mark cleared and the hold's top-up refunded.

use super::{Server, ServerStatus, Servers, suspended};
use crate::audit::AuditEntry;
use crate::billing::meter::posting_reference;
use crate::error::{Error, Result};
use crate::ids::ServerId;
use crate::ledger::SystemAccount;
use crate::money::Money;
use crate::policy::{Actor, Permission};
use crate::pricing::{Quote, Size};
use crate::store::billing::RateChange;
use crate::store::servers::{LargerRate, ResizeHeld, ResizeHold};

/// How long a resize may take on its provider before another may start.
const RESIZE_DEADLINE: chrono::Duration = chrono::Duration::minutes(15);

/// A resize priced, before it is done: what people confirm.
#[derive(Debug, Clone)]
pub struct ResizeQuote {
    pub server: Server,
    /// The server's price now.
    pub from: Quote,
    /// Its price at the new size.
    pub to: Quote,
    /// Whether the new rate is larger (then the hour of the resize costs the new rate, and
    /// the balance must cover an hour of it).
    pub larger: bool,
    /// Whether the owner's balance covers the first hour at the new size, when the new rate
    /// is larger (always true otherwise): without it the resize is refused.
    pub affordable: bool,
    /// A month (`hours_per_month` hours) at the new size, running.
    pub per_month: Money,
}

impl ResizeQuote {
    /// What every front door says beside the price: what a resize cannot do, and when it
    /// takes effect.
    pub fn caveat(&self) -> &'static str {
        "A disk can only grow. Some platforms apply new vCPUs and memory at the next restart."
    }

    /// How the switch is billed, in the words every front door shows before the confirm.
    pub fn billing_note(&self) -> &'static str {
        match (self.larger, self.affordable) {
            (true, true) => {
                "This hour is charged at the new price; the hours before it stay at the old one."
            }
            (true, false) => {
                "This hour would be charged at the new price, and the balance does not cover an \
                 hour of it: top up first, then resize."
            }
            (false, _) => {
                "This hour is charged at the current price; the new price starts with the next hour."
            }
        }
    }
}

/// What a resize did.
#[derive(Debug, Clone)]
pub struct Resized {
    /// The server as stored after it: new size and rate.
    pub server: Server,
    pub quote: ResizeQuote,
    /// What was billed at the switch (hours owed at the old rate, or the current hour's
    /// top-up).
    pub billed: Money,
}

impl Servers {
    /// Prices a resize of the actor's server to `size` and checks everything a resize checks
    /// before it asks the provider; the portal shows this before the customer confirms.
    pub async fn quote_resize(
        &self,
        actor: &Actor,
        id: ServerId,
        size: &Size,
    ) -> Result<ResizeQuote> {
        let server = self.authorize_resize(actor, id).await?;
        self.priced(server, size).await
    }

    async fn authorize_resize(&self, actor: &Actor, id: ServerId) -> Result<Server> {
        self.authorize(
            actor,
            id,
            Permission::ControlOwnServers,
            Permission::ControlAnyServer,
            "server.resize",
        )
        .await
    }

    /// [`Self::resize_checked`], and for a larger rate whether the owner's balance covers it.
    async fn priced(&self, server: Server, size: &Size) -> Result<ResizeQuote> {
        let mut quote = self.resize_checked(server, size)?;
        if quote.larger {
            quote.affordable = self.owner_balance(&quote.server).await? >= quote.to.first_hour();
        }
        Ok(quote)
    }

    async fn owner_balance(&self, server: &Server) -> Result<Money> {
        let owner = self.user(server.user).await?;
        self.store.ledger().account_balance(owner.wallet).await
    }

    /// Resizes a server to a plan or a custom size: see the module header for the order.
    pub async fn resize(&self, actor: &Actor, id: ServerId, size: &Size) -> Result<Resized> {
        let server = self.authorize_resize(actor, id).await?;
        // One resize of a server at a time, across replicas, and priced under that mark: a
        // price read before it could be the size another resize was just replacing, and two
        // resizes could reach the provider in one order and record their rates in the other.
        let now = self.clock.now();
        if !self
            .store
            .servers()
            .begin_resize(id, now, now + RESIZE_DEADLINE)
            .await?
        {
            return Err(Error::Conflict(format!(
                "{} is being resized already; try again once that is done.",
                server.name
            )));
        }
        let quote = match self.priced_to_resize(id, size).await {
            Ok(quote) => quote,
            Err(error) => {
                self.store.servers().end_resize(id, None, now).await?;
                return Err(error);
            }
        };
        // The provider is resolved before the hold posts anything, so that nothing after the
        // hold can fail without giving its top-up back.
        let (provider, remote) = match self.on_provider(&quote.server) {
            Ok(found) => found,
            Err(error) => {
                self.store.servers().end_resize(id, None, now).await?;
                return Err(error);
            }
        };
        let top_up = match self.hold(actor, &quote, now).await {
            Ok(top_up) => top_up,
            Err(error) => {
                self.store.servers().end_resize(id, None, now).await?;
                return Err(error);
            }
        };
        let entry = AuditEntry::new(actor, "server.resize")
            .target(posting_reference(id))
            .detail(serde_json::json!({
                "from": { "plan": quote.from.plan, "resources": quote.from.resources,
                          "rate_running": quote.from.running, "rate_stopped": quote.from.stopped,
                          "rate_hours": quote.from.rate_hours },
                "to": { "plan": quote.to.plan, "resources": quote.to.resources,
                        "rate_running": quote.to.running, "rate_stopped": quote.to.stopped,
                        "rate_hours": quote.to.rate_hours },
            }));
        if let Err(error) = provider.resize(&remote, &quote.to.resources).await {
            // Our call is over, whatever its answer: the next resize may start (it sends
            // absolute sizes, so one after a lost answer puts things right). The rate stays
            // the old one, so the hold's top-up is given back.
            self.store
                .servers()
                .end_resize(
                    id,
                    top_up.as_ref().map(|(key, _)| key.as_str()),
                    self.clock.now(),
                )
                .await?;
            return Err(self.failed(entry, error).await);
        }
        let changed = self
            .store
            .billing()
            .change_rate(&RateChange {
                server: id,
                plan: quote.to.plan.clone(),
                resources: quote.to.resources,
                rate_running: quote.to.running,
                rate_stopped: quote.to.stopped,
                rate_hours: quote.to.rate_hours,
                larger: quote.larger,
                // The hour the hold was taken in (and paid for, when it topped the hour up).
                at: now,
                max_catchup_hours: i64::from(self.config.billing.max_catchup_hours),
                usage_account: self.store.ledger().system_account(SystemAccount::Usage),
            })
            .await;
        let changed = match changed {
            Ok(changed) => changed,
            Err(error) => {
                // The provider has the new size; the next resize or staff can put the rate
                // right. Said loudly, since the bill and the server now disagree.
                tracing::error!(server = %id, error = %error, "a server was resized but its new rate was not recorded");
                if let Err(end_error) = self
                    .store
                    .servers()
                    .end_resize(id, None, self.clock.now())
                    .await
                {
                    tracing::error!(server = %id, error = %end_error, "the resize mark stays until its deadline");
                }
                let entry = entry.outcome(crate::audit::AuditOutcome::Failed);
                if let Err(write_error) = self.audit.record(entry).await {
                    tracing::error!(error = %write_error, "could not write an audit entry for a failure");
                }
                return Err(error);
            }
        };
        // What the hold topped up is billed at this resize too.
        let billed = top_up
            .as_ref()
            .and_then(|(_, amount)| changed.amount.checked_add(*amount))
            .unwrap_or(changed.amount);
        let mut detail = entry.detail.clone().unwrap_or_default();
        detail["billed_micros"] = serde_json::json!(billed.micros());
        self.audit.record(entry.detail(detail)).await?;
        Ok(Resized {
            server: self.existing(id).await?,
            quote,
            billed,
        })
    }

    /// The hold of a resize (see the module header): `Ok` with the key and amount of the
    /// current hour's top-up, if one was posted.
    async fn hold(
        &self,
        actor: &Actor,
        quote: &ResizeQuote,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<(String, Money)>> {
        let owner = self.user(quote.server.user).await?;
        let larger = quote.larger.then(|| LargerRate {
            hour: quote.to.first_hour(),
            rate_running: quote.to.running,
            rate_stopped: quote.to.stopped,
            rate_hours: quote.to.rate_hours,
        });
        let held = self
            .store
            .servers()
            .hold_resize(&ResizeHold {
                server: quote.server.id,
                wallet: owner.wallet,
                to: quote.to.resources,
                larger,
                limits: &self.config.customer_limits,
                at,
            })
            .await;
        match held {
            Ok(ResizeHeld::Held { top_up }) => Ok(top_up),
            Ok(ResizeHeld::NoFunds { balance }) => Err(Error::Conflict(format!(
                "Not enough credit: an hour of the new size costs {} and the balance is {}. \
                 Top up, then try again.",
                quote.to.first_hour().display(&self.config.billing.currency),
                balance.display(&self.config.billing.currency)
            ))),
            Err(error) if error.code() == crate::ErrorCode::Conflict => Err(self
                .refused(
                    actor,
                    "server.resize",
                    Some(posting_reference(quote.server.id)),
                    error,
                )
                .await),
            Err(error) => Err(error),
        }
    }

    /// The server as it is now, priced at `size` with everything a resize checks before it
    /// asks the provider; refused when the balance cannot pay the first hour of a larger rate.
    async fn priced_to_resize(&self, id: ServerId, size: &Size) -> Result<ResizeQuote> {
        let quote = self.priced(self.existing(id).await?, size).await?;
        if !quote.affordable {
            let hour = quote.to.first_hour();
            let balance = self.owner_balance(&quote.server).await?;
            return Err(Error::Conflict(format!(
                "Not enough credit: an hour of the new size costs {} and the balance is {}. \
                 Top up, then try again.",
                hour.display_exact(&self.config.billing.currency),
                balance.display(&self.config.billing.currency)
            )));
        }
        Ok(quote)
    }

    /// The checks of a resize after the permission, in the order people should hear them.
    fn resize_checked(&self, server: Server, size: &Size) -> Result<ResizeQuote> {
        if server.is_suspended() {
            return Err(suspended(&server, "top up your credit, then resize it."));
        }
        match server.state {
            ServerStatus::Creating | ServerStatus::Building => {
                return Err(Error::Conflict(format!(
                    "{} is still being created; resize it once it is running.",
                    server.name
                )));
            }
            _ => {
                self.on_provider(&server)?;
            }
        }
        let to = self.pricing.quote(size)?;
        to.resources.check()?;
        super::limits::check_size(&self.config.providers, &server.provider, &to.resources)?;
        let from = server.quote();
        if to.resources == from.resources && to.plan == from.plan {
            return Err(Error::invalid(
                "size",
                format!("{} already has this size ({}).", server.name, to.resources),
            ));
        }
        if to.resources.disk_gib < from.resources.disk_gib {
            return Err(Error::invalid(
                "disk_gib",
                format!(
                    "A disk cannot shrink: {} has {} GiB, so choose a size with at least \
                     {} GiB of disk.",
                    server.name, from.resources.disk_gib, from.resources.disk_gib
                ),
            ));
        }
        let larger = i128::from(to.running) * i128::from(from.rate_hours.max(1))
            > i128::from(from.running) * i128::from(to.rate_hours.max(1));
        let per_month = to.running_for(self.pricing.hours_per_month());
        Ok(ResizeQuote {
            server,
            from,
            to,
            larger,
            affordable: true,
            per_month,
        })
    }
}
