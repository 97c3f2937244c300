//! Retrieval without a model: a lexical ranker over the published articles, the same on every
//! engine and replica.
//!
//! What lives here: the analyzer ([`text`]: Unicode words, lowercase, stop words, Snowball
//! stems), the hosting [`glossary`] of synonyms and abbreviations, passages ([`chunks`]), the
//! in-memory [`index`], the analysed [`query`] (glossary expansion and typo correction), the
//! BM25F ranking ([`rank`]) and [`snippet`]s. [`Retriever`] ties them together and decides
//! whether anything relevant was found. What does not: reading articles from the store and
//! keeping the index fresh (that is [`crate::knowledge`]).
//!
//! The seam for embeddings: [`Retrieval::passages`] is a ranked list of passage keys; a
//! semantic ranking of the same keys can be fused with it by reciprocal rank
//! ([`reciprocal_rank_fusion`]).

pub mod chunks;
pub mod glossary;
pub mod index;
pub mod query;
pub mod rank;
pub mod snippet;
pub mod text;

use std::collections::HashMap;
use std::sync::Arc;

use glossary::Glossary;
use index::Index;
use query::Query;
use text::Analyzer;

use crate::records::knowledge::{Article, Slug};

/// The least share of a question's weight the best passage must match to count as an answer
/// (a synonym or typo counts at its lower weight). With [`MIN_SCORE`], tuned on the
/// evaluation set (`tests/data/kb_eval.toml`), leaning toward answering: a wrong "yes" still
/// reaches a model told to say when the passages do not answer, a wrong "no" sends a person
/// to a ticket.
pub const MIN_COVERAGE: f32 = 0.3;
/// The least normalised score (0 to 1) the best passage must reach to count as an answer.
pub const MIN_SCORE: f32 = 0.25;
/// Passages kept in [`Retrieval::passages`].
pub const MAX_PASSAGES: usize = 50;

/// The published articles, indexed for search.
#[derive(Debug)]
pub struct Retriever {
    analyzer: Analyzer,
    glossary: Arc<Glossary>,
    index: Index,
}

/// One article found, with the passage that matched best.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub slug: Slug,
    pub title: String,
    /// 0 to 1: the BM25F score over the most the question could score.
    pub score: f32,
    /// 0 to 1: the share of the question's weight the passage matched.
    pub coverage: f32,
    /// The passage: the heading it is under (empty before the first) and its Markdown.
    pub heading: String,
    pub passage: String,
    /// Plain text for a result list.
    pub snippet: String,
}

/// A passage's place: its article and its number within the article, from 0. Stable while
/// the article's body is unchanged, so embeddings can be stored by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PassageKey {
    pub slug: Slug,
    pub number: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Retrieval {
    /// Whether the best hit is relevant enough to answer from; when `false`, say so and offer
    /// a ticket instead of asking a model.
    pub answerable: bool,
    /// Articles, best first, at most the limit asked for.
    pub hits: Vec<Hit>,
    /// The best passage of each article found, best first, at most [`MAX_PASSAGES`]: the
    /// lexical list a fusion takes.
    pub passages: Vec<(PassageKey, f32)>,
}

impl Retriever {
    /// Indexes the published articles of `articles`.
    pub fn new(glossary: Arc<Glossary>, articles: &[Article]) -> Self {
        let analyzer = Analyzer::default();
        let index = Index::build(&analyzer, articles);
        Self {
            analyzer,
            glossary,
            index,
        }
    }

    /// How many published articles are indexed.
    pub fn articles(&self) -> usize {
        self.index.articles.len()
    }

    /// The best `limit` articles for `question`, and whether the best answers it.
    pub fn search(&self, question: &str, limit: usize) -> Retrieval {
        let query = Query::parse(&self.index, &self.analyzer, &self.glossary, question);
        let ranked = rank::rank(&self.index, &query);
        let most: f32 = query.slots.iter().map(|slot| slot.weight).sum::<f32>() * (rank::K1 + 1.0);
        let normalised = |raw: f32| (raw / most.max(f32::EPSILON)).clamp(0.0, 1.0);
        let answerable = ranked
            .first()
            .is_some_and(|best| best.coverage >= MIN_COVERAGE && normalised(best.raw) >= MIN_SCORE);
        let passages = ranked
            .iter()
            .take(MAX_PASSAGES)
            .map(|scored| {
                let article = &self.index.articles[scored.article as usize];
                let key = PassageKey {
                    slug: article.slug.clone(),
                    number: scored.passage - article.first,
                };
                (key, normalised(scored.raw))
            })
            .collect();
        let hits = ranked
            .iter()
            .take(limit)
            .map(|scored| {
                let article = &self.index.articles[scored.article as usize];
                let passage = &self.index.passages[scored.passage as usize].passage;
                Hit {
                    slug: article.slug.clone(),
                    title: article.title.clone(),
                    score: normalised(scored.raw),
                    coverage: scored.coverage,
                    heading: passage.heading.clone(),
                    passage: passage.text.clone(),
                    snippet: snippet::snippet(&self.analyzer, &passage.text, &query.stems),
                }
            })
            .collect();
        Retrieval {
            answerable,
            hits,
            passages,
        }
    }
}

/// Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each list gives an item
/// `1 / (k + rank)`, summed; best first. `k` = 60 is the usual choice.
pub fn reciprocal_rank_fusion<K: Clone + Eq + std::hash::Hash>(
    lists: &[Vec<K>],
    k: f32,
) -> Vec<(K, f32)> {
    let mut fused: HashMap<K, f32> = HashMap::new();
    let mut order: Vec<K> = Vec::new();
    for list in lists {
        for (rank, key) in list.iter().enumerate() {
            let score = fused.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                0.0
            });
            *score += 1.0 / (k + rank as f32 + 1.0);
        }
    }
    let mut out: Vec<(K, f32)> = order
        .into_iter()
        .map(|key| {
            let score = fused[&key];
            (key, score)
        })
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

#[cfg(test)]
mod tests;
