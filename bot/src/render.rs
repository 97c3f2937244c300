//! Every message the bot sends is built here: embeds kept inside Discord's limits (cut cleanly,
//! never refused), user and account text made inert, and `allowed_mentions` set to nothing.
//!
//! Inert means two things: Discord is told to ping nobody (`allowed_mentions` empty), and every
//! `@` in text that came from a person or an account gets a zero-width space after it, so
//! `@everyone`, `@here`, `<@&role>` and `<@user>` are not even shown as mentions.

use poise::serenity_prelude as serenity;
use serenity::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed,
    CreateEmbedFooter, CreateInteractionResponseMessage,
};

/// Discord's limits, in characters.
pub const CONTENT_MAX: usize = 2000;
pub const TITLE_MAX: usize = 256;
pub const DESCRIPTION_MAX: usize = 4096;
pub const FIELDS_MAX: usize = 25;
pub const FIELD_NAME_MAX: usize = 256;
pub const FIELD_VALUE_MAX: usize = 1024;
pub const FOOTER_MAX: usize = 2048;
/// All text of one embed together.
pub const EMBED_TOTAL_MAX: usize = 6000;
/// A button's label.
pub const LABEL_MAX: usize = 80;

const ZERO_WIDTH_SPACE: char = '\u{200B}';
const BRAND: u32 = 0x2563eb;
const WARNING: u32 = 0xd97706;

/// No pings at all.
pub fn no_mentions() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

/// Text that can never be a mention: an `@` that could start one (`@everyone`, `@here`,
/// `<@id>`, `<@&id>`, `<@!id>`) gets a zero-width space after it. The `@` inside an email
/// address (a letter or digit before it, not followed by `everyone` or `here`) stays as it is.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut previous: Option<char> = None;
    for (index, c) in text.char_indices() {
        out.push(c);
        if c == '@' || c == '\u{FF20}' {
            let rest = &text[index + c.len_utf8()..];
            let in_address = previous.is_some_and(|p| p.is_alphanumeric() || "._-+".contains(p));
            let broadcast = rest.starts_with("everyone") || rest.starts_with("here");
            if !in_address || broadcast {
                out.push(ZERO_WIDTH_SPACE);
            }
        }
        previous = Some(c);
    }
    out
}

/// At most `max` characters, ending in "…" when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Inert and within `max`.
fn clean(text: &str, max: usize) -> String {
    truncate(&inert(text), max)
}

/// An embed's content, before it is fitted to Discord.
#[derive(Debug, Clone, Default)]
pub struct Card {
    title: String,
    description: Option<String>,
    fields: Vec<(String, String)>,
    footer: Option<String>,
    warning: bool,
}

impl Card {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    pub fn field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }

    pub fn footer(mut self, text: impl Into<String>) -> Self {
        self.footer = Some(text.into());
        self
    }

    /// Shown in the warning colour (refusals, errors).
    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }

    /// The fitted parts: every piece cut to its limit, then fields dropped from the end and the
    /// description shortened until the whole is within [`EMBED_TOTAL_MAX`].
    fn fitted(&self) -> Card {
        let title = clean(&self.title, TITLE_MAX);
        let footer = self.footer.as_deref().map(|text| clean(text, FOOTER_MAX));
        let mut description = self
            .description
            .as_deref()
            .map(|text| clean(text, DESCRIPTION_MAX));
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|(name, value)| {
                let value = if value.trim().is_empty() { "-" } else { value };
                (clean(name, FIELD_NAME_MAX), clean(value, FIELD_VALUE_MAX))
            })
            .collect();
        let size = |description: &Option<String>, fields: &[(String, String)]| {
            title.chars().count()
                + footer.as_deref().map_or(0, |f| f.chars().count())
                + description.as_deref().map_or(0, |d| d.chars().count())
                + fields
                    .iter()
                    .map(|(n, v)| n.chars().count() + v.chars().count())
                    .sum::<usize>()
        };
        while size(&description, &fields) > EMBED_TOTAL_MAX && !fields.is_empty() {
            fields.pop();
        }
        let total = size(&description, &fields);
        if total > EMBED_TOTAL_MAX
            && let Some(text) = &description
        {
            let keep = text.chars().count().saturating_sub(total - EMBED_TOTAL_MAX);
            description = Some(truncate(text, keep.max(1)));
        }
        Card {
            title,
            description,
            fields,
            footer,
            warning: self.warning,
        }
    }

    pub fn embed(&self) -> CreateEmbed {
        let fitted = self.fitted();
        let mut embed = CreateEmbed::new()
            .title(fitted.title)
            .colour(if self.warning { WARNING } else { BRAND });
        if let Some(description) = fitted.description {
            embed = embed.description(description);
        }
        for (name, value) in fitted.fields {
            embed = embed.field(name, value, false);
        }
        if let Some(footer) = fitted.footer {
            embed = embed.footer(CreateEmbedFooter::new(footer));
        }
        embed
    }
}

/// A button that survives restarts: its `custom_id` is routed by prefix (see `components`).
#[derive(Debug, Clone)]
pub struct Button {
    pub custom_id: String,
    pub label: String,
    pub style: ButtonStyle,
}

impl Button {
    pub fn new(custom_id: impl Into<String>, label: &str, style: ButtonStyle) -> Self {
        Self {
            custom_id: custom_id.into(),
            label: clean(label, LABEL_MAX),
            style,
        }
    }
}

/// One answer: an optional line of text, an optional card, buttons, and whether only the
/// member sees it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    content: Option<String>,
    card: Option<Card>,
    buttons: Vec<Button>,
    ephemeral: bool,
}

impl Answer {
    pub fn card(card: Card) -> Self {
        Self {
            card: Some(card),
            ..Self::default()
        }
    }

    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    pub fn button(mut self, button: Button) -> Self {
        self.buttons.push(button);
        self
    }

    fn rows(&self) -> Vec<CreateActionRow> {
        if self.buttons.is_empty() {
            return Vec::new();
        }
        let buttons = self
            .buttons
            .iter()
            .take(5)
            .map(|button| {
                CreateButton::new(button.custom_id.clone())
                    .label(button.label.clone())
                    .style(button.style)
            })
            .collect();
        vec![CreateActionRow::Buttons(buttons)]
    }

    /// For poise's `ctx.send`.
    pub fn reply(&self) -> poise::CreateReply {
        let mut reply = poise::CreateReply::default()
            .ephemeral(self.ephemeral)
            .allowed_mentions(no_mentions())
            .components(self.rows());
        if let Some(content) = &self.content {
            reply = reply.content(clean(content, CONTENT_MAX));
        }
        if let Some(card) = &self.card {
            reply = reply.embed(card.embed());
        }
        reply
    }

    /// For an interaction response (component and modal interactions). Replacing a message
    /// also replaces its buttons, so an answer without buttons removes them.
    pub fn message(&self) -> CreateInteractionResponseMessage {
        let mut message = CreateInteractionResponseMessage::new()
            .ephemeral(self.ephemeral)
            .allowed_mentions(no_mentions())
            .components(self.rows());
        if let Some(content) = &self.content {
            message = message.content(clean(content, CONTENT_MAX));
        }
        message = match &self.card {
            Some(card) => message.embed(card.embed()),
            None => message.embeds(Vec::new()),
        };
        message
    }

    /// For editing an answer already given (a deferred button press): the text, the card
    /// and the buttons replace the old ones.
    pub fn edit(&self) -> serenity::EditInteractionResponse {
        let mut edit = serenity::EditInteractionResponse::new()
            .allowed_mentions(no_mentions())
            .components(self.rows());
        if let Some(content) = &self.content {
            edit = edit.content(clean(content, CONTENT_MAX));
        }
        edit = match &self.card {
            Some(card) => edit.embed(card.embed()),
            None => edit.embeds(Vec::new()),
        };
        edit
    }

    /// A plain-text message (DMs and webhook posts from the outbox).
    pub fn plain(text: &str) -> String {
        clean(text, CONTENT_MAX)
    }
}

/// The answer to a refusal or a mistake: what went wrong and what to do.
pub fn problem(message: &str) -> Answer {
    Answer::card(
        Card::new("That did not work")
            .description(message)
            .warning(),
    )
    .ephemeral()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_become_inert() {
        for raw in ["@everyone", "@here", "<@&2001>", "<@3000>", "<@!3000>"] {
            let text = inert(raw);
            assert!(!text.contains(raw), "{text:?}");
            assert_eq!(text.replace(ZERO_WIDTH_SPACE, ""), raw);
            let embedded = inert(&format!("hi {raw}, and x{raw}"));
            assert!(!embedded.contains(raw), "{embedded:?}");
        }
        assert_eq!(inert("alice@example.com"), "alice@example.com");
        assert_ne!(inert("alice@everyone.example"), "alice@everyone.example");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let text = "é".repeat(3000);
        let cut = truncate(&text, CONTENT_MAX);
        assert_eq!(cut.chars().count(), CONTENT_MAX);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", 10), "short");
    }

    /// Characters the fitted embed holds.
    fn fitted_len(card: &Card) -> usize {
        let fitted = card.fitted();
        fitted.title.chars().count()
            + fitted.description.map_or(0, |d| d.chars().count())
            + fitted
                .fields
                .iter()
                .map(|(n, v)| n.chars().count() + v.chars().count())
                .sum::<usize>()
            + fitted.footer.map_or(0, |f| f.chars().count())
    }

    #[test]
    fn an_oversized_card_fits_discord() {
        let mut card = Card::new("t".repeat(1000))
            .description("d".repeat(10_000))
            .footer("f".repeat(5000));
        for index in 0..40 {
            card = card.field(format!("name {index}"), "v".repeat(2000));
        }
        assert!(
            fitted_len(&card) <= EMBED_TOTAL_MAX,
            "{}",
            fitted_len(&card)
        );
        let fitted = card.fitted();
        assert!(fitted.fields.len() <= FIELDS_MAX);
        assert!(fitted.title.chars().count() <= TITLE_MAX);
        let small = Card::new("Balance").field("Balance", "10.00 USD");
        assert_eq!(small.fitted().fields.len(), 1);
    }
}
