//! hostdeck's own checks, each behind [`Check`]: the database, each provider's API, PayPal's
//! API, the Discord gateway as the bot last reported it, the outbox backlog and the age of the
//! last billing run. A component names the checks that feed it (`[[status.components]]
//! checks`), so a provider that is down marks only its own components. Another area adds a
//! check of its own (the assistant's model) with [`super::Status::with_check`].
//!
//! A check answers with a [`Finding`] in fixed words; what went wrong in detail is logged for
//! staff, never put in the finding.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{Finding, Reason};
use crate::clock::Clock;
use crate::payments::Payments;
use crate::providers::Provider;
use crate::records::status::ComponentState;
use crate::store::Store;

/// One internal source of the report.
#[async_trait]
pub trait Check: Send + Sync {
    /// The id components name in `checks`: `database`, `provider:ams`.
    fn id(&self) -> String;
    /// What it finds now. Bounded by `status.check_timeout` from outside.
    async fn run(&self) -> Finding;
}

/// The database answers.
pub struct DatabaseCheck(pub Arc<dyn Store>);

#[async_trait]
impl Check for DatabaseCheck {
    fn id(&self) -> String {
        "database".into()
    }

    async fn run(&self) -> Finding {
        match self.0.ping().await {
            Ok(()) => Finding::OPERATIONAL,
            Err(error) => {
                tracing::warn!(%error, "status: the database did not answer");
                Finding::new(ComponentState::MajorOutage, Reason::DatabaseDown)
            }
        }
    }
}

/// A provider's API answers and accepts hostdeck's credentials.
pub struct ProviderCheck(pub Arc<dyn Provider>);

#[async_trait]
impl Check for ProviderCheck {
    fn id(&self) -> String {
        format!("provider:{}", self.0.name())
    }

    async fn run(&self) -> Finding {
        match self.0.health().await {
            Ok(_) => Finding::OPERATIONAL,
            Err(error) => {
                tracing::warn!(provider = self.0.name(), %error, "status: a provider's API failed");
                Finding::new(ComponentState::PartialOutage, Reason::ProviderDown)
            }
        }
    }
}

/// PayPal's API answers and accepts the credentials (only while payments are on).
pub struct PaypalCheck(pub Payments);

#[async_trait]
impl Check for PaypalCheck {
    fn id(&self) -> String {
        "paypal".into()
    }

    async fn run(&self) -> Finding {
        match self.0.reachable().await {
            Some(true) => Finding::OPERATIONAL,
            Some(false) => {
                tracing::warn!("status: PayPal did not accept a token request");
                Finding::new(ComponentState::MajorOutage, Reason::PaypalDown)
            }
            None => Finding::unknown(Reason::NotMonitored),
        }
    }
}

/// The setting the bot's gateway state is kept in, so every replica reads the same.
pub(super) const GATEWAY_SETTING: &str = "status.discord_gateway";

/// What the bot last said about its gateway connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayReport {
    pub connected: bool,
    pub at: DateTime<Utc>,
}

/// The Discord gateway, as the bot reports it ([`super::Status::report_gateway`]): a report
/// older than `max_age` is unknown, so a bot that died silently does not stay green.
pub struct DiscordCheck {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub max_age: chrono::Duration,
}

#[async_trait]
impl Check for DiscordCheck {
    fn id(&self) -> String {
        "discord".into()
    }

    async fn run(&self) -> Finding {
        let report = match self.store.settings().setting(GATEWAY_SETTING).await {
            Ok(Some(text)) => serde_json::from_str::<GatewayReport>(&text).ok(),
            Ok(None) => None,
            Err(_) => return Finding::unknown(Reason::CheckFailed),
        };
        match report {
            None => Finding::unknown(Reason::DiscordUnreported),
            Some(report) if self.clock.now() - report.at > self.max_age => {
                Finding::unknown(Reason::DiscordUnreported)
            }
            Some(report) if report.connected => Finding::OPERATIONAL,
            Some(_) => Finding::new(ComponentState::MajorOutage, Reason::DiscordDown),
        }
    }
}

/// Messages waiting in the outbox: more than `max` is a delay people notice.
pub struct OutboxCheck {
    pub store: Arc<dyn Store>,
    pub max: u64,
}

#[async_trait]
impl Check for OutboxCheck {
    fn id(&self) -> String {
        "outbox".into()
    }

    async fn run(&self) -> Finding {
        match self.store.outbox().outbox_pending().await {
            Ok(pending) if pending > self.max => {
                Finding::new(ComponentState::Degraded, Reason::OutboxBacklog)
            }
            Ok(_) => Finding::OPERATIONAL,
            Err(_) => Finding::unknown(Reason::CheckFailed),
        }
    }
}

/// When billing last ran to the end ([`crate::billing::LAST_RUN_SETTING`]).
pub struct BillingCheck {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub max_age: chrono::Duration,
}

#[async_trait]
impl Check for BillingCheck {
    fn id(&self) -> String {
        "billing".into()
    }

    async fn run(&self) -> Finding {
        let last = match self
            .store
            .settings()
            .setting(crate::billing::LAST_RUN_SETTING)
            .await
        {
            Ok(last) => last.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()),
            Err(_) => return Finding::unknown(Reason::CheckFailed),
        };
        match last {
            None => Finding::unknown(Reason::BillingNeverRan),
            Some(at) if self.clock.now() - at.with_timezone(&Utc) > self.max_age => {
                Finding::new(ComponentState::Degraded, Reason::BillingLate)
            }
            Some(_) => Finding::OPERATIONAL,
        }
    }
}
