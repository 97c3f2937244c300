//! The status channel's sticky message: one message with the public report, edited in place
//! only when the report changes, never more often than `status.sticky_min_interval`, waiting
//! out Discord's 429s, recreated when it is gone, and replaced by a new one when it is older
//! than `status.sticky_max_age`. The bot executes; what to do is decided here ([`decide`], a
//! pure function), and what was done is kept in the database (`status_sticky`), so a restarted
//! bot or another replica carries on with the same message. Only the replica holding the lease
//! row `status.sticky` takes a turn; it gives the lease back when the turn is recorded.
//!
//! A turn that may post stores a nonce first ([`StickyTurn::nonce`]), and the bot posts with it
//! and `enforce_nonce`; the nonce is cleared when the posted message is recorded. A bot that
//! stopped between the post and the record, or lost Discord's answer, posts again with the same
//! nonce on its next turn (once the lease's hold has passed), and Discord answers with the first
//! message instead of making a second: no duplicate within Discord's nonce window of a few
//! minutes. That message shows the stopped turn's report, so it is recorded as needing an edit,
//! which the next turn makes.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::Status;
use super::public::PublicReport;
use crate::error::{Error, Result};
use crate::records::status::StickyMessage;

/// The lease row of the sticky message's turn.
const LEASE: &str = "status.sticky";
/// How long a turn may hold the lease (a crashed holder's turn passes on after this).
const TURN_HOLD: chrono::Duration = chrono::Duration::seconds(60);

/// What the sticky message needs now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickyStep {
    /// Nothing: it shows the report already, or it was written too recently, or Discord asked
    /// to wait.
    Wait,
    /// There is none (never posted, or gone): post one.
    Post,
    /// Edit this message to show the report.
    Edit(u64),
    /// This message is too old to edit sensibly: post a new one, then delete it.
    Replace(u64),
}

/// The rules [`decide`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StickyRules {
    pub min_interval: chrono::Duration,
    pub max_age: chrono::Duration,
}

/// What to do with the sticky message (`current`, as recorded) so that it shows the report
/// whose hash is `hash`, at `now`.
pub fn decide(
    current: Option<&StickyMessage>,
    hash: &str,
    now: DateTime<Utc>,
    rules: StickyRules,
) -> StickyStep {
    let Some(current) = current else {
        return StickyStep::Post;
    };
    if current.not_before.is_some_and(|until| now < until) {
        return StickyStep::Wait;
    }
    let message = current.message_id;
    if message.is_some() && current.report_hash.as_deref() == Some(hash) {
        return StickyStep::Wait;
    }
    if current
        .written_at
        .is_some_and(|written| now < written + rules.min_interval)
    {
        return StickyStep::Wait;
    }
    match message {
        None => StickyStep::Post,
        Some(message)
            if current
                .posted_at
                .is_none_or(|posted| now >= posted + rules.max_age) =>
        {
            StickyStep::Replace(message)
        }
        Some(message) => StickyStep::Edit(message),
    }
}

/// The key of a report for the sticky message: a hash of what it shows, without the times
/// that move at every refresh (when it was composed and when the sources were read), so only
/// a change people would see edits the message.
pub fn report_hash(report: &PublicReport) -> String {
    let mut shown = report.clone();
    shown.generated_at = DateTime::<Utc>::UNIX_EPOCH;
    shown.checked_at = None;
    for component in &mut shown.components {
        component.checked_at = None;
    }
    let text = serde_json::to_string(&shown).unwrap_or_default();
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// One turn of the sticky message, taken by [`Status::sticky_turn`]: what to do, and the
/// report to show. Record the outcome with [`Status::sticky_done`].
#[derive(Debug, Clone)]
pub struct StickyTurn {
    pub channel_id: u64,
    pub step: StickyStep,
    pub report: PublicReport,
    /// The nonce to post with (`enforce_nonce`): the same for every try of one post.
    pub nonce: String,
    /// The nonce was stored by an earlier turn whose outcome was never recorded: a post may
    /// return that turn's message, showing that turn's report.
    retried: bool,
    hash: String,
    holder: String,
    current: Option<StickyMessage>,
}

/// What the bot did with a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StickyOutcome {
    /// A new message was posted (after [`StickyStep::Post`] or [`StickyStep::Replace`], or
    /// in place of one that was gone).
    Posted(u64),
    /// The message was edited.
    Edited,
    /// Discord answered 429: wait this long before writing again.
    RateLimited(std::time::Duration),
    /// Discord said the message is gone and nothing was posted yet: the next turn posts.
    Gone,
    /// Nothing changed (Discord could not be reached): the next turn tries again.
    Failed,
}

impl Status {
    /// The sticky message's turn, when `discord.status_channel_id` is set and `holder` takes
    /// the lease; `None` otherwise. A turn whose step is [`StickyStep::Wait`] has given the
    /// lease back already.
    pub async fn sticky_turn(&self, holder: &str) -> Result<Option<StickyTurn>> {
        let Some(channel_id) = self.config.discord.status_channel_id else {
            return Ok(None);
        };
        let now = self.clock.now();
        let store = self.store.status();
        if !store
            .take_lease(LEASE, holder, now, now + TURN_HOLD)
            .await?
        {
            return Ok(None);
        }
        let report = self.public_report().await?;
        let hash = report_hash(&report);
        let current = store.sticky(channel_id).await?;
        let rules = StickyRules {
            min_interval: duration(self.config.status.sticky_min_interval)?,
            max_age: duration(self.config.status.sticky_max_age)?,
        };
        let step = decide(current.as_ref(), &hash, now, rules);
        let (nonce, retried) = if step == StickyStep::Wait {
            store.release_lease(LEASE, holder, now).await?;
            (String::new(), false)
        } else {
            // Every acting step may post (an edit of a message gone posts a new one).
            let fresh = fresh_nonce();
            let nonce = store.sticky_post_nonce(channel_id, &fresh).await?;
            let retried = nonce != fresh;
            (nonce, retried)
        };
        Ok(Some(StickyTurn {
            channel_id,
            step,
            report,
            nonce,
            retried,
            hash,
            holder: holder.to_owned(),
            current,
        }))
    }

    /// Records what the bot did with `turn`, and gives the lease back.
    pub async fn sticky_done(&self, turn: StickyTurn, outcome: StickyOutcome) -> Result<()> {
        let now = self.clock.now();
        let expected = turn.current.as_ref().and_then(|current| current.message_id);
        let mut sticky = turn.current.unwrap_or(StickyMessage {
            channel_id: turn.channel_id,
            ..StickyMessage::default()
        });
        sticky.post_nonce = Some(turn.nonce);
        match outcome {
            StickyOutcome::Posted(message) => {
                sticky.post_nonce = None;
                sticky.message_id = Some(message);
                sticky.posted_at = Some(now);
                sticky.not_before = None;
                if turn.retried {
                    // Discord may have answered with the message of the turn that stopped,
                    // which shows that turn's report: the next turn edits it at once.
                    sticky.report_hash = None;
                    sticky.written_at = None;
                } else {
                    sticky.report_hash = Some(turn.hash);
                    sticky.written_at = Some(now);
                }
            }
            StickyOutcome::Edited => {
                sticky.report_hash = Some(turn.hash);
                sticky.written_at = Some(now);
                sticky.not_before = None;
            }
            StickyOutcome::RateLimited(wait) => {
                let wait = wait.min(std::time::Duration::from_secs(3600));
                sticky.not_before = Some(now + duration(wait)?);
            }
            StickyOutcome::Gone => {
                sticky.message_id = None;
                sticky.report_hash = None;
            }
            StickyOutcome::Failed => {}
        }
        let store = self.store.status();
        match outcome {
            // The message just posted is the sticky one, whatever happened meanwhile.
            StickyOutcome::Posted(_) => store.put_sticky(&sticky).await?,
            StickyOutcome::Failed => {}
            // The rest only while the message is still the one this turn read: a deletion
            // noted meanwhile ([`Status::sticky_gone`]) is not undone.
            _ => {
                store.update_sticky(&sticky, expected).await?;
            }
        }
        store.release_lease(LEASE, &turn.holder, now).await
    }

    /// Discord says `message_id` was deleted from the status channel: if it was the sticky
    /// message, the next turn posts a new one (within the interval rule).
    pub async fn sticky_gone(&self, channel_id: u64, message_id: u64) -> Result<()> {
        if self.config.discord.status_channel_id != Some(channel_id) {
            return Ok(());
        }
        self.store
            .status()
            .forget_sticky(channel_id, message_id)
            .await
    }

    /// The sticky message as recorded (for tests and operators).
    pub async fn sticky(&self) -> Result<Option<StickyMessage>> {
        match self.config.discord.status_channel_id {
            Some(channel) => self.store.status().sticky(channel).await,
            None => Ok(None),
        }
    }
}

/// A nonce for the next post: 20 random digits (Discord takes up to 25 characters).
fn fresh_nonce() -> String {
    use rand::Rng;
    format!("{:020}", rand::thread_rng().gen_range(0..u64::MAX))
}

fn duration(value: std::time::Duration) -> Result<chrono::Duration> {
    chrono::Duration::from_std(value).map_err(|error| Error::internal("a status interval", error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::seconds(1_000_000 + seconds)
    }

    fn rules() -> StickyRules {
        StickyRules {
            min_interval: chrono::Duration::seconds(30),
            max_age: chrono::Duration::seconds(3600),
        }
    }

    fn shown(hash: &str, posted: i64, written: i64) -> StickyMessage {
        StickyMessage {
            channel_id: 7,
            message_id: Some(99),
            report_hash: Some(hash.to_owned()),
            posted_at: Some(at(posted)),
            written_at: Some(at(written)),
            not_before: None,
            post_nonce: None,
        }
    }

    #[test]
    fn nothing_recorded_posts() {
        assert_eq!(decide(None, "a", at(0), rules()), StickyStep::Post);
    }

    #[test]
    fn the_same_report_is_never_written_again() {
        let current = shown("a", 0, 0);
        for later in [1, 31, 4000, 100_000] {
            assert_eq!(
                decide(Some(&current), "a", at(later), rules()),
                StickyStep::Wait
            );
        }
    }

    #[test]
    fn a_change_is_edited_once_the_interval_has_passed() {
        let current = shown("a", 0, 100);
        assert_eq!(
            decide(Some(&current), "b", at(129), rules()),
            StickyStep::Wait
        );
        assert_eq!(
            decide(Some(&current), "b", at(130), rules()),
            StickyStep::Edit(99)
        );
    }

    #[test]
    fn an_old_message_is_replaced_at_its_next_change() {
        let current = shown("a", 0, 10);
        assert_eq!(
            decide(Some(&current), "b", at(3600), rules()),
            StickyStep::Replace(99)
        );
        assert_eq!(
            decide(Some(&current), "a", at(3600), rules()),
            StickyStep::Wait
        );
    }

    #[test]
    fn a_gone_message_is_posted_again_within_the_interval_rule() {
        let mut current = shown("a", 0, 100);
        current.message_id = None;
        current.report_hash = None;
        assert_eq!(
            decide(Some(&current), "a", at(110), rules()),
            StickyStep::Wait
        );
        assert_eq!(
            decide(Some(&current), "a", at(130), rules()),
            StickyStep::Post
        );
    }

    #[test]
    fn discord_asking_to_wait_is_waited_out() {
        let mut current = shown("a", 0, 0);
        current.not_before = Some(at(500));
        assert_eq!(
            decide(Some(&current), "b", at(499), rules()),
            StickyStep::Wait
        );
        assert_eq!(
            decide(Some(&current), "b", at(500), rules()),
            StickyStep::Edit(99)
        );
    }
}
