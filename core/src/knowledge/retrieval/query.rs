//! A question as the ranking reads it: a list of slots, one per word or glossary phrase the
//! person wrote, each with the index terms that would answer it (the word itself, its
//! glossary equivalents at a lower weight, and for a word the index does not know, the nearest
//! word it does, at a penalty for the typo).

use super::glossary::Glossary;
use super::index::{Index, TermId};
use super::text::Analyzer;
use super::typos::Typos;

/// The weight of a glossary equivalent against the word the person wrote.
pub const SYNONYM: f32 = 0.8;
/// The weight of a typo correction at edit distance 1 and 2.
pub const TYPO: [f32; 2] = [0.8, 0.6];
/// A word the knowledge base has never seen counts this share of the rarest word's weight
/// toward how much of a question was matched (chat words such as "bruh" should not sink an
/// answerable question, a topic the articles never mention should).
pub const UNKNOWN_SHARE: f32 = 0.6;
/// Words read from one question; the rest is ignored.
pub const MAX_WORDS: usize = 48;

/// One way to answer a slot: these terms (all of `size` words, some perhaps not indexed).
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    pub terms: Vec<TermId>,
    pub size: usize,
    pub weight: f32,
    /// A glossary equivalent matches a passage only with all its words ("hard reset" is not
    /// "reset"); the words as written may match in part.
    pub whole: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub alternatives: Vec<Alternative>,
    /// How rare the slot's concept is (BM25's idf over the articles): what each of its terms
    /// scores with, and how much the slot counts toward the question's coverage.
    pub weight: f32,
}

/// The analysed question: its slots, and the stems to highlight in snippets.
#[derive(Debug, Default)]
pub struct Query {
    pub slots: Vec<Slot>,
    pub stems: Vec<String>,
}

impl Query {
    pub fn parse(
        index: &Index,
        typos: &Typos,
        analyzer: &Analyzer,
        glossary: &Glossary,
        text: &str,
    ) -> Self {
        let mut words = Analyzer::words(text);
        words.truncate(MAX_WORDS);
        let corrected: Vec<(String, f32)> = words
            .into_iter()
            .map(|word| correct(index, typos, analyzer, glossary, word))
            .collect();
        let stems: Vec<String> = corrected
            .iter()
            .map(|(word, _)| analyzer.stem(word).into_owned())
            .collect();
        let unknown = index.idf(0) * UNKNOWN_SHARE;
        let mut query = Self::default();
        let mut at = 0;
        while at < stems.len() {
            let (length, slot) = match glossary.longest_match(&stems[at..]) {
                Some((length, phrases)) => {
                    let penalty = corrected[at..at + length]
                        .iter()
                        .map(|(_, penalty)| *penalty)
                        .fold(1.0, f32::min);
                    let original = &stems[at..at + length];
                    let alternatives = phrases
                        .into_iter()
                        .filter_map(|phrase| {
                            let written = phrase.as_slice() == original;
                            let weight = if written { penalty } else { penalty * SYNONYM };
                            alternative(index, phrase, weight, !written)
                        })
                        .collect();
                    (length, Some(slot(index, alternatives, unknown)))
                }
                None if Analyzer::is_stop(&corrected[at].0) => (1, None),
                None => {
                    let alternatives = alternative(index, &stems[at..=at], corrected[at].1, false)
                        .into_iter()
                        .collect();
                    (1, Some(slot(index, alternatives, unknown)))
                }
            };
            if let Some(slot) = slot
                && !query.slots.contains(&slot)
            {
                query.slots.push(slot);
            }
            query.stems.extend(stems[at..at + length].iter().cloned());
            at += length;
        }
        query
    }
}

/// `phrase` as index terms without its stop words; `None` when it is only stop words.
fn alternative(index: &Index, phrase: &[String], weight: f32, whole: bool) -> Option<Alternative> {
    let words: Vec<&String> = phrase
        .iter()
        .filter(|stem| !Analyzer::is_stop(stem))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(Alternative {
        terms: words
            .iter()
            .filter_map(|stem| index.terms.get(stem.as_str()).copied())
            .collect(),
        size: words.len(),
        weight,
        whole,
    })
    .filter(|alternative| !whole || alternative.terms.len() == alternative.size)
}

fn slot(index: &Index, alternatives: Vec<Alternative>, unknown: f32) -> Slot {
    // The words of a slot are one concept: their rarity is that of the concept, so the
    // article frequency of the most common of them (as Lucene blends synonyms). A rare
    // synonym ("box" for "server") must not outweigh the common word it stands for.
    let weight = alternatives
        .iter()
        .flat_map(|alternative| &alternative.terms)
        .map(|term| index.article_frequency[*term as usize])
        .max()
        .map_or(unknown, |frequency| index.idf(frequency));
    Slot {
        alternatives,
        weight,
    }
}

/// The word, or the indexed (or glossary) word nearest to it when neither knows it: edit
/// distance 1 for words of 4 to 7 characters, 2 from 8, the more frequent word on a tie.
fn correct(
    index: &Index,
    typos: &Typos,
    analyzer: &Analyzer,
    glossary: &Glossary,
    word: String,
) -> (String, f32) {
    let length = word.chars().count();
    let known = Analyzer::is_stop(&word)
        || glossary.knows(&word)
        || index.terms.contains_key(analyzer.stem(&word).as_ref());
    if known || length < 4 || word.chars().any(|c| c.is_ascii_digit()) {
        return (word, 1.0);
    }
    let allowed = if length >= 8 { 2 } else { 1 };
    match typos.nearest(&word, allowed) {
        Some((known, distance)) => (known.to_owned(), TYPO[distance.clamp(1, 2) - 1]),
        None => (word, 1.0),
    }
}
