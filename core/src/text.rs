//! Text a person types that other people read: names (display names, server names, API key
//! names) and short notes (adjustment and refund reasons, the maintenance notice). One rule for
//! every door, so the portal, the API and Discord cannot disagree.
//!
//! Characters that draw nothing or change how the text around them is drawn are refused, not
//! stripped: a right-to-left override (U+202E) turns `invoice-exe.pdf` into something else on
//! screen, and a zero-width space makes two names that look the same differ. Stripping them
//! silently would store something other than what the person typed; a refusal that names the
//! character tells them what to fix. Refused: control characters (Cc; a note may keep line
//! breaks and tabs), format characters (Cf: the bidi embeddings, overrides and isolates
//! U+202A–U+202E and U+2066–U+2069, the marks U+200E/U+200F/U+061C, the zero-width U+200B–U+200D,
//! U+2060, U+FEFF, tag characters...), the line and paragraph separators, private-use and
//! surrogate code points, and the few letters that draw as nothing (Hangul fillers, the
//! combining grapheme joiner).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::error::{Error, Result};

/// Whether `c` is invisible or steers the drawing of the text around it.
pub fn is_hidden(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
    ) || matches!(
        c,
        '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}'
    )
}

/// A name, trimmed: 1 to `max_chars` characters, none hidden. `what` says what the name is in
/// the refusal ("a server name").
pub fn name(field: &'static str, what: &str, text: &str, max_chars: usize) -> Result<String> {
    checked(field, what, text, max_chars, false)
}

/// A short note, trimmed: 1 to `max_chars` characters; line breaks and tabs are kept, every
/// other hidden character is refused.
pub fn note(field: &'static str, what: &str, text: &str, max_chars: usize) -> Result<String> {
    checked(field, what, text, max_chars, true)
}

/// A message (a ticket's body): a note that may also hold the zero-width joiner inside an
/// emoji sequence (👩‍💻, ❤️‍🔥), which people type every day and which draws one picture. A
/// joiner anywhere else is refused like every other hidden character.
pub fn message(field: &'static str, what: &str, text: &str, max_chars: usize) -> Result<String> {
    let cleaned = without_emoji_joiners(text);
    checked(field, what, &cleaned, max_chars, true)?;
    let text = text.trim();
    Ok(text.to_owned())
}

/// Text that exists elsewhere already (a message posted in Discord) made safe to keep, instead
/// of refused: hidden characters are dropped (line breaks, tabs and emoji joiners stay), the
/// rest trimmed and cut to `max_chars` characters. Refusing it would lose what was said.
pub fn cleaned(text: &str, max_chars: usize) -> String {
    let kept: String = with_emoji_joiners(text, |c, joins| {
        joins || matches!(c, '\n' | '\t') || !is_hidden(c)
    });
    kept.trim().chars().take(max_chars).collect()
}

/// `text` without the joiners that sit between two pictographs (or a pictograph's variation
/// selector), so the rest can be checked as a note.
fn without_emoji_joiners(text: &str) -> String {
    with_emoji_joiners(text, |_, joins| !joins)
}

/// The characters of `text` that `keep` accepts; `keep` is told whether the character is a
/// zero-width joiner inside an emoji sequence.
fn with_emoji_joiners(text: &str, keep: impl Fn(char, bool) -> bool) -> String {
    let chars: Vec<char> = text.chars().collect();
    let pictograph = |c: char| !c.is_ascii() && !is_hidden(c) && !c.is_alphanumeric();
    chars
        .iter()
        .enumerate()
        .filter(|&(at, &c)| {
            let joins = c == '\u{200D}'
                && at > 0
                && chars.get(at + 1).is_some_and(|&next| pictograph(next))
                && pictograph(chars[at - 1]);
            keep(c, joins)
        })
        .map(|(_, &c)| c)
        .collect()
}

fn checked(
    field: &'static str,
    what: &str,
    text: &str,
    max_chars: usize,
    lines: bool,
) -> Result<String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Error::invalid(
            field,
            format!("{what} is empty; write 1 to {max_chars} characters"),
        ));
    }
    if text.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("{what} has at most {max_chars} characters"),
        ));
    }
    let allowed = |c: char| lines && matches!(c, '\n' | '\r' | '\t');
    if let Some(bad) = text.chars().find(|&c| is_hidden(c) && !allowed(c)) {
        let kind = if c_is_break(bad) {
            "a line break"
        } else {
            "an invisible or text-direction character"
        };
        return Err(Error::invalid(
            field,
            format!(
                "{what} contains {kind} (U+{:04X}); type it again without it",
                u32::from(bad)
            ),
        ));
    }
    Ok(text.to_owned())
}

fn c_is_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{0085}')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character the bidi and zero-width spoofing tricks use.
    const HIDDEN: [char; 20] = [
        '\u{202A}',
        '\u{202B}',
        '\u{202C}',
        '\u{202D}',
        '\u{202E}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{200E}',
        '\u{200F}',
        '\u{061C}',
        '\u{200B}',
        '\u{200C}',
        '\u{200D}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{00AD}',
        '\u{E0041}',
        '\u{3164}',
    ];

    #[test]
    fn emoji_joiners_stay_in_messages_and_nowhere_else() {
        for emoji in ["👩\u{200D}💻", "❤\u{FE0F}\u{200D}🔥", "🏳\u{FE0F}\u{200D}🌈"] {
            let text = format!("thanks {emoji}!");
            assert_eq!(
                message("body", "The message", &text, 100).ok(),
                Some(text.clone())
            );
            assert!(
                note("reason", "the reason", &text, 100).is_err(),
                "{text:?}"
            );
            assert_eq!(cleaned(&text, 100), text);
        }
        for text in ["in\u{200D}voice", "a\u{200D}💻", "💻\u{200D}", "x\u{202E}y"] {
            assert!(
                message("body", "The message", text, 100).is_err(),
                "{text:?}"
            );
        }
        assert_eq!(
            cleaned(" in\u{200D}vo\u{202E}ice\u{200B}\nok ", 100),
            "invoice\nok"
        );
        assert_eq!(cleaned("abcdef", 3), "abc");
    }

    #[test]
    fn bidi_controls_and_zero_width_characters_are_refused_in_names_and_notes() {
        for c in HIDDEN {
            let text = format!("invoice{c}fdp.exe");
            let error = name("name", "a server name", &text, 64).expect_err(&text);
            assert!(
                error
                    .to_string()
                    .contains(&format!("U+{:04X}", u32::from(c))),
                "{error}"
            );
            assert!(
                note("reason", "the reason", &text, 200).is_err(),
                "{text:?}"
            );
        }
        for c in ['\u{0007}', '\u{001B}', '\u{0085}', '\u{2028}', '\u{E000}'] {
            assert!(
                name("name", "a name", &format!("a{c}b"), 64).is_err(),
                "{c:?}"
            );
        }
    }

    #[test]
    fn names_are_single_lines_and_notes_keep_their_lines() {
        assert!(name("name", "a name", "two\nlines", 64).is_err());
        assert_eq!(
            note("message", "the notice", " back at 14:00\nsorry\tall ", 500).expect("a note"),
            "back at 14:00\nsorry\tall"
        );
    }

    #[test]
    fn ordinary_names_in_any_script_are_kept_trimmed() {
        for ok in [
            "web-1",
            "Zoë's box",
            "שרת ראשי",
            "خادم",
            "サーバー",
            "🚀 launch",
            "A\u{0301}lvaro",
        ] {
            assert_eq!(
                name("name", "a name", &format!("  {ok} "), 64).expect(ok),
                ok
            );
        }
    }

    #[test]
    fn length_counts_characters_and_empty_is_refused() {
        assert!(name("name", "a name", "   ", 64).is_err());
        assert!(name("name", "a name", &"é".repeat(64), 64).is_ok());
        assert!(name("name", "a name", &"é".repeat(65), 64).is_err());
    }
}
