//! `[knowledge]`: where the admins' glossary additions are read from.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// Extra glossary groups (synonyms and abbreviations customers use), added to the
    /// built-in ones. A missing file adds nothing.
    pub glossary: PathBuf,
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            glossary: PathBuf::from("config/glossary.toml"),
        }
    }
}
