//! The assistant's prompts: minijinja templates in `assistant.prompts_dir` (`prompts/` at the
//! repository root), read once at start and checked by `hostdeck config check`.
//!
//! `system.jinja` is the system instruction (the company's name and tone from config, and a
//! canary: a random reference that must never come back in an answer). `question.jinja` is the
//! user's turn: the retrieved passages, the asker's own account and the question, each between
//! tags carrying a per-question random nonce, so text inside cannot close its block.

use std::path::Path;

use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::config::Config;

const SYSTEM: &str = "system.jinja";
const QUESTION: &str = "question.jinja";
/// `assistant.prompts_dir`'s default.
const DEFAULT_DIR: &str = "prompts";
const BUILT_IN_SYSTEM: &str = include_str!("../../../prompts/system.jinja");
const BUILT_IN_QUESTION: &str = include_str!("../../../prompts/question.jinja");

/// One passage as the model sees it.
#[derive(Debug, Clone, Serialize)]
pub struct PromptSource {
    /// `kb-{article id}`: the id the model cites.
    pub id: String,
    pub title: String,
    pub text: String,
}

/// The loaded templates.
#[derive(Debug, Clone)]
pub struct Prompts {
    templates: Environment<'static>,
}

impl Prompts {
    /// Reads both templates from `dir`; an error names the file and what is wrong.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let mut texts = Vec::new();
        for name in [SYSTEM, QUESTION] {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).map_err(|error| {
                format!(
                    "assistant.prompts_dir: cannot read {}: {error}",
                    path.display()
                )
            })?;
            texts.push((name, text, path.display().to_string()));
        }
        Self::from_texts(texts)
    }

    /// The configured folder; the default `prompts` may be absent (a binary run outside the
    /// repository), and then the copies built into the binary serve.
    pub fn from_config(dir: &Path) -> Result<Self, String> {
        if dir == Path::new(DEFAULT_DIR) && !dir.is_dir() {
            return Self::from_texts(vec![
                (
                    SYSTEM,
                    BUILT_IN_SYSTEM.to_owned(),
                    "built-in system.jinja".into(),
                ),
                (
                    QUESTION,
                    BUILT_IN_QUESTION.to_owned(),
                    "built-in question.jinja".into(),
                ),
            ]);
        }
        Self::load(dir)
    }

    fn from_texts(texts: Vec<(&'static str, String, String)>) -> Result<Self, String> {
        let mut templates = Environment::new();
        // Prompts are not HTML: nothing is escaped, untrusted text is fenced by the nonce.
        templates.set_auto_escape_callback(|_| AutoEscape::None);
        templates.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, text, origin) in texts {
            templates
                .add_template_owned(name, text)
                .map_err(|error| format!("{origin}: {error}"))?;
        }
        Ok(Self { templates })
    }

    /// Loads the configured templates and renders each with sample values, as `config check`
    /// does, so a template that would fail on the first question fails at start instead.
    pub fn check(config: &Config) -> Result<Self, String> {
        let prompts = Self::from_config(&config.assistant.prompts_dir)?;
        prompts.system(&config.company.name, &config.assistant.tone, "canary-check")?;
        let sample = PromptSource {
            id: "kb-1".into(),
            title: "Sample".into(),
            text: "Sample text.".into(),
        };
        prompts.question(&[sample], Some("servers: none"), "Why?", "n0nce")?;
        Ok(prompts)
    }

    /// The system instruction.
    pub fn system(&self, company: &str, tone: &str, canary: &str) -> Result<String, String> {
        self.render(
            SYSTEM,
            minijinja::context! { company => company, tone => tone, canary => canary },
        )
    }

    /// The user's turn. Every untrusted text has the nonce taken out first.
    pub fn question(
        &self,
        sources: &[PromptSource],
        account: Option<&str>,
        question: &str,
        nonce: &str,
    ) -> Result<String, String> {
        let fence = |text: &str| text.replace(nonce, "");
        let sources: Vec<PromptSource> = sources
            .iter()
            .map(|source| PromptSource {
                id: source.id.clone(),
                title: fence(&source.title).replace('"', "'"),
                text: fence(&source.text),
            })
            .collect();
        self.render(
            QUESTION,
            minijinja::context! {
                sources => sources,
                account => account.map(fence),
                question => fence(question),
                nonce => nonce,
            },
        )
    }

    fn render(&self, name: &str, context: minijinja::Value) -> Result<String, String> {
        self.templates
            .get_template(name)
            .and_then(|template| template.render(context))
            .map_err(|error| format!("the prompt template {name} failed: {error}"))
    }
}
