//! The help search: quality on the evaluation set against plain BM25, and speed and memory
//! over 10,000 articles.
//!
//!     cargo bench -p hostdeck-e2e --bench knowledge
//!
//! Quality: recall at 1, 3 and 5 and the mean reciprocal rank over `tests/data/kb_eval.toml`
//! against the starter knowledge base, for the ranker, for the ranker fused with the fake
//! Gemini's deterministic embeddings (hashed words and word pairs: a stand-in for the wire, not
//! a model, so that row says nothing of a real model's gain), and for plain BM25 (title and
//! body as one field, no stemming, stop words, synonyms or typo correction) in the same run.
//! Speed and memory: `BENCH_ARTICLES` (default 10,000) synthetic articles (the starter
//! articles' sentences shuffled under made-up titles and tags, with made-up product words so
//! the vocabulary grows as a real knowledge base's does); every question of the evaluation
//! set searched `BENCH_ROUNDS` (default 20) times, each timed, by words and fused with passage
//! vectors (the question's vector made beforehand: its network call is not retrieval); the
//! index's memory as the growth of the process's resident set while it is built (the articles
//! are made first), the typo index and the vectors as counted bytes.
//!
//! Quick check in debug: `BENCH_ARTICLES=500 BENCH_ROUNDS=1 cargo test -p hostdeck-e2e --bench
//! knowledge`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hostdeck_core::knowledge::retrieval::glossary::Glossary;
use hostdeck_core::knowledge::retrieval::text::Analyzer;
use hostdeck_core::knowledge::{Article, ArticleContent, ArticleKind, Retriever, Slug};
use hostdeck_e2e::kb_eval::{self, Answer, PlainBm25};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

fn main() -> anyhow::Result<()> {
    let count = env_number("BENCH_ARTICLES", 10_000);
    let rounds = env_number("BENCH_ROUNDS", 20);
    println!(
        "# knowledge benchmark, {}",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!("machine: {}\n", hostdeck_e2e::bench::machine());

    let questions = kb_eval::questions();
    let starter = kb_eval::starter_articles();
    let glossary = Arc::new(Glossary::load(&Analyzer::default(), None)?);
    let retriever = Retriever::new(glossary.clone(), &starter);
    let plain = PlainBm25::new(&starter);
    let ranker = kb_eval::evaluate(
        &questions,
        |question| Answer::of(&retriever, question),
        &mut Vec::new(),
    );
    let vectors = kb_eval::fake_passage_vectors(&retriever);
    let fused = kb_eval::evaluate(
        &questions,
        |question| Answer::fused(&retriever, &vectors, question),
        &mut Vec::new(),
    );
    let baseline = kb_eval::evaluate(
        &questions,
        |q| Answer {
            slugs: plain.search(q, 5),
            answerable: true,
        },
        &mut Vec::new(),
    );
    println!(
        "quality over {} answerable and {} unanswerable questions, {} starter articles:\n",
        ranker.answerable_questions,
        questions.len() - ranker.answerable_questions,
        starter.len()
    );
    println!("| ranking | recall@1 | recall@3 | recall@5 | MRR |");
    println!("|---|---|---|---|---|");
    for (name, figures) in [
        ("hostdeck (BM25F, stems, glossary, typos)", ranker),
        (
            "hostdeck fused with the FAKE Gemini's embeddings (hashed words, not a model)",
            fused,
        ),
        ("plain BM25 (title+body, no stemming)", baseline),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |",
            figures.recall_at_1, figures.recall_at_3, figures.recall_at_5, figures.mrr
        );
    }
    println!(
        "\nanswerability: {:.1}% of answerable questions answered, {:.1}% of unanswerable refused\n",
        ranker.answered * 100.0,
        ranker.refused * 100.0
    );

    let articles = synthetic(&starter, count);
    let before = resident_bytes();
    let started = Instant::now();
    let big = Retriever::new(glossary, &articles);
    let built = started.elapsed();
    let index_bytes = resident_bytes().saturating_sub(before);
    let before = resident_bytes();
    let big_vectors = kb_eval::fake_passage_vectors(&big);
    let vector_bytes = resident_bytes().saturating_sub(before);
    let question_vectors: Vec<Vec<f32>> = questions
        .iter()
        .map(|question| kb_eval::fake_vector(None, &question.q))
        .collect();
    let plain_big = PlainBm25::new(&articles);
    let mut ours = Vec::new();
    let mut with_fusion = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..rounds {
        for (question, vector) in questions.iter().zip(&question_vectors) {
            let started = Instant::now();
            std::hint::black_box(big.search(&question.q, 5));
            ours.push(started.elapsed().as_secs_f64() * 1000.0);
            let started = Instant::now();
            std::hint::black_box(big.search_with(&question.q, 5, Some((&big_vectors, vector))));
            with_fusion.push(started.elapsed().as_secs_f64() * 1000.0);
            let started = Instant::now();
            std::hint::black_box(plain_big.search(&question.q, 5));
            theirs.push(started.elapsed().as_secs_f64() * 1000.0);
        }
    }
    println!(
        "{} articles, {} passages ({} MB of body text), index built in {:.2} s\n",
        big.articles(),
        big.passage_count(),
        articles.iter().map(|a| a.content.body.len()).sum::<usize>() / 1_000_000,
        built.as_secs_f64(),
    );
    println!("| memory with {} articles | MiB |", big.articles());
    println!("|---|---|");
    println!(
        "| word index (resident set growth while it is built) | {:.1} |",
        index_bytes as f64 / 1024.0 / 1024.0
    );
    println!(
        "| of which the typo index (deletion keys, counted) | {:.1} |",
        big.typo_index_bytes() as f64 / 1024.0 / 1024.0
    );
    println!(
        "| passage vectors, {} x {} f32 (counted; resident growth {:.1}) | {:.1} |\n",
        big_vectors.count(),
        big_vectors.dims(),
        vector_bytes as f64 / 1024.0 / 1024.0,
        big_vectors.size_bytes() as f64 / 1024.0 / 1024.0
    );
    println!(
        "| search over {} articles | searches | p50 | p99 | max |",
        big.articles()
    );
    println!("|---|---|---|---|---|");
    for (name, times) in [
        ("hostdeck (words)", &mut ours),
        (
            "hostdeck fused with vectors (question already embedded)",
            &mut with_fusion,
        ),
        ("plain BM25", &mut theirs),
    ] {
        times.sort_by(f64::total_cmp);
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            times.len(),
            percentile(times, 0.50),
            percentile(times, 0.99),
            times.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    let at = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
    sorted.get(at).copied().unwrap_or_default()
}

/// `count` articles made of the starter articles' paragraphs, shuffled, under made-up titles,
/// with made-up product words mixed in.
fn synthetic(starter: &[Article], count: usize) -> Vec<Article> {
    let mut rng = StdRng::seed_from_u64(16);
    let paragraphs: Vec<&str> = starter
        .iter()
        .flat_map(|article| article.content.body.split("\n\n"))
        .collect();
    let titles: Vec<&str> = starter.iter().map(|a| a.content.title.as_str()).collect();
    let made_up = |rng: &mut StdRng| -> String {
        let length = rng.gen_range(4..10);
        (0..length)
            .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
            .collect()
    };
    (0..count)
        .map(|number| {
            let mut body = String::new();
            for _ in 0..rng.gen_range(3..9) {
                if let Some(paragraph) = paragraphs.choose(&mut rng) {
                    body.push_str(paragraph);
                    body.push_str(&format!(
                        " {} {}.\n\n",
                        made_up(&mut rng),
                        made_up(&mut rng)
                    ));
                }
            }
            let title = format!(
                "{} {}",
                titles.choose(&mut rng).copied().unwrap_or("Article"),
                made_up(&mut rng)
            );
            Article {
                content: ArticleContent {
                    slug: Slug::parse(&format!("synthetic-{number}")).expect("a slug"),
                    title,
                    kind: if number % 3 == 0 {
                        ArticleKind::Doc
                    } else {
                        ArticleKind::Faq
                    },
                    tags: vec![made_up(&mut rng), made_up(&mut rng)],
                    body,
                    also_asked: vec![format!(
                        "How do I {} {}?",
                        made_up(&mut rng),
                        made_up(&mut rng)
                    )],
                    published: true,
                },
                updated_at: Utc::now(),
            }
        })
        .collect()
}

/// The process's resident set, from /proc/self/statm.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
