//! The hosting glossary: groups of words and phrases that mean the same to a customer ("vps",
//! "server", "instance", "droplet"; "2fa", "two-factor", "authenticator"). A question's word
//! or phrase found in a group is also searched as every other member of the group, at a lower
//! weight. The built-in groups are `glossary.toml` beside this file; admins add their own in
//! the file `knowledge.glossary` names (`config/glossary.toml`), in the same format:
//!
//! ```toml
//! [[group]]
//! terms = ["vps", "server", "instance"]
//! ```

use std::collections::HashMap;

use serde::Deserialize;

use super::text::Analyzer;
use crate::error::{Error, Result};

/// The groups shipped with the platform.
pub const BUILT_IN: &str = include_str!("glossary.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GlossaryFile {
    #[serde(default)]
    group: Vec<GroupFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    terms: Vec<String>,
}

/// A phrase as stems, stop words kept (so "log in" stays two words).
pub type Phrase = Vec<String>;

/// Groups of phrases that mean the same, looked up by their first stem.
#[derive(Debug, Default)]
pub struct Glossary {
    groups: Vec<Vec<Phrase>>,
    /// First stem -> (phrase, group) for every phrase of every group, longest phrase first.
    starts: HashMap<String, Vec<(Phrase, usize)>>,
    /// Every word the glossary knows, for typo correction.
    words: Vec<String>,
}

impl Glossary {
    /// The built-in groups plus those of `extra` (the text of an admin's glossary file);
    /// `source` names that file in a refusal.
    pub fn load(analyzer: &Analyzer, extra: Option<(&str, &str)>) -> Result<Self> {
        let mut glossary = Self::default();
        glossary.add(analyzer, BUILT_IN, "the built-in glossary")?;
        if let Some((source, text)) = extra {
            glossary.add(analyzer, text, source)?;
        }
        for phrases in glossary.starts.values_mut() {
            phrases.sort_by_key(|(phrase, _)| std::cmp::Reverse(phrase.len()));
        }
        glossary.words.sort_unstable();
        glossary.words.dedup();
        Ok(glossary)
    }

    fn add(&mut self, analyzer: &Analyzer, text: &str, source: &str) -> Result<()> {
        let file: GlossaryFile = toml::from_str(text).map_err(|error| {
            Error::invalid(
                "knowledge.glossary",
                format!("{source} is not a glossary: {}", error.message()),
            )
        })?;
        for group in file.group {
            let phrases: Vec<Phrase> = group
                .terms
                .iter()
                .map(|term| {
                    let words = Analyzer::words(term);
                    self.words.extend(words.iter().cloned());
                    words
                        .iter()
                        .map(|word| analyzer.stem(word).into_owned())
                        .collect::<Phrase>()
                })
                .filter(|phrase| !phrase.is_empty())
                .collect();
            if phrases.len() < 2 {
                return Err(Error::invalid(
                    "knowledge.glossary",
                    format!(
                        "{source}: a group needs at least two terms: {:?}",
                        group.terms
                    ),
                ));
            }
            let index = self.groups.len();
            for phrase in &phrases {
                self.starts
                    .entry(phrase[0].clone())
                    .or_default()
                    .push((phrase.clone(), index));
            }
            self.groups.push(phrases);
        }
        Ok(())
    }

    /// The longest phrase of the glossary that `stems` starts with, and every phrase that
    /// means the same (the phrase itself included), from every group it belongs to.
    pub fn longest_match(&self, stems: &[String]) -> Option<(usize, Vec<&Phrase>)> {
        let first = stems.first()?;
        let candidates = self.starts.get(first)?;
        // Longest first, so the first that fits is the longest.
        let length = candidates
            .iter()
            .find(|(phrase, _)| stems.starts_with(phrase))?
            .0
            .len();
        let mut same: Vec<&Phrase> = Vec::new();
        for (phrase, group) in candidates {
            if phrase.len() == length && stems.starts_with(phrase) {
                for member in &self.groups[*group] {
                    if !same.contains(&member) {
                        same.push(member);
                    }
                }
            }
        }
        Some((length, same))
    }

    /// Whether `word` (lowercased, not stemmed) is a word of the glossary.
    pub fn knows(&self, word: &str) -> bool {
        self.words
            .binary_search_by(|known| known.as_str().cmp(word))
            .is_ok()
    }

    /// Every word of the glossary, sorted.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stems(analyzer: &Analyzer, text: &str) -> Vec<String> {
        Analyzer::words(text)
            .iter()
            .map(|word| analyzer.stem(word).into_owned())
            .collect()
    }

    #[test]
    fn the_built_in_glossary_loads_and_matches_phrases() {
        let analyzer = Analyzer::default();
        let glossary = Glossary::load(&analyzer, None).expect("loads");
        let (length, same) = glossary
            .longest_match(&stems(&analyzer, "two factor code"))
            .expect("a phrase");
        assert_eq!(length, 2);
        assert!(same.contains(&&stems(&analyzer, "2fa")));
        let (length, same) = glossary
            .longest_match(&stems(&analyzer, "vps down"))
            .expect("a word");
        assert_eq!(length, 1);
        assert!(same.contains(&&stems(&analyzer, "server")));
        assert!(glossary.knows("reboot"));
    }

    #[test]
    fn admins_add_groups_and_bad_files_are_refused() {
        let analyzer = Analyzer::default();
        let extra = "[[group]]\nterms = [\"kvm\", \"virtualization\"]\n";
        let glossary =
            Glossary::load(&analyzer, Some(("config/glossary.toml", extra))).expect("loads");
        assert!(glossary.longest_match(&stems(&analyzer, "kvm")).is_some());
        for bad in [
            "[[group]]\nterms = [\"alone\"]\n",
            "[[groups]]\n",
            "x = 1\n",
        ] {
            let error = Glossary::load(&analyzer, Some(("config/glossary.toml", bad)))
                .expect_err("refused")
                .to_string();
            assert!(error.contains("config/glossary.toml"), "{error}");
        }
    }
}
