//! The one Gemini client (reqwest, no SDK): `generateContent`, `embedContent`,
//! `batchEmbedContents` and `countTokens` under `{base_url}/v1beta/models/{model}:...`.
//!
//! The key goes in the `x-goog-api-key` header, never in a URL that can be logged. 429 and 5xx
//! answers and lost connections are retried with a doubling backoff, or the wait Google names
//! (`Retry-After`, `RetryInfo.retryDelay`), but never past the deadline the caller gives, so a
//! question is answered (or refused) in bounded time. Every failure becomes a [`GeminiError`].

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::config::GeminiConfig;
use super::failure::{GeminiError, parse_retry_delay};

/// A batch of embeddings holds at most this many texts (Google answers 400 above it).
pub const EMBED_BATCH: usize = 100;

/// One turn of a conversation, as Gemini reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `user` or `model`.
    pub role: &'static str,
    pub text: String,
}

/// What `generateContent` is asked.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub system: String,
    /// Oldest first, ending with the user's turn.
    pub turns: Vec<Turn>,
    /// The `responseSchema` of a JSON answer.
    pub schema: Value,
}

/// What `generateContent` gave: the answer's text (the JSON string) or why there is none, and
/// the tokens it cost either way.
#[derive(Debug, Clone)]
pub struct Generation {
    pub text: Result<String, GeminiError>,
    pub total_tokens: i64,
}

/// What an embedding is for: questions and documents are embedded differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedTask {
    Query,
    Document,
}

/// One text to embed; `title` only for documents.
#[derive(Debug, Clone)]
pub struct EmbedText<'a> {
    pub text: &'a str,
    pub title: Option<&'a str>,
    pub task: EmbedTask,
}

#[derive(Clone)]
pub struct Gemini {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    model: String,
    embedding_model: String,
    dims: u32,
    timeout: Duration,
    retries: u32,
    backoff: Duration,
    max_output_tokens: u32,
}

impl std::fmt::Debug for Gemini {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gemini")
            .field("base", &self.base)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Gemini {
    /// The client of `[gemini]`, or `None` without an API key.
    pub fn from_config(config: &GeminiConfig) -> Option<Self> {
        let key = config.api_key.clone()?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Self {
            http,
            base: config.base_url.as_str().trim_end_matches('/').to_owned(),
            key,
            model: config.model.clone(),
            embedding_model: config.embedding_model.clone(),
            dims: config.embedding_dims,
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
            max_output_tokens: config.max_output_tokens,
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// `generateContent` with a JSON answer, no tools; by `deadline` at the latest.
    pub async fn generate(&self, request: &GenerateRequest, deadline: Instant) -> Generation {
        let body = self.generate_body(request);
        match self
            .call(&self.model, "generateContent", &body, deadline)
            .await
        {
            Ok(answer) => read_generation(&answer),
            Err(error) => Generation {
                text: Err(error),
                total_tokens: 0,
            },
        }
    }

    fn generate_body(&self, request: &GenerateRequest) -> Value {
        let contents: Vec<Value> = request
            .turns
            .iter()
            .map(|turn| json!({"role": turn.role, "parts": [{"text": turn.text}]}))
            .collect();
        let mut generation = json!({
            "maxOutputTokens": self.max_output_tokens,
            "responseMimeType": "application/json",
            "responseSchema": request.schema,
        });
        // Thinking is kept low: it counts against maxOutputTokens (2.5 takes a budget, 3.x a level).
        generation["thinkingConfig"] = if self.model.starts_with("gemini-2.5") {
            json!({"thinkingBudget": 0})
        } else {
            json!({"thinkingLevel": "low"})
        };
        let safety: Vec<Value> = [
            "HARM_CATEGORY_HARASSMENT",
            "HARM_CATEGORY_HATE_SPEECH",
            "HARM_CATEGORY_SEXUALLY_EXPLICIT",
            "HARM_CATEGORY_DANGEROUS_CONTENT",
        ]
        .iter()
        .map(|category| json!({"category": category, "threshold": "BLOCK_MEDIUM_AND_ABOVE"}))
        .collect();
        json!({
            "systemInstruction": {"parts": [{"text": request.system}]},
            "contents": contents,
            "generationConfig": generation,
            "safetySettings": safety,
        })
    }

    /// `countTokens` of a generate request (an admin's "test this prompt", a start-up check).
    pub async fn count_tokens(
        &self,
        request: &GenerateRequest,
        deadline: Instant,
    ) -> Result<i64, GeminiError> {
        let mut inner = self.generate_body(request);
        inner["model"] = json!(format!("models/{}", self.model));
        let body = json!({"generateContentRequest": inner});
        let answer = self
            .call(&self.model, "countTokens", &body, deadline)
            .await?;
        answer
            .get("totalTokens")
            .and_then(Value::as_i64)
            .ok_or_else(|| GeminiError::Malformed("countTokens without totalTokens".into()))
    }

    /// `embedContent`: one unit-length vector.
    pub async fn embed(
        &self,
        text: &EmbedText<'_>,
        deadline: Instant,
    ) -> Result<Vec<f32>, GeminiError> {
        let body = self.embed_request(text, false);
        let answer = self
            .call(&self.embedding_model, "embedContent", &body, deadline)
            .await?;
        read_vector(answer.get("embedding"))
    }

    /// `batchEmbedContents`, [`EMBED_BATCH`] texts per call: unit-length vectors in order.
    pub async fn embed_batch(
        &self,
        texts: &[EmbedText<'_>],
        deadline: Instant,
    ) -> Result<Vec<Vec<f32>>, GeminiError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(EMBED_BATCH) {
            let requests: Vec<Value> = chunk.iter().map(|t| self.embed_request(t, true)).collect();
            let body = json!({"requests": requests});
            let answer = self
                .call(&self.embedding_model, "batchEmbedContents", &body, deadline)
                .await?;
            let embeddings = answer
                .get("embeddings")
                .and_then(Value::as_array)
                .filter(|list| list.len() == chunk.len())
                .ok_or_else(|| {
                    GeminiError::Malformed("batchEmbedContents gave the wrong count".into())
                })?;
            for embedding in embeddings {
                vectors.push(read_vector(Some(embedding))?);
            }
        }
        Ok(vectors)
    }

    /// One request of either family: gemini-embedding-2 takes the task in the text,
    /// gemini-embedding-001 as `taskType` (and a document's `title`).
    fn embed_request(&self, text: &EmbedText<'_>, in_batch: bool) -> Value {
        let mut request = if self.embedding_model.starts_with("gemini-embedding-2") {
            let text = match text.task {
                EmbedTask::Query => format!("task: question answering | query: {}", text.text),
                EmbedTask::Document => format!(
                    "title: {} | text: {}",
                    text.title.unwrap_or("none"),
                    text.text
                ),
            };
            json!({"content": {"parts": [{"text": text}]}})
        } else {
            let mut request = json!({"content": {"parts": [{"text": text.text}]}});
            match text.task {
                EmbedTask::Query => request["taskType"] = json!("RETRIEVAL_QUERY"),
                EmbedTask::Document => {
                    request["taskType"] = json!("RETRIEVAL_DOCUMENT");
                    if let Some(title) = text.title {
                        request["title"] = json!(title);
                    }
                }
            }
            request
        };
        request["outputDimensionality"] = json!(self.dims);
        if in_batch {
            request["model"] = json!(format!("models/{}", self.embedding_model));
        }
        request
    }

    /// POSTs `body` to `model:method`, retrying what may pass later, until `deadline`.
    async fn call(
        &self,
        model: &str,
        method: &str,
        body: &Value,
        deadline: Instant,
    ) -> Result<Value, GeminiError> {
        let url = format!("{}/v1beta/models/{model}:{method}", self.base);
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(GeminiError::Timeout);
            }
            let error = match self.attempt(&url, body, self.timeout.min(left)).await {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            if !error.is_transient() || attempt >= self.retries {
                return Err(error);
            }
            let wait = match &error {
                GeminiError::RateLimited {
                    retry_after: Some(wait),
                } => *wait,
                _ => self.backoff.saturating_mul(1 << attempt.min(10)),
            };
            if Instant::now() + wait >= deadline {
                return Err(error);
            }
            tracing::info!(kind = error.kind(), ?wait, "retrying a Gemini call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(
        &self,
        url: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<Value, GeminiError> {
        let sent = self
            .http
            .post(url)
            .header("x-goog-api-key", self.key.expose_secret())
            .json(body)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| transport(&error))?;
        let status = sent.status().as_u16();
        let retry_after = crate::providers::http::retry_after(sent.headers());
        let bytes = sent.bytes().await.map_err(|error| transport(&error))?;
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status == 200 {
            return answer.ok_or_else(|| GeminiError::Malformed("the answer is not JSON".into()));
        }
        Err(classify(status, answer.as_ref(), retry_after))
    }
}

fn transport(error: &reqwest::Error) -> GeminiError {
    if error.is_timeout() {
        return GeminiError::Timeout;
    }
    // Without the address: the error needs none, and a log line should not carry it.
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "Gemini");
    }
    GeminiError::Unreachable(text)
}

/// An error answer in Google's envelope `{"error":{"code","message","status","details"}}`.
fn classify(status: u16, answer: Option<&Value>, retry_after: Option<Duration>) -> GeminiError {
    let error = answer.and_then(|a| a.get("error"));
    let message = error
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    let details = error
        .and_then(|e| e.get("details"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let reason = |wanted: &str| {
        details
            .iter()
            .any(|d| d.get("reason").and_then(Value::as_str) == Some(wanted))
    };
    match status {
        429 => GeminiError::RateLimited {
            retry_after: retry_after.or_else(|| {
                details
                    .iter()
                    .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
                    .find_map(parse_retry_delay)
            }),
        },
        500..=599 => GeminiError::Unavailable(status),
        404 => GeminiError::UnknownModel(message),
        401 | 403 => GeminiError::BadKey(message),
        400 if reason("API_KEY_INVALID") => GeminiError::BadKey(message),
        _ => GeminiError::Refused { status, message },
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Answer {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<Usage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: Option<Content>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content {
    #[serde(default)]
    parts: Vec<Part>,
}

#[derive(Deserialize)]
struct Part {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Usage {
    total_token_count: Option<i64>,
}

/// The answer's text, or which failure it is.
fn read_generation(answer: &Value) -> Generation {
    let parsed: Answer = match serde_json::from_value(answer.clone()) {
        Ok(parsed) => parsed,
        Err(error) => {
            return Generation {
                text: Err(GeminiError::Malformed(error.to_string())),
                total_tokens: 0,
            };
        }
    };
    let total_tokens = parsed
        .usage_metadata
        .as_ref()
        .and_then(|usage| usage.total_token_count)
        .unwrap_or(0)
        .max(0);
    Generation {
        text: answer_text(&parsed),
        total_tokens,
    }
}

fn answer_text(parsed: &Answer) -> Result<String, GeminiError> {
    if let Some(feedback) = &parsed.prompt_feedback
        && (feedback.block_reason.is_some() || parsed.candidates.is_empty())
    {
        let reason = feedback.block_reason.as_deref().unwrap_or("unspecified");
        return Err(GeminiError::Blocked(reason.to_owned()));
    }
    let candidate = parsed
        .candidates
        .first()
        .ok_or_else(|| GeminiError::NoContent("no candidates".into()))?;
    let reason = candidate.finish_reason.as_deref().unwrap_or("");
    match reason {
        "STOP" => {}
        "MAX_TOKENS" => return Err(GeminiError::MaxTokens),
        "RECITATION" => return Err(GeminiError::Recitation),
        "SAFETY" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            return Err(GeminiError::Safety(reason.to_owned()));
        }
        "" => return Err(GeminiError::NoContent("no finishReason".into())),
        other => return Err(GeminiError::NoContent(other.to_owned())),
    }
    let text: String = candidate
        .content
        .iter()
        .flat_map(|content| &content.parts)
        .filter(|part| !part.thought)
        .filter_map(|part| part.text.as_deref())
        .collect();
    if text.trim().is_empty() {
        return Err(GeminiError::NoContent("empty parts".into()));
    }
    Ok(text)
}

/// `{"values": [...]}` as a unit-length vector (gemini-embedding-001 below 3072 dimensions is
/// not normalised).
fn read_vector(embedding: Option<&Value>) -> Result<Vec<f32>, GeminiError> {
    let values = embedding
        .and_then(|e| e.get("values"))
        .and_then(Value::as_array)
        .ok_or_else(|| GeminiError::Malformed("an embedding without values".into()))?;
    let mut vector = Vec::with_capacity(values.len());
    for value in values {
        let number = value
            .as_f64()
            .ok_or_else(|| GeminiError::Malformed("an embedding value is not a number".into()))?;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "embeddings are f32 by design"
        )]
        vector.push(number as f32);
    }
    let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for value in &mut vector {
            *value /= norm;
        }
    }
    Ok(vector)
}

#[cfg(test)]
mod tests;
