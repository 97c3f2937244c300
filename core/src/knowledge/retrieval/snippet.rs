//! The few sentences of a passage shown under a search result: plain text, starting at the
//! sentence of the first word the question matched, cut at a word boundary.

use unicode_segmentation::UnicodeSegmentation;

use super::text::{Analyzer, plain};

/// The longest snippet, in characters (an ellipsis may be added at either end).
pub const MAX_CHARS: usize = 220;

pub fn snippet(analyzer: &Analyzer, passage: &str, stems: &[String]) -> String {
    let text: String = plain(passage)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let first_match = text
        .unicode_word_indices()
        .find(|(_, word)| {
            let word = word.to_lowercase();
            stems.iter().any(|stem| *stem == analyzer.stem(&word))
        })
        .map_or(0, |(at, _)| at);
    let start = sentence_start(&text, first_match);
    let rest = &text[start..];
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    if rest.chars().count() <= MAX_CHARS {
        out.push_str(rest);
        return out;
    }
    let cut = rest
        .char_indices()
        .take_while(|(at, _)| *at <= MAX_CHARS)
        .filter(|(_, c)| c.is_whitespace())
        .map(|(at, _)| at)
        .last()
        .unwrap_or(MAX_CHARS.min(rest.len()));
    let cut = (0..=cut)
        .rev()
        .find(|at| rest.is_char_boundary(*at))
        .unwrap_or(0);
    out.push_str(rest[..cut].trim_end_matches([',', ';', ':', ' ']));
    out.push('…');
    out
}

/// Where the sentence holding byte `at` begins, looking back at most 120 bytes.
fn sentence_start(text: &str, at: usize) -> usize {
    let floor = at.saturating_sub(120);
    let before = &text[..at];
    before
        .rmatch_indices(". ")
        .chain(before.rmatch_indices("? "))
        .chain(before.rmatch_indices("! "))
        .map(|(found, _)| found + 2)
        .filter(|found| *found >= floor)
        .max()
        .unwrap_or(if at > 120 { at } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_starts_at_the_matching_sentence() {
        let analyzer = Analyzer::default();
        let passage = format!(
            "{} Suspended servers come back when you top up. More text follows here.",
            "Filler sentence about nothing. ".repeat(10)
        );
        let shown = snippet(&analyzer, &passage, &["suspend".to_owned()]);
        assert!(shown.starts_with("…Suspended servers"), "{shown}");
        let long = "word ".repeat(100);
        let shown = snippet(&analyzer, &long, &[]);
        assert!(
            shown.chars().count() <= MAX_CHARS + 1 && shown.ends_with('…'),
            "{shown}"
        );
    }
}
