use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::*;
use crate::records::knowledge::{ArticleContent, ArticleKind};

fn article(slug: &str, title: &str, tags: &[&str], body: &str, published: bool) -> Article {
    Article {
        content: ArticleContent {
            slug: Slug::parse(slug).expect("slug"),
            title: title.into(),
            kind: ArticleKind::Faq,
            tags: tags.iter().map(|tag| (*tag).to_owned()).collect(),
            body: body.into(),
            also_asked: vec![],
            published,
        },
        updated_at: Utc.timestamp_opt(0, 0).single().expect("time"),
    }
}

fn retriever() -> Retriever {
    let glossary = Glossary::load(&Analyzer::default(), None).expect("glossary");
    Retriever::new(
        Arc::new(glossary),
        &[
            article(
                "restart-a-server",
                "Restarting a server",
                &["power"],
                "Open the server's page and press Restart. The server reboots in a minute.",
                true,
            ),
            article(
                "top-up",
                "Adding credit with PayPal",
                &["billing", "paypal"],
                "## Paying\nChoose an amount on the Billing page and pay with PayPal. \
                 The credit shows at once.",
                true,
            ),
            article(
                "two-factor",
                "Turning on two-factor authentication",
                &["security"],
                "Scan the QR code with an authenticator app and type the six-digit code.",
                true,
            ),
            article(
                "secret-draft",
                "Restarting everything",
                &[],
                "A draft nobody sees.",
                false,
            ),
        ],
    )
}

fn first(retriever: &Retriever, question: &str) -> Option<String> {
    retriever
        .search(question, 3)
        .hits
        .first()
        .map(|hit| hit.slug.to_string())
}

#[test]
fn stems_synonyms_and_typos_find_the_article() {
    let retriever = retriever();
    assert_eq!(retriever.articles(), 3, "drafts are not indexed");
    assert_eq!(
        first(&retriever, "how do i restart my server").as_deref(),
        Some("restart-a-server")
    );
    assert_eq!(
        first(&retriever, "reboot vps").as_deref(),
        Some("restart-a-server")
    );
    assert_eq!(
        first(&retriever, "how to add funds").as_deref(),
        Some("top-up")
    );
    assert_eq!(
        first(&retriever, "paypall deposit").as_deref(),
        Some("top-up")
    );
    assert_eq!(
        first(&retriever, "setup 2fa").as_deref(),
        Some("two-factor")
    );
    assert_eq!(
        first(&retriever, "authenticatr app").as_deref(),
        Some("two-factor")
    );
}

#[test]
fn questions_the_articles_do_not_cover_are_not_answerable() {
    let retriever = retriever();
    let found = retriever.search("restart server", 3);
    assert!(found.answerable);
    assert!(found.hits[0].score > 0.0 && found.hits[0].score <= 1.0);
    assert!(
        found.hits[0].snippet.contains("Restart"),
        "{}",
        found.hits[0].snippet
    );
    for question in [
        "what is the capital of france",
        "",
        "???",
        "recipe for banana bread",
    ] {
        let found = retriever.search(question, 3);
        assert!(!found.answerable, "{question}: {:?}", found.hits);
    }
}

#[test]
fn the_best_passage_of_each_article_is_listed_for_fusion() {
    let retriever = retriever();
    let found = retriever.search("pay with paypal", 3);
    let (key, _) = &found.passages[0];
    assert_eq!((key.slug.as_str(), key.number), ("top-up", 0));
    assert_eq!(found.hits[0].heading, "Paying");
}

#[test]
fn reciprocal_rank_fusion_rewards_agreement() {
    let fused = reciprocal_rank_fusion(&[vec!["a", "b", "c"], vec!["b", "c", "a"]], 60.0);
    assert_eq!(fused[0].0, "b");
    assert_eq!(fused.len(), 3);
}

/// One-hot vectors: passage `n` points along axis `n`.
fn axis(dims: usize, at: usize) -> Vec<f32> {
    let mut vector = vec![0.0; dims];
    vector[at] = 1.0;
    vector
}

#[test]
fn an_article_found_only_by_meaning_joins_the_results() {
    let retriever = retriever();
    let passages = retriever.passage_count();
    let vectors: Vec<Vec<f32>> = (0..passages).map(|at| axis(passages, at)).collect();
    let slices: Vec<Option<&[f32]>> = vectors.iter().map(|v| Some(v.as_slice())).collect();
    let meaning = meaning::PassageVectors::new(&slices);
    let texts: Vec<(&str, &str, &str)> = retriever.passage_texts().collect();
    let two_factor = texts
        .iter()
        .position(|(title, _, _)| title.starts_with("Turning on two-factor"))
        .expect("the two-factor passage");
    // No word of the question is in the two-factor article; its vector is the question's.
    let question = "restart server";
    let words = retriever.search(question, 3);
    assert!(
        words
            .hits
            .iter()
            .all(|hit| hit.slug.as_str() != "two-factor")
    );
    let fused = retriever.search_with(question, 3, Some((&meaning, &axis(passages, two_factor))));
    let slugs: Vec<&str> = fused.hits.iter().map(|hit| hit.slug.as_str()).collect();
    // The other articles are as far from the question as can be: below the floor, left out.
    assert_eq!(slugs, ["restart-a-server", "two-factor"], "{slugs:?}");
    assert_eq!(
        fused.answerable, words.answerable,
        "answerability stays with the words"
    );
    assert!(
        fused
            .hits
            .iter()
            .all(|hit| (0.0..=1.0).contains(&hit.score))
    );
    assert_eq!(fused.hits[1].coverage, 0.0, "no word of it matched");
    // A question vector of another size is no vector at all.
    let odd = retriever.search_with(question, 3, Some((&meaning, &[1.0])));
    assert_eq!(odd.hits, words.hits);
}

#[test]
fn typos_are_corrected_against_the_index_and_the_glossary() {
    let retriever = retriever();
    // Two letters left out of a long word; one swapped in a short one.
    assert_eq!(
        first(&retriever, "authentcaton").as_deref(),
        Some("two-factor")
    );
    assert_eq!(
        first(&retriever, "reboto").as_deref(),
        Some("restart-a-server")
    );
}

#[test]
fn a_very_long_word_is_not_corrected_and_is_searched_quickly() {
    let retriever = retriever();
    // One edit from "restart" repeated: a real lookup at two edits would build about
    // 2 × 1,000 × the alphabet variants, each hashed 1,000 times.
    let long = format!("{}x", "restart".repeat(142));
    let started = std::time::Instant::now();
    let found = retriever.search(&long, 3);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(found.hits.is_empty());
    let query = Query::parse(
        &retriever.index,
        &retriever.typos,
        &retriever.analyzer,
        &retriever.glossary,
        &long,
    );
    assert_eq!(
        query.stems,
        vec![retriever.analyzer.stem(&long).into_owned()]
    );
}

#[test]
fn only_the_first_words_of_a_question_are_corrected() {
    let retriever = retriever();
    let question = ["servr"; query::MAX_CORRECTED + 2].join(" ");
    let query = Query::parse(
        &retriever.index,
        &retriever.typos,
        &retriever.analyzer,
        &retriever.glossary,
        &question,
    );
    let server = retriever.analyzer.stem("server").into_owned();
    let corrected = query.stems.iter().filter(|stem| **stem == server).count();
    assert_eq!(corrected, query::MAX_CORRECTED);
    assert_eq!(query.stems.len(), query::MAX_CORRECTED + 2);
}

#[test]
fn nonsense_finds_nothing_with_meaning_fused_in() {
    let retriever = retriever();
    let passages = retriever.passage_count();
    // Every passage somewhat like the question, one a little more: what a model gives for any
    // text at all.
    let vectors: Vec<Vec<f32>> = (0..passages)
        .map(|at| {
            let mut vector = vec![1.0; passages + 1];
            vector[at] += 0.5;
            vector
        })
        .collect();
    let slices: Vec<Option<&[f32]>> = vectors.iter().map(|v| Some(v.as_slice())).collect();
    let meaning = meaning::PassageVectors::new(&slices);
    let mut asked = vec![0.0; passages + 1];
    asked[0] = 1.0;
    asked[passages] = 1.0;
    for question in [
        "qwertyuiop asdfghjkl",
        "zxcvb plokij",
        "flurble the wibbleton",
    ] {
        let words = retriever.search(question, 3);
        assert!(words.hits.is_empty(), "{question}: {:?}", words.hits);
        let fused = retriever.search_with(question, 3, Some((&meaning, &asked)));
        assert!(!fused.answerable, "{question}");
        assert!(fused.hits.is_empty(), "{question}: {:?}", fused.hits);
    }
}
