//! The portal's cookies, as the portal sets them and the sign-in middleware reads them: the
//! session cookie (HttpOnly, SameSite=Lax) and the visit cookie that binds form tokens before
//! signing in (HttpOnly, SameSite=Strict). When `web.public_url` is https they are Secure and
//! named with the `__Host-` prefix.

use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::AppState;
use crate::public_url::served_over_https;

pub const SESSION_COOKIE: &str = "hd_session";
/// The visit cookie: a random id that binds the form tokens of a browser not signed in.
pub const CSRF_COOKIE: &str = "hd_csrf";

/// A cookie's name as the portal sets it: with the `__Host-` prefix when served over https
/// (the browser then keeps it only if Secure, Path=/ and without Domain, and no other host or
/// plain-http page can set it), as `base` on plain http, where browsers refuse the prefix.
pub fn cookie_name(state: &AppState, base: &'static str) -> std::borrow::Cow<'static, str> {
    if served_over_https(state) {
        format!("__Host-{base}").into()
    } else {
        base.into()
    }
}

/// The name of the session cookie as this portal sets it.
pub fn session_cookie_name(state: &AppState) -> std::borrow::Cow<'static, str> {
    cookie_name(state, SESSION_COOKIE)
}

/// The session cookie for a new sign-in.
pub fn sign_in_cookie(state: &AppState, token: &str, max_age: chrono::Duration) -> Cookie<'static> {
    Cookie::build((cookie_name(state, SESSION_COOKIE), token.to_owned()))
        .http_only(true)
        .secure(served_over_https(state))
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(time_duration(max_age))
        .build()
}

/// The cookie that ends the session cookie.
pub fn sign_out_cookie(state: &AppState) -> Cookie<'static> {
    Cookie::build((cookie_name(state, SESSION_COOKIE), ""))
        .http_only(true)
        .secure(served_over_https(state))
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

/// The visit cookie, SameSite=Strict so no other site's request carries it.
pub fn csrf_cookie(state: &AppState, visit: &str) -> Cookie<'static> {
    Cookie::build((cookie_name(state, CSRF_COOKIE), visit.to_owned()))
        .http_only(true)
        .secure(served_over_https(state))
        .same_site(SameSite::Strict)
        .path("/")
        .build()
}

fn time_duration(duration: chrono::Duration) -> cookie::time::Duration {
    cookie::time::Duration::seconds(duration.num_seconds())
}
