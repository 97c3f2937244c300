//! The signed-in customer's pages: dashboard and account.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, NaiveDate, Utc};
use hostdeck_core::Error;
use hostdeck_core::accounts::{Enrolment, KeysOnPasswordChange};
use hostdeck_core::auth::sessions::IssuedSession;
use hostdeck_core::ledger::StatementLine;
use hostdeck_core::money::Currency;
use hostdeck_core::policy::Scope;
use hostdeck_core::store::Page;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::context::{
    PageContext, PortalError, PortalForm, render, see_other, session_cookie, shown,
};
use crate::AppState;
use crate::auth::{Caller, ClientInfo};

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

pub(super) fn signed_in(caller: Option<Caller>) -> Result<Caller, PortalError> {
    caller.ok_or_else(|| PortalError(Error::Unauthenticated("Sign in first.".into())))
}

#[derive(askama::Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    page: PageContext,
    display_name: Option<String>,
    balance: String,
    /// What the servers cost an hour, when anything is billed.
    burn: Option<String>,
    hours_left: Option<i64>,
    low_balance: bool,
    /// Below zero: when the servers are (or were) suspended, and whether they are.
    suspend_at: Option<String>,
    suspended: bool,
    transactions: Vec<LineRow>,
    /// The last 30 days of usage as an inline SVG (built from numbers only).
    usage_chart: String,
}

pub async fn dashboard(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let actor = caller.actor();
    let currency = &state.core.config.billing.currency;
    let standing = state.core.billing.standing(actor, &caller.0.user).await?;
    let recent = state
        .core
        .statements
        .transactions(actor, &caller.0.user, &Default::default(), Page::first(10))
        .await?;
    let usage_chart = super::billing::usage_chart(&state, &caller).await?;
    Ok(render(&Dashboard {
        usage_chart,
        page,
        display_name: caller.0.user.display_name.clone(),
        balance: standing.balance.display(currency),
        burn: (standing.burn_per_hour.is_positive())
            .then(|| standing.burn_per_hour.display_exact(currency)),
        hours_left: standing.hours_left,
        low_balance: standing.low_balance,
        suspend_at: standing
            .suspend_at
            .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
        suspended: standing.suspended,
        transactions: recent
            .items
            .iter()
            .map(|line| LineRow::new(line, currency))
            .collect(),
    }))
}

pub struct KeyRow {
    pub id: i64,
    pub name: String,
    pub shown: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

pub struct EnrolmentView {
    pub secret: String,
    pub url: String,
}

#[derive(askama::Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: PageContext,
    email: String,
    display_name: String,
    two_factor: bool,
    staff: bool,
    enrolment: Option<EnrolmentView>,
    keys: Vec<KeyRow>,
    scopes: Vec<&'static str>,
    new_key: Option<String>,
    /// The linked Discord account: name and since when.
    discord: Option<(String, String)>,
    /// Saved SSH public keys.
    ssh_keys: Vec<super::ssh_keys::SshKeyRow>,
}

async fn account_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    enrolment: Option<Enrolment>,
    new_key: Option<String>,
) -> Result<Response, PortalError> {
    let user = state
        .core
        .store
        .user(caller.0.user.id)
        .await?
        .ok_or_else(|| PortalError(Error::NotFound("Your account is gone.".into())))?;
    let keys = state.core.auth.api_keys.list(caller.actor()).await?;
    let usable: Vec<&'static str> = caller
        .actor()
        .grantable_scopes()
        .into_iter()
        .map(Scope::as_str)
        .collect();
    let discord = state
        .core
        .discord
        .linked(caller.actor())
        .await?
        .map(|link| (link.discord_name, when(link.linked_at)));
    let ssh_keys = super::ssh_keys::rows(state, caller).await?;
    Ok(render(&AccountPage {
        ssh_keys,
        discord,
        page,
        email: user.email.clone(),
        display_name: user.display_name.clone().unwrap_or_default(),
        two_factor: user.two_factor,
        staff: user.role.is_staff(),
        enrolment: enrolment.map(|e| EnrolmentView {
            secret: e.secret.expose_secret().to_owned(),
            url: e.otpauth_url.expose_secret().to_owned(),
        }),
        keys: keys
            .iter()
            .rev()
            .map(|key| KeyRow {
                id: key.id,
                name: key.name.clone(),
                shown: format!("{}…{}", key.prefix, key.last4),
                scopes: key
                    .scopes
                    .iter()
                    .map(Scope::as_str)
                    .collect::<Vec<_>>()
                    .join(" "),
                created: when(key.created_at),
                last_used: key.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                revoked: key.revoked_at.is_some(),
            })
            .collect(),
        scopes: usable,
        new_key,
    }))
}

pub async fn account_page(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    account_view(
        &state,
        page.notice(query.notice.as_deref()),
        &caller,
        None,
        None,
    )
    .await
}

/// Shows the account page again with an error from a form on it.
pub(super) async fn account_error(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    error: Error,
) -> Result<Response, PortalError> {
    if matches!(error, Error::Internal { .. } | Error::Unavailable(_)) {
        return Err(PortalError(error));
    }
    account_view(state, page.error(shown(&error)), caller, None, None).await
}

pub async fn profile(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    match state
        .core
        .accounts
        .update_profile(caller.actor(), Some(form.get("display_name")))
        .await
    {
        Ok(_) => Ok(see_other("/account?notice=profile")),
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}

/// After a change that replaced the session (password, two-factor): the new cookie and on to
/// the account page with `notice`, or the account page with the error.
async fn session_replaced(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    jar: CookieJar,
    outcome: hostdeck_core::Result<IssuedSession>,
    notice: &str,
) -> Result<Response, PortalError> {
    match outcome {
        Ok(session) => Ok(with_new_session(
            state,
            jar,
            &session,
            &format!("/account?notice={notice}"),
        )),
        Err(error) => account_error(state, page, caller, error).await,
    }
}

fn with_new_session(
    state: &AppState,
    jar: CookieJar,
    session: &IssuedSession,
    to: &str,
) -> Response {
    let cookie = session_cookie(
        state,
        session.token.expose_secret(),
        state.core.auth.sessions.ttl(),
    );
    (jar.add(cookie), see_other(to)).into_response()
}

pub async fn password(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    jar: CookieJar,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    // Keys are kept only when asked: a form without the choice (an old cached page, a
    // script) revokes them, as the API does.
    let keys = if form.get("revoke_api_keys") == "no" {
        KeysOnPasswordChange::Keep
    } else {
        KeysOnPasswordChange::Revoke
    };
    let outcome = state
        .core
        .accounts
        .change_password(
            caller.actor(),
            SecretString::from(form.get("current_password").to_owned()),
            SecretString::from(form.get("new_password").to_owned()),
            keys,
            &client,
        )
        .await;
    let notice = match &outcome {
        Ok(changed) if changed.keys_revoked > 0 => "password-keys-revoked",
        Ok(changed) if changed.keys_kept > 0 => "password-keys-kept",
        _ => "password",
    };
    let outcome = outcome.map(|changed| changed.session);
    session_replaced(&state, page, &caller, jar, outcome, notice).await
}

pub async fn two_factor_start(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    match state.core.accounts.start_two_factor(caller.actor()).await {
        Ok(enrolment) => account_view(&state, page, &caller, Some(enrolment), None).await,
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}

pub async fn two_factor_confirm(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    jar: CookieJar,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let outcome = state
        .core
        .accounts
        .confirm_two_factor(
            caller.actor(),
            caller.0.session.as_deref(),
            form.get("code"),
            &client,
        )
        .await;
    session_replaced(&state, page, &caller, jar, outcome, "2fa-on").await
}

pub async fn two_factor_disable(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    ClientInfo(client): ClientInfo,
    jar: CookieJar,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let outcome = state
        .core
        .accounts
        .disable_two_factor(
            caller.actor(),
            SecretString::from(form.get("current_password").to_owned()),
            form.get("code"),
            &client,
        )
        .await;
    session_replaced(&state, page, &caller, jar, outcome, "2fa-off").await
}

pub async fn create_key(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let scopes: Result<Vec<Scope>, Error> =
        form.all("scopes").into_iter().map(Scope::parse).collect();
    let expires_at = match form.get("expires_on") {
        "" => Ok(None),
        day => NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .map(|date| date.and_hms_opt(23, 59, 59).map(|at| at.and_utc()))
            .map_err(|_| {
                Error::invalid(
                    "expires_on",
                    "write the expiry as a date, such as 2027-01-31",
                )
            }),
    };
    let outcome = match (scopes, expires_at) {
        (Ok(scopes), Ok(expires_at)) => {
            state
                .core
                .auth
                .api_keys
                .create(caller.actor(), form.get("name"), &scopes, expires_at)
                .await
        }
        (Err(error), _) | (_, Err(error)) => Err(error),
    };
    match outcome {
        Ok(created) => {
            account_view(
                &state,
                page,
                &caller,
                None,
                Some(created.key.expose_secret().to_owned()),
            )
            .await
        }
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<i64>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    match state.core.auth.api_keys.revoke(caller.actor(), id).await {
        Ok(()) => Ok(see_other("/account?notice=key-revoked")),
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}
