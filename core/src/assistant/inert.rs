//! Making the model's text inert before anyone sees it: whatever the model was talked into
//! writing, an answer pings no one, carries no HTML, links only to the allow-list, and fits the
//! configured length, cut at a sentence or word boundary.

use std::sync::LazyLock;

use regex::Regex;

/// `[text](target)`: a Markdown link.
static MARKDOWN_LINK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[([^\[\]\n]{0,200})\]\(\s*<?([^()\s<>]*)>?(?:\s+[^()]*)?\)")
        .unwrap_or_else(|_| unreachable!())
});
/// Anything with a scheme, and the schemeless forms chat apps turn into links.
static URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:[a-z][a-z0-9+.\-]{1,15}://|(?:javascript|data|vbscript|file|mailto):|www\.|discord\.gg/|discord(?:app)?\.com/invite/)[^\s<>\[\]()]*",
    )
    .unwrap_or_else(|_| unreachable!())
});
/// An HTML tag, comment or doctype.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)<!--.*?-->|</?[A-Za-z!?][^<>]{0,500}>").unwrap_or_else(|_| unreachable!())
});

/// What answers may link to, and how long they may be.
#[derive(Debug, Clone)]
pub struct OutputRules {
    /// Allowed link prefixes, each an origin and path ending in `/`.
    allowed: Vec<String>,
    max_chars: usize,
}

impl OutputRules {
    /// `allowed`: the portal's public address, the help pages and any configured extras.
    pub fn new<'a>(allowed: impl IntoIterator<Item = &'a url::Url>, max_chars: usize) -> Self {
        let allowed = allowed
            .into_iter()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .map(|url| {
                let text = url.as_str();
                if text.ends_with('/') {
                    text.to_owned()
                } else {
                    format!("{text}/")
                }
            })
            .collect();
        Self { allowed, max_chars }
    }

    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// Whether `link` may stay in an answer.
    pub fn allows(&self, link: &str) -> bool {
        let Ok(parsed) = url::Url::parse(link) else {
            return false;
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return false;
        }
        let normal = parsed.as_str();
        self.allowed
            .iter()
            .any(|prefix| normal.starts_with(prefix.as_str()) || format!("{normal}/") == *prefix)
    }

    /// The model's answer made inert (see the module comment).
    pub fn apply(&self, text: &str) -> String {
        let text: String = text
            .chars()
            .filter(|c| !c.is_control() || matches!(c, '\n' | '\t'))
            .filter(|c| !is_invisible(*c))
            .collect();
        let text = MARKDOWN_LINK.replace_all(&text, |caps: &regex::Captures<'_>| {
            if self.allows(&caps[2]) {
                format!("[{}]({})", &caps[1], &caps[2])
            } else {
                caps[1].to_owned()
            }
        });
        let text = URL.replace_all(&text, |caps: &regex::Captures<'_>| {
            let link = caps[0].trim_end_matches(['.', ',', ';', ':', '!', '?', '\'', '"']);
            let tail = &caps[0][link.len()..];
            if self.allows(link) {
                caps[0].to_owned()
            } else {
                format!("(link removed){tail}")
            }
        });
        let text = TAG.replace_all(&text, "");
        let text = defuse(&text);
        truncate(text.trim(), self.max_chars)
    }
}

/// Zero-width and direction characters, which could hide a mention or a link.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// No mention survives: a zero-width space after every `@`, and `<` before `@`, `#`, `:`, `/`,
/// `!` or a letter becomes `‹`, so neither `<@123>`, `<#123>` nor a tag is left.
fn defuse(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '@' => out.push_str("@\u{200B}"),
            '<' if chars
                .peek()
                .is_some_and(|next| next.is_alphabetic() || "@#:/!?&".contains(*next)) =>
            {
                out.push('‹');
            }
            _ => out.push(c),
        }
    }
    out
}

/// At most `max` characters: cut at the last sentence end in the final stretch, else at a
/// word boundary, and end with an ellipsis.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let keep = max.saturating_sub(1);
    let cut: String = text.chars().take(keep).collect();
    let floor = cut.len() * 3 / 5;
    let sentence = ['.', '!', '?', '\n']
        .iter()
        .filter_map(|end| cut.rfind(*end))
        .max()
        .filter(|at| *at >= floor)
        .map(|at| at + 1);
    let word = cut.rfind(char::is_whitespace).filter(|at| *at >= floor);
    let end = sentence.or(word).unwrap_or(cut.len());
    let mut kept = cut[..end].trim_end().to_owned();
    kept.push('…');
    kept
}

/// Whether `answer` repeats `secret`: its canary, or any run of `run` consecutive words of it.
pub fn echoes(answer: &str, secret: &str, canary: &str, run: usize) -> bool {
    let squash = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    if !canary.is_empty() && squash(answer).contains(&squash(canary)) {
        return true;
    }
    let words = |text: &str| -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let said = format!(" {} ", words(answer).join(" "));
    let secret = words(secret);
    secret
        .windows(run)
        .any(|window| said.contains(&format!(" {} ", window.join(" "))))
}

#[cfg(test)]
mod tests;
