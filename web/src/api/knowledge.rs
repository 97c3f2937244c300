//! The help search: `GET /api/v1/kb/search`. Open to everybody, signed in or not; only
//! published articles are found.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorView;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiQuery};
use crate::public_url::portal_base;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
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
