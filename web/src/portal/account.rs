//! The signed-in customer's pages: the dashboard (with the last 30 days of usage as a chart)
//! and the account page (profile, password, two-factor, API keys, saved SSH keys).

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::NaiveDate;
use hostdeck_core::Error;
use hostdeck_core::auth::sessions::IssuedSession;
use hostdeck_core::identity::{Enrolment, KeysOnPasswordChange};
use hostdeck_core::money::{Currency, Money};
use hostdeck_core::policy::Scope;
use hostdeck_core::ssh_keys::SshKeyId;
use hostdeck_core::statements::CHART_DAYS;
use hostdeck_core::store::Page;
use secrecy::{ExposeSecret, SecretString};

use super::context::{
    LineRow, NoticeQuery, PageContext, PortalError, PortalForm, SshKeyRow, render, see_other,
    shown, signed_in, ssh_key_rows, when,
};
use crate::AppState;
use crate::auth::{Caller, ClientInfo};
use crate::cookies::sign_in_cookie;

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
    let usage_chart = usage_chart(&state, &caller).await?;
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
    ssh_keys: Vec<SshKeyRow>,
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
        .users
        .get(caller.actor(), caller.0.user.id)
        .await
        .map_err(|error| match error {
            Error::NotFound(_) => PortalError(Error::NotFound("Your account is gone.".into())),
            other => PortalError(other),
        })?;
    let keys = state.core.auth.api_keys.list(caller.actor()).await?;
    let usable: Vec<&'static str> = caller
        .actor()
        .grantable_scopes()
        .into_iter()
        .map(Scope::as_str)
        .collect();
    let discord = state
        .core
        .discord_links
        .linked(caller.actor())
        .await?
        .map(|link| (link.discord_name, when(link.linked_at)));
    let ssh_keys = ssh_key_rows(state, caller).await?;
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
async fn account_error(
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
        .identity
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
    let cookie = sign_in_cookie(
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
        .identity
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
    match state.core.identity.start_two_factor(caller.actor()).await {
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
        .identity
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
        .identity
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

/// Saves an SSH public key from the account page.
pub async fn add_ssh_key(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    match state
        .core
        .ssh_keys
        .add(caller.actor(), form.get("name"), form.get("public_key"))
        .await
    {
        Ok(_) => Ok(see_other("/account?notice=ssh-key-added")),
        Err(error) => account_error(&state, page, &caller, error).await,
    }
}

/// Deletes a saved SSH key; servers made with it keep it.
pub async fn delete_ssh_key(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(id): Path<String>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id: i64 = id
        .parse()
        .map_err(|_| PortalError(Error::NotFound("There is no such key.".into())))?;
    state
        .core
        .ssh_keys
        .delete(caller.actor(), SshKeyId(id))
        .await?;
    Ok(see_other("/account?notice=ssh-key-deleted"))
}

/// The usage of the last 30 days as an inline SVG bar chart (no script, no outside file).
pub async fn usage_chart(state: &AppState, caller: &Caller) -> Result<String, Error> {
    let days = state
        .core
        .statements
        .daily_usage(caller.actor(), &caller.0.user)
        .await?;
    Ok(chart_svg(&days, &state.core.config.billing.currency))
}

fn chart_svg(days: &[(NaiveDate, Money)], currency: &Currency) -> String {
    const WIDTH: i64 = 600;
    const HEIGHT: i64 = 180;
    const BOTTOM: i64 = 24;
    let peak = days
        .iter()
        .map(|(_, amount)| amount.micros())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / CHART_DAYS;
    let total = days.iter().fold(Money::ZERO, |sum, (_, amount)| {
        sum.checked_add(*amount).unwrap_or(sum)
    });
    let mut svg = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         xmlns=\"http://www.w3.org/2000/svg\" aria-label=\"Usage per day over the last {CHART_DAYS} days: {} in all\">",
        total.display(currency)
    );
    for (index, (day, amount)) in days.iter().enumerate() {
        let height = i64::try_from(
            i128::from(amount.micros()) * i128::from(HEIGHT - BOTTOM - 10) / i128::from(peak),
        )
        .unwrap_or(0);
        let x = i64::try_from(index).unwrap_or(0) * slot;
        let y = HEIGHT - BOTTOM - height;
        svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{height}\" fill=\"currentColor\"><title>{}: {}</title></rect>",
            x + 2,
            slot - 4,
            day.format("%Y-%m-%d"),
            amount.display(currency)
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"0\" y1=\"{0}\" x2=\"{WIDTH}\" y2=\"{0}\" stroke=\"#cbd5e1\"/>",
        HEIGHT - BOTTOM
    ));
    if let (Some((first, _)), Some((last, _))) = (days.first(), days.last()) {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" font-size=\"16\" fill=\"#6b7280\">{}</text>\
             <text x=\"{WIDTH}\" y=\"{}\" font-size=\"16\" fill=\"#6b7280\" text-anchor=\"end\">{}</text>",
            HEIGHT - 4,
            first.format("%b %d"),
            HEIGHT - 4,
            last.format("%b %d")
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn the_chart_has_a_bar_per_day_and_says_the_total() {
        let first = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
        let days: Vec<_> = (0..CHART_DAYS)
            .map(|offset| {
                (
                    first + Duration::days(offset),
                    Money::from_micros(offset * 1_000),
                )
            })
            .collect();
        let svg = chart_svg(&days, &Currency::default());
        assert_eq!(svg.matches("<rect").count(), 30);
        assert!(svg.contains("$0.44 in all"), "{svg}");
        assert!(svg.contains("2026-01-30: $0.03"), "{svg}");
    }
}
