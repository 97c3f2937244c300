//! The help search's evaluation set (`tests/data/kb_eval.toml`: questions as customers write
//! them, each with the starter articles that answer it), the figures of a ranking over it
//! (recall at 1, 3 and 5, mean reciprocal rank, how often it says rightly whether it can
//! answer), and plain BM25 over title and body without stemming, the baseline a ranking is
//! measured against.

use std::collections::HashMap;

use hostdeck_core::knowledge::{Article, starter};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct EvalFile {
    question: Vec<Question>,
}

/// One question and the slugs that answer it (none: the knowledge base cannot).
#[derive(Debug, Clone, Deserialize)]
pub struct Question {
    pub q: String,
    pub expect: Vec<String>,
}

/// The evaluation set.
pub fn questions() -> Vec<Question> {
    let path = crate::bench::workspace_root().join("tests/data/kb_eval.toml");
    let text = std::fs::read_to_string(&path).expect("tests/data/kb_eval.toml");
    let file: EvalFile = toml::from_str(&text).expect("the evaluation set is TOML");
    file.question
}

/// The starter articles as a fresh install stores them.
pub fn starter_articles() -> Vec<Article> {
    starter::articles()
        .expect("the starter articles read")
        .into_iter()
        .map(|content| Article {
            content,
            updated_at: chrono::Utc::now(),
        })
        .collect()
}

/// The fake Gemini's deterministic embeddings (`EMBEDDINGS.md` §6) of `retriever`'s passages,
/// made as the platform asks for them (the article's title, the heading and text), unit length.
pub fn fake_passage_vectors(
    retriever: &hostdeck_core::knowledge::Retriever,
) -> hostdeck_core::knowledge::retrieval::meaning::PassageVectors {
    let vectors: Vec<Vec<f32>> = retriever
        .passage_texts()
        .map(|(title, heading, text)| {
            let body = if heading.is_empty() {
                text.to_owned()
            } else {
                format!("{heading}\n\n{text}")
            };
            fake_vector(Some(title), &body)
        })
        .collect();
    let slices: Vec<Option<&[f32]>> = vectors.iter().map(|v| Some(v.as_slice())).collect();
    hostdeck_core::knowledge::retrieval::meaning::PassageVectors::new(&slices)
}

/// The fake's embedding of `text` (a question when `title` is `None`), unit length.
pub fn fake_vector(title: Option<&str>, text: &str) -> Vec<f32> {
    let values = hostdeck_fakes::gemini::embed::vector("gemini-embedding-001", title, text, 768);
    let norm = values
        .iter()
        .map(|v| v * v)
        .sum::<f64>()
        .sqrt()
        .max(f64::EPSILON);
    #[expect(clippy::cast_possible_truncation, reason = "vectors are f32")]
    values.iter().map(|v| (v / norm) as f32).collect()
}

/// What one ranking answered: slugs best first, and whether it would answer.
pub struct Answer {
    pub slugs: Vec<String>,
    pub answerable: bool,
}

impl Answer {
    /// The platform's ranking's first five for `question`.
    pub fn of(retriever: &hostdeck_core::knowledge::Retriever, question: &str) -> Self {
        let found = retriever.search(question, 5);
        Self {
            slugs: found.hits.iter().map(|hit| hit.slug.to_string()).collect(),
            answerable: found.answerable,
        }
    }

    /// The platform's ranking fused with the ranking by `vectors` (the fake's embeddings).
    pub fn fused(
        retriever: &hostdeck_core::knowledge::Retriever,
        vectors: &hostdeck_core::knowledge::retrieval::meaning::PassageVectors,
        question: &str,
    ) -> Self {
        let query = fake_vector(None, question);
        let found = retriever.search_with(question, 5, Some((vectors, &query)));
        Self {
            slugs: found.hits.iter().map(|hit| hit.slug.to_string()).collect(),
            answerable: found.answerable,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Figures {
    /// Questions with an expected article.
    pub answerable_questions: usize,
    pub recall_at_1: f64,
    pub recall_at_3: f64,
    pub recall_at_5: f64,
    pub mrr: f64,
    /// Share of answerable questions it offered to answer.
    pub answered: f64,
    /// Share of the questions it cannot answer that it refused.
    pub refused: f64,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recall@1 {:.3}  recall@3 {:.3}  recall@5 {:.3}  MRR {:.3}  answerable said yes {:.3}  unanswerable said no {:.3}",
            self.recall_at_1,
            self.recall_at_3,
            self.recall_at_5,
            self.mrr,
            self.answered,
            self.refused
        )
    }
}

/// The figures of `rank` over `questions`; `misses` gets the answerable questions whose
/// article was not in the first three, and each wrong call on answerability.
pub fn evaluate(
    questions: &[Question],
    mut rank: impl FnMut(&str) -> Answer,
    misses: &mut Vec<String>,
) -> Figures {
    let mut figures = Figures::default();
    let mut unanswerable = 0usize;
    for question in questions {
        let answer = rank(&question.q);
        if question.expect.is_empty() {
            unanswerable += 1;
            if answer.answerable {
                misses.push(format!(
                    "{:?} answered from {:?}",
                    question.q,
                    answer.slugs.first()
                ));
            } else {
                figures.refused += 1.0;
            }
            continue;
        }
        figures.answerable_questions += 1;
        if answer.answerable {
            figures.answered += 1.0;
        } else {
            misses.push(format!("{:?} said it cannot answer", question.q));
        }
        let position = answer
            .slugs
            .iter()
            .position(|slug| question.expect.contains(slug));
        if let Some(at) = position {
            figures.mrr += 1.0 / (at as f64 + 1.0);
            for (k, recall) in [
                (1, &mut figures.recall_at_1),
                (3, &mut figures.recall_at_3),
                (5, &mut figures.recall_at_5),
            ] {
                if at < k {
                    *recall += 1.0;
                }
            }
        }
        if position.is_none_or(|at| at >= 3) {
            misses.push(format!(
                "{:?} -> {:?}",
                question.q,
                &answer.slugs[..answer.slugs.len().min(3)]
            ));
        }
    }
    let n = figures.answerable_questions.max(1) as f64;
    for value in [
        &mut figures.recall_at_1,
        &mut figures.recall_at_3,
        &mut figures.recall_at_5,
        &mut figures.mrr,
        &mut figures.answered,
    ] {
        *value /= n;
    }
    figures.refused /= unanswerable.max(1) as f64;
    figures
}

/// Plain BM25 (k1 = 1.2, b = 0.75) over each published article's title and body as one
/// field: lowercased Unicode words, no stemming, no stop words, no synonyms, no typos.
pub struct PlainBm25 {
    slugs: Vec<String>,
    lengths: Vec<f64>,
    average: f64,
    postings: HashMap<String, Vec<(usize, f64)>>,
}

impl PlainBm25 {
    pub fn new(articles: &[Article]) -> Self {
        let mut index = Self {
            slugs: Vec::new(),
            lengths: Vec::new(),
            average: 0.0,
            postings: HashMap::new(),
        };
        for article in articles.iter().filter(|a| a.content.published) {
            let number = index.slugs.len();
            index.slugs.push(article.content.slug.to_string());
            let text = format!("{}\n{}", article.content.title, article.content.body);
            let words = words(&text);
            index.lengths.push(words.len() as f64);
            let mut counts: HashMap<String, f64> = HashMap::new();
            for word in words {
                *counts.entry(word).or_default() += 1.0;
            }
            for (word, count) in counts {
                index
                    .postings
                    .entry(word)
                    .or_default()
                    .push((number, count));
            }
        }
        index.average = index.lengths.iter().sum::<f64>() / index.lengths.len().max(1) as f64;
        index
    }

    /// Slugs best first.
    pub fn search(&self, question: &str, limit: usize) -> Vec<String> {
        let n = self.slugs.len() as f64;
        let mut scores: HashMap<usize, f64> = HashMap::new();
        for word in words(question) {
            let Some(postings) = self.postings.get(&word) else {
                continue;
            };
            let df = postings.len() as f64;
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for (article, tf) in postings {
                let norm = 1.0 - 0.75 + 0.75 * self.lengths[*article] / self.average;
                *scores.entry(*article).or_default() += idf * tf * 2.2 / (tf + 1.2 * norm);
            }
        }
        let mut ranked: Vec<(usize, f64)> = scores.into_iter().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
            .into_iter()
            .take(limit)
            .map(|(article, _)| self.slugs[article].clone())
            .collect()
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}
