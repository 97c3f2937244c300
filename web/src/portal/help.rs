//! The help pages: `/help` (the published articles by kind and tag, a search box, search
//! results, and an ask box), `/help/{slug}` (one article, its Markdown rendered safely by
//! [`crate::markdown`]), `POST /help/ask` (the assistant's answer with its sources, or the
//! quota's refusal saying when the next question is allowed), and for admins
//! `/admin/assistant` (tokens today, questions per period and their outcomes, feedback).
//! Nobody needs to sign in to read or ask; drafts are only an admin's (others get 404).

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::assistant::Asker;
use hostdeck_core::knowledge::{Article, ArticleKind};
use hostdeck_core::{Actor, Permission, Via};
use serde::Deserialize;

use super::context::{PageContext, PortalError, PortalForm, render, shown, staff, when};
use crate::AppState;
use crate::auth::{Caller, ClientInfo};

/// Results a search shows.
const RESULTS: usize = 10;

#[derive(Debug, Default, Deserialize)]
pub struct HelpQuery {
    q: Option<String>,
    kind: Option<String>,
    tag: Option<String>,
}

/// An article in a list.
pub struct ArticleRow {
    pub slug: String,
    pub title: String,
    pub kind: &'static str,
    pub tags: Vec<String>,
    pub draft: bool,
}

impl ArticleRow {
    fn of(article: &Article) -> Self {
        let content = &article.content;
        Self {
            slug: content.slug.to_string(),
            title: content.title.clone(),
            kind: kind_label(content.kind),
            tags: content.tags.clone(),
            draft: !content.published,
        }
    }
}

fn kind_label(kind: ArticleKind) -> &'static str {
    match kind {
        ArticleKind::Faq => "faq",
        ArticleKind::Doc => "doc",
    }
}

/// A search result.
pub struct ResultRow {
    pub slug: String,
    pub title: String,
    pub snippet: String,
}

/// A source an answer cites.
pub struct SourceRow {
    pub slug: String,
    pub title: String,
}

/// The assistant's answer as the page shows it.
pub struct AnswerView {
    pub question: String,
    /// The question as a ticket's subject: one line, at most 120 characters.
    pub subject: String,
    pub text: String,
    pub sources: Vec<SourceRow>,
    pub ticket_offer: bool,
}

#[derive(askama::Template)]
#[template(path = "help.html")]
struct HelpPage {
    page: PageContext,
    query: String,
    kind: String,
    tag: String,
    kinds: Vec<&'static str>,
    tags: Vec<String>,
    articles: Vec<ArticleRow>,
    results: Option<Vec<ResultRow>>,
    answer: Option<AnswerView>,
    signed_in: bool,
}

#[derive(askama::Template)]
#[template(path = "help_article.html")]
struct ArticlePage {
    page: PageContext,
    article: ArticleRow,
    updated: String,
    /// The body as HTML, made safe by [`crate::markdown::to_html`].
    body: String,
}

fn actor_of(caller: Option<&Caller>) -> Actor {
    caller.map_or_else(|| Actor::anonymous(Via::Portal), |c| c.actor().clone())
}

/// The index, with search results when `q` is given.
pub async fn index(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<HelpQuery>,
) -> Result<Response, PortalError> {
    let actor = actor_of(caller.as_ref());
    help_view(&state, page, &actor, query, None).await
}

async fn help_view(
    state: &AppState,
    page: PageContext,
    actor: &Actor,
    query: HelpQuery,
    answer: Option<AnswerView>,
) -> Result<Response, PortalError> {
    let all = state.core.knowledge.list(actor).await?;
    let kind = query.kind.unwrap_or_default();
    let tag = query.tag.unwrap_or_default();
    let mut tags: Vec<String> = all
        .iter()
        .flat_map(|article| article.content.tags.iter().cloned())
        .collect();
    tags.sort();
    tags.dedup();
    let articles = all
        .iter()
        .filter(|a| kind.is_empty() || kind_label(a.content.kind) == kind)
        .filter(|a| tag.is_empty() || a.content.tags.contains(&tag))
        .map(ArticleRow::of)
        .collect();
    let text = query.q.unwrap_or_default();
    let results = if text.trim().is_empty() {
        None
    } else {
        let found = state.core.knowledge.search(actor, &text, RESULTS).await?;
        Some(
            found
                .hits
                .into_iter()
                .map(|hit| ResultRow {
                    slug: hit.slug.to_string(),
                    title: hit.title,
                    snippet: hit.snippet,
                })
                .collect(),
        )
    };
    Ok(render(&HelpPage {
        page,
        query: text,
        kind,
        tag,
        kinds: vec!["faq", "doc"],
        tags,
        articles,
        results,
        answer,
        signed_in: actor.user.is_some(),
    }))
}

/// `GET /help/ask`: the article whose slug is `ask` (the path is the ask box's too).
pub async fn article_named_ask(
    state: State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
) -> Result<Response, PortalError> {
    article(state, page, caller, Path("ask".to_owned())).await
}

/// One article; a draft is "not found" to anybody but an admin.
pub async fn article(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(slug): Path<String>,
) -> Result<Response, PortalError> {
    let actor = actor_of(caller.as_ref());
    let article = state.core.knowledge.article(&actor, &slug).await?;
    Ok(render(&ArticlePage {
        page,
        updated: when(article.updated_at),
        body: crate::markdown::to_html(&article.content.body),
        article: ArticleRow::of(&article),
    }))
}

/// The ask box: the assistant's answer on the help page, or why not (a quota says when the
/// next question is allowed).
pub async fn ask(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let actor = actor_of(caller.as_ref());
    let question = form.get("question").to_owned();
    let asker = Asker::web(actor.user, &client);
    let query = HelpQuery::default();
    match state
        .core
        .assistant
        .ask(&actor, &asker, &question, &[])
        .await
    {
        Ok(answer) => {
            let view = AnswerView {
                subject: hostdeck_core::assistant::ticket_subject(&question),
                question,
                text: answer.text,
                sources: answer
                    .sources
                    .into_iter()
                    .map(|source| SourceRow {
                        slug: source.slug,
                        title: source.title,
                    })
                    .collect(),
                ticket_offer: answer.ticket_offer,
            };
            help_view(&state, page, &actor, query, Some(view)).await
        }
        Err(error) => help_view(&state, page.error(shown(&error)), &actor, query, None).await,
    }
}

#[derive(askama::Template)]
#[template(path = "admin/assistant.html")]
struct UsagePage {
    page: PageContext,
    tokens_today: i64,
    budget: i64,
    /// (period, questions, tokens, outcomes as "outcome: n").
    periods: Vec<(&'static str, i64, i64, Vec<String>)>,
    /// Feedback over the last 7 days, as "word: n".
    feedback: Vec<String>,
}

/// The assistant's usage, for admins.
pub async fn usage(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
) -> Result<Response, PortalError> {
    let caller = staff(&state, caller, Permission::ManageSettings).await?;
    let actor = caller.actor();
    let assistant = &state.core.assistant;
    let (tokens_today, budget) = assistant.tokens_today(actor).await?;
    let now = state.core.clock.now();
    let mut periods = Vec::new();
    for (label, days) in [
        ("Last 24 hours", 1),
        ("Last 7 days", 7),
        ("Last 30 days", 30),
    ] {
        let totals = assistant
            .usage(actor, now - chrono::Duration::days(days))
            .await?;
        let outcomes = totals
            .by_outcome
            .iter()
            .map(|(outcome, n)| format!("{outcome}: {n}"))
            .collect();
        periods.push((label, totals.questions, totals.tokens, outcomes));
    }
    let feedback = assistant
        .feedback_since(actor, now - chrono::Duration::days(7))
        .await?
        .into_iter()
        .map(|(word, n)| format!("{}: {n}", word.as_deref().unwrap_or("none")))
        .collect();
    Ok(render(&UsagePage {
        page,
        tokens_today,
        budget,
        periods,
        feedback,
    }))
}
