//! A member's own commands: `/help`, `/link`, `/unlink`, `/balance`.

use hostdeck_core::Permission;
use hostdeck_core::billing::Standing;
use hostdeck_core::money::Currency;

use crate::Context;
use hostdeck_core::discord_commands::offered_to;

use crate::access::{access, member_of};
use crate::errors::BotError;
use crate::render::{Answer, Card};

/// Shows the commands you may use here.
#[poise::command(slash_command)]
pub async fn help(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let lines: Vec<String> = offered_to(&access.actor)
        .map(|rule| format!("`/{}`: {}", rule.name, rule.help))
        .collect();
    let mut card = Card::new("What you can do here").description(lines.join("\n"));
    if access.account.is_none() {
        card = card.footer("Link your account with /link to see your balance and servers.");
    }
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Links your Discord account to your hostdeck account with a code from the portal.
#[poise::command(slash_command)]
pub async fn link(
    ctx: Context<'_>,
    #[description = "The code from your account page in the portal, like ABCD-EFGH"]
    #[max_length = 32]
    code: String,
) -> Result<(), BotError> {
    let member = member_of(ctx);
    let user = ctx.data().core.discord_links.link(&member, &code).await?;
    let card = Card::new("Linked").description(format!(
        "Your Discord account now acts as {}. Use /unlink to undo it.",
        user.email
    ));
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Unlinks your Discord account from your hostdeck account.
#[poise::command(slash_command)]
pub async fn unlink(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    ctx.data().core.discord_links.unlink(&access).await?;
    let card = Card::new("Unlinked")
        .description("Your Discord account is no longer linked. /link links it again.");
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Shows your balance, what your servers cost an hour, and how long your credit lasts.
#[poise::command(slash_command)]
pub async fn balance(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let core = &ctx.data().core;
    core.discord_links
        .require(&access, Permission::ReadOwnBilling, "balance")
        .await?;
    let standing = core
        .billing
        .standing(&access.actor, access.account()?)
        .await?;
    ctx.send(
        Answer::card(standing_card(&standing, &core.config.billing.currency))
            .ephemeral()
            .reply(),
    )
    .await?;
    Ok(())
}

/// Where the customer stands, as the portal's dashboard shows it.
fn standing_card(standing: &Standing, currency: &Currency) -> Card {
    let mut card = Card::new("Your balance").field("Balance", standing.balance.display(currency));
    match standing.hours_left {
        Some(hours) => {
            card = card
                .field(
                    "Burn rate",
                    format!(
                        "{} per hour",
                        standing.burn_per_hour.display_exact(currency)
                    ),
                )
                .field("Hours left", hours_text(hours));
        }
        None => card = card.field("Burn rate", "Nothing is running that costs credit."),
    }
    if standing.suspended {
        card.footer(
            "Your servers are suspended for the unpaid balance. A top-up that brings the \
             balance back to zero or more resumes them.",
        )
    } else if let Some(at) = standing.suspend_at {
        card.footer(format!(
            "Your balance is below zero. Top up before {}, or your servers are suspended then.",
            at.format("%Y-%m-%d %H:%M UTC")
        ))
    } else if standing.low_balance {
        card.footer(
            "Your balance is running low: top up in the portal to keep your servers running.",
        )
    } else {
        card
    }
}

fn hours_text(hours: i64) -> String {
    match hours {
        0 => "none: top up to keep your servers running".to_owned(),
        1 => "about 1 hour".to_owned(),
        h if h < 48 => format!("about {h} hours"),
        h => format!("about {h} hours ({} days)", h / 24),
    }
}
