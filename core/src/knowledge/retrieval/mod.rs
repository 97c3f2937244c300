//! Retrieval: a lexical ranker over the published articles that needs no model, the same on
//! every engine and replica, and its fusion with a ranking by meaning when embeddings exist.
//!
//! What lives here: the analyzer ([`text`]: Unicode words, lowercase, stop words, Snowball
//! stems), the hosting [`glossary`] of synonyms and abbreviations, passages ([`chunks`]), the
//! in-memory [`index`], the analysed [`query`] (glossary expansion and typo correction), the
//! BM25F ranking ([`rank`]) and [`snippet`]s. [`Retriever`] ties them together and decides
//! whether anything relevant was found. What does not: reading articles from the store and
//! keeping the index fresh (that is [`crate::knowledge`]).
//!
//! Typos are corrected through a deletion index ([`typos`]). With embeddings,
//! [`Retriever::search_with`] fuses the lexical ranking with a ranking by meaning over the
//! same passages ([`meaning`]) by reciprocal rank ([`reciprocal_rank_fusion`]).

pub mod chunks;
pub mod glossary;
pub mod index;
pub mod meaning;
pub mod query;
pub mod rank;
pub mod snippet;
pub mod text;
pub mod typos;

use std::collections::HashMap;
use std::sync::Arc;

use glossary::Glossary;
use index::Index;
use meaning::PassageVectors;
use query::Query;
use text::Analyzer;
use typos::Typos;

use crate::records::knowledge::{Article, Slug};

/// The least share of a question's weight the best passage must match to count as an answer
/// (a synonym or typo counts at its lower weight). With [`MIN_SCORE`], tuned on the
/// evaluation set (`tests/data/kb_eval.toml`), leaning toward answering: a wrong "yes" still
/// reaches a model told to say when the passages do not answer, a wrong "no" sends a person
/// to a ticket.
pub const MIN_COVERAGE: f32 = 0.3;
/// The least normalised score (0 to 1) the best passage must reach to count as an answer.
pub const MIN_SCORE: f32 = 0.25;
/// Passages kept in [`Retrieval::passages`], and the length of each list a fusion takes.
pub const MAX_PASSAGES: usize = 50;
/// The `k` of reciprocal rank fusion: the usual 60.
pub const RRF_K: f32 = 60.0;
/// The weight of the ranking by meaning against the words' 1 in the fusion. Below 1 because the
/// word ranking is tuned and measured on the evaluation set while the embedding model is
/// whatever `gemini.embedding_model` names: meaning reorders close calls and brings in
/// articles the words missed, without overturning a clear word match.
pub const MEANING_WEIGHT: f32 = 0.5;
/// An article only the meaning found joins the results when the words found an answer and its
/// similarity to the question is at least this share of the best passage's: every passage has
/// some similarity to any question, nonsense included, and a floor relative to the best holds
/// whatever scale the configured model's similarities have.
pub const MEANING_FLOOR: f32 = 0.8;

/// The published articles, indexed for search.
#[derive(Debug)]
pub struct Retriever {
    analyzer: Analyzer,
    glossary: Arc<Glossary>,
    index: Index,
    typos: Typos,
}

/// One article found, with the passage that matched best.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub slug: Slug,
    pub title: String,
    /// 0 to 1: the BM25F score over the most the question could score; with embeddings, the
    /// fused score over the most an article can get (first by words and by meaning).
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
        let mut index = Index::build(&analyzer, articles);
        let glossary_words = glossary.words().iter().map(|word| (word.clone(), u32::MAX));
        let typos = Typos::build(
            std::mem::take(&mut index.words)
                .into_iter()
                .chain(glossary_words),
        );
        Self {
            analyzer,
            glossary,
            index,
            typos,
        }
    }

    /// How many published articles are indexed.
    pub fn articles(&self) -> usize {
        self.index.articles.len()
    }

    /// The typo index's size in bytes, roughly (for the benchmark).
    pub fn typo_index_bytes(&self) -> usize {
        self.typos.size_bytes()
    }

    /// How many passages are indexed (the length [`meaning::PassageVectors`] must have).
    pub fn passage_count(&self) -> usize {
        self.index.passages.len()
    }

    /// Each indexed passage in order: its article's title, its heading and its text.
    pub fn passage_texts(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.index.passages.iter().map(|indexed| {
            let article = &self.index.articles[indexed.article as usize];
            (
                article.title.as_str(),
                indexed.passage.heading.as_str(),
                indexed.passage.text.as_str(),
            )
        })
    }

    /// The best `limit` articles for `question`, and whether the best answers it.
    pub fn search(&self, question: &str, limit: usize) -> Retrieval {
        self.search_with(question, limit, None)
    }

    /// [`Self::search`], with the ranking by meaning fused in when the passages' vectors and
    /// the question's vector are given ([`fuse`]). Whether the question is answerable stays
    /// the lexical ranking's call: cosine similarities are not comparable across models, so
    /// no threshold on them is trusted.
    pub fn search_with(
        &self,
        question: &str,
        limit: usize,
        meaning: Option<(&PassageVectors, &[f32])>,
    ) -> Retrieval {
        let query = Query::parse(
            &self.index,
            &self.typos,
            &self.analyzer,
            &self.glossary,
            question,
        );
        let ranked = rank::rank(&self.index, &query);
        let most: f32 = query.slots.iter().map(|slot| slot.weight).sum::<f32>() * (rank::K1 + 1.0);
        let normalised = |raw: f32| (raw / most.max(f32::EPSILON)).clamp(0.0, 1.0);
        let answerable = ranked
            .first()
            .is_some_and(|best| best.coverage >= MIN_COVERAGE && normalised(best.raw) >= MIN_SCORE);
        // No similarity (no vector, or one of another size) is no ranking by meaning.
        let similar = meaning.map_or_else(Vec::new, |(vectors, asked)| vectors.similarities(asked));
        let found: Vec<Found> = if similar.is_empty() {
            ranked
                .iter()
                .map(|scored| Found {
                    article: scored.article,
                    passage: scored.passage,
                    score: normalised(scored.raw),
                    coverage: scored.coverage,
                })
                .collect()
        } else {
            fuse(&self.index, &ranked, &similar, answerable)
        };
        let passages = found
            .iter()
            .take(MAX_PASSAGES)
            .map(|found| {
                let article = &self.index.articles[found.article as usize];
                let key = PassageKey {
                    slug: article.slug.clone(),
                    number: found.passage - article.first,
                };
                (key, found.score)
            })
            .collect();
        let hits = found
            .iter()
            .take(limit)
            .map(|found| {
                let article = &self.index.articles[found.article as usize];
                let passage = &self.index.passages[found.passage as usize].passage;
                Hit {
                    slug: article.slug.clone(),
                    title: article.title.clone(),
                    score: found.score,
                    coverage: found.coverage,
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

/// An article found, with the passage shown for it.
struct Found {
    article: u32,
    passage: u32,
    score: f32,
    coverage: f32,
}

/// The lexical ranking and the ranking by meaning, fused by reciprocal rank over articles
/// (each list cut at [`MAX_PASSAGES`]). An article shows its lexical best passage when the
/// lexical ranking found it, else its nearest passage by meaning. The score is the fused
/// score over the most an article can get (first in both lists), so 0 to 1. An article only
/// the meaning found is kept when `answerable` and above [`MEANING_FLOOR`].
fn fuse(
    index: &Index,
    lexical: &[rank::Scored],
    similar: &[(u32, f32)],
    answerable: bool,
) -> Vec<Found> {
    let mut nearest: HashMap<u32, (u32, f32)> = HashMap::new();
    for (passage, similarity) in similar {
        let article = index.passages[*passage as usize].article;
        let best = nearest.entry(article).or_insert((*passage, *similarity));
        if *similarity > best.1 {
            *best = (*passage, *similarity);
        }
    }
    let mut by_meaning: Vec<(u32, (u32, f32))> = nearest.into_iter().collect();
    by_meaning.sort_by(|a, b| b.1.1.total_cmp(&a.1.1).then(a.0.cmp(&b.0)));
    by_meaning.truncate(MAX_PASSAGES);
    let lexical_list: Vec<u32> = lexical
        .iter()
        .take(MAX_PASSAGES)
        .map(|scored| scored.article)
        .collect();
    let meaning_list: Vec<u32> = by_meaning.iter().map(|(article, _)| *article).collect();
    let fused = weighted_rank_fusion(
        &[(lexical_list, 1.0), (meaning_list, MEANING_WEIGHT)],
        RRF_K,
    );
    let most = (1.0 + MEANING_WEIGHT) / (RRF_K + 1.0);
    let of_lexical: HashMap<u32, &rank::Scored> = lexical
        .iter()
        .map(|scored| (scored.article, scored))
        .collect();
    let best = by_meaning
        .first()
        .map_or(0.0, |(_, (_, similarity))| *similarity);
    let floor = best * MEANING_FLOOR;
    let of_meaning: HashMap<u32, u32> = by_meaning
        .iter()
        .filter(|(_, (_, similarity))| answerable && best > 0.0 && *similarity >= floor)
        .map(|(article, (passage, _))| (*article, *passage))
        .collect();
    fused
        .into_iter()
        .filter_map(|(article, score)| {
            let (passage, coverage) = match of_lexical.get(&article) {
                Some(scored) => (scored.passage, scored.coverage),
                None => (*of_meaning.get(&article)?, 0.0),
            };
            Some(Found {
                article,
                passage,
                score: (score / most).clamp(0.0, 1.0),
                coverage,
            })
        })
        .collect()
}

/// Reciprocal rank fusion (Cormack, Clarke and Büttcher, 2009): each list gives an item
/// `1 / (k + rank)`, summed; best first. `k` = 60 is the usual choice.
pub fn reciprocal_rank_fusion<K: Clone + Eq + std::hash::Hash>(
    lists: &[Vec<K>],
    k: f32,
) -> Vec<(K, f32)> {
    let weighted: Vec<(Vec<K>, f32)> = lists.iter().map(|list| (list.clone(), 1.0)).collect();
    weighted_rank_fusion(&weighted, k)
}

/// [`reciprocal_rank_fusion`] with a weight per list: an item gets `weight / (k + rank)`.
pub fn weighted_rank_fusion<K: Clone + Eq + std::hash::Hash>(
    lists: &[(Vec<K>, f32)],
    k: f32,
) -> Vec<(K, f32)> {
    let mut fused: HashMap<K, f32> = HashMap::new();
    let mut order: Vec<K> = Vec::new();
    for (list, weight) in lists {
        for (rank, key) in list.iter().enumerate() {
            let score = fused.entry(key.clone()).or_insert_with(|| {
                order.push(key.clone());
                0.0
            });
            *score += weight / (k + rank as f32 + 1.0);
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
