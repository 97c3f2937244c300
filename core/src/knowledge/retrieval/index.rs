//! The in-memory search index of the published articles: terms to postings, per field, built
//! in one pass. An article's title, tags and "also asked as" phrasings are indexed once per
//! article; each passage's heading and text once per passage (see [`super::chunks`]).

use std::collections::{HashMap, HashSet};

use super::chunks::{self, Passage};
use super::text::Analyzer;
use crate::records::knowledge::{Article, Slug};

/// Fields of an article, each with its weight in the ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title = 0,
    AlsoAsked = 1,
    Tags = 2,
    Heading = 3,
    Body = 4,
}

pub const FIELDS: usize = 5;

/// An index of a term: which articles (for article fields) and passages (for passage fields)
/// hold it, how often, in which field.
pub type TermId = u32;

#[derive(Debug, Clone, Copy)]
pub struct Posting {
    /// An article number for article fields, a passage number for passage fields.
    pub at: u32,
    pub field: Field,
    pub count: u16,
}

#[derive(Debug)]
pub struct IndexedArticle {
    pub slug: Slug,
    pub title: String,
    /// Its passages: `first..first + count` in [`Index::passages`].
    pub first: u32,
    pub count: u32,
    /// Words in each article field (title, also asked, tags).
    pub lengths: [u32; 3],
}

#[derive(Debug)]
pub struct IndexedPassage {
    pub article: u32,
    pub passage: Passage,
    /// Words in the heading and in the text.
    pub lengths: [u32; 2],
}

#[derive(Debug, Default)]
pub struct Index {
    pub articles: Vec<IndexedArticle>,
    pub passages: Vec<IndexedPassage>,
    pub terms: HashMap<String, TermId>,
    /// By term: article-field postings, then passage-field postings.
    pub article_postings: Vec<Vec<Posting>>,
    pub passage_postings: Vec<Vec<Posting>>,
    /// By term: how many articles hold it in any field.
    pub article_frequency: Vec<u32>,
    /// Lowercased words as written, and how many times each occurs: what typos are corrected
    /// against (see [`super::typos`]).
    pub words: Vec<(String, u32)>,
    /// Average words per field over articles (title, also asked, tags) and passages.
    pub average: [f32; FIELDS],
}

impl Index {
    /// Indexes the published articles of `articles`.
    pub fn build(analyzer: &Analyzer, articles: &[Article]) -> Self {
        let mut index = Self::default();
        let mut words: HashMap<String, u32> = HashMap::new();
        let mut totals = [0u64; FIELDS];
        for article in articles.iter().filter(|article| article.content.published) {
            let content = &article.content;
            let number = u32::try_from(index.articles.len()).unwrap_or(u32::MAX);
            let first = u32::try_from(index.passages.len()).unwrap_or(u32::MAX);
            let mut seen: HashSet<TermId> = HashSet::new();
            let mut lengths = [0u32; 3];
            let also_asked = content.also_asked.join("\n");
            let tags = content.tags.join("\n");
            for (field, text) in [
                (Field::Title, content.title.as_str()),
                (Field::AlsoAsked, also_asked.as_str()),
                (Field::Tags, tags.as_str()),
            ] {
                lengths[field as usize] =
                    index.add_field(analyzer, text, field, number, &mut seen, &mut words);
                totals[field as usize] += u64::from(lengths[field as usize]);
            }
            let passages = chunks::passages(&content.body);
            for passage in passages {
                let at = u32::try_from(index.passages.len()).unwrap_or(u32::MAX);
                let heading = index.add_field(
                    analyzer,
                    &passage.heading,
                    Field::Heading,
                    at,
                    &mut seen,
                    &mut words,
                );
                let body = index.add_field(
                    analyzer,
                    &passage.text,
                    Field::Body,
                    at,
                    &mut seen,
                    &mut words,
                );
                totals[Field::Heading as usize] += u64::from(heading);
                totals[Field::Body as usize] += u64::from(body);
                index.passages.push(IndexedPassage {
                    article: number,
                    passage,
                    lengths: [heading, body],
                });
            }
            for term in seen {
                index.article_frequency[term as usize] += 1;
            }
            let count = u32::try_from(index.passages.len()).unwrap_or(u32::MAX) - first;
            index.articles.push(IndexedArticle {
                slug: content.slug.clone(),
                title: content.title.clone(),
                first,
                count,
                lengths,
            });
        }
        let articles = index.articles.len().max(1) as f32;
        let passages = index.passages.len().max(1) as f32;
        for (field, total) in totals.iter().enumerate() {
            let over = if field < 3 { articles } else { passages };
            index.average[field] = (*total as f32 / over).max(1.0);
        }
        index.words = words.into_iter().collect();
        index
    }

    /// Indexes one field's text; returns its length in terms.
    fn add_field(
        &mut self,
        analyzer: &Analyzer,
        text: &str,
        field: Field,
        at: u32,
        seen: &mut HashSet<TermId>,
        words: &mut HashMap<String, u32>,
    ) -> u32 {
        let mut counts: HashMap<TermId, u16> = HashMap::new();
        let mut length = 0u32;
        for word in Analyzer::words(&super::text::plain(text)) {
            if Analyzer::is_stop(&word) {
                continue;
            }
            let term = self.term(&analyzer.stem(&word));
            *words.entry(word).or_default() += 1;
            *counts.entry(term).or_default() += 1;
            length += 1;
            seen.insert(term);
        }
        let postings = match field {
            Field::Title | Field::AlsoAsked | Field::Tags => &mut self.article_postings,
            Field::Heading | Field::Body => &mut self.passage_postings,
        };
        for (term, count) in counts {
            postings[term as usize].push(Posting { at, field, count });
        }
        length
    }

    fn term(&mut self, stem: &str) -> TermId {
        if let Some(id) = self.terms.get(stem) {
            return *id;
        }
        let id = TermId::try_from(self.terms.len()).unwrap_or(TermId::MAX);
        self.terms.insert(stem.to_owned(), id);
        self.article_postings.push(Vec::new());
        self.passage_postings.push(Vec::new());
        self.article_frequency.push(0);
        id
    }

    /// How rare a term is over the articles (BM25's idf, never negative).
    pub fn idf(&self, frequency: u32) -> f32 {
        let n = self.articles.len() as f32;
        let df = frequency as f32;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }
}
