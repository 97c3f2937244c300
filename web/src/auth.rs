//! Who is calling: the API's `Authorization: Bearer` (a session token or an API key), rate
//! limits for keys and sessions with `RateLimit-*` headers (429 with `Retry-After` over them),
//! and the caller's address (the peer, or behind `web.trusted_proxies` the address they
//! forwarded for).
//!
//! The middleware resolves credentials once per request and leaves a [`Caller`] in the request
//! for handlers. A bad token is refused with 401 before any handler runs, whatever the route,
//! so no route can forget to check.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hostdeck_core::auth::throttle::Verdict;
use hostdeck_core::auth::{Authenticated, Presented};
use hostdeck_core::identity::Client;
use hostdeck_core::{Actor, Error, Via};

use crate::AppState;
use crate::error::ApiError;

/// A signed-in caller, put in the request by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Caller(pub Box<Authenticated>);

impl Caller {
    pub fn actor(&self) -> &Actor {
        &self.0.actor
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Caller>().cloned())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError(Error::Unauthenticated(
                "Sign in first: send Authorization: Bearer <token or API key>.".into(),
            ))
        })
    }
}

/// The caller's address and user agent.
pub struct ClientInfo(pub Client);

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let forwarded_for = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(HeaderValue::as_bytes);
        let address = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| {
                state
                    .core
                    .config
                    .web
                    .client_address(addr.ip(), forwarded_for)
            })
            .unwrap_or_else(|| "unknown".into());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(120)
            .collect();
        Ok(Self(Client {
            address,
            user_agent,
        }))
    }
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let text = value.to_str().map_err(|_| ());
    Some(text.and_then(|text| {
        let (scheme, token) = text.split_once(' ').ok_or(())?;
        if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
            Ok(token.trim())
        } else {
            Err(())
        }
    }))
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError(Error::Unauthenticated(message.into())).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    response
}

/// Resolves `Authorization: Bearer` for the API (a layer of the API's room only; portal pages
/// sign in with the session cookie, `portal::session`).
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(presented) = bearer(request.headers()) else {
        return next.run(request).await;
    };
    let Ok(token) = presented else {
        return unauthorized("The Authorization header must be `Bearer <token or API key>`.");
    };
    let outcome = match state.core.auth.authenticate(token, Via::Api).await {
        Ok(outcome) => outcome,
        Err(error) => return ApiError(error).into_response(),
    };
    match outcome {
        Presented::Invalid => unauthorized(
            "This token or API key is not valid (expired, revoked or malformed); sign in again.",
        ),
        Presented::RateLimited(verdict) => too_many_requests(&verdict),
        Presented::Valid(authenticated) => {
            let rate = authenticated.rate;
            request.extensions_mut().insert(Caller(authenticated));
            let mut response = next.run(request).await;
            if let Some(verdict) = rate {
                rate_limit_headers(response.headers_mut(), &verdict);
            }
            response
        }
    }
}

/// 429 for a key or session over its limit, with `Retry-After` and the `RateLimit-*` fields.
fn too_many_requests(verdict: &Verdict) -> Response {
    let mut response = ApiError(over_limit(verdict)).into_response();
    rate_limit_headers(response.headers_mut(), verdict);
    response
}

/// The refusal of a key or session over its per-minute limit.
pub fn over_limit(verdict: &Verdict) -> Error {
    Error::RateLimited {
        message: format!(
            "Too many requests: {} in a minute is the limit; try again in {} seconds.",
            verdict.limit,
            verdict.reset_after.as_secs().max(1)
        ),
        retry_after: verdict.reset_after,
    }
}

/// The IETF `RateLimit-*` fields: the limit, what is left, and seconds until the window resets.
pub fn rate_limit_headers(headers: &mut HeaderMap, verdict: &Verdict) {
    let reset = verdict.reset_after.as_secs().max(1);
    for (name, value) in [
        ("ratelimit-limit", verdict.limit.to_string()),
        ("ratelimit-remaining", verdict.remaining.to_string()),
        ("ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    if let Ok(policy) = HeaderValue::from_str(&format!("{};w=60", verdict.limit)) {
        headers.insert("ratelimit-policy", policy);
    }
}
