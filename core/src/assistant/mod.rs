//! The assistant (`/ask`): answers from the company's help articles with Gemini, cited,
//! bounded, and handed to a human when they fall short.
//!
//! A question passes the quotas ([`quota`]), then fresh retrieval through [`Passages`] (the
//! knowledge base implements it); when nothing relevant is found the answer is an honest "I
//! don't know" with a ticket offer and the model is not asked. Otherwise the system
//! instruction and the question's turn are rendered from `prompts/` ([`prompts`]), with the
//! passages and the asker's own account ([`account`]) fenced as untrusted data, and sent to
//! Gemini ([`gemini`]) with a JSON schema ([`answer`]). The structured answer keeps only
//! citations of ids that were sent, and its text is made inert ([`inert`]): no mentions, no
//! HTML, links only to the allow-list, bounded length. An answer that repeats the system
//! instruction is withheld. Every Gemini failure ([`failure`]) becomes a helpful answer with
//! the articles that look relevant; nothing here panics or waits past `gemini.total_timeout`.
//! Without `gemini.api_key` answers are the relevant articles, with no model call.
//!
//! Not here: retrieval and the knowledge base (`knowledge`), the doors (Discord buttons, the
//! API route), tickets.

pub mod account;
pub mod answer;
pub mod config;
pub mod failure;
pub mod gemini;
pub mod inert;
pub mod kept;
pub mod prompts;
pub mod quota;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use account::{AskerFacts, OwnAccount};
pub use answer::{Answer, AnswerKind, Exchange, Passage, Retrieved, Source};
pub use failure::GeminiError;
pub use kept::{Draft, FOLLOW_UP_WINDOW, Kept, KeptAnswer};
pub use quota::Asker;

use self::gemini::{Gemini, GenerateRequest, Turn};
use self::inert::OutputRules;
use self::prompts::{PromptSource, Prompts};
use self::quota::Quotas;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::policy::{Actor, Permission};
use crate::records::assistant::{AskUsage, UsageTotals};
use crate::store::Store;

/// Passages retrieved per question.
const PASSAGES: usize = 5;
/// Consecutive words of the system instruction that count as repeating it.
const ECHO_RUN: usize = 8;

/// Ranked passages for a question; the knowledge base implements it.
#[async_trait::async_trait]
pub trait Passages: Send + Sync {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Retrieved>;
}

/// A retriever with no articles: every question is answered "I don't know" until the
/// knowledge base is wired in.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoArticles;

#[async_trait::async_trait]
impl Passages for NoArticles {
    async fn retrieve(&self, _query: &str, _limit: usize) -> Result<Retrieved> {
        Ok(Retrieved::default())
    }
}

/// What the assistant is built from.
pub struct Parts {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub passages: Arc<dyn Passages>,
    pub facts: Arc<dyn AskerFacts>,
}

#[derive(Clone)]
pub struct Assistant {
    inner: Arc<Inner>,
}

struct Inner {
    gemini: Option<Gemini>,
    system: String,
    canary: String,
    prompts: Prompts,
    passages: Arc<dyn Passages>,
    facts: Arc<dyn AskerFacts>,
    quotas: Quotas,
    rules: OutputRules,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
}

impl Assistant {
    /// Loads the prompts and builds the client; a template that fails is a config error.
    pub fn new(parts: Parts) -> Result<Self> {
        let config = parts.config;
        let prompts = Prompts::from_config(&config.assistant.prompts_dir)
            .map_err(|problem| Error::invalid("assistant.prompts_dir", problem))?;
        let canary = format!("ref-{:016x}", rand::random::<u64>());
        let system = prompts
            .system(&config.company.name, &config.assistant.tone, &canary)
            .map_err(|problem| Error::invalid("assistant.prompts_dir", problem))?;
        let mut allowed: Vec<&url::Url> = config.assistant.allowed_links.iter().collect();
        allowed.extend(config.web.public_url.as_ref());
        let rules = OutputRules::new(allowed, config.assistant.max_answer_chars);
        Ok(Self {
            inner: Arc::new(Inner {
                gemini: Gemini::from_config(&config.gemini),
                system,
                canary,
                prompts,
                passages: parts.passages,
                facts: parts.facts,
                quotas: Quotas::new(parts.store.clone(), parts.clock.clone(), config.clone()),
                rules,
                store: parts.store,
                clock: parts.clock,
                config,
            }),
        })
    }

    /// The same assistant over another retriever (the knowledge base, once it is built).
    pub fn with_passages(&self, passages: Arc<dyn Passages>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                gemini: inner.gemini.clone(),
                system: inner.system.clone(),
                canary: inner.canary.clone(),
                prompts: inner.prompts.clone(),
                passages,
                facts: inner.facts.clone(),
                quotas: inner.quotas.clone(),
                rules: inner.rules.clone(),
                store: inner.store.clone(),
                clock: inner.clock.clone(),
                config: inner.config.clone(),
            }),
        }
    }

    /// Whether a model answers (else answers are the relevant articles).
    pub fn has_model(&self) -> bool {
        self.inner.gemini.is_some()
    }

    /// The reference hidden in the system instruction, which no answer may contain.
    pub fn canary(&self) -> &str {
        &self.inner.canary
    }

    /// The Gemini client, when configured (for embeddings and admin checks).
    pub fn gemini(&self) -> Option<&Gemini> {
        self.inner.gemini.as_ref()
    }

    /// Answers `question` for `actor`, with the earlier `conversation` (oldest first).
    /// Refused (`rate_limited`, saying when) over a quota; otherwise always an answer.
    pub async fn ask(
        &self,
        actor: &Actor,
        asker: &Asker,
        question: &str,
        conversation: &[Exchange],
    ) -> Result<Answer> {
        actor.require(Permission::Ask)?;
        let question = self.checked_question(question)?;
        let settings = &self.inner.config.assistant;
        let longest = settings.max_question_chars.max(settings.max_answer_chars);
        let too_long = |text: &str| text.chars().count() > longest;
        if conversation
            .iter()
            .any(|earlier| too_long(&earlier.question) || too_long(&earlier.answer))
        {
            return Err(Error::invalid(
                "conversation",
                format!("Earlier questions and answers may be at most {longest} characters each."),
            ));
        }
        let admitted = self.inner.quotas.admit(asker, actor.user.is_some()).await?;
        let total = self.inner.config.gemini.total_timeout;
        let deadline = Instant::now() + total;
        // The inner deadline bounds every call; this one bounds everything else around them.
        let work = self.answer(actor, &question, conversation, deadline, true);
        let (answer, tokens) =
            match tokio::time::timeout(total + Duration::from_secs(2), work).await {
                Ok(Ok(done)) => done,
                Ok(Err(refused)) => {
                    self.inner.quotas.give_back(&admitted).await;
                    self.record(actor, asker, "refused:budget", 0).await;
                    return Err(refused);
                }
                Err(_) => (Answer::failed(&GeminiError::Timeout, &[]), 0),
            };
        if matches!(
            answer.failure,
            Some("timeout" | "unreachable" | "unavailable" | "rate_limited" | "bad_key")
                | Some("unknown_model" | "refused")
        ) {
            // The platform's failure, not the question's: it does not count against the asker.
            self.inner.quotas.give_back(&admitted).await;
        }
        self.record(actor, asker, &answer.outcome(), tokens).await;
        Ok(answer)
    }

    fn checked_question(&self, question: &str) -> Result<String> {
        let question: String = question
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        let question = question.trim();
        let max = self.inner.config.assistant.max_question_chars;
        if question.is_empty() {
            return Err(Error::invalid("question", "Write a question first."));
        }
        if question.chars().count() > max {
            return Err(Error::invalid(
                "question",
                format!("A question may be at most {max} characters; shorten it a little."),
            ));
        }
        Ok(question.to_owned())
    }

    /// The answer and the model tokens it used; `Err` only for the token budget. `facts`:
    /// whether the asker's own account goes to the model (not for staff's drafts).
    async fn answer(
        &self,
        actor: &Actor,
        question: &str,
        conversation: &[Exchange],
        deadline: Instant,
        facts: bool,
    ) -> Result<(Answer, i64)> {
        let inner = &self.inner;
        // A follow-up ("and how much is it?") is retrieved with the question before it.
        let query = match conversation.last() {
            Some(last) => format!("{question}\n{}", last.question),
            None => question.to_owned(),
        };
        let retrieved = match inner.passages.retrieve(&query, PASSAGES).await {
            Ok(retrieved) => retrieved,
            Err(error) => {
                tracing::warn!(%error, "retrieval failed; answering without sources");
                Retrieved::default()
            }
        };
        if !retrieved.answerable || retrieved.passages.is_empty() {
            return Ok((Answer::dont_know(), 0));
        }
        let Some(gemini) = &inner.gemini else {
            return Ok((Answer::lexical(&retrieved.passages), 0));
        };
        let reserved = inner.quotas.reserve_tokens().await?;
        let request = match self
            .request(actor, question, conversation, &retrieved, facts)
            .await
        {
            Ok(request) => request,
            Err(problem) => {
                tracing::error!(%problem, "the question's prompt could not be rendered");
                inner.quotas.settle_tokens(reserved, 0).await;
                let error = GeminiError::Malformed("the prompt template".into());
                return Ok((Answer::failed(&error, &retrieved.passages), 0));
            }
        };
        let generation = gemini.generate(&request, deadline).await;
        inner
            .quotas
            .settle_tokens(reserved, generation.total_tokens)
            .await;
        let answer = generation
            .text
            .and_then(|text| answer::ModelAnswer::parse(&text))
            .map(|model| self.finish(&model, &retrieved.passages))
            .unwrap_or_else(|error| {
                error.count();
                tracing::warn!(kind = error.kind(), %error, "Gemini gave no answer");
                Answer::failed(&error, &retrieved.passages)
            });
        Ok((answer, generation.total_tokens))
    }

    /// The request: the system instruction on every call, a few earlier turns, and this
    /// question's turn with fresh passages and the asker's own account.
    async fn request(
        &self,
        actor: &Actor,
        question: &str,
        conversation: &[Exchange],
        retrieved: &Retrieved,
        facts: bool,
    ) -> std::result::Result<GenerateRequest, String> {
        let inner = &self.inner;
        let described = match facts {
            true => inner.facts.describe(actor).await,
            false => Ok(None),
        };
        let account = match described {
            Ok(account) => account,
            Err(error) => {
                tracing::warn!(%error, "the asker's account could not be read");
                None
            }
        };
        let sources: Vec<PromptSource> = retrieved
            .passages
            .iter()
            .map(|passage| PromptSource {
                id: passage.prompt_id(),
                title: passage.title.clone(),
                text: passage.text.clone(),
            })
            .collect();
        let nonce = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let turn = inner
            .prompts
            .question(&sources, account.as_deref(), question, &nonce)?;
        let keep = inner.config.assistant.max_turns;
        let mut turns = Vec::new();
        for exchange in &conversation[conversation.len().saturating_sub(keep)..] {
            turns.push(Turn {
                role: "user",
                text: exchange.question.clone(),
            });
            turns.push(Turn {
                role: "model",
                text: exchange.answer.clone(),
            });
        }
        turns.push(Turn {
            role: "user",
            text: turn,
        });
        Ok(GenerateRequest {
            system: inner.system.clone(),
            turns,
            schema: answer::schema(inner.config.assistant.max_answer_chars),
        })
    }

    /// The model's answer, checked and made inert.
    fn finish(&self, model: &answer::ModelAnswer, sent: &[Passage]) -> Answer {
        let inner = &self.inner;
        if inert::echoes(&model.answer, &inner.system, &inner.canary, ECHO_RUN) {
            tracing::warn!("an answer repeated the system instruction and was withheld");
            metrics::counter!("hostdeck_assistant_withheld_total").increment(1);
            return Answer::withheld(sent);
        }
        let sources = answer::cited(&model.citations, sent);
        let not_in_sources = matches!(model.status.as_str(), "not_in_sources" | "refused");
        let text = inner.rules.apply(&model.answer);
        let summary = model
            .ticket_summary
            .as_deref()
            .filter(|s| !inert::echoes(s, &inner.system, &inner.canary, ECHO_RUN))
            .map(|s| inert::OutputRules::apply(&inner.rules, s))
            .map(|s| inert::truncate(&s, 300))
            .filter(|s| !s.is_empty());
        Answer {
            text: if text.is_empty() {
                Answer::dont_know().text
            } else {
                text
            },
            needs_human: model.needs_human || not_in_sources,
            ticket_offer: model.needs_human || not_in_sources || sources.is_empty(),
            ticket_summary: summary,
            kind: if not_in_sources {
                AnswerKind::NotInSources
            } else {
                AnswerKind::Answered
            },
            failure: None,
            sources,
        }
    }

    async fn record(&self, actor: &Actor, asker: &Asker, outcome: &str, tokens: i64) {
        let usage = AskUsage {
            asked_at: self.inner.clock.now(),
            user: actor.user,
            asker: asker.key.clone(),
            channel: asker.channel.clone(),
            outcome: outcome.to_owned(),
            tokens,
        };
        if let Err(error) = self.inner.store.assistant().record_usage(&usage).await {
            tracing::warn!(%error, "could not record the assistant's usage");
        }
    }

    /// Questions and tokens since `since`, for admins.
    pub async fn usage(
        &self,
        actor: &Actor,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<UsageTotals> {
        actor.require(Permission::ManageSettings)?;
        self.inner.store.assistant().usage_since(since).await
    }

    /// Tokens used today and the daily budget, for admins.
    pub async fn tokens_today(&self, actor: &Actor) -> Result<(i64, i64)> {
        actor.require(Permission::ManageSettings)?;
        let day = quota::day_of(self.inner.clock.now());
        let used = self.inner.store.assistant().tokens_on(&day).await?;
        Ok((used, self.inner.config.assistant.daily_token_budget))
    }
}
