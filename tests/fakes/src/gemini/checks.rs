//! What the fake Gemini checks in a request, from `../shared/wire/gemini/EMBEDDINGS.md` and the
//! worked example `examples/generate-content-request-ask.json`. Each finding is one sentence.

use serde_json::Value;

const ROLES: [&str; 2] = ["user", "model"];
const CATEGORIES: [&str; 5] = [
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
];
const THRESHOLDS: [&str; 5] = [
    "BLOCK_LOW_AND_ABOVE",
    "BLOCK_MEDIUM_AND_ABOVE",
    "BLOCK_ONLY_HIGH",
    "BLOCK_NONE",
    "OFF",
];
const TASKS: [&str; 9] = [
    "TASK_TYPE_UNSPECIFIED",
    "RETRIEVAL_QUERY",
    "RETRIEVAL_DOCUMENT",
    "SEMANTIC_SIMILARITY",
    "CLASSIFICATION",
    "CLUSTERING",
    "QUESTION_ANSWERING",
    "FACT_VERIFICATION",
    "CODE_RETRIEVAL_QUERY",
];
const SCHEMA_TYPES: [&str; 7] = [
    "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL",
];

fn texts_of(content: &Value) -> Option<Vec<&str>> {
    content
        .get("parts")?
        .as_array()?
        .iter()
        .map(|part| part.get("text").and_then(Value::as_str))
        .collect()
}

/// A `generateContent` body.
pub fn generate(body: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let Some(object) = body.as_object() else {
        return vec!["the body is not a JSON object".into()];
    };
    let known = [
        "systemInstruction",
        "contents",
        "generationConfig",
        "safetySettings",
        "tools",
        "toolConfig",
        "cachedContent",
    ];
    for key in object.keys() {
        if !known.contains(&key.as_str()) {
            found.push(format!("unknown field {key}"));
        }
    }
    match body.get("systemInstruction").and_then(texts_of) {
        Some(texts) if texts.iter().any(|t| !t.trim().is_empty()) => {}
        _ => found.push("systemInstruction must hold text parts (sent on every call)".into()),
    }
    if body.get("tools").is_some() || body.get("toolConfig").is_some() {
        found.push("/ask sends no tools".into());
    }
    match body.get("contents").and_then(Value::as_array) {
        Some(turns) if !turns.is_empty() => {
            for turn in turns {
                let role = turn.get("role").and_then(Value::as_str).unwrap_or("");
                if !ROLES.contains(&role) {
                    found.push(format!("a turn's role is {role:?}, not user or model"));
                }
                if texts_of(turn).is_none_or(|t| t.is_empty()) {
                    found.push("a turn without text parts".into());
                }
            }
            if turns
                .last()
                .and_then(|t| t.get("role"))
                .and_then(Value::as_str)
                != Some("user")
            {
                found.push("contents must end with the user's turn".into());
            }
        }
        _ => found.push("contents must be a non-empty array".into()),
    }
    if let Some(config) = body.get("generationConfig") {
        found.extend(generation_config(config));
    }
    for setting in body
        .get("safetySettings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let category = setting
            .get("category")
            .and_then(Value::as_str)
            .unwrap_or("");
        let threshold = setting
            .get("threshold")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !CATEGORIES.contains(&category) || !THRESHOLDS.contains(&threshold) {
            found.push(format!(
                "safety setting {category}/{threshold} is not valid"
            ));
        }
    }
    found
}

fn generation_config(config: &Value) -> Vec<String> {
    let mut found = Vec::new();
    let mime = config.get("responseMimeType").and_then(Value::as_str);
    let schema = config.get("responseSchema");
    if schema.is_some() && config.get("responseJsonSchema").is_some() {
        found.push("responseSchema and responseJsonSchema are both set".into());
    }
    if schema.is_some() && mime != Some("application/json") {
        found.push("responseSchema needs responseMimeType application/json".into());
    }
    if let Some(schema) = schema {
        found.extend(schema_problems(schema, "responseSchema"));
    }
    if let Some(mime) = mime
        && !["text/plain", "application/json", "text/x.enum"].contains(&mime)
    {
        found.push(format!("responseMimeType {mime} is not valid"));
    }
    if let Some(thinking) = config.get("thinkingConfig")
        && thinking.get("thinkingBudget").is_some()
        && thinking.get("thinkingLevel").is_some()
    {
        found.push("thinkingBudget and thinkingLevel are both set (a 400)".into());
    }
    if config
        .get("maxOutputTokens")
        .is_some_and(|n| n.as_u64().is_none_or(|n| n == 0))
    {
        found.push("maxOutputTokens must be a positive integer".into());
    }
    if config
        .get("stopSequences")
        .and_then(Value::as_array)
        .is_some_and(|s| s.len() > 5)
    {
        found.push("at most 5 stopSequences".into());
    }
    found
}

fn schema_problems(schema: &Value, at: &str) -> Vec<String> {
    let mut found = Vec::new();
    let kind = schema.get("type").and_then(Value::as_str).unwrap_or("");
    if !SCHEMA_TYPES.contains(&kind) {
        found.push(format!("{at}.type {kind:?} is not a Schema type"));
    }
    for (name, inner) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        found.extend(schema_problems(inner, &format!("{at}.{name}")));
    }
    if let Some(items) = schema.get("items") {
        found.extend(schema_problems(items, &format!("{at}[]")));
    }
    found
}

/// An `embedContent` or `batchEmbedContents` body.
pub fn embed(model: &str, method: &str, body: &Value) -> Vec<String> {
    if method == "embedContent" {
        return embed_request(model, body, false);
    }
    let Some(requests) = body.get("requests").and_then(Value::as_array) else {
        return vec!["batchEmbedContents needs requests".into()];
    };
    if requests.len() > 100 {
        return vec![
            "* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n"
                .into(),
        ];
    }
    requests
        .iter()
        .flat_map(|request| embed_request(model, request, true))
        .collect()
}

fn embed_request(model: &str, request: &Value, in_batch: bool) -> Vec<String> {
    let mut found = Vec::new();
    match request.get("content").and_then(texts_of) {
        Some(texts) if !texts.is_empty() && texts.iter().all(|t| !t.is_empty()) => {}
        _ => found.push("content.parts[].text must be non-empty".into()),
    }
    if in_batch && request.get("model").and_then(Value::as_str) != Some(&format!("models/{model}"))
    {
        found.push("each batched request's model must equal the URL's".into());
    }
    let task = request.get("taskType").and_then(Value::as_str);
    if let Some(task) = task {
        if !TASKS.contains(&task) {
            found.push(format!("taskType {task} is not valid"));
        }
        if model.starts_with("gemini-embedding-2") {
            found.push("gemini-embedding-2 takes no taskType".into());
        }
    }
    if request.get("title").is_some() && task != Some("RETRIEVAL_DOCUMENT") {
        found.push("title only with RETRIEVAL_DOCUMENT".into());
    }
    if let Some(dims) = request.get("outputDimensionality")
        && dims.as_u64().is_none_or(|d| !(128..=3072).contains(&d))
    {
        found.push("outputDimensionality must be 128 to 3072".into());
    }
    found
}

/// A `countTokens` body: `contents` or `generateContentRequest`, never both.
pub fn count_tokens(body: &Value) -> Vec<String> {
    match (body.get("contents"), body.get("generateContentRequest")) {
        (Some(_), Some(_)) => vec!["contents and generateContentRequest are both set".into()],
        (None, None) => vec!["countTokens needs contents or generateContentRequest".into()],
        (None, Some(inner)) => {
            let mut inner = inner.clone();
            if let Some(object) = inner.as_object_mut() {
                object.remove("model");
            }
            generate(&inner)
        }
        (Some(_), None) => Vec::new(),
    }
}
