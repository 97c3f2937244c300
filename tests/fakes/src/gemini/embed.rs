//! Deterministic embeddings, by the recipe of `EMBEDDINGS.md` §6: unigrams and bigrams of the
//! lowercased `[a-z0-9]+` tokens hashed with FNV-1a 64 into `dims` signed buckets, L2-normalised,
//! scaled by 0.6 for gemini-embedding-001 below 3072 dimensions, rounded to 6 decimals.

use serde_json::{Value, json};

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub fn vector(model: &str, title: Option<&str>, text: &str, dims: usize) -> Vec<f64> {
    let joined = match title {
        Some(title) => format!("{title} {text}"),
        None => text.to_owned(),
    }
    .to_lowercase();
    let tokens: Vec<&str> = joined
        .split(|c: char| !c.is_ascii_lowercase() && !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .collect();
    let mut features: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
    features.extend(
        tokens
            .windows(2)
            .map(|pair| format!("{}_{}", pair[0], pair[1])),
    );
    let mut values = vec![0.0f64; dims.max(1)];
    for feature in features {
        let hash = fnv1a(&feature);
        let sign = if hash >> 63 == 1 { -1.0 } else { 1.0 };
        values[(hash % dims as u64) as usize] += sign;
    }
    let norm = values.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = if model == "gemini-embedding-001" && dims != 3072 {
        0.6
    } else {
        1.0
    };
    values
        .iter()
        .map(|v| {
            if norm > 0.0 {
                (v / norm * scale * 1e6).round() / 1e6
            } else {
                0.0
            }
        })
        .collect()
}

fn one(model: &str, request: &Value) -> Value {
    let text: String = request
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let dims = request
        .get("outputDimensionality")
        .and_then(Value::as_u64)
        .unwrap_or(3072) as usize;
    let title = request.get("title").and_then(Value::as_str);
    json!({"values": vector(model, title, &text, dims)})
}

/// The answer to a checked embedding request.
pub fn answer(model: &str, method: &str, body: &Value) -> Value {
    if method == "embedContent" {
        return json!({"embedding": one(model, body)});
    }
    let embeddings: Vec<Value> = body
        .get("requests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|request| one(model, request))
        .collect();
    json!({"embeddings": embeddings})
}
