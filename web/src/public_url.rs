//! Where this platform is reached: `web.public_url`, or else the address a request came to; and
//! the top-up order whose PayPal return addresses point there.

use axum::http::{HeaderMap, header};

use hostdeck_core::money::Money;
use hostdeck_core::payments::CreatedOrder;

use crate::AppState;
use crate::auth::Caller;

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

/// Creates the caller's PayPal order to top up `amount`, whose approval and cancellation send
/// the customer back to this portal's `/billing/paypal/return` and `/billing/paypal/cancel`
/// (the API's orders too: the customer approves them in a browser).
pub async fn create_topup_order(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
    amount: Money,
) -> hostdeck_core::Result<CreatedOrder> {
    let base = portal_base(state, headers);
    state
        .core
        .payments
        .create_order(
            caller.actor(),
            &caller.0.user,
            amount,
            &format!("{base}/billing/paypal/return"),
            &format!("{base}/billing/paypal/cancel"),
        )
        .await
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
