//! Where this platform is reached: `web.public_url`, or else the address a request came to.

use axum::http::{HeaderMap, header};

use crate::AppState;

/// Whether the portal is served over https (`web.public_url` is https).
pub fn served_over_https(state: &AppState) -> bool {
    state
        .core
        .config
        .web
        .public_url
        .as_ref()
        .is_some_and(|url| url.scheme() == "https")
}

/// Where the portal is reached, for the addresses PayPal sends the customer back to:
/// `web.public_url`, or else the address this request came to.
pub fn portal_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.core.config.web.public_url {
        return url.as_str().trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| state.core.config.web.bind.to_string());
    format!("http://{host}")
}
