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
use crate::identity::Client;
use crate::ids::UserId;
use crate::store::Store;

/// Who asks and where, as the door knows them.
#[derive(Debug, Clone)]
pub struct Asker {
    /// A stable name of the person (`user:5` for anybody with an account, on every door;
    /// `discord:123` for an unlinked member; `ip:...` for an anonymous caller): quotas count
    /// per asker.
    pub key: String,
    /// The channel asked in (a Discord channel id); `None` for the portal and the API.
    pub channel: Option<String>,
}

/// The prefix of an anonymous caller's key, whose questions also share one daily cap.
const ANONYMOUS: &str = "ip:";

impl Asker {
    /// A caller of the portal or the API: the account when signed in, else the address (an
    /// IPv6 address by its /64, as [`Client::throttle_key`] counts it).
    pub fn web(user: Option<UserId>, client: &Client) -> Self {
        let key = match user {
            Some(user) => format!("user:{user}"),
            None => format!("{ANONYMOUS}{}", client.throttle_key()),
        };
        Self { key, channel: None }
    }

    /// A Discord member asking in `channel`: a linked member counts as their account (one
    /// daily limit across the doors), an unlinked one as the member.
    pub fn discord(user: Option<UserId>, member: u64, channel: Option<String>) -> Self {
        let key = match user {
            Some(user) => format!("user:{user}"),
            None => format!("discord:{member}"),
        };
        Self { key, channel }
    }

    /// Whether this is an anonymous caller (no account, no Discord member).
    pub fn is_anonymous(&self) -> bool {
        self.key.starts_with(ANONYMOUS)
    }
}

/// The slots a question took, given back if it never reached the model.
#[derive(Debug)]
pub struct Admitted {
    day: Taken,
    anonymous: Option<Taken>,
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
        let anonymous = if asker.is_anonymous() {
            let cap = settings.anonymous_questions_per_day;
            let all = Limit {
                name: "ask-anonymous-day",
                max: cap,
                window: Duration::from_secs(26 * 3600),
            };
            let taken = self.throttle.take(&all, &day_of(now)).await?;
            if !taken.allowed() {
                self.throttle.give_back(&day).await;
                let wait = until_midnight(now);
                return Err(Error::RateLimited {
                    message: format!(
                        "Questions without an account are used up for today. The next one is \
                         allowed at 00:00 UTC (in {}); sign in to ask now.",
                        wait_text(wait)
                    ),
                    retry_after: wait,
                });
            }
            Some(taken)
        } else {
            None
        };
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
                    if let Some(anonymous) = &anonymous {
                        self.throttle.give_back(anonymous).await;
                    }
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
        Ok(Admitted {
            day,
            anonymous,
            channel,
        })
    }

    /// Gives back a question that did not count (the model could not be reached).
    pub async fn give_back(&self, admitted: &Admitted) {
        self.throttle.give_back(&admitted.day).await;
        if let Some(anonymous) = &admitted.anonymous {
            self.throttle.give_back(anonymous).await;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anonymous_callers_are_keyed_by_address_and_ipv6_by_its_64() {
        let web = |address: &str| {
            let client = Client {
                address: address.to_owned(),
                user_agent: String::new(),
            };
            Asker::web(None, &client).key
        };
        assert_eq!(web("2001:db8:1:2:aaaa::1"), web("2001:db8:1:2:ffff:1:2:3"));
        assert_eq!(web("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_ne!(web("2001:db8:1:2::1"), web("2001:db8:1:3::1"));
        assert_eq!(web("::ffff:192.0.2.7"), "ip:192.0.2.7");
        let client = Client {
            address: "192.0.2.7".into(),
            user_agent: String::new(),
        };
        assert!(Asker::web(None, &client).is_anonymous());
        let user = Some(UserId(5));
        assert_eq!(Asker::web(user, &client).key, "user:5");
        assert_eq!(Asker::discord(user, 77, None).key, "user:5");
        assert_eq!(Asker::discord(None, 77, None).key, "discord:77");
        assert!(!Asker::discord(None, 77, None).is_anonymous());
    }
}
