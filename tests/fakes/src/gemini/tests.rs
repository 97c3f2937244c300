use serde_json::Value;

use super::embed::vector;

fn example(name: &str) -> Value {
    let path = crate::wire_dir().join("gemini/examples").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("an example")).expect("JSON")
}

#[test]
fn vectors_follow_the_recipe_of_the_examples() {
    let request = example("embed-content-request-query.json");
    let expected = example("embed-content-response-768.json");
    let text = request
        .pointer("/content/parts/0/text")
        .and_then(Value::as_str)
        .expect("text");
    let got = vector("gemini-embedding-001", None, text, 768);
    let want: Vec<f64> = expected
        .pointer("/embedding/values")
        .and_then(Value::as_array)
        .expect("values")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(worst < 2e-6, "off by {worst}");
}

#[test]
fn the_worked_ask_request_passes_the_checks() {
    assert_eq!(
        super::checks::generate(&example("generate-content-request-ask.json")),
        Vec::<String>::new()
    );
    assert_eq!(
        super::checks::count_tokens(&example("count-tokens-request.json")),
        Vec::<String>::new()
    );
    assert_eq!(
        super::checks::embed(
            "gemini-embedding-001",
            "batchEmbedContents",
            &example("batch-embed-contents-request.json")
        ),
        Vec::<String>::new()
    );
}
