//! Discord members as platform actors: one-time link codes made on the portal, `/link` and
//! `/unlink`, turning a member (user id, guild, role ids) into an [`Actor`], and the core of the
//! bot's account and staff commands (`/balance`, `/whois`, `/credits`).
//!
//! Who a member is: a linked member acts as the account they linked (customers and staff link
//! the same way, so every action is attributed to a real person); an unlinked member is
//! anonymous. What a member may do: the platform roles their Discord role *ids* map to
//! (`discord.roles`), counted only in the configured guild, plus `customer` once linked.
//!
//! Two-factor for a Discord actor: staff permissions require [`Actor::two_factor`], and a
//! Discord interaction carries no second factor of its own. A member counts as two-factor when
//! the account they linked is a staff account with two-factor turned on: the Discord role says
//! what they may do, the staff account says who they are and that they proved it with a second
//! factor. A customer account never gets staff powers from a Discord role alone.
//!
//! What does not live here: Discord itself (the bot crate speaks to it) and the messages' words
//! and layout (the bot renders them).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::audit::{Audit, AuditEntry, AuditOutcome};
use crate::auth::throttle::{Limit, SharedThrottle};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, Posting, StatementLine};
use crate::money::Money;
use crate::notify::{DiscordMessage, Outbox};
use crate::policy::{Actor, Permission, Role, RoleSet, Via};
use crate::records::users::{User, UserStatus};
use crate::store::Store;
use crate::store::discord::{CreditDecision, CreditRequest, DiscordLink, NewCreditRequest};

/// How long a link code works.
pub const LINK_CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Link codes one account may make per window.
const CODES_PER_WINDOW: u32 = 5;
const THROTTLE_WINDOW: Duration = Duration::from_secs(10 * 60);
const CODES_PER_ACCOUNT: Limit = Limit {
    name: "discord.link_code.account",
    max: CODES_PER_WINDOW,
    window: THROTTLE_WINDOW,
};
/// Tries one Discord user gets per window at `/link`, counted for the whole cluster before the
/// code is looked up.
const LINK_TRIES_PER_MEMBER: Limit = Limit {
    name: "discord.link.member",
    max: 5,
    window: THROTTLE_WINDOW,
};
/// How long a `/credits` confirmation button stays good.
pub const CREDIT_REQUEST_TTL: chrono::Duration = chrono::Duration::minutes(15);
/// Letters that cannot be mistaken for one another.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;

/// A Discord member as an interaction describes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscordMember {
    pub user_id: u64,
    pub name: String,
    /// `None` in a DM with the bot.
    pub guild_id: Option<u64>,
    /// The member's role ids in that guild.
    pub role_ids: Vec<u64>,
}

/// A member resolved: the actor to check, and the account they linked.
#[derive(Debug, Clone)]
pub struct MemberAccess {
    pub member: DiscordMember,
    pub actor: Actor,
    pub account: Option<User>,
}

impl MemberAccess {
    /// The member's linked account; a refusal that says how to link one otherwise.
    pub fn account(&self) -> Result<&User> {
        self.account.as_ref().ok_or_else(|| {
            Error::Forbidden(
                "Link your account first: make a code on your account page in the portal, then \
                 use /link with it."
                    .into(),
            )
        })
    }
}

/// A code made on the portal; shown once.
#[derive(Debug)]
pub struct LinkCode {
    pub code: SecretString,
    pub expires_at: DateTime<Utc>,
}

/// `/whois`: a linked customer as support sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerSummary {
    pub user: User,
    /// `None` when the member may not read the customer's billing.
    pub balance: Option<Money>,
    pub servers: usize,
    /// Tickets not closed; `None` when the member may not read every ticket.
    pub open_tickets: Option<u64>,
    pub linked_at: DateTime<Utc>,
}

/// A confirmed `/credits` request and its posting.
#[derive(Debug, Clone)]
pub struct CreditOutcome {
    pub request: CreditRequest,
    pub customer: User,
    pub posting: Posting,
    /// `false` when the button was pressed again or the interaction replayed: nothing moved.
    pub new: bool,
    pub balance_after: Option<Money>,
}

/// Normalises what a person typed (`abcd-efgh`, ` ABCDEFGH `) and hashes it.
fn code_hash(code: &str) -> String {
    let normalized: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let digest = Sha256::digest(format!("discord-link:{normalized}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn new_code() -> String {
    let mut rng = rand::thread_rng();
    let letters: String = (0..CODE_LENGTH)
        .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
        .collect();
    format!("{}-{}", &letters[..4], &letters[4..])
}

/// The Discord side of accounts and staff work.
#[derive(Clone)]
pub struct DiscordLinks {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    ledger: Ledger,
    outbox: Outbox,
    config: Arc<Config>,
    throttle: SharedThrottle,
}

impl DiscordLinks {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        ledger: Ledger,
        outbox: Outbox,
        config: Arc<Config>,
    ) -> Self {
        Self {
            throttle: SharedThrottle::new(store.clone(), clock.clone()),
            store,
            clock,
            audit,
            ledger,
            outbox,
            config,
        }
    }

    /// The platform roles a member's Discord role ids give, counted only in the configured
    /// guild (a role with the same id elsewhere, or in a DM, gives nothing).
    pub fn roles_of(&self, member: &DiscordMember) -> RoleSet {
        let discord = &self.config.discord;
        let Some(guild) = discord.guild_id else {
            return RoleSet::EMPTY;
        };
        if member.guild_id != Some(guild) {
            return RoleSet::EMPTY;
        }
        let mut roles = RoleSet::EMPTY;
        for (role, ids) in [
            (Role::Admin, &discord.roles.admin),
            (Role::Support, &discord.roles.support),
            (Role::Billing, &discord.roles.billing),
        ] {
            if member.role_ids.iter().any(|id| ids.contains(id)) {
                roles = roles.with(role);
            }
        }
        roles
    }

    /// Who the member is and what they may do (see the module comment).
    pub async fn access(&self, member: &DiscordMember) -> Result<MemberAccess> {
        let mut roles = self.roles_of(member);
        let account = self
            .store
            .discord()
            .link_of_discord_user(member.user_id)
            .await?
            .map(|(_, user)| user)
            .filter(|user| user.status == UserStatus::Active);
        if account.is_some() {
            roles = roles.with(Role::Customer);
        }
        let actor = Actor {
            user: account.as_ref().map(|user| user.id),
            roles,
            scopes: None,
            via: Via::Discord,
            two_factor: account
                .as_ref()
                .is_some_and(|user| user.two_factor && user.role != Role::Customer),
        };
        Ok(MemberAccess {
            member: member.clone(),
            actor,
            account,
        })
    }

    /// Checks `permission` for the member; a refusal is audited and handed back.
    pub async fn require(
        &self,
        access: &MemberAccess,
        permission: Permission,
        command: &str,
    ) -> Result<()> {
        match access.actor.require(permission) {
            Ok(()) => Ok(()),
            Err(error) => {
                self.record_refusal(access, command, &error).await;
                Err(error)
            }
        }
    }

    /// Writes a refusal of `command` to the audit log (a failure to write is logged).
    pub async fn record_refusal(&self, access: &MemberAccess, command: &str, error: &Error) {
        let entry = AuditEntry::new(&access.actor, "discord.command")
            .target(format!("discord:{}", access.member.user_id))
            .outcome(AuditOutcome::Denied)
            .detail(serde_json::json!({
                "command": command,
                "guild": access.member.guild_id.map(|id| id.to_string()),
                "reason": error.to_string(),
            }));
        if let Err(write_error) = self.audit.record(entry).await {
            tracing::error!(error = %write_error, command, "could not audit a refused command");
        }
    }

    // --- Linking ---

    /// Makes a one-time code for the actor's own account (the portal's account page).
    pub async fn issue_code(&self, actor: &Actor) -> Result<LinkCode> {
        actor.require(Permission::UpdateOwnProfile)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in first.".into()))?;
        let now = self.clock.now();
        let verdict = self
            .throttle
            .take(&CODES_PER_ACCOUNT, &user.to_string())
            .await?
            .verdict;
        if !verdict.allowed {
            return Err(Error::RateLimited {
                message: format!(
                    "You made {CODES_PER_WINDOW} link codes in a few minutes; wait {} seconds \
                     and make one more.",
                    verdict.reset_after.as_secs().max(1)
                ),
                retry_after: verdict.reset_after,
            });
        }
        let code = new_code();
        let expires_at = now + LINK_CODE_TTL;
        self.store
            .discord()
            .insert_link_code(user, &code_hash(&code), now, expires_at)
            .await?;
        self.audit
            .record(AuditEntry::new(actor, "discord.link_code").target(format!("user:{user}")))
            .await?;
        Ok(LinkCode {
            code: SecretString::from(code),
            expires_at,
        })
    }

    /// `/link code`: binds the member to the account that made the code.
    pub async fn link(&self, member: &DiscordMember, code: &str) -> Result<User> {
        let anonymous = Actor::anonymous(Via::Discord);
        anonymous.require(Permission::LinkDiscord)?;
        let now = self.clock.now();
        let verdict = self
            .throttle
            .take(&LINK_TRIES_PER_MEMBER, &member.user_id.to_string())
            .await?
            .verdict;
        if !verdict.allowed {
            return Err(Error::RateLimited {
                message: format!(
                    "Too many tries at /link; wait {} seconds, then try again with a fresh code.",
                    verdict.reset_after.as_secs().max(1)
                ),
                retry_after: verdict.reset_after,
            });
        }
        let Some(user_id) = self
            .store
            .discord()
            .redeem_link_code(&code_hash(code), now)
            .await?
        else {
            let error = Error::invalid(
                "code",
                format!(
                    "That code does not work: it may be mistyped, used already, or older than {} \
                     minutes. Make a new one on your account page in the portal.",
                    LINK_CODE_TTL.num_minutes()
                ),
            );
            let entry = AuditEntry::new(&anonymous, "discord.link")
                .target(format!("discord:{}", member.user_id))
                .outcome(AuditOutcome::Denied)
                .detail(serde_json::json!({ "reason": "unknown, used or expired code" }));
            self.audit.record(entry).await?;
            return Err(error);
        };
        let user = self
            .store
            .users()
            .user(user_id)
            .await?
            .filter(|user| user.status == UserStatus::Active)
            .ok_or_else(|| Error::Forbidden("That account is disabled.".into()))?;
        self.store
            .discord()
            .link_discord(&DiscordLink {
                discord_user_id: member.user_id,
                user: user.id,
                discord_name: member.name.clone(),
                linked_at: now,
            })
            .await?;
        let actor = Actor::user(user.id, user.role, Via::Discord);
        self.audit
            .record(
                AuditEntry::new(&actor, "discord.link")
                    .target(format!("user:{}", user.id))
                    .detail(serde_json::json!({
                        "discord_user": member.user_id.to_string(),
                        "discord_name": member.name,
                    })),
            )
            .await?;
        Ok(user)
    }

    /// `/unlink`: the member's account forgets them.
    pub async fn unlink(&self, access: &MemberAccess) -> Result<()> {
        self.require(access, Permission::UpdateOwnProfile, "unlink")
            .await?;
        let account = access.account()?;
        self.store
            .discord()
            .unlink_discord_user(access.member.user_id)
            .await?;
        self.audit
            .record(
                AuditEntry::new(&access.actor, "discord.unlink")
                    .target(format!("user:{}", account.id))
                    .detail(
                        serde_json::json!({ "discord_user": access.member.user_id.to_string() }),
                    ),
            )
            .await
    }

    /// The portal's unlink button; `false` if nothing was linked.
    pub async fn unlink_account(&self, actor: &Actor) -> Result<bool> {
        actor.require(Permission::UpdateOwnProfile)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in first.".into()))?;
        let Some(discord_user) = self.store.discord().unlink_account(user).await? else {
            return Ok(false);
        };
        self.audit
            .record(
                AuditEntry::new(actor, "discord.unlink")
                    .target(format!("user:{user}"))
                    .detail(serde_json::json!({ "discord_user": discord_user.to_string() })),
            )
            .await?;
        Ok(true)
    }

    /// The Discord account linked to the actor's own account, for the portal.
    pub async fn linked(&self, actor: &Actor) -> Result<Option<DiscordLink>> {
        actor.require(Permission::ReadOwnProfile)?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("Sign in first.".into()))?;
        self.store.discord().link_of_account(user).await
    }

    // --- Commands ---

    /// The account a Discord user linked, for staff commands that name a member.
    async fn linked_member(&self, discord_user_id: u64) -> Result<(DiscordLink, User)> {
        self.store
            .discord()
            .link_of_discord_user(discord_user_id)
            .await?
            .ok_or_else(|| {
                Error::NotFound(
                    "That member has not linked an account, so there is nothing to show or \
                     change. They can link one with /link."
                        .into(),
                )
            })
    }

    /// The customer account a Discord member linked, for staff who may look customers up
    /// (`/server lookup`). Nothing is audited but a refusal: it only reads.
    pub async fn linked_customer(
        &self,
        access: &MemberAccess,
        discord_user_id: u64,
    ) -> Result<User> {
        Ok(self
            .looked_up(access, discord_user_id, "member lookup")
            .await?
            .1)
    }

    /// A linked member's link and account, for staff who may look customers up; `command`
    /// names what a refusal is audited as.
    async fn looked_up(
        &self,
        access: &MemberAccess,
        discord_user_id: u64,
        command: &str,
    ) -> Result<(DiscordLink, User)> {
        self.require(access, Permission::ReadAnyUser, command)
            .await?;
        self.linked_member(discord_user_id).await
    }

    /// `/whois member`: a linked customer as support sees them, with their open tickets.
    pub async fn whois(
        &self,
        access: &MemberAccess,
        discord_user_id: u64,
    ) -> Result<CustomerSummary> {
        let (link, user) = self.looked_up(access, discord_user_id, "whois").await?;
        // The balance only for those who may read any customer's billing, as on the portal.
        let balance = match self.ledger.balance(&access.actor, &user).await {
            Ok(balance) => Some(balance),
            Err(Error::Forbidden(_)) => None,
            Err(error) => return Err(error),
        };
        let servers = self.store.servers().server_rates(user.id).await?.len();
        // Open tickets only for those who may read every ticket, as on the portal's queue.
        let open_tickets = if access.actor.can(Permission::ReadAnyTicket) {
            Some(self.store.tickets().open_ticket_count(user.id).await?)
        } else {
            None
        };
        self.audit
            .record(
                AuditEntry::new(&access.actor, "discord.whois").target(format!("user:{}", user.id)),
            )
            .await?;
        Ok(CustomerSummary {
            user,
            balance,
            servers,
            open_tickets,
            linked_at: link.linked_at,
        })
    }

    /// `/credits add|remove`, before the reason is asked: may the member do it, and who is
    /// the customer.
    pub async fn credit_target(
        &self,
        access: &MemberAccess,
        discord_user_id: u64,
        amount: Money,
    ) -> Result<User> {
        self.require(access, Permission::AdjustCredits, "credits")
            .await?;
        if !amount.is_positive() {
            return Err(Error::invalid(
                "amount",
                "Give an amount above zero, such as 10.00; /credits remove takes credit away.",
            ));
        }
        crate::ledger::check_adjustment_amount(amount)?;
        Ok(self.linked_member(discord_user_id).await?.1)
    }

    /// Stores a `/credits` request once its reason is known. `key` is unique to the slash
    /// command that began it, so a replayed modal submission finds the same request.
    pub async fn request_credit(
        &self,
        access: &MemberAccess,
        key: &str,
        discord_user_id: u64,
        amount: Money,
        reason: &str,
    ) -> Result<(CreditRequest, User)> {
        let customer = self
            .credit_target(
                access,
                discord_user_id,
                amount.checked_abs().unwrap_or(amount),
            )
            .await?;
        let reason = crate::ledger::check_adjustment(amount, reason)?;
        let now = self.clock.now();
        let request = self
            .store
            .discord()
            .insert_credit_request(&NewCreditRequest {
                idempotency_key: key.to_owned(),
                requested_by: access.member.user_id,
                customer: customer.id,
                amount,
                reason: reason.to_owned(),
                created_at: now,
                expires_at: now + CREDIT_REQUEST_TTL,
            })
            .await?;
        Ok((request, customer))
    }

    /// A request the member may decide on.
    /// A credit adjustment as stored now; not found when there is none.
    async fn credit_request(&self, id: i64) -> Result<CreditRequest> {
        self.store
            .discord()
            .credit_request(id)
            .await?
            .ok_or_else(|| Error::NotFound("That credit adjustment does not exist.".into()))
    }

    async fn own_request(&self, access: &MemberAccess, id: i64) -> Result<CreditRequest> {
        self.require(access, Permission::AdjustCredits, "credits")
            .await?;
        let request = self.credit_request(id).await?;
        if request.requested_by != access.member.user_id {
            let error = Error::Forbidden(
                "Only the staff member who started this adjustment may confirm or cancel it."
                    .into(),
            );
            self.record_refusal(access, "credits confirm", &error).await;
            return Err(error);
        }
        Ok(request)
    }

    /// The confirm button: posts the adjustment through the ledger, once. The request is
    /// claimed first, so a cancel racing the confirm either wins (nothing moves) or finds it
    /// posted. Pressing it again, or the same interaction arriving twice, finds the first
    /// posting (the ledger key is the request's) and moves nothing.
    pub async fn confirm_credit(&self, access: &MemberAccess, id: i64) -> Result<CreditOutcome> {
        let request = self.own_request(access, id).await?;
        if request.decision.is_none() && request.expires_at <= self.clock.now() {
            return Err(Error::Conflict(
                "This confirmation has expired; run /credits again.".into(),
            ));
        }
        let claimed = request.decision.is_none()
            && self
                .store
                .discord()
                .decide_credit_request(request.id, CreditDecision::Posted, None, self.clock.now())
                .await?;
        if !claimed {
            // Decided before (or just now, by a racing press): read how.
            let decided = self.credit_request(request.id).await?;
            if decided.decision != Some(CreditDecision::Posted) {
                return Err(Error::Conflict(
                    "This adjustment was cancelled; run /credits again to make a new one.".into(),
                ));
            }
        }
        let customer = self
            .store
            .users()
            .user(request.customer)
            .await?
            .ok_or_else(|| Error::NotFound("The customer's account is gone.".into()))?;
        // Posting under the request's key: a retry after a crash between the claim and the
        // posting posts once; a press racing the first finds its posting.
        let outcome = match self
            .ledger
            .adjust(
                &access.actor,
                &customer,
                request.amount,
                &request.reason,
                &request.idempotency_key,
            )
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                if claimed
                    && let Err(release) =
                        self.store.discord().release_credit_claim(request.id).await
                {
                    tracing::error!(error = %release, "could not release the credit request");
                }
                return Err(error);
            }
        };
        let new = outcome.is_new();
        let posting = outcome.into_posting();
        self.store
            .discord()
            .record_credit_posting(request.id, posting.id.0)
            .await?;
        let balance_after = StatementLine::for_account(&posting, customer.wallet).balance_after;
        if new {
            self.notify_credit(&request, &customer, balance_after).await;
        }
        Ok(CreditOutcome {
            request: CreditRequest {
                decision: Some(CreditDecision::Posted),
                posting_id: Some(posting.id.0),
                ..request
            },
            customer,
            posting,
            new,
            balance_after,
        })
    }

    /// The cancel button; a request already posted stays posted.
    pub async fn cancel_credit(&self, access: &MemberAccess, id: i64) -> Result<CreditRequest> {
        let request = self.own_request(access, id).await?;
        let cancelled = self
            .store
            .discord()
            .decide_credit_request(
                request.id,
                CreditDecision::Cancelled,
                None,
                self.clock.now(),
            )
            .await?;
        if !cancelled {
            // Decided before, or by a confirm that won the race: read how.
            let decided = self.credit_request(request.id).await?;
            if decided.decision == Some(CreditDecision::Posted) {
                return Err(Error::Conflict(
                    "This adjustment was already posted.".into(),
                ));
            }
            return Ok(decided);
        }
        Ok(CreditRequest {
            decision: Some(CreditDecision::Cancelled),
            ..request
        })
    }

    /// Tells the customer (a DM, if they linked Discord) and billing staff (the billing
    /// webhook, if configured). A failure to enqueue is logged: the money has moved already.
    async fn notify_credit(&self, request: &CreditRequest, customer: &User, after: Option<Money>) {
        let currency = &self.config.billing.currency;
        let change = if request.amount.is_positive() {
            format!(
                "{} was added to your credit",
                request.amount.display_exact(currency)
            )
        } else {
            let taken = request.amount.checked_abs().unwrap_or(request.amount);
            format!(
                "{} was taken from your credit",
                taken.display_exact(currency)
            )
        };
        let balance = after
            .map(|after| format!(" Your balance is now {}.", after.display(currency)))
            .unwrap_or_default();
        if let Ok(Some(link)) = self.store.discord().link_of_account(customer.id).await {
            let message = DiscordMessage {
                content: format!("{change}. Reason: {}.{balance}", request.reason),
            };
            if let Err(error) = self.outbox.discord_dm(link.discord_user_id, message).await {
                tracing::error!(%error, "could not enqueue the credit adjustment DM");
            }
        }
        if self.config.discord.billing_webhook.is_some() {
            let message = DiscordMessage {
                content: format!(
                    "Credit adjustment: {} for {} by Discord user {}. Reason: {}",
                    request.amount.display_exact(currency),
                    customer.email,
                    request.requested_by,
                    request.reason
                ),
            };
            if let Err(error) = self.outbox.to_billing_staff(message).await {
                tracing::error!(%error, "could not enqueue the billing webhook post");
            }
        }
    }

    /// How many Discord users are linked (the bot benchmark's check of its data set).
    pub async fn count_links(&self) -> Result<u64> {
        self.store.discord().count_discord_links().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_typed_loosely() {
        let code = new_code();
        assert_eq!(code.len(), 9);
        assert_eq!(code_hash(&code), code_hash(&code.to_lowercase()));
        assert_eq!(
            code_hash(&code),
            code_hash(&format!(" {} ", code.replace('-', "")))
        );
        assert_ne!(code_hash("AAAA-AAAA"), code_hash("AAAA-AAAB"));
    }
}
