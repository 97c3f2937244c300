//! The customer beside a ticket, as staff see them ([`CustomerContext`]), and counts of open
//! tickets.

use super::Tickets;
use super::context::{CustomerContext, ServerSummary};
use super::policy::TicketAction;
use crate::burn_rate::burn_rate_of;
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::policy::{Actor, Permission};
use crate::records::tickets::{TicketFilter, TicketId, TicketStatus};

/// Tickets shown in a context's lists.
const OPEN_SHOWN: u32 = 20;
const RECENT_SHOWN: u32 = 5;

impl Tickets {
    /// The ticket's customer as staff see them.
    pub async fn context(&self, actor: &Actor, id: TicketId) -> Result<CustomerContext> {
        let (ticket, _) = self.authorize(actor, id, TicketAction::Context).await?;
        self.assemble_context(ticket.customer).await
    }

    /// A customer as staff see them.
    pub async fn customer_context(
        &self,
        actor: &Actor,
        customer: UserId,
    ) -> Result<CustomerContext> {
        self.may_at_all(actor, TicketAction::Context).await?;
        self.assemble_context(customer).await
    }

    async fn assemble_context(&self, customer: UserId) -> Result<CustomerContext> {
        let user = self.user(customer).await?;
        let servers = self
            .store
            .servers()
            .servers_of(Some(customer))
            .await?
            .into_iter()
            .map(|server| ServerSummary {
                id: server.id,
                name: server.name,
                plan: server.plan,
                provider: server.provider,
                state: server.state,
                suspended_at: server.suspended_at,
            })
            .collect();
        let balance = self.store.ledger().account_balance(user.wallet).await?;
        let burn = burn_rate_of(self.store.as_ref(), customer).await?;
        let billing = self.store.billing().billing_state_of(customer).await?;
        let now = self.clock.now();
        let open = TicketFilter {
            customer: Some(customer),
            open_only: true,
            limit: OPEN_SHOWN,
            ..TicketFilter::default()
        };
        let mut open_tickets = self.store.tickets().list_tickets(&open, now).await?;
        open_tickets.truncate(usize::try_from(OPEN_SHOWN).unwrap_or(usize::MAX));
        let closed = TicketFilter {
            customer: Some(customer),
            status: Some(TicketStatus::Closed),
            limit: RECENT_SHOWN,
            ..TicketFilter::default()
        };
        let mut recent_tickets = self.store.tickets().list_tickets(&closed, now).await?;
        recent_tickets.truncate(usize::try_from(RECENT_SHOWN).unwrap_or(usize::MAX));
        let discord_user_id = self
            .store
            .discord()
            .link_of_account(customer)
            .await?
            .map(|link| link.discord_user_id);
        Ok(CustomerContext {
            customer: user,
            servers,
            balance,
            burn_per_hour: burn.per_hour(),
            hours_left: burn.hours_left(balance),
            negative_since: billing.negative_since,
            suspended_at: billing.suspended_at,
            open_tickets,
            recent_tickets,
            discord_user_id,
        })
    }

    /// How many tickets `customer` has open: for staff (`/whois`, the context), or the
    /// customer themselves.
    pub async fn open_count_of(&self, actor: &Actor, customer: UserId) -> Result<u64> {
        let own = actor.user == Some(customer) && actor.can(Permission::ReadOwnTickets);
        if !own {
            if !actor.can(Permission::ReadAnyTicket) {
                let error = actor
                    .require(Permission::ReadAnyTicket)
                    .err()
                    .unwrap_or_else(|| Error::Forbidden("You may not do this.".into()));
                return Err(self.refused(actor, TicketAction::Read, None, error).await);
            }
            self.user(customer).await?;
        }
        self.store.tickets().open_ticket_count(customer).await
    }
}
