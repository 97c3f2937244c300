//! BM25F over the index: each field's term counts weighted and normalised by the field's
//! length, summed, then saturated once per term (Robertson and Zaragoza, "The Probabilistic
//! Relevance Framework: BM25 and Beyond", 2009). A passage is scored with its own heading and
//! text and its article's title, tags and "also asked as" phrasings; an article scores as its
//! best passage. A slot of the question scores as its best alternative, so a word and its
//! synonyms are not counted twice.

use super::index::{FIELDS, Field, Index, TermId};
use super::query::Query;

/// Weight of each field, in the order of [`Field`].
pub const WEIGHTS: [f32; FIELDS] = [3.0, 2.5, 2.0, 1.5, 1.0];
/// How much each field's length matters.
pub const LENGTH_B: [f32; FIELDS] = [0.3, 0.5, 0.3, 0.3, 0.75];
/// Term-count saturation.
pub const K1: f32 = 1.2;

/// An article's best passage and how well it answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    pub article: u32,
    pub passage: u32,
    /// The BM25F score.
    pub raw: f32,
    /// Share (0 to 1) of the question's weight the passage matched.
    pub coverage: f32,
}

/// Every article with a match, best first.
pub fn rank(index: &Index, query: &Query) -> Vec<Scored> {
    let passages = index.passages.len();
    let mut total = vec![0f32; passages];
    let mut matched = vec![0f32; passages];
    let mut touched_total: Vec<u32> = Vec::new();
    let mut slot_best = vec![0f32; passages];
    // The weight of the best-matching alternative of the slot (1 for the word as written,
    // less for a synonym or a typo correction): how much the slot counts toward coverage.
    let mut slot_trust = vec![0f32; passages];
    let mut alternative_sum = vec![0f32; passages];
    let mut term_counts = vec![0f32; passages];
    for slot in &query.slots {
        let mut touched_slot: Vec<u32> = Vec::new();
        for alternative in &slot.alternatives {
            let mut touched_alternative: Vec<u32> = Vec::new();
            for term in &alternative.terms {
                let touched = counts(index, *term, &mut term_counts);
                let idf = slot.weight;
                for at in touched {
                    let tf = std::mem::take(&mut term_counts[at as usize]);
                    if alternative_sum[at as usize] == 0.0 {
                        touched_alternative.push(at);
                    }
                    alternative_sum[at as usize] +=
                        idf * tf * (K1 + 1.0) / (K1 + tf) / alternative.size as f32;
                }
            }
            for at in touched_alternative {
                let score = alternative.weight * std::mem::take(&mut alternative_sum[at as usize]);
                let best = &mut slot_best[at as usize];
                if *best == 0.0 {
                    touched_slot.push(at);
                }
                *best = best.max(score);
                let trust = &mut slot_trust[at as usize];
                *trust = trust.max(alternative.weight);
            }
        }
        for at in touched_slot {
            let at = at as usize;
            if total[at] == 0.0 {
                touched_total.push(u32::try_from(at).unwrap_or(u32::MAX));
            }
            total[at] += std::mem::take(&mut slot_best[at]);
            matched[at] += slot.weight * std::mem::take(&mut slot_trust[at]);
        }
    }
    let weight: f32 = query.slots.iter().map(|slot| slot.weight).sum();
    let mut best: Vec<Scored> = Vec::new();
    let mut of_article: std::collections::HashMap<u32, usize> = Default::default();
    for at in touched_total {
        let passage = &index.passages[at as usize];
        let scored = Scored {
            article: passage.article,
            passage: at,
            raw: total[at as usize],
            coverage: matched[at as usize] / weight.max(f32::EPSILON),
        };
        match of_article.get(&passage.article) {
            Some(&slot) if best[slot].raw >= scored.raw => {}
            Some(&slot) => best[slot] = scored,
            None => {
                of_article.insert(passage.article, best.len());
                best.push(scored);
            }
        }
    }
    best.sort_by(|a, b| b.raw.total_cmp(&a.raw).then(a.article.cmp(&b.article)));
    best
}

/// The saturating-free term count of `term` in every passage that has it (through the
/// passage or its article), written into `counts`; returns the passages written.
fn counts(index: &Index, term: TermId, counts: &mut [f32]) -> Vec<u32> {
    let mut touched = Vec::new();
    let mut add = |at: u32, value: f32, touched: &mut Vec<u32>| {
        let slot = &mut counts[at as usize];
        if *slot == 0.0 {
            touched.push(at);
        }
        *slot += value;
    };
    for posting in &index.passage_postings[term as usize] {
        let passage = &index.passages[posting.at as usize];
        let field = posting.field as usize;
        let length = passage.lengths[field - Field::Heading as usize];
        add(
            posting.at,
            weighted(field, posting.count, length, index.average[field]),
            &mut touched,
        );
    }
    for posting in &index.article_postings[term as usize] {
        let article = &index.articles[posting.at as usize];
        let field = posting.field as usize;
        let value = weighted(
            field,
            posting.count,
            article.lengths[field],
            index.average[field],
        );
        for at in article.first..article.first + article.count {
            add(at, value, &mut touched);
        }
    }
    touched
}

fn weighted(field: usize, count: u16, length: u32, average: f32) -> f32 {
    let b = LENGTH_B[field];
    WEIGHTS[field] * f32::from(count) / (1.0 - b + b * length as f32 / average)
}
