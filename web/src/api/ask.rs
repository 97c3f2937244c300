//! `POST /api/v1/ask`: the assistant's answer to a question, with its sources.
//!
//! Open to everybody. A signed-in caller (session or API key; asking needs no scope) asks as
//! themselves, with their own daily limit and, for a customer, their own account as context
//! (read with the caller's actor, so a key without `read:servers` or `read:billing` adds none
//! of that). Anybody else asks under the unlinked members' daily limit, counted per client
//! address (`web.trusted_proxies` decides which address that is), with no account context.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use hostdeck_core::assistant::{Asker, Exchange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ErrorView;
use crate::AppState;
use crate::auth::{Caller, ClientInfo};
use crate::error::{ApiError, ApiJson};
use crate::public_url::portal_base;

/// Earlier exchanges taken at most (older ones are dropped).
const MAX_CONVERSATION: usize = 10;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ask))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskRequest {
    /// The question, up to `assistant.max_question_chars` characters.
    #[schema(min_length = 1, max_length = 2000)]
    pub question: String,
    /// Earlier exchanges of the same conversation, oldest first (a follow-up); at most the
    /// last 10 are read.
    #[serde(default)]
    pub conversation: Vec<ExchangeView>,
}

/// One earlier exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExchangeView {
    #[schema(max_length = 2000)]
    pub question: String,
    #[schema(max_length = 4000)]
    pub answer: String,
}

/// The assistant's answer: inert text (no HTML, no mentions, links only to this platform),
/// the help articles it used, and whether a person should take over.
#[derive(Debug, Serialize, ToSchema)]
pub struct AskView {
    pub answer: String,
    pub sources: Vec<SourceView>,
    /// The answer could not be given from the help articles: a person should look.
    pub needs_human: bool,
    /// Offer to open a ticket.
    pub ticket_offer: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    pub slug: String,
    pub title: String,
    /// The article's help page.
    pub url: String,
}

/// Asks the assistant. Needs no authentication; signed-in callers ask as themselves.
#[utoipa::path(post, path = "/api/v1/ask", tag = "help", request_body = AskRequest,
    security((), ("bearer" = [])),
    responses((status = 200, body = AskView), (status = 422, body = ErrorView),
              (status = 429, body = ErrorView, description = "Over a daily limit; Retry-After says when the next question is allowed")))]
async fn ask(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    headers: HeaderMap,
    ApiJson(request): ApiJson<AskRequest>,
) -> Result<Json<AskView>, ApiError> {
    let anonymous = hostdeck_core::Actor::anonymous(hostdeck_core::Via::Api);
    let actor = caller.as_ref().map_or(&anonymous, Caller::actor);
    let asker = Asker {
        key: match actor.user {
            Some(user) => format!("user:{user}"),
            None => format!("ip:{}", client.address),
        },
        channel: None,
    };
    let skip = request.conversation.len().saturating_sub(MAX_CONVERSATION);
    let conversation: Vec<Exchange> = request
        .conversation
        .into_iter()
        .skip(skip)
        .map(|exchange| Exchange {
            question: exchange.question,
            answer: exchange.answer,
        })
        .collect();
    let answer = state
        .core
        .assistant
        .ask(actor, &asker, &request.question, &conversation)
        .await?;
    let base = portal_base(&state, &headers);
    Ok(Json(AskView {
        answer: answer.text,
        sources: answer
            .sources
            .into_iter()
            .map(|source| SourceView {
                url: format!("{base}/help/{}", source.slug),
                slug: source.slug,
                title: source.title,
            })
            .collect(),
        needs_human: answer.needs_human,
        ticket_offer: answer.ticket_offer,
    }))
}
