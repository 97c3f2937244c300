//! What every page shares: the company, the signed-in person, the CSRF token, a notice; how a
//! failure becomes a page; and the helpers of every page module (who is signed in, how times
//! and statement lines read, the saved SSH keys). Page modules import from here, never from
//! each other.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use hostdeck_core::error::new_reference;
use hostdeck_core::ledger::StatementLine;
use hostdeck_core::money::Currency;
use hostdeck_core::{Error, Permission};
use serde::Deserialize;

use crate::AppState;
use crate::auth::Caller;

/// The signed-in person as the header shows them.
#[derive(Clone, Copy, Default)]
pub struct NavUser {
    pub staff: bool,
    /// Sees the ticket queue.
    pub support: bool,
}

impl NavUser {
    pub fn of(caller: &Caller) -> Self {
        Self {
            staff: caller.0.user.role.is_staff(),
            support: caller.actor().can(Permission::ReadAnyTicket),
        }
    }
}

/// The parts of the base layout.
pub struct PageContext {
    pub company: String,
    pub support_email: Option<String>,
    pub csrf: String,
    pub user: Option<NavUser>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// The CSRF token of this request, placed by the portal middleware.
#[derive(Clone)]
pub struct CsrfToken(pub String);

/// What an error page shows around its message: the company, and the signed-in person's
/// navigation with a working sign-out form. An error becomes a page where the request and the
/// app state are out of reach, so the portal middleware sets this for the whole of each portal
/// request.
#[derive(Clone, Default)]
pub struct PageShell {
    pub company: String,
    pub support_email: Option<String>,
    pub csrf: String,
    /// Who is signed in, if anybody.
    pub signed_in: Option<NavUser>,
}

tokio::task_local! {
    pub static PAGE_SHELL: PageShell;
}

impl PageContext {
    pub fn new(state: &AppState, parts: &Parts) -> Self {
        let caller = parts.extensions.get::<Caller>();
        Self {
            company: state.core.config.company.name.clone(),
            support_email: state.core.config.company.support_email.clone(),
            csrf: parts
                .extensions
                .get::<CsrfToken>()
                .map(|t| t.0.clone())
                .unwrap_or_default(),
            user: caller.map(NavUser::of),
            notice: None,
            error: None,
        }
    }

    pub fn notice(mut self, notice: Option<&str>) -> Self {
        self.notice = notice.and_then(notice_text).map(str::to_owned);
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PageContext
where
    AppState: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = <AppState as axum::extract::FromRef<S>>::from_ref(state);
        Ok(Self::new(&state, parts))
    }
}

/// Notices shown after a redirect, by code, so no text from a URL is ever shown.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "registered" => "Check your email for a 6-digit code to verify your address.",
        "resent" => "If that address waits for verification, a new code is on its way.",
        "verified" => "Your email is verified. Sign in to continue.",
        "admin-created" => {
            "The admin account is created. Sign in, then turn on two-factor authentication."
        }
        "reset-sent" => "If the address has an account, a reset link and code are on their way.",
        "reset" => {
            "Your password is changed, every sign-in was ended and every API key revoked. Sign in \
             with the new password."
        }
        "signed-out" => "You are signed out.",
        "profile" => "Your profile is saved.",
        "article-saved" => "The article is saved; the search uses it within seconds.",
        "article-published" => "The article is published.",
        "article-unpublished" => "The article is a draft again: only admins see it.",
        "article-deleted" => "The article is deleted.",
        "password" => {
            "Your password is changed. Every other sign-in was ended. You have no API keys."
        }
        "password-keys-revoked" => {
            "Your password is changed. Every other sign-in was ended and all your API keys were \
             revoked; create new ones for your scripts."
        }
        "password-keys-kept" => {
            "Your password is changed. Every other sign-in was ended. Your API keys still work: \
             revoke any that someone else may know."
        }
        "2fa-on" => "Two-factor authentication is on.",
        "2fa-off" => "Two-factor authentication is off.",
        "key-revoked" => "The API key is revoked.",
        "discord-unlinked" => "Your Discord account is unlinked.",
        "adjusted" => "The adjustment is posted.",
        "user-updated" => "The user is updated.",
        "maintenance" => "Maintenance mode is changed.",
        "refunded" => "The refund is done at PayPal and the credit is taken back.",
        "refund-pending" => {
            "PayPal accepted the refund; the credit is taken back when PayPal completes it."
        }
        "server-created" => "Your server is created; its first hour is charged.",
        "server-power" => "Done.",
        "server-resized" => "Resized. The new price applies as shown before you confirmed.",
        "server-deleted" => "The server is deleted; its billing stops at the hour.",
        "ssh-key-added" => "The SSH key is saved; choose it when you create a server.",
        "ssh-key-deleted" => "The SSH key is deleted; servers made with it keep it.",
        "ticket-opened" => "Your ticket is open; we answer here and by email.",
        "ticket-replied" => "Your reply is sent.",
        "ticket-noted" => "The note is saved; only staff see it.",
        "ticket-closed" => "The ticket is closed; the transcript is on its way by email.",
        "ticket-reopened" => "The ticket is open again.",
        "ticket-rated" => "Thank you for your rating.",
        "ticket-claimed" => "The ticket is yours.",
        "ticket-assigned" => "The ticket is assigned.",
        "ticket-priority" => "The priority is changed.",
        "status-subscribed" => "You will get an email about incidents and maintenance.",
        "status-unsubscribed" => "You will get no more incident emails.",
        "incident-declared" => "Declared: it is on the status page and on its way to subscribers.",
        "incident-updated" => "The update is posted.",
        "incident-resolved" => "Resolved: the status page and subscribers are told.",
        _ => return None,
    })
}

/// Renders a template into a page.
pub fn render(template: &impl askama::Template) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            PortalError(Error::internal("rendering a page", error.to_string())).into_response()
        }
    }
}

#[derive(askama::Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub page: PageContext,
    pub heading: String,
    pub text: String,
    pub reference: Option<String>,
}

/// A core error on its way out of a portal handler: a page, or the sign-in page when the
/// person is not signed in.
pub struct PortalError(pub Error);

impl From<Error> for PortalError {
    fn from(error: Error) -> Self {
        Self(error)
    }
}

impl PortalError {
    /// What people may read of the error, with the reference an internal one is logged under
    /// (for a page that shows the error beside its own content).
    pub fn public_text(&self) -> (String, String) {
        public_text(&self.0)
    }
}

/// What people may read of `error` on a page that shows it beside its own content; an
/// internal error is logged under the reference the text gives.
pub fn shown(error: &Error) -> String {
    public_text(error).0
}

fn public_text(error: &Error) -> (String, String) {
    let reference = new_reference();
    if error.code() == hostdeck_core::ErrorCode::Internal {
        tracing::error!(reference, error = ?error, "internal error on a portal page");
    }
    (error.public_message(&reference), reference)
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        if matches!(self.0, Error::Unauthenticated(_)) {
            return Redirect::to("/login").into_response();
        }
        let (text, reference) = self.public_text();
        let status = match &self.0 {
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            other => crate::error::status_of(other.code()),
        };
        let heading = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::SERVICE_UNAVAILABLE => "Unavailable",
            StatusCode::TOO_MANY_REQUESTS => "Slow down",
            _ if status.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let shell = PAGE_SHELL.try_with(PageShell::clone).unwrap_or_default();
        let page = PageContext {
            company: shell.company,
            support_email: shell.support_email,
            csrf: shell.csrf,
            user: shell.signed_in,
            notice: None,
            error: None,
        };
        let internal = self.0.code() == hostdeck_core::ErrorCode::Internal;
        let body = MessagePage {
            page,
            heading: heading.into(),
            text,
            reference: internal.then_some(reference),
        };
        let mut response = (status, render(&body)).into_response();
        if let Error::RateLimited { retry_after, .. } = &self.0 {
            let seconds = retry_after.as_secs().max(1).to_string();
            if let Ok(value) = axum::http::HeaderValue::from_str(&seconds) {
                response
                    .headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// A posted form whose CSRF token matched; its fields in order (repeated names kept).
pub struct PortalForm(pub Vec<(String, String)>);

impl PortalForm {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or("")
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

impl<S: Send + Sync> FromRequest<S> for PortalForm {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let cookie = request
            .extensions()
            .get::<CsrfToken>()
            .map(|token| token.0.clone())
            .unwrap_or_default();
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).map_err(|_| {
            PortalError(Error::invalid("form", "the form could not be read")).into_response()
        })?;
        let sent = fields
            .iter()
            .find(|(key, _)| key == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        if cookie.is_empty() || !constant_time_eq(sent.as_bytes(), cookie.as_bytes()) {
            return Err(PortalError(Error::Forbidden(
                "This form has expired or did not come from this site. Reload the page and try again.".into(),
            ))
            .into_response());
        }
        Ok(Self(fields))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Sends the browser on with 303 See Other (so a reload does not post again).
pub fn see_other(path: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, path.to_owned())]).into_response()
}

// --- What page modules share ---

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

/// A statement line as the tables show it.
pub struct LineRow {
    pub when: String,
    pub what: String,
    pub amount: String,
    pub balance_after: String,
    pub negative: bool,
}

impl LineRow {
    pub fn new(line: &StatementLine, currency: &Currency) -> Self {
        let what = match (&line.memo, &line.reference) {
            _ if line.usage.is_some() => format!(
                "{} — {}",
                line.kind.as_str().replace('_', " "),
                line.description().unwrap_or_default()
            ),
            (Some(memo), _) => format!("{} — {memo}", line.kind.as_str().replace('_', " ")),
            (None, Some(reference)) => {
                format!("{} ({reference})", line.kind.as_str().replace('_', " "))
            }
            (None, None) => line.kind.as_str().replace('_', " "),
        };
        Self {
            when: when(line.created_at),
            what,
            amount: line.amount.display(currency),
            balance_after: line
                .balance_after
                .map(|b| b.display(currency))
                .unwrap_or_default(),
            negative: line.amount.is_negative(),
        }
    }
}

pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

pub fn signed_in(caller: Option<Caller>) -> Result<Caller, PortalError> {
    caller.ok_or_else(|| PortalError(Error::Unauthenticated("Sign in first.".into())))
}

/// The signed-in caller, if `permission` lets them in; a refusal is audited by core.
pub async fn staff(
    state: &AppState,
    caller: Option<Caller>,
    permission: Permission,
) -> Result<Caller, PortalError> {
    let caller =
        caller.ok_or_else(|| PortalError(Error::Unauthenticated("Sign in first.".into())))?;
    state.core.audit.require(caller.actor(), permission).await?;
    Ok(caller)
}

/// A saved key as the account and create pages show it.
pub struct SshKeyRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub fingerprint: String,
    pub created: String,
}

/// The caller's saved keys, oldest first.
pub async fn ssh_key_rows(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<SshKeyRow>, PortalError> {
    Ok(state
        .core
        .ssh_keys
        .list(caller.actor())
        .await?
        .iter()
        .map(|key| SshKeyRow {
            id: key.id.0,
            name: key.name.clone(),
            kind: key.key.kind().to_owned(),
            fingerprint: key.fingerprint.clone(),
            created: when(key.created_at),
        })
        .collect())
}

/// An error as a portal page, for answers made outside the portal's middleware (which gives
/// pages their shell): the company, and no signed-in navigation.
pub fn page_of_error(state: &AppState, error: hostdeck_core::Error) -> axum::response::Response {
    let shell = PageShell {
        company: state.core.config.company.name.clone(),
        support_email: state.core.config.company.support_email.clone(),
        csrf: String::new(),
        signed_in: None,
    };
    PAGE_SHELL.sync_scope(shell, || PortalError(error).into_response())
}
