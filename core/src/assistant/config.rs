//! `[gemini]` (where the model is and how long it may take) and `[assistant]` (what `/ask`
//! answers with: prompts, quotas, output bounds).

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::values::serialize_secret;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeminiConfig {
    /// The Generative Language API; tests point it at a fake on 127.0.0.1.
    pub base_url: url::Url,
    /// Sent as `x-goog-api-key`, never in a URL. Unset: `/ask` answers with the articles that
    /// look relevant and calls no model.
    #[serde(serialize_with = "serialize_secret")]
    pub api_key: Option<SecretString>,
    /// The model that writes answers.
    pub model: String,
    /// The model that embeds articles and questions.
    pub embedding_model: String,
    /// The size of the embedding vectors asked for.
    pub embedding_dims: u32,
    /// How long one call may take.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How long one question may spend on the model, retries and waits included; well inside
    /// Discord's 15-minute interaction token.
    #[serde(with = "humantime_serde")]
    pub total_timeout: Duration,
    /// Further attempts after a 429, a 5xx or a lost connection.
    pub retries: u32,
    /// The first wait before a retry (doubled each time) when the answer names none.
    #[serde(with = "humantime_serde")]
    pub backoff: Duration,
    /// `maxOutputTokens`; it counts thinking too, so the visible answer is bounded in
    /// characters by `assistant.max_answer_chars` instead.
    pub max_output_tokens: u32,
}

impl Default for GeminiConfig {
    fn default() -> Self {
        Self {
            base_url: url::Url::parse("https://generativelanguage.googleapis.com")
                .unwrap_or_else(|_| unreachable!()),
            api_key: None,
            model: "gemini-2.5-flash".into(),
            embedding_model: "gemini-embedding-001".into(),
            embedding_dims: 768,
            timeout: Duration::from_secs(20),
            total_timeout: Duration::from_secs(45),
            retries: 2,
            backoff: Duration::from_millis(500),
            max_output_tokens: 2048,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssistantConfig {
    /// The folder of the prompt templates (`system.jinja`, `question.jinja`).
    pub prompts_dir: PathBuf,
    /// How the assistant speaks, written into the system instruction.
    pub tone: String,
    /// Questions a day for a member linked to a customer account.
    pub linked_questions_per_day: u32,
    /// Questions a day for anyone else (an unlinked Discord member).
    pub unlinked_questions_per_day: u32,
    /// Questions a day from all anonymous portal and API callers together (each is also held
    /// to `unlinked_questions_per_day` by address), so they cannot use up the token budget.
    pub anonymous_questions_per_day: u32,
    /// The least time between two questions in one channel; 0s turns it off.
    #[serde(with = "humantime_serde")]
    pub channel_cooldown: Duration,
    /// Model tokens (`usageMetadata.totalTokenCount`) the whole platform may use in a UTC day.
    pub daily_token_budget: i64,
    /// Tokens set aside for a question before the model answers, settled after.
    pub tokens_per_question: i64,
    /// The longest question taken, in characters.
    pub max_question_chars: usize,
    /// The longest answer given, in characters (Discord: 2000 per message, 4096 per embed).
    pub max_answer_chars: usize,
    /// Earlier turns of a conversation sent with a follow-up.
    pub max_turns: usize,
    /// Where answers may link besides the portal's `web.public_url` (the help pages).
    pub allowed_links: Vec<url::Url>,
}

impl Default for AssistantConfig {
    fn default() -> Self {
        Self {
            prompts_dir: PathBuf::from("prompts"),
            tone: "friendly, plain and brief".into(),
            linked_questions_per_day: 20,
            unlinked_questions_per_day: 5,
            anonymous_questions_per_day: 200,
            channel_cooldown: Duration::from_secs(5),
            daily_token_budget: 2_000_000,
            tokens_per_question: 4_000,
            max_question_chars: 2_000,
            max_answer_chars: 1_800,
            max_turns: 3,
            allowed_links: Vec::new(),
        }
    }
}

impl AssistantConfig {
    /// What is wrong with the section, one line per key.
    pub fn problems(&self, gemini: &GeminiConfig) -> Vec<String> {
        let mut problems = Vec::new();
        if !(200..=3_800).contains(&self.max_answer_chars) {
            problems.push(
                "assistant.max_answer_chars: expected 200 to 3800 (Discord shows at most 4096 \
                 characters in an embed, with the sources)"
                    .to_owned(),
            );
        }
        if !(10..=8_000).contains(&self.max_question_chars) {
            problems.push("assistant.max_question_chars: expected 10 to 8000".to_owned());
        }
        if self.tokens_per_question < 1 || self.tokens_per_question > self.daily_token_budget {
            problems.push(
                "assistant.tokens_per_question: expected at least 1 and at most \
                 assistant.daily_token_budget"
                    .to_owned(),
            );
        }
        if self.max_turns > 10 {
            problems.push("assistant.max_turns: expected at most 10".to_owned());
        }
        if gemini.total_timeout < gemini.timeout || gemini.total_timeout > Duration::from_secs(600)
        {
            problems.push(
                "gemini.total_timeout: expected at least gemini.timeout and at most 10m".to_owned(),
            );
        }
        if gemini.model.trim().is_empty() || gemini.model.contains(['/', '?', '#', ':']) {
            problems
                .push("gemini.model: expected a model name such as gemini-2.5-flash".to_owned());
        }
        if !(128..=3072).contains(&gemini.embedding_dims) {
            problems.push("gemini.embedding_dims: expected 128 to 3072".to_owned());
        }
        problems
    }
}
