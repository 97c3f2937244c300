//! A member's own commands: `/help`, `/link`, `/unlink`, `/balance`.

use crate::Context;
use crate::access::{COMMANDS, access, member_of};
use crate::errors::BotError;
use crate::render::{Answer, Card};

/// Shows the commands you may use here.
#[poise::command(slash_command)]
pub async fn help(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let lines: Vec<String> = COMMANDS
        .iter()
        .filter(|rule| access.actor.can(rule.permission))
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
    let user = ctx.data().core.discord.link(&member, &code).await?;
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
    ctx.data().core.discord.unlink(&access).await?;
    let card = Card::new("Unlinked")
        .description("Your Discord account is no longer linked. /link links it again.");
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

/// Shows your balance, what your servers cost an hour, and how long your credit lasts.
#[poise::command(slash_command)]
pub async fn balance(ctx: Context<'_>) -> Result<(), BotError> {
    let access = access(ctx).await?;
    let summary = ctx.data().core.discord.balance(&access).await?;
    let currency = &ctx.data().core.config.billing.currency;
    let mut card = Card::new("Your balance").field("Balance", summary.balance.display(currency));
    match summary.burn.hours_left(summary.balance) {
        Some(hours) => {
            card = card
                .field(
                    "Burn rate",
                    format!("{} per hour", summary.burn.per_hour().display(currency)),
                )
                .field("Hours left", hours_text(hours));
        }
        None => card = card.field("Burn rate", "Nothing is running that costs credit."),
    }
    ctx.send(Answer::card(card).ephemeral().reply()).await?;
    Ok(())
}

fn hours_text(hours: i64) -> String {
    match hours {
        0 => "none: top up to keep your servers running".to_owned(),
        1 => "about 1 hour".to_owned(),
        h if h < 48 => format!("about {h} hours"),
        h => format!("about {h} hours ({} days)", h / 24),
    }
}
