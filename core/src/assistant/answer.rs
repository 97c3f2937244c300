//! What an answer is, and how the model's structured output becomes one: the JSON schema the
//! model must follow, citations kept only for ids that were sent, and the answers given
//! without the model (nothing relevant, no model configured, the model failed).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::failure::GeminiError;

/// A passage the retriever found, best first.
#[derive(Debug, Clone, PartialEq)]
pub struct Passage {
    pub article: i64,
    pub slug: String,
    pub title: String,
    /// The article's help page.
    pub url: String,
    pub text: String,
    pub score: f64,
}

impl Passage {
    /// The id the model sees and cites.
    pub fn prompt_id(&self) -> String {
        format!("kb-{}", self.article)
    }
}

/// What the retriever found for a question.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Retrieved {
    pub passages: Vec<Passage>,
    /// Whether the best passages are relevant enough to answer from; when not, the assistant
    /// says it does not know and offers a ticket without asking the model.
    pub answerable: bool,
}

/// A help article an answer cites.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub slug: String,
    pub title: String,
    pub url: String,
}

impl From<&Passage> for Source {
    fn from(passage: &Passage) -> Self {
        Self {
            slug: passage.slug.clone(),
            title: passage.title.clone(),
            url: passage.url.clone(),
        }
    }
}

/// How an answer came about (also the `outcome` recorded for admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerKind {
    /// The model answered from the sources.
    Answered,
    /// The model found no answer in the sources.
    NotInSources,
    /// Nothing relevant was found; the model was not asked.
    NoSources,
    /// No model is configured: the articles that look relevant.
    Lexical,
    /// The model's answer repeated its instructions and was withheld.
    Withheld,
    /// The model failed; the articles that look relevant instead.
    Failed,
}

/// The assistant's answer, inert and bounded, ready for any door.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Answer {
    pub text: String,
    /// The cited help articles (only ids that were sent), numbered in this order.
    pub sources: Vec<Source>,
    pub needs_human: bool,
    /// Whether the door should offer to open a ticket.
    pub ticket_offer: bool,
    /// One sentence for the ticket, when the model wrote one.
    pub ticket_summary: Option<String>,
    pub kind: AnswerKind,
    /// The failure's kind when `kind` is `Failed`.
    pub failure: Option<&'static str>,
}

/// One earlier exchange of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    pub question: String,
    pub answer: String,
}

/// The model's structured output.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelAnswer {
    #[serde(default)]
    pub status: String,
    pub answer: String,
    #[serde(default, alias = "used_ids")]
    pub citations: Vec<String>,
    #[serde(default)]
    pub needs_human: bool,
    #[serde(default)]
    pub ticket_summary: Option<String>,
}

impl ModelAnswer {
    pub fn parse(text: &str) -> Result<Self, GeminiError> {
        serde_json::from_str(text.trim())
            .map_err(|error| GeminiError::Malformed(format!("the structured answer: {error}")))
    }
}

/// The `responseSchema` of [`ModelAnswer`].
pub fn schema(max_answer_chars: usize) -> Value {
    json!({
        "type": "OBJECT",
        "properties": {
            "status": {"type": "STRING", "format": "enum",
                       "enum": ["answered", "partial", "not_in_sources", "refused"]},
            "answer": {"type": "STRING", "description": format!(
                "Markdown, at most {max_answer_chars} characters, no URLs, no @mentions.")},
            "citations": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": 5,
                          "description": "ids of the sources used, e.g. kb-12"},
            "needs_human": {"type": "BOOLEAN"},
            "ticket_summary": {"type": "STRING",
                               "description": "One sentence for a support ticket if needs_human."}
        },
        "required": ["status", "answer", "citations", "needs_human"],
        "propertyOrdering": ["status", "answer", "citations", "needs_human", "ticket_summary"]
    })
}

/// The cited passages, each once, in citation order; ids that were not sent are dropped.
pub fn cited(citations: &[String], sent: &[Passage]) -> Vec<Source> {
    let mut sources: Vec<Source> = Vec::new();
    for id in citations {
        let Some(passage) = sent.iter().find(|p| p.prompt_id() == id.trim()) else {
            continue;
        };
        if !sources.iter().any(|s| s.slug == passage.slug) {
            sources.push(Source::from(passage));
        }
    }
    sources
}

/// The top passages as sources, each article once.
pub fn top_sources(passages: &[Passage], count: usize) -> Vec<Source> {
    let mut sources: Vec<Source> = Vec::new();
    for passage in passages {
        if sources.len() == count {
            break;
        }
        if !sources.iter().any(|s| s.slug == passage.slug) {
            sources.push(Source::from(passage));
        }
    }
    sources
}

impl Answer {
    /// An answer written without the model: it offers a ticket.
    fn without_model(text: String, sources: Vec<Source>, kind: AnswerKind) -> Self {
        Self {
            text,
            sources,
            needs_human: kind == AnswerKind::NoSources,
            ticket_offer: true,
            ticket_summary: None,
            kind,
            failure: None,
        }
    }

    /// Nothing relevant was found.
    pub fn dont_know() -> Self {
        Self::without_model(
            "I don't know: I found nothing in our help articles that answers this. A member \
             of the team can help if you open a ticket."
                .into(),
            Vec::new(),
            AnswerKind::NoSources,
        )
    }

    /// No model: the articles that look relevant.
    pub fn lexical(passages: &[Passage]) -> Self {
        Self::without_model(
            "Here are the articles that look relevant to your question.".into(),
            top_sources(passages, 3),
            AnswerKind::Lexical,
        )
    }

    /// The model failed: what happened, in a sentence, and the articles that look relevant.
    pub fn failed(error: &GeminiError, passages: &[Passage]) -> Self {
        let sources = top_sources(passages, 3);
        let text = if sources.is_empty() {
            error.for_person().to_owned()
        } else {
            format!(
                "{} Meanwhile, these articles look relevant.",
                error.for_person()
            )
        };
        Self {
            failure: Some(error.kind()),
            ..Self::without_model(text, sources, AnswerKind::Failed)
        }
    }

    /// The model's answer repeated what it was told never to repeat.
    pub fn withheld(passages: &[Passage]) -> Self {
        Self::without_model(
            "I can only answer questions about our services from our help articles. These \
             look relevant; for anything else, open a ticket."
                .into(),
            top_sources(passages, 3),
            AnswerKind::Withheld,
        )
    }

    /// What is recorded as the outcome.
    pub fn outcome(&self) -> String {
        match (self.kind, self.failure) {
            (AnswerKind::Failed, Some(kind)) => format!("failed:{kind}"),
            (kind, _) => serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}
