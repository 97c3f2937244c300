//! How much the assistant may be asked: questions per asker per UTC day (linked customers get
//! more than unlinked members), a cooldown per channel, and a global budget of model tokens per
//! UTC day. All three are counted in the store, each in one atomic statement, so they hold for
//! the cluster and under any concurrency: the 21st question of a 20-a-day asker is refused
//! however many arrive at once. A refusal says when the next question is allowed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::auth::throttle::{Limit, SharedThrottle, Taken};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::store::Store;

/// Who asks and where, as the door knows them.
#[derive(Debug, Clone)]
pub struct Asker {
    /// A stable name of the person (`discord:123`, `user:5`): quotas count per asker.
    pub key: String,
    /// The channel asked in (a Discord channel id); `None` for the portal and the API.
    pub channel: Option<String>,
}

/// The slots a question took, given back if it never reached the model.
#[derive(Debug)]
pub struct Admitted {
    day: Taken,
    channel: Option<Taken>,
}

#[derive(Clone)]
pub struct Quotas {
    throttle: SharedThrottle,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
}

/// The UTC day of `now`, as the token counts and the daily limits name it.
pub fn day_of(now: DateTime<Utc>) -> String {
    now.format("%Y-%m-%d").to_string()
}

/// Until the next UTC midnight.
fn until_midnight(now: DateTime<Utc>) -> Duration {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let midnight = tomorrow
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    (midnight - now).to_std().unwrap_or(Duration::ZERO)
}

/// "3 h 05 min", "42 s": a wait as people read it.
pub fn wait_text(wait: Duration) -> String {
    let secs = wait.as_secs().max(1);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs.div_ceil(60)),
        _ => format!("{} h {:02} min", secs / 3600, (secs % 3600) / 60),
    }
}

impl Quotas {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, config: Arc<Config>) -> Self {
        Self {
            throttle: SharedThrottle::new(store.clone(), clock.clone()),
            store,
            clock,
            config,
        }
    }

    /// Takes a slot of the asker's day and of the channel's cooldown, or refuses.
    pub async fn admit(&self, asker: &Asker, linked: bool) -> Result<Admitted> {
        let now = self.clock.now();
        let settings = &self.config.assistant;
        let max = if linked {
            settings.linked_questions_per_day
        } else {
            settings.unlinked_questions_per_day
        };
        let daily = Limit {
            name: "ask-day",
            max,
            window: Duration::from_secs(26 * 3600),
        };
        let day = self
            .throttle
            .take(&daily, &format!("{}:{}", asker.key, day_of(now)))
            .await?;
        if !day.allowed() {
            let wait = until_midnight(now);
            return Err(Error::RateLimited {
                message: format!(
                    "You have asked your {max} questions for today. The next one is allowed at \
                     00:00 UTC (in {}). You can still open a ticket.",
                    wait_text(wait)
                ),
                retry_after: wait,
            });
        }
        let channel = match (&asker.channel, settings.channel_cooldown.is_zero()) {
            (Some(channel), false) => {
                let cooldown = Limit {
                    name: "ask-channel",
                    max: 1,
                    window: settings.channel_cooldown,
                };
                let taken = self.throttle.take(&cooldown, channel).await?;
                if !taken.allowed() {
                    self.throttle.give_back(&day).await;
                    let wait = taken.verdict.reset_after;
                    return Err(Error::RateLimited {
                        message: format!(
                            "A question was just asked in this channel. The next one is allowed \
                             in {}.",
                            wait_text(wait)
                        ),
                        retry_after: wait,
                    });
                }
                Some(taken)
            }
            _ => None,
        };
        Ok(Admitted { day, channel })
    }

    /// Gives back a question that did not count (the model could not be reached).
    pub async fn give_back(&self, admitted: &Admitted) {
        self.throttle.give_back(&admitted.day).await;
        if let Some(channel) = &admitted.channel {
            self.throttle.give_back(channel).await;
        }
    }

    /// Sets aside the tokens of one question in today's budget, or refuses.
    pub async fn reserve_tokens(&self) -> Result<i64> {
        let now = self.clock.now();
        let settings = &self.config.assistant;
        let reserved = settings.tokens_per_question;
        let counted = self
            .store
            .assistant()
            .reserve_tokens(&day_of(now), reserved, settings.daily_token_budget)
            .await?;
        match counted {
            Some(_) => Ok(reserved),
            None => {
                let wait = until_midnight(now);
                Err(Error::RateLimited {
                    message: format!(
                        "The assistant has used its answers for today. It is back at 00:00 UTC \
                         (in {}); meanwhile you can open a ticket.",
                        wait_text(wait)
                    ),
                    retry_after: wait,
                })
            }
        }
    }

    /// Replaces a reservation by the tokens the model reported.
    pub async fn settle_tokens(&self, reserved: i64, used: i64) {
        let day = day_of(self.clock.now());
        if let Err(error) = self
            .store
            .assistant()
            .adjust_tokens(&day, used - reserved)
            .await
        {
            tracing::warn!(%error, "could not settle the assistant's token count");
        }
    }
}
