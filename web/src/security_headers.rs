//! The headers every answer carries, pages and API alike, so a browser treats them safely:
//!
//! - `Content-Security-Policy`: scripts from nowhere (the portal has none, inline or not), styles
//!   and images from this site only (the stylesheet is `/assets/portal.css`; no inline styles),
//!   no plugins, no `<base>`, and never inside a frame (`frame-ancestors 'none'`). Form targets
//!   are not restricted: the top-up form's answer sends the browser on to PayPal.
//! - `X-Frame-Options: DENY` for browsers that predate `frame-ancestors`.
//! - `X-Content-Type-Options: nosniff`: a download or a JSON answer is never run as a script.
//! - `Referrer-Policy: same-origin`: links to other sites do not carry the portal's URLs.
//! - `Cache-Control: no-store` on every HTML answer: portal pages can show secrets (a
//!   two-factor secret, a new API key, a server's root password) and are never kept by a
//!   browser's or a proxy's cache.
//! - `Strict-Transport-Security` only when `web.public_url` is https (sent over plain http it
//!   would mean nothing, and it must never pin a site that is not on https).
//!
//! A handler that sets one of these itself (a download's own policy) keeps its own.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'none'; \
     style-src 'self'; img-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'";
/// A year, the usual length; subdomains are the operator's own business.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

pub async fn apply(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "same-origin");
    if crate::public_url::served_over_https(&state) {
        set(header::STRICT_TRANSPORT_SECURITY, STRICT_TRANSPORT_SECURITY);
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/html"));
    if html {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
