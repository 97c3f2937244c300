//! `[knowledge]`: where the admins' glossary additions are read from, and how the search uses
//! embeddings when a Gemini key is set.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Extra glossary groups (synonyms and abbreviations customers use), added to the
    /// built-in ones. A missing file adds nothing.
    pub glossary: PathBuf,
    /// Whether passages and questions are embedded (with `gemini.embedding_model`) and the
    /// ranking by meaning fused with the ranking by words. Only with `gemini.api_key` set.
    pub embeddings: bool,
    /// The most a search waits for its question's embedding before it answers by words alone.
    #[serde(with = "humantime_serde")]
    pub question_embedding_timeout: Duration,
    /// After a question's embedding failed, searches go by words alone this long (and a
    /// failed embedding of the passages is tried again after it).
    #[serde(with = "humantime_serde")]
    pub embedding_rest: Duration,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            glossary: PathBuf::from("config/glossary.toml"),
            embeddings: true,
            question_embedding_timeout: Duration::from_millis(800),
            embedding_rest: Duration::from_secs(30),
        }
    }
}
