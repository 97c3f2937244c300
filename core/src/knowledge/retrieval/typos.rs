//! Typo correction without scanning the vocabulary: a symmetric-deletion index (the idea of
//! Wolf Garbe's SymSpell). Every known word is stored under itself and each of its one-letter
//! deletions; two words within one edit (optimal string alignment: insert, delete, substitute,
//! swap two neighbours) share one of those keys. A question's word is looked up under its own
//! keys; for two edits, under the keys of every word one edit away from it (built from the
//! letters the vocabulary uses), so a second edit on either side is found too. Candidates are
//! checked with the real distance, so a hash collision costs a comparison, never a wrong word.
//!
//! Keys are 64-bit hashes in one sorted array beside the word numbers: about 12 bytes per key,
//! a word of n letters has n + 1 keys.

use std::collections::HashSet;

/// The vocabulary typos are corrected against, and its deletion keys.
#[derive(Debug, Default)]
pub struct Typos {
    /// Words as written (lowercased), each with how often it occurs (`u32::MAX` for the
    /// glossary's words, which always win a tie).
    words: Vec<(String, u32)>,
    /// Sorted deletion keys and, at the same place, the word each belongs to.
    keys: Vec<u64>,
    owners: Vec<u32>,
    /// Every letter of the vocabulary: what an insertion or a substitution may add.
    letters: Vec<char>,
}

/// FNV-1a over the letters: fast, and the same at build and lookup.
fn hash(chars: &[char]) -> u64 {
    chars.iter().fold(0xcbf2_9ce4_8422_2325, |hash, c| {
        (hash ^ u64::from(u32::from(*c))).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `word` and each of its one-letter deletions, hashed.
fn keys_of(word: &[char], out: &mut Vec<u64>) {
    out.push(hash(word));
    let mut shorter: Vec<char> = Vec::with_capacity(word.len());
    for skip in 0..word.len() {
        shorter.clear();
        shorter.extend(word[..skip].iter().chain(&word[skip + 1..]));
        out.push(hash(&shorter));
    }
}

impl Typos {
    pub fn build(words: impl IntoIterator<Item = (String, u32)>) -> Self {
        let mut typos = Self::default();
        let mut letters: HashSet<char> = HashSet::new();
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        let mut keys = Vec::new();
        for (word, count) in words {
            let chars: Vec<char> = word.chars().collect();
            letters.extend(chars.iter().copied());
            let number = u32::try_from(typos.words.len()).unwrap_or(u32::MAX);
            keys.clear();
            keys_of(&chars, &mut keys);
            keys.sort_unstable();
            keys.dedup();
            pairs.extend(keys.iter().map(|key| (*key, number)));
            typos.words.push((word, count));
        }
        pairs.sort_unstable();
        typos.keys = pairs.iter().map(|(key, _)| *key).collect();
        typos.owners = pairs.iter().map(|(_, owner)| *owner).collect();
        typos.letters = letters.into_iter().collect();
        typos.letters.sort_unstable();
        typos
    }

    /// Bytes held, roughly: what the bench reports.
    pub fn size_bytes(&self) -> usize {
        self.keys.len() * 12
            + self
                .words
                .iter()
                .map(|(word, _)| word.len() + 32)
                .sum::<usize>()
    }

    /// The known word nearest to `word` within `allowed` (1 or 2) edits: the fewest edits,
    /// then the most frequent word, then the first in alphabetical order; with its distance.
    pub fn nearest(&self, word: &str, allowed: usize) -> Option<(&str, usize)> {
        let chars: Vec<char> = word.chars().collect();
        let mut probes = Vec::new();
        keys_of(&chars, &mut probes);
        if allowed >= 2 {
            for variant in self.one_edit_away(&chars) {
                keys_of(&variant, &mut probes);
            }
        }
        probes.sort_unstable();
        probes.dedup();
        // The probes are sorted: each search starts where the last one ended.
        let mut candidates: Vec<u32> = Vec::new();
        let mut cursor = 0;
        for probe in probes {
            let from = cursor + self.keys[cursor..].partition_point(|key| *key < probe);
            let to = from + self.keys[from..].partition_point(|key| *key == probe);
            candidates.extend(&self.owners[from..to]);
            cursor = to;
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter_map(|number| {
                let (known, count) = &self.words[number as usize];
                let distance = strsim::osa_distance(word, known);
                (distance <= allowed).then_some((distance, std::cmp::Reverse(*count), known))
            })
            .min()
            .map(|(distance, _, known)| (known.as_str(), distance))
    }

    /// Every string one edit from `word` whose inserted or substituted letter is one the
    /// vocabulary uses.
    fn one_edit_away(&self, word: &[char]) -> Vec<Vec<char>> {
        let mut out = Vec::new();
        for at in 0..=word.len() {
            if at < word.len() {
                let mut deleted = word.to_vec();
                deleted.remove(at);
                out.push(deleted);
            }
            for letter in &self.letters {
                let mut inserted = word.to_vec();
                inserted.insert(at, *letter);
                out.push(inserted);
                if at < word.len() && word[at] != *letter {
                    let mut substituted = word.to_vec();
                    substituted[at] = *letter;
                    out.push(substituted);
                }
            }
            if at + 1 < word.len() && word[at] != word[at + 1] {
                let mut swapped = word.to_vec();
                swapped.swap(at, at + 1);
                out.push(swapped);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary(words: &[(&str, u32)]) -> Typos {
        Typos::build(words.iter().map(|(w, c)| ((*w).to_owned(), *c)))
    }

    /// The nearest word by brute force, as the index must find it.
    fn scan<'a>(words: &'a [(&str, u32)], word: &str, allowed: usize) -> Option<(&'a str, usize)> {
        words
            .iter()
            .filter_map(|(known, count)| {
                let distance = strsim::osa_distance(word, known);
                (distance <= allowed).then_some((distance, std::cmp::Reverse(*count), *known))
            })
            .min()
            .map(|(distance, _, known)| (known, distance))
    }

    #[test]
    fn finds_what_a_scan_of_the_whole_vocabulary_finds() {
        let words: &[(&str, u32)] = &[
            ("management", 3),
            ("subscription", 2),
            ("reboot", 9),
            ("restart", 4),
            ("invoice", 5),
            ("invoices", 1),
            ("bandwidth", 2),
            ("snapshot", 6),
            ("wallet", 2),
            ("billing", 7),
            ("reinstall", 3),
        ];
        let typos = vocabulary(words);
        for (typo, allowed) in [
            ("mangment", 2),     // two letters left out
            ("managemnet", 2),   // two letters swapped
            ("subscribtion", 2), // one substituted
            ("bandwith", 2),
            ("snapshto", 2),
            ("rebot", 1),
            ("reboto", 1),
            ("invoise", 1),
            ("biling", 1),
            ("wallte", 1),
            ("reinstal", 2),
            ("xyzzyqq", 1),
            ("mnagemnt", 2),
            ("mangaemnt", 2),
            ("snpashto", 2),
        ] {
            assert_eq!(
                typos.nearest(typo, allowed),
                scan(words, typo, allowed),
                "{typo} within {allowed}"
            );
        }
    }

    #[test]
    fn the_more_frequent_word_wins_a_tie() {
        let typos = vocabulary(&[("cart", 1), ("card", 5)]);
        assert_eq!(typos.nearest("carx", 1), Some(("card", 1)));
    }
}
