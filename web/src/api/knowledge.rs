//! The help search: `GET /api/v1/kb/search`. Open to everybody, signed in or not; only
//! published articles are found. And the articles for admins (`ManageKnowledge`, scope
//! `admin:system`): `GET /api/v1/kb/articles`, `GET`, `PUT` and `DELETE
//! /api/v1/kb/articles/{slug}`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use hostdeck_core::Permission;
use hostdeck_core::knowledge::{Article, ArticleContent, ArticleKind, Saved, Slug};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorView;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};
use crate::public_url::portal_base;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(list_articles))
        .routes(routes!(get_article, put_article, delete_article))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// The question or words to search for, up to 1000 characters.
    pub q: String,
    /// How many results, 1 to 20 (default 5).
    pub limit: Option<usize>,
}

/// Help articles that answer a question, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchView {
    pub results: Vec<SearchResultView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResultView {
    pub slug: String,
    pub title: String,
    /// 0 to 1: how well the article matches the question.
    pub score: f32,
    /// The passage that matched, as plain text.
    pub snippet: String,
    /// The article's help page.
    pub url: String,
}

/// Searches the published help articles. Needs no authentication.
#[utoipa::path(get, path = "/api/v1/kb/search", tag = "help", params(SearchQuery),
    security((), ("bearer" = [])),
    responses((status = 200, body = SearchView), (status = 422, body = ErrorView)))]
async fn search(
    State(state): State<AppState>,
    caller: Option<Caller>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Json<SearchView>, ApiError> {
    let anonymous = hostdeck_core::Actor::anonymous(hostdeck_core::Via::Api);
    let actor = caller.as_ref().map_or(&anonymous, Caller::actor);
    let found = state
        .core
        .knowledge
        .search(actor, &query.q, query.limit.unwrap_or(5))
        .await?;
    let base = portal_base(&state, &headers);
    Ok(Json(SearchView {
        results: found
            .hits
            .into_iter()
            .map(|hit| SearchResultView {
                url: format!("{base}{}", hit.slug.help_path()),
                slug: hit.slug.to_string(),
                title: hit.title,
                score: hit.score,
                snippet: hit.snippet,
            })
            .collect(),
    }))
}

/// An article as admins manage it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    pub slug: String,
    pub title: String,
    /// `faq` or `doc`.
    pub kind: String,
    pub tags: Vec<String>,
    /// Markdown; raw HTML in it is shown as text on the help pages.
    pub body: String,
    /// Other ways people ask what the article answers.
    pub also_asked: Vec<String>,
    /// Drafts are seen by admins only and never searched.
    pub published: bool,
    pub updated_at: DateTime<Utc>,
    /// The article's help page (a draft's answers 404 to everybody but admins).
    pub url: String,
}

impl ArticleView {
    fn of(article: Article, base: &str) -> Self {
        let content = article.content;
        Self {
            url: format!("{base}{}", content.slug.help_path()),
            slug: content.slug.to_string(),
            title: content.title,
            kind: content.kind.as_str().to_owned(),
            tags: content.tags,
            body: content.body,
            also_asked: content.also_asked,
            published: content.published,
            updated_at: article.updated_at,
        }
    }
}

/// Every article, drafts included, by slug.
#[utoipa::path(get, path = "/api/v1/kb/articles", tag = "help", security(("bearer" = [])),
    responses((status = 200, body = Vec<ArticleView>), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn list_articles(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Json<Vec<ArticleView>>, ApiError> {
    let articles = state.core.knowledge.manage_list(caller.actor()).await?;
    let base = portal_base(&state, &headers);
    Ok(Json(
        articles
            .into_iter()
            .map(|article| ArticleView::of(article, &base))
            .collect(),
    ))
}

/// One article, draft or not.
#[utoipa::path(get, path = "/api/v1/kb/articles/{slug}", tag = "help", security(("bearer" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 200, body = ArticleView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn get_article(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ArticleView>, ApiError> {
    let article = state
        .core
        .knowledge
        .for_editing(caller.actor(), &slug)
        .await?;
    Ok(Json(ArticleView::of(
        article,
        &portal_base(&state, &headers),
    )))
}

/// An article as written by an admin; the slug is the path's.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutArticleRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    /// `faq` or `doc`.
    pub kind: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Markdown.
    pub body: String,
    #[serde(default)]
    pub also_asked: Vec<String>,
    /// Published unless `false`.
    pub published: Option<bool>,
}

/// What a `PUT` did, and the article as stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct SavedArticleView {
    /// `created`, `updated` or `unchanged`.
    pub outcome: String,
    pub article: ArticleView,
}

/// Creates or replaces the article of this slug (201 when created). The search follows on
/// every replica within seconds.
#[utoipa::path(put, path = "/api/v1/kb/articles/{slug}", tag = "help", security(("bearer" = [])),
    params(("slug" = String, Path, description = "Lowercase words joined by single hyphens")),
    request_body = PutArticleRequest,
    responses((status = 200, body = SavedArticleView), (status = 201, body = SavedArticleView),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn put_article(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<PutArticleRequest>,
) -> Result<(StatusCode, Json<SavedArticleView>), ApiError> {
    let actor = caller.actor();
    state
        .core
        .audit
        .require(actor, Permission::ManageKnowledge)
        .await?;
    let content = ArticleContent {
        slug: Slug::parse(&slug)?,
        title: body.title,
        kind: ArticleKind::parse(&body.kind)?,
        tags: body.tags,
        body: body.body,
        also_asked: body.also_asked,
        published: body.published.unwrap_or(true),
    };
    let saved = state.core.knowledge.save(actor, content).await?;
    let article = state.core.knowledge.for_editing(actor, &slug).await?;
    let status = if saved == Saved::Created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(SavedArticleView {
            outcome: saved.as_str().to_owned(),
            article: ArticleView::of(article, &portal_base(&state, &headers)),
        }),
    ))
}

/// Deletes an article.
#[utoipa::path(delete, path = "/api/v1/kb/articles/{slug}", tag = "help", security(("bearer" = [])),
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 204), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn delete_article(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(slug): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.core.knowledge.delete(caller.actor(), &slug).await?;
    Ok(StatusCode::NO_CONTENT)
}
