//! The customer portal: server-rendered pages (askama, escaped by default, so nothing a person
//! typed becomes markup) that work without JavaScript.
//!
//! Signing in sets an HttpOnly, SameSite=Lax session cookie. Every browser also gets a visit
//! cookie (HttpOnly, SameSite=Strict) with a random id. Every form carries a token bound to the
//! session, or before signing in to the visit; a state-changing request is checked in [`csrf`]
//! (origin, form body, token) before its handler runs. When `web.public_url` is https the
//! cookies are Secure and named with the `__Host-` prefix (Path=/, no Domain), so no other host
//! or plain-http page can set them.

mod account;
mod admin;
mod articles_admin;
mod billing;
mod context;
mod conversation;
mod csrf;
mod discord;
mod help;
mod incident_views;
mod incidents_staff;
mod public;
mod servers;
mod status;
mod tickets;
mod tickets_staff;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hostdeck_core::Via;
use hostdeck_core::auth::Presented;
use hostdeck_core::auth::sessions::FormBinding;

use crate::AppState;

pub use context::{CsrfToken, PortalError, page_of_error};

use crate::auth::{over_limit, rate_limit_headers};
use crate::cookies::{CSRF_COOKIE, cookie_name, csrf_cookie, session_cookie_name};

/// Signs portal pages in with the session cookie (the API never does, so another site cannot
/// make a visitor's browser call it): a valid session leaves a [`crate::auth::Caller`] in the
/// request; a session over its per-minute limit gets the rate-limit page.
pub async fn session(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(token) = presented_session(&state, request.headers()) {
        match state.core.auth.authenticate(&token, Via::Portal).await {
            Ok(Presented::Valid(authenticated)) if authenticated.api_key.is_none() => {
                request
                    .extensions_mut()
                    .insert(crate::auth::Caller(authenticated));
            }
            Ok(Presented::RateLimited(verdict)) => {
                let mut response = page_of_error(&state, over_limit(&verdict));
                rate_limit_headers(response.headers_mut(), &verdict);
                return response;
            }
            _ => {}
        }
    }
    next.run(request).await
}

/// The session token the browser presented in the portal's session cookie, if any.
fn presented_session(state: &AppState, headers: &axum::http::HeaderMap) -> Option<String> {
    axum_extra::extract::cookie::CookieJar::from_headers(headers)
        .get(&session_cookie_name(state))
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}

/// Gives every portal request its form token (bound to its session, or to its visit cookie,
/// which the response sets when the browser has none), and refuses a state-changing request
/// that is not a form of this site carrying that token.
pub async fn csrf(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let jar = axum_extra::extract::cookie::CookieJar::from_headers(request.headers());
    let existing = jar
        .get(&cookie_name(&state, CSRF_COOKIE))
        .map(|c| c.value().to_owned())
        .filter(|v| v.len() >= 16);
    let visit = existing
        .clone()
        .unwrap_or_else(hostdeck_core::auth::sessions::random_id);
    let caller = request.extensions().get::<crate::auth::Caller>().cloned();
    let session = caller.as_ref().and_then(|caller| caller.0.session.clone());
    let binding = match &session {
        Some(session) => FormBinding::Session(session),
        None => FormBinding::Visit(&visit),
    };
    let token = state.core.auth.sessions.form_token(binding);
    request.extensions_mut().insert(CsrfToken(token.clone()));
    let shell = context::PageShell {
        company: state.core.config.company.name.clone(),
        support_email: state.core.config.company.support_email.clone(),
        csrf: token,
        signed_in: caller.as_ref().map(context::NavUser::of),
    };
    let checked = async {
        if !csrf::changes_state(request.method()) {
            return Ok(request);
        }
        csrf::check_origin(&state, request.headers())?;
        csrf::check_form(&state, binding, request).await
    };
    let response = context::PAGE_SHELL
        .scope(shell, async {
            match checked.await {
                Ok(request) => next.run(request).await,
                Err(refusal) => {
                    let (status, error) = refusal.into_error();
                    let mut response = error.into_response();
                    *response.status_mut() = status;
                    response
                }
            }
        })
        .await;
    if existing.is_some() {
        return response;
    }
    (jar.add(csrf_cookie(&state, &visit)), response).into_response()
}

/// The pages open during maintenance: signing in and out (so an admin can turn it off), the
/// stylesheet, and the status page with its feed (which say maintenance is on).
pub fn open_routes() -> Router<AppState> {
    Router::new()
        .route("/assets/portal.css", get(stylesheet))
        .route("/status", get(status::page))
        .route("/status/feed.atom", get(status::feed))
        .route("/login", get(public::login_page).post(public::login))
        .route("/logout", post(public::logout))
}

/// Every other page; maintenance closes these.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(account::dashboard))
        .route(
            "/register",
            get(public::register_page).post(public::register),
        )
        .route("/verify", get(public::verify_page).post(public::verify))
        .route("/verify/resend", post(public::resend))
        .route("/forgot", get(public::forgot_page).post(public::forgot))
        .route("/reset", get(public::reset_page).post(public::reset))
        .route("/setup", get(public::setup_page).post(public::setup))
        .route("/account", get(account::account_page))
        .route("/account/profile", post(account::profile))
        .route("/account/password", post(account::password))
        .route("/account/2fa/start", post(account::two_factor_start))
        .route("/account/2fa/confirm", post(account::two_factor_confirm))
        .route("/account/2fa/disable", post(account::two_factor_disable))
        .route("/account/keys", post(account::create_key))
        .route("/account/keys/{id}/revoke", post(account::revoke_key))
        .route("/account/ssh-keys", post(account::add_ssh_key))
        .route(
            "/account/ssh-keys/{id}/delete",
            post(account::delete_ssh_key),
        )
        .route("/servers", get(servers::list).post(servers::create))
        .route("/servers/new", get(servers::new_server))
        .route("/servers/new/review", get(servers::review))
        .route("/servers/{id}", get(servers::show))
        .route(
            "/servers/{id}/power/{action}",
            get(servers::confirm_power).post(servers::power),
        )
        .route(
            "/servers/{id}/delete",
            get(servers::confirm_delete).post(servers::delete),
        )
        .route(
            "/servers/{id}/resize",
            get(servers::resize_review).post(servers::resize),
        )
        .route("/tickets", get(tickets::list).post(tickets::create))
        .route("/tickets/new", get(tickets::new_ticket))
        .route("/tickets/{id}", get(tickets::show))
        .route("/tickets/{id}/transcript", get(tickets::transcript))
        .route(
            "/tickets/{id}/transcript.html",
            get(tickets::transcript_file),
        )
        .route("/tickets/{id}/{action}", post(tickets::action))
        .route("/admin/tickets", get(tickets_staff::queue))
        .route("/admin/tickets/report", get(tickets_staff::report))
        .route("/admin/tickets/{id}", get(tickets_staff::show))
        .route("/admin/tickets/{id}/{action}", post(tickets_staff::action))
        .route("/account/discord/code", post(discord::link_code))
        .route("/account/discord/unlink", post(discord::unlink))
        .route("/admin/users", get(admin::users))
        .route("/admin/users/{id}", get(admin::user))
        .route("/admin/users/{id}/credits", post(admin::credits))
        .route("/admin/users/{id}/role", post(admin::role))
        .route("/admin/users/{id}/status", post(admin::status))
        .route(
            "/admin/articles",
            get(articles_admin::list).post(articles_admin::save),
        )
        .route("/admin/articles/new", get(articles_admin::new_article))
        .route("/admin/articles/{slug}", get(articles_admin::edit))
        .route(
            "/admin/articles/{slug}/delete",
            get(articles_admin::confirm_delete).post(articles_admin::delete),
        )
        .route(
            "/admin/articles/{slug}/{action}",
            post(articles_admin::publish),
        )
        .route("/billing", get(billing::topup_page))
        .route("/billing/topup", post(billing::topup))
        .route("/billing/paypal/return", get(billing::paypal_return))
        .route("/billing/paypal/cancel", get(billing::paypal_cancel))
        .route("/billing/transactions", get(billing::transactions))
        .route("/billing/transactions.csv", get(billing::transactions_csv))
        .route("/billing/statement.pdf", get(billing::statement_pdf))
        .route("/admin/users/{id}/payments", get(billing::admin_payments))
        .route("/admin/users/{id}/refunds", post(billing::admin_refund))
        .route(
            "/admin/maintenance",
            get(admin::maintenance_page).post(admin::maintenance),
        )
        .route("/status/subscribe", post(status::subscribe))
        .route(
            "/status/unsubscribe",
            get(status::unsubscribe_page).post(status::unsubscribe),
        )
        .route(
            "/admin/incidents",
            get(incidents_staff::list).post(incidents_staff::declare),
        )
        .route("/admin/incidents/{id}", get(incidents_staff::show))
        .route(
            "/admin/incidents/{id}/{action}",
            post(incidents_staff::action),
        )
        .route("/help", get(help::index))
        // The ask box posts here; an article named `ask` is read here too.
        .route("/help/ask", get(help::article_named_ask).post(help::ask))
        .route("/help/{slug}", get(help::article))
        .route("/admin/assistant", get(help::usage))
}

#[derive(askama::Template)]
#[template(path = "portal.css", escape = "none")]
struct Stylesheet<'a> {
    primary: &'a str,
}

async fn stylesheet(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> impl IntoResponse {
    let css = askama::Template::render(&Stylesheet {
        primary: state.core.config.company.primary_color.as_str(),
    })
    .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        css,
    )
}
