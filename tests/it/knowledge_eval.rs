//! The help search over the starter knowledge base, judged on the evaluation set
//! (`tests/data/kb_eval.toml`): questions as customers write them, none of them copied into the
//! articles. No model: the lexical ranking alone must put the right article in the first three
//! for at least 85% of them, and say rightly whether it can answer.

use std::sync::Arc;

use hostdeck_core::knowledge::Retriever;
use hostdeck_core::knowledge::retrieval::glossary::Glossary;
use hostdeck_core::knowledge::retrieval::text::Analyzer;
use hostdeck_e2e::kb_eval::{self, Answer, PlainBm25};

#[test]
fn the_starter_knowledge_base_answers_the_evaluation_set() {
    let questions = kb_eval::questions();
    let answerable = questions.iter().filter(|q| !q.expect.is_empty()).count();
    assert!(answerable >= 120, "{answerable} answerable questions");
    let articles = kb_eval::starter_articles();
    let glossary = Glossary::load(&Analyzer::default(), None).expect("the glossary");
    let retriever = Retriever::new(Arc::new(glossary), &articles);
    let mut misses = Vec::new();
    let figures = kb_eval::evaluate(
        &questions,
        |question| Answer::of(&retriever, question),
        &mut misses,
    );
    let plain = PlainBm25::new(&articles);
    let baseline = kb_eval::evaluate(
        &questions,
        |question| Answer {
            slugs: plain.search(question, 5),
            answerable: true,
        },
        &mut Vec::new(),
    );
    println!("ranker:     {figures}\nplain BM25: {baseline}");
    for miss in &misses {
        println!("not in the first three: {miss}");
    }
    assert!(figures.recall_at_3 >= 0.85, "{figures}");
    assert!(
        figures.recall_at_3 > baseline.recall_at_3,
        "{figures} vs {baseline}"
    );
    assert!(figures.answered >= 0.88, "{figures}");
    assert!(figures.refused >= 0.8, "{figures}");
}

/// With embeddings on, the ranking by meaning is fused in. The fake Gemini's vectors are
/// hashed words and word pairs (no stems, synonyms or typo correction), a much weaker ranker
/// than a real model; fused with them the figures must still hold where the words alone put
/// them (within one question of recall@3), so a weak embedding model cannot sink the search.
#[test]
fn fusing_the_fake_embeddings_keeps_the_evaluation_figures() {
    let questions = kb_eval::questions();
    let articles = kb_eval::starter_articles();
    let glossary = Glossary::load(&Analyzer::default(), None).expect("the glossary");
    let retriever = Retriever::new(Arc::new(glossary), &articles);
    let vectors = kb_eval::fake_passage_vectors(&retriever);
    assert_eq!(vectors.count(), retriever.passage_count());
    let words = kb_eval::evaluate(
        &questions,
        |question| Answer::of(&retriever, question),
        &mut Vec::new(),
    );
    let mut misses = Vec::new();
    let fused = kb_eval::evaluate(
        &questions,
        |question| Answer::fused(&retriever, &vectors, question),
        &mut misses,
    );
    println!("words: {words}\nfused: {fused}");
    for miss in &misses {
        println!("not in the first three: {miss}");
    }
    let one_question = 1.0 / words.answerable_questions as f64;
    assert!(
        fused.recall_at_3 + one_question >= words.recall_at_3,
        "{fused} vs {words}"
    );
    assert!(fused.recall_at_3 >= 0.85, "{fused}");
    assert_eq!(
        fused.answered, words.answered,
        "answerability is the words' call"
    );
}
