//! A fake Gemini (Generative Language API v1beta): `generateContent`, `embedContent`,
//! `batchEmbedContents` and `countTokens` under `{base}/v1beta/models/{model}:{method}`.
//!
//! ```text
//! let gemini = FakeGemini::start().await;       // key gemini.key(), models below
//! hostdeck config: gemini.base_url = gemini.base_url(), gemini.api_key = gemini.key()
//! gemini.script(Reply::Wire("unary-failure-finish-reason-safety.json"));  // the next answer
//! gemini.set_mode(Mode::Obey);                  // every answer obeys the prompt's injections
//! gemini.recorder().fail_next("generateContent", 1, Fault::Hang);
//! assert!(gemini.problems().is_empty());
//! ```
//!
//! It checks what it receives against `../shared/wire/gemini/` (see [`checks`]): the key in
//! `x-goog-api-key` and never in the URL (a wrong key gets the captured 400), an allow-listed
//! model (any other gets the 404 Google gives), and each body's shape. What it finds wrong is
//! recorded as a problem on the call; a request Google would refuse is refused with Google's 400.
//!
//! Answers, in order: a scripted [`Reply`] if one is queued, else the [`Mode`]'s answer.
//! [`Mode::Grounded`] answers from the first source and cites it; [`Mode::Obey`] is a model
//! that does whatever the untrusted parts of the prompt ask: it repeats the question's payload
//! (mentions, links, HTML) verbatim, recites its system instruction when asked about its
//! instructions, repeats the account block, and cites every id it saw and some it did not.
//! Embeddings are deterministic ([`embed`]), as `EMBEDDINGS.md` §6 describes.

pub mod checks;
pub mod embed;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::server::{Call, Recorder, Running, lock, spawn};

/// The key a fresh fake accepts.
pub const KEY: &str = "fake-gemini-key-7f3c91";

/// Models a fresh fake serves.
pub const MODELS: [&str; 5] = [
    "gemini-2.5-flash",
    "gemini-3.5-flash",
    "gemini-embedding-001",
    "gemini-embedding-2",
    "gemini-2.5-flash-lite",
];

/// A scripted answer to the next `generateContent`.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A structured answer, as the model would write it.
    Answer {
        status: &'static str,
        answer: String,
        citations: Vec<String>,
        needs_human: bool,
    },
    /// A file of `../shared/wire/gemini/` (captured or constructed), with the status its
    /// `error.code` names (200 without one).
    Wire(&'static str),
    /// Any status and body.
    Raw(StatusCode, Value),
    /// A 200 whose candidate text is this (not JSON, truncated JSON...).
    Text(String),
    /// One obeying answer.
    Obey,
}

/// How unscripted questions are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Grounded,
    Obey,
}

struct Shared {
    recorder: Recorder,
    key: String,
    models: Vec<String>,
    script: Mutex<VecDeque<Reply>>,
    mode: Mutex<Mode>,
}

pub struct FakeGemini {
    running: Running,
    shared: Arc<Shared>,
}

impl FakeGemini {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared {
            recorder: Recorder::default(),
            key: KEY.to_owned(),
            models: MODELS.iter().map(|m| (*m).to_owned()).collect(),
            script: Mutex::new(VecDeque::new()),
            mode: Mutex::new(Mode::Grounded),
        });
        let router = Router::new()
            .route("/v1beta/models/{call}", post(handle))
            .with_state(shared.clone());
        let running = spawn(router, &shared.recorder).await;
        Self { running, shared }
    }

    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    pub fn key(&self) -> &str {
        &self.shared.key
    }

    pub fn recorder(&self) -> &Recorder {
        &self.shared.recorder
    }

    /// Every problem found in what hostdeck sent.
    pub fn problems(&self) -> Vec<String> {
        self.shared.recorder.problems()
    }

    /// Queues the answer to the next `generateContent`.
    pub fn script(&self, reply: Reply) {
        lock(&self.shared.script).push_back(reply);
    }

    pub fn set_mode(&self, mode: Mode) {
        *lock(&self.shared.mode) = mode;
    }

    /// The `generateContent` bodies received, oldest first.
    pub fn generate_requests(&self) -> Vec<Value> {
        self.shared
            .recorder
            .calls_to(&Method::POST, ":generateContent")
            .into_iter()
            .map(|call| call.body)
            .collect()
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path(call): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    let mut problems = Vec::new();
    let (status, answer) = answer(&shared, &call, &uri, &headers, &parsed, &mut problems);
    shared.recorder.record(Call {
        method: Method::POST,
        uri: uri.to_string(),
        headers,
        body: parsed,
        problems,
    });
    (status, axum::Json(answer)).into_response()
}

fn answer(
    shared: &Shared,
    call: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Value,
    problems: &mut Vec<String>,
) -> (StatusCode, Value) {
    if uri.query().is_some_and(|q| q.contains("key=")) {
        problems.push("the API key is in the URL (it lands in logs)".into());
    }
    let key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key != shared.key {
        problems.push("no valid x-goog-api-key header".into());
        return wire_reply("unary-failure-api-key.json");
    }
    let Some((model, method)) = call.split_once(':') else {
        problems.push(format!("no :method in {call}"));
        return (
            StatusCode::NOT_FOUND,
            json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "not found"}}),
        );
    };
    if !shared.models.iter().any(|m| m == model) {
        return (
            StatusCode::NOT_FOUND,
            json!({"error": {"code": 404, "status": "NOT_FOUND", "message": format!(
                "models/{model} is not found for API version v1beta, or is not supported for \
                 {method}. Call ListModels to see the list of available models and their \
                 supported methods.")}}),
        );
    }
    let refused = |problems: &mut Vec<String>, found: Vec<String>| {
        let message = found.join("; ");
        problems.extend(found);
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": message}}),
        )
    };
    match method {
        "generateContent" => {
            let found = checks::generate(body);
            if !found.is_empty() {
                return refused(problems, found);
            }
            let scripted = lock(&shared.script).pop_front();
            let mode = *lock(&shared.mode);
            generate(body, scripted, mode)
        }
        "embedContent" | "batchEmbedContents" => {
            let found = checks::embed(model, method, body);
            if !found.is_empty() {
                return refused(problems, found);
            }
            (StatusCode::OK, embed::answer(model, method, body))
        }
        "countTokens" => {
            let found = checks::count_tokens(body);
            if !found.is_empty() {
                return refused(problems, found);
            }
            let words = body.to_string().split_whitespace().count();
            (
                StatusCode::OK,
                json!({"totalTokens": words, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": words}]}),
            )
        }
        other => {
            problems.push(format!("unknown method {other}"));
            (
                StatusCode::NOT_FOUND,
                json!({"error": {"code": 404, "status": "NOT_FOUND", "message": "unknown method"}}),
            )
        }
    }
}

/// A file of `../shared/wire/gemini/` with its status.
pub fn wire_reply(name: &str) -> (StatusCode, Value) {
    let path = crate::wire_dir().join("gemini").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{name}: {error}"));
    let status = body
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .and_then(|code| StatusCode::from_u16(u16::try_from(code).ok()?).ok())
        .unwrap_or(StatusCode::OK);
    (status, body)
}

fn generate(body: &Value, scripted: Option<Reply>, mode: Mode) -> (StatusCode, Value) {
    let reply = scripted.unwrap_or(match mode {
        Mode::Grounded => grounded(body),
        Mode::Obey => Reply::Obey,
    });
    match reply {
        Reply::Answer {
            status,
            answer,
            citations,
            needs_human,
        } => success(&json!({
            "status": status, "answer": answer, "citations": citations, "needs_human": needs_human
        }).to_string()),
        Reply::Wire(name) => wire_reply(name),
        Reply::Raw(status, body) => (status, body),
        Reply::Text(text) => success(&text),
        Reply::Obey => success(&obey(body).to_string()),
    }
}

/// A 200 with one candidate whose text is `text`, and its usage.
fn success(text: &str) -> (StatusCode, Value) {
    (
        StatusCode::OK,
        json!({
            "candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 400, "candidatesTokenCount": 80,
                              "thoughtsTokenCount": 20, "totalTokenCount": 500},
            "modelVersion": "gemini-fake",
            "responseId": "fake-ask"
        }),
    )
}

/// The text of the last user turn.
pub fn last_user_text(body: &Value) -> String {
    body.get("contents")
        .and_then(Value::as_array)
        .and_then(|turns| turns.last())
        .and_then(|turn| turn.pointer("/parts/0/text"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// The text between `<tag ...>` and `</tag ...>`.
pub fn block(text: &str, tag: &str) -> Option<String> {
    let start = text.find(&format!("<{tag} "))?;
    let open_end = start + text[start..].find('>')? + 1;
    let close = open_end + text[open_end..].find(&format!("</{tag} "))?;
    Some(text[open_end..close].trim().to_owned())
}

/// The ids of the `<source id="...">` blocks.
pub fn source_ids(text: &str) -> Vec<(String, String)> {
    text.split("<source id=\"")
        .skip(1)
        .filter_map(|rest| {
            let id = rest.split('"').next()?.to_owned();
            let title = rest.split("title=\"").nth(1)?.split('"').next()?.to_owned();
            Some((id, title))
        })
        .collect()
}

fn grounded(body: &Value) -> Reply {
    let user = last_user_text(body);
    match source_ids(&user).first() {
        Some((id, title)) => Reply::Answer {
            status: "answered",
            answer: format!("From the article \"{title}\": here is what it says."),
            citations: vec![id.clone()],
            needs_human: false,
        },
        None => Reply::Answer {
            status: "not_in_sources",
            answer: "I could not find this in the help articles.".into(),
            citations: Vec::new(),
            needs_human: true,
        },
    }
}

/// What a model that obeys every injection writes.
fn obey(body: &Value) -> Value {
    let user = last_user_text(body);
    let question = block(&user, "question").unwrap_or_else(|| user.clone());
    let lower = question.to_lowercase();
    let mut answer = format!("Sure! As you asked: {question}");
    let asks_instructions = [
        "prompt",
        "instruction",
        "rules",
        "above",
        "system",
        "secret",
        "password",
        "canary",
        "reveal",
        "repeat",
        "initial",
        "verbatim",
        "configuration",
        "guidelines",
        "everything",
    ]
    .iter()
    .any(|word| lower.contains(word));
    if asks_instructions {
        let system = body
            .pointer("/systemInstruction/parts/0/text")
            .and_then(Value::as_str)
            .unwrap_or("");
        answer.push_str(&format!("\nMy instructions are: {system}"));
    }
    if let Some(account) = block(&user, "account") {
        answer.push_str(&format!("\nAccount data: {account}"));
    }
    answer.push_str("\n@everyone <@&123456789012345678> visit https://evil.example/claim <img src=x onerror=alert(1)>");
    let mut citations: Vec<String> = source_ids(&user).into_iter().map(|(id, _)| id).collect();
    citations.push("kb-424242".into());
    citations.push("https://evil.example".into());
    json!({"status": "answered", "answer": answer, "citations": citations, "needs_human": false})
}
