//! From text to search terms: Unicode word boundaries (UAX #29), lowercase, English stop words
//! and chat filler dropped, Snowball (Porter 2) stems. Articles and questions go through the
//! same [`Analyzer`], so a question matches an article whatever the word's ending.

use std::borrow::Cow;

use rust_stemmers::{Algorithm, Stemmer};
use unicode_segmentation::UnicodeSegmentation;

/// Words too common to tell articles apart, and what people add around a question in chat.
/// `up`, `down`, `off`, `on`, `out` and `in` stay: "top up", "power off", "log in" need them.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "am", "an", "and", "any", "anyone", "are", "as", "at",
    "be", "been", "before", "being", "both", "but", "by", "can", "cannot", "could", "did", "do",
    "does", "doing", "dont", "each", "even", "for", "from", "further", "get", "got", "guys", "had",
    "has", "have", "having", "he", "hello", "help", "her", "here", "hey", "hi", "him", "his",
    "how", "i", "if", "im", "into", "is", "it", "its", "just", "know", "let", "like", "lol", "me",
    "mine", "more", "most", "my", "myself", "need", "of", "ok", "okay", "only", "or", "other",
    "our", "ours", "please", "pls", "plz", "possible", "same", "she", "should", "so", "some",
    "someone", "such", "than", "thank", "thanks", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "thx", "to", "too", "u", "ur", "us", "very", "want", "was",
    "way", "we", "were", "what", "whats", "when", "where", "which", "while", "who", "why", "will",
    "with", "would", "yes", "you", "your", "yours", "yourself",
];

/// Tokenizes and stems. Cheap to share: the stemmer holds no state.
pub struct Analyzer {
    stemmer: Stemmer,
}

impl Default for Analyzer {
    fn default() -> Self {
        Self {
            stemmer: Stemmer::create(Algorithm::English),
        }
    }
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Analyzer(english)")
    }
}

impl Analyzer {
    /// The words of `text`, lowercased, in order, stop words kept (phrases need them).
    pub fn words(text: &str) -> Vec<String> {
        text.unicode_words()
            .map(|word| {
                let word = word.to_lowercase();
                let word = word
                    .strip_suffix("'s")
                    .or_else(|| word.strip_suffix("’s"))
                    .map_or_else(|| word.clone(), str::to_owned);
                word.replace(['\'', '’'], "")
            })
            .filter(|word| !word.is_empty())
            .collect()
    }

    pub fn is_stop(word: &str) -> bool {
        STOP_WORDS.binary_search(&word).is_ok()
    }

    /// The stem of one lowercased word. Porter's rule that undoubles a final consonant makes
    /// "adding" `ad` while "add" stays `add`; a stem of one or two letters from a longer word
    /// keeps the word without its ending instead.
    pub fn stem<'a>(&self, word: &'a str) -> Cow<'a, str> {
        let stem = self.stemmer.stem(word);
        if stem.chars().count() > 2 || stem.len() == word.len() {
            return stem;
        }
        ["ing", "ed", "s"]
            .iter()
            .find_map(|ending| word.strip_suffix(ending))
            .filter(|kept| kept.chars().count() > 2)
            .map_or(stem, Cow::Borrowed)
    }

    /// The stems of `text` without stop words: what an article's field is indexed as.
    pub fn terms(&self, text: &str) -> Vec<String> {
        Self::words(&plain(text))
            .iter()
            .filter(|word| !Self::is_stop(word))
            .map(|word| self.stem(word).into_owned())
            .collect()
    }
}

/// Markdown as plain text: link targets, emphasis marks, heading marks and code fences
/// removed, the words kept.
pub fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    // `[text](target)` keeps `text`.
    while let Some(open) = rest.find("](") {
        let Some(close) = rest[open..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out.lines()
        .filter(|line| !line.trim_start().starts_with("```"))
        .map(|line| line.trim_start_matches(['#', ' ', '>']))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(['*', '`', '[', '|'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        let mut sorted = STOP_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, STOP_WORDS);
    }

    #[test]
    fn words_are_split_lowercased_and_stemmed() {
        let analyzer = Analyzer::default();
        assert_eq!(
            Analyzer::words("Can't I top-up my server's BALANCE?"),
            ["cant", "i", "top", "up", "my", "server", "balance"]
        );
        assert_eq!(
            analyzer.terms("Restarting servers, billed hourly"),
            ["restart", "server", "bill", "hour"]
        );
        assert_eq!(analyzer.terms("Über Rechnungen"), ["über", "rechnungen"]);
        assert_eq!(analyzer.terms("adding added add"), ["add", "add", "add"]);
    }

    #[test]
    fn markdown_is_read_as_its_words() {
        assert_eq!(
            plain("## Top up\nSee [the billing page](/billing) and **press** `Pay`."),
            "Top up\nSee the billing page and press Pay."
        );
    }
}
