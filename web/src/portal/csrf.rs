//! Forms that only this site can post, for every portal request that changes something
//! (POST, PUT, PATCH, DELETE), before any handler runs:
//!
//! - the browser says where the request came from: `Sec-Fetch-Site` must be `same-origin` (or
//!   `none`, typed by the person), and `Origin`, when sent, must be the portal's own (the origin
//!   of `web.public_url`, or the host the request was sent to);
//! - the body is a form as browsers send it, `application/x-www-form-urlencoded`: a `text/plain`
//!   or JSON body (which another site can send without asking) is refused;
//! - the form's `csrf` field is the token of this browser's session (or, before signing in, of
//!   its visit cookie): an HMAC made by core under the server's secret, so a token copied from
//!   another session or visit is refused.
//!
//! The API (bearer tokens, never cookies) and the PayPal webhook (signed) are not cookie
//! authenticated and are left out.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use hostdeck_core::Error;
use hostdeck_core::auth::sessions::FormBinding;

use super::context::PortalError;
use crate::AppState;

/// Whether `method` changes something and so needs the checks.
pub fn changes_state(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Why a request was refused: the status and what the person reads.
pub struct Refusal(StatusCode, &'static str);

impl Refusal {
    pub fn into_error(self) -> (StatusCode, PortalError) {
        (self.0, PortalError(Error::Forbidden(self.1.into())))
    }
}

const FOREIGN: &str =
    "This form did not come from this site, so it was not sent. Open the page here and try again.";
const EXPIRED: &str =
    "This form has expired or did not come from this site. Reload the page and try again.";
const NOT_A_FORM: &str =
    "This request was not sent as a form from this site's pages. Open the page here and try again.";

/// The `Sec-Fetch-Site` and `Origin` checks.
pub fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site")
        && !matches!(site.as_bytes(), b"same-origin" | b"none")
    {
        return Err(Refusal(StatusCode::FORBIDDEN, FOREIGN));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        // Not a browser that says (old browsers, scripts): the form token still decides.
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null");
    let Ok(url) = url::Url::parse(origin) else {
        return Err(Refusal(StatusCode::FORBIDDEN, FOREIGN));
    };
    // With a public address configured, only its origin is the portal's: the Host header can
    // be any name a rebinding DNS points here.
    if let Some(public) = &state.core.config.web.public_url {
        return if public.origin() == url.origin() {
            Ok(())
        } else {
            Err(Refusal(StatusCode::FORBIDDEN, FOREIGN))
        };
    }
    // The host the browser addressed; a browser never lets a page choose it.
    let addressed = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            matches!(url.scheme(), "http" | "https")
                && url.path() == "/"
                && authority(&url).eq_ignore_ascii_case(host)
        });
    if addressed {
        Ok(())
    } else {
        Err(Refusal(StatusCode::FORBIDDEN, FOREIGN))
    }
}

/// `host[:port]` of an origin, the port only when it is not the scheme's default (as a browser
/// writes the Host header).
fn authority(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// Reads the body of a state-changing request, checks that it is a form carrying the token of
/// `binding`, and gives the request back with its body for the handler.
pub async fn check_form(
    state: &AppState,
    binding: FormBinding<'_>,
    request: Request,
) -> Result<Request, Refusal> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Refusal(StatusCode::UNSUPPORTED_MEDIA_TYPE, NOT_A_FORM));
    }
    let (parts, body) = request.into_parts();
    let limit = state.core.config.web.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Refusal(StatusCode::PAYLOAD_TOO_LARGE, NOT_A_FORM))?;
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    if !state.core.auth.sessions.form_token_matches(binding, &sent) {
        return Err(Refusal(StatusCode::FORBIDDEN, EXPIRED));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
