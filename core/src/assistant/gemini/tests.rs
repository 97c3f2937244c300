//! Reading every captured Gemini answer in `../shared/wire/gemini/`.

use std::path::PathBuf;

use super::*;

fn wire(name: &str) -> Option<Value> {
    let core = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // `../shared/wire/` beside the repository (a checkout may sit one folder deeper).
    let text = ["../../shared/wire/gemini", "../../../shared/wire/gemini"]
        .iter()
        .find_map(|dir| std::fs::read_to_string(core.join(dir).join(name)).ok())?;
    serde_json::from_str(&text).ok()
}

fn kind_of(name: &str) -> Option<Result<String, &'static str>> {
    let answer = wire(name)?;
    Some(read_generation(&answer).text.map_err(|error| error.kind()))
}

#[test]
fn every_captured_failure_is_a_typed_error() {
    let cases = [
        ("unary-failure-finish-reason-safety.json", "safety"),
        ("unary-failure-only-prompt-feedback.json", "blocked"),
        ("unary-failure-with-message-no-content.json", "no_content"),
        (
            "examples/generate-content-response-max-tokens-in-thinking.json",
            "max_tokens",
        ),
    ];
    for (file, kind) in cases {
        let Some(read) = kind_of(file) else {
            eprintln!("skipped: {file} is not beside the repository");
            continue;
        };
        assert_eq!(read, Err(kind), "{file}");
    }
}

#[test]
fn a_structured_answer_is_read_with_its_tokens() {
    let Some(answer) = wire("examples/generate-content-response-ask.json") else {
        return;
    };
    let generation = read_generation(&answer);
    assert!(generation.text.expect("text").contains("kb-12"));
    assert_eq!(generation.total_tokens, 576);
}

#[test]
fn error_envelopes_are_sorted_by_kind() {
    let key = wire("unary-failure-api-key.json");
    assert_eq!(classify(400, key.as_ref(), None).kind(), "bad_key");
    let disabled = wire("unary-failure-generativelanguage-api-not-enabled.json");
    assert_eq!(classify(403, disabled.as_ref(), None).kind(), "bad_key");
    let model = wire("unary-failure-unknown-model.json");
    assert_eq!(classify(404, model.as_ref(), None).kind(), "unknown_model");
    let limited = wire("examples/embed-failure-rate-limited.json");
    if limited.is_some() {
        assert_eq!(
            classify(429, limited.as_ref(), None),
            GeminiError::RateLimited {
                retry_after: Some(Duration::from_secs(15))
            }
        );
    }
    assert_eq!(classify(503, None, None).kind(), "unavailable");
    assert_eq!(classify(400, None, None).kind(), "refused");
}

#[test]
fn blocked_prompts_and_thoughts_are_understood() {
    let blocked = json!({"promptFeedback": {"blockReason": "SAFETY"}});
    assert_eq!(
        read_generation(&blocked).text.map_err(|e| e.kind()),
        Err("blocked")
    );
    let thinking = json!({"candidates": [{"content": {"parts": [
        {"text": "secret plan", "thought": true}, {"text": "{\"a\":1}"}]}, "finishReason": "STOP"}]});
    assert_eq!(read_generation(&thinking).text, Ok("{\"a\":1}".to_owned()));
    let empty =
        json!({"candidates": [{"content": {"parts": [{"text": ""}]}, "finishReason": "STOP"}]});
    assert_eq!(
        read_generation(&empty).text.map_err(|e| e.kind()),
        Err("no_content")
    );
    let recitation = json!({"candidates": [{"finishReason": "RECITATION"}]});
    assert_eq!(
        read_generation(&recitation).text.map_err(|e| e.kind()),
        Err("recitation")
    );
}
