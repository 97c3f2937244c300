//! Staff commands: `/whois` (support) and `/credits add|remove` (billing).
//!
//! `/credits` is three interactions: the slash command opens a modal for the reason; the
//! modal's submission stores the request (core) and shows a confirm button with the amount;
//! the button posts through the ledger. Every step is routed by its `custom_id` and reads its
//! state from the database, so a restart in between changes nothing.

use hostdeck_core::money::Money;
use poise::serenity_prelude as serenity;
use serenity::{ButtonStyle, CreateActionRow, CreateInputText, CreateModal, InputTextStyle};

use crate::access::{Invoker, access};
use crate::errors::BotError;
use crate::render::{Answer, Button, Card};
use crate::{ApplicationContext, Context, Data};

/// The reason modal of `/credits`: `credits:reason:{member}:{signed micros}:{interaction}`.
pub const CREDITS_REASON: &str = "credits:reason:";
/// The confirm button of `/credits`: `credits:confirm:{request}`.
pub const CREDITS_CONFIRM: &str = "credits:confirm:";
/// The cancel button of `/credits`: `credits:cancel:{request}`.
pub const CREDITS_CANCEL: &str = "credits:cancel:";

/// Looks up a member's linked customer account.
#[poise::command(slash_command, default_member_permissions = "MANAGE_MESSAGES")]
pub async fn whois(
    ctx: Context<'_>,
    #[description = "The member to look up"] member: serenity::UserId,
) -> Result<(), BotError> {
    ctx.defer_ephemeral().await?;
    let access = access(ctx).await?;
    let summary = ctx
        .data()
        .core
        .discord_links
        .whois(&access, member.get())
        .await?;
    let currency = &ctx.data().core.config.billing.currency;
    let mut card = Card::new(format!("Who is {}", summary.user.email))
        .field("Email", summary.user.email.clone());
    if let Some(balance) = summary.balance {
        card = card.field("Balance", balance.display(currency));
    }
    card = card.field("Servers", summary.servers.to_string());
    if let Some(open) = summary.open_tickets {
        card = card.field("Open tickets", open.to_string());
    }
    let card = card.footer(format!(
        "Linked {}",
        summary.linked_at.format("%Y-%m-%d %H:%M UTC")
    ));
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Adds or removes a customer's credit, with a reason.
#[poise::command(
    slash_command,
    subcommands("credits_add", "credits_remove"),
    subcommand_required,
    default_member_permissions = "MANAGE_GUILD"
)]
pub async fn credits(_ctx: Context<'_>) -> Result<(), BotError> {
    Ok(())
}

/// Adds credit to a member's account.
#[poise::command(slash_command, rename = "add")]
pub async fn credits_add(
    ctx: ApplicationContext<'_>,
    #[description = "The member whose credit changes"] member: serenity::UserId,
    #[description = "How much to add, such as 10.00"] amount: String,
) -> Result<(), BotError> {
    ask_reason(ctx, member, &amount, false).await
}

/// Takes credit away from a member's account.
#[poise::command(slash_command, rename = "remove")]
pub async fn credits_remove(
    ctx: ApplicationContext<'_>,
    #[description = "The member whose credit changes"] member: serenity::UserId,
    #[description = "How much to take away, such as 10.00"] amount: String,
) -> Result<(), BotError> {
    ask_reason(ctx, member, &amount, true).await
}

/// Checks what can be checked now, then opens the modal. Its `custom_id` carries the member,
/// the signed amount and this interaction's id (the posting's idempotency key).
async fn ask_reason(
    ctx: ApplicationContext<'_>,
    member: serenity::UserId,
    amount: &str,
    remove: bool,
) -> Result<(), BotError> {
    let context = poise::Context::Application(ctx);
    let access = access(context).await?;
    let amount = Money::parse_entered(amount, &ctx.data().core.config.billing.currency)?;
    let customer = ctx
        .data()
        .core
        .discord_links
        .credit_target(&access, member.get(), amount)
        .await?;
    let signed = if remove {
        amount.checked_neg().unwrap_or(amount)
    } else {
        amount
    };
    let custom_id = format!(
        "{CREDITS_REASON}{}:{}:{}",
        member.get(),
        signed.micros(),
        ctx.interaction.id.get()
    );
    let currency = &ctx.data().core.config.billing.currency;
    let title = if remove {
        format!("Remove {}", amount.display_exact(currency))
    } else {
        format!("Add {}", amount.display_exact(currency))
    };
    let input = CreateInputText::new(InputTextStyle::Paragraph, "Reason", "reason")
        .placeholder(crate::render::truncate(
            &format!("Why the credit of {} changes", customer.email),
            100,
        ))
        .max_length(500)
        .required(true);
    let modal = CreateModal::new(custom_id, crate::render::truncate(&title, 45))
        .components(vec![CreateActionRow::InputText(input)]);
    super::show_modal(ctx, modal).await
}

/// The reason modal was submitted: store the request and show the confirm button.
pub async fn credit_modal_submitted(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
    reason: &str,
) -> Result<Answer, BotError> {
    let mut parts = rest.split(':');
    let (Some(member), Some(amount), Some(origin), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(crate::errors::stale());
    };
    let (Ok(member), Ok(amount), Ok(origin)) = (
        member.parse::<u64>(),
        amount.parse::<i64>(),
        origin.parse::<u64>(),
    ) else {
        return Err(crate::errors::stale());
    };
    let access = data.core.discord_links.access(&invoker.member).await?;
    let (request, customer) = data
        .core
        .discord_links
        .request_credit(
            &access,
            &format!("discord:{origin}"),
            member,
            Money::from_micros(amount),
            reason,
        )
        .await?;
    let currency = &data.core.config.billing.currency;
    let size = request.amount.checked_abs().unwrap_or(request.amount);
    let (verb, label) = if request.amount.is_positive() {
        ("add", format!("Add {}", size.display_exact(currency)))
    } else {
        ("remove", format!("Remove {}", size.display_exact(currency)))
    };
    let card = Card::new("Confirm the credit adjustment")
        .description(format!(
            "This will {verb} {} for {}. Nothing moves until you confirm.",
            size.display_exact(currency),
            customer.email
        ))
        .field("Customer", customer.email)
        .field("Amount", request.amount.display_exact(currency))
        .field("Reason", request.reason.clone());
    Ok(Answer::card(card)
        .ephemeral()
        .button(Button::new(
            format!("{CREDITS_CONFIRM}{}", request.id),
            &label,
            ButtonStyle::Success,
        ))
        .button(Button::new(
            format!("{CREDITS_CANCEL}{}", request.id),
            "Cancel",
            ButtonStyle::Secondary,
        )))
}

/// The confirm button: post once, then show the result in place of the question.
pub async fn credit_confirmed(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
) -> Result<Answer, BotError> {
    let id = rest.parse::<i64>().map_err(|_| crate::errors::stale())?;
    let access = data.core.discord_links.access(&invoker.member).await?;
    let outcome = data.core.discord_links.confirm_credit(&access, id).await?;
    let currency = &data.core.config.billing.currency;
    let mut card = Card::new(if outcome.new {
        "Credit adjusted"
    } else {
        "Already posted"
    })
    .field("Customer", outcome.customer.email.clone())
    .field("Amount", outcome.request.amount.display_exact(currency))
    .field("Reason", outcome.request.reason.clone())
    .footer(format!("Posting {}", outcome.posting.id));
    if let Some(after) = outcome.balance_after {
        card = card.field("Balance now", after.display(currency));
    }
    Ok(Answer::card(card).ephemeral())
}

/// The cancel button.
pub async fn credit_cancelled(
    data: &Data,
    invoker: &Invoker,
    rest: &str,
) -> Result<Answer, BotError> {
    let id = rest.parse::<i64>().map_err(|_| crate::errors::stale())?;
    let access = data.core.discord_links.access(&invoker.member).await?;
    data.core.discord_links.cancel_credit(&access, id).await?;
    Ok(Answer::card(Card::new("Cancelled").description("No credit was changed.")).ephemeral())
}
