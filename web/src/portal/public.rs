//! Pages for people not signed in: sign in, register, verify, forgot and reset.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use hostdeck_core::Error;
use hostdeck_core::identity::SignIn;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::context::{PageContext, PortalError, PortalForm, render, see_other, shown};
use crate::AppState;
use crate::auth::{Caller, ClientInfo};
use crate::cookies::{sign_in_cookie, sign_out_cookie};

#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    notice: Option<String>,
    email: Option<String>,
    token: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: PageContext,
    email: String,
    two_factor: bool,
}

pub async fn login_page(page: PageContext, Query(query): Query<PageQuery>) -> Response {
    render(&LoginPage {
        page: page.notice(query.notice.as_deref()),
        email: query.email.unwrap_or_default(),
        two_factor: false,
    })
}

pub async fn login(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    jar: CookieJar,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    // `code`, as the two-factor form on the account page names it; `totp_code` from forms
    // rendered before the two were one name.
    let code = [form.get("code"), form.get("totp_code")]
        .into_iter()
        .find(|c| !c.is_empty());
    match state
        .core
        .identity
        .sign_in(
            &email,
            SecretString::from(form.get("password").to_owned()),
            code,
            &client,
        )
        .await
    {
        Ok(SignIn::Session(session)) => {
            let cookie = sign_in_cookie(
                &state,
                session.token.expose_secret(),
                state.core.auth.sessions.ttl(),
            );
            (jar.add(cookie), see_other("/")).into_response()
        }
        Ok(SignIn::TwoFactorRequired) => render(&LoginPage {
            page: page
                .error("Enter the code from your authenticator app, with your password again."),
            email,
            two_factor: true,
        }),
        Err(error) => {
            let two_factor =
                matches!(&error, Error::Unauthenticated(m) if m.contains("two-factor"));
            render(&LoginPage {
                page: page.error(shown(&error)),
                email,
                two_factor,
            })
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Option<Caller>,
    jar: CookieJar,
    _form: PortalForm,
) -> Response {
    if let Some(session) = caller.as_ref().and_then(|c| c.0.session.clone())
        && let Err(error) = state.core.identity.sign_out(&session).await
    {
        return PortalError(error).into_response();
    }
    (
        jar.remove(sign_out_cookie(&state)),
        see_other("/login?notice=signed-out"),
    )
        .into_response()
}

#[derive(askama::Template)]
#[template(path = "register.html")]
struct RegisterPage {
    page: PageContext,
    email: String,
}

pub async fn register_page(page: PageContext) -> Response {
    render(&RegisterPage {
        page,
        email: String::new(),
    })
}

pub async fn register(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    match state
        .core
        .identity
        .register(
            &email,
            SecretString::from(form.get("password").to_owned()),
            &client,
        )
        .await
    {
        Ok(()) => see_other(&format!(
            "/verify?notice=registered&email={}",
            encode(&email)
        )),
        Err(error) => render(&RegisterPage {
            page: page.error(shown(&error)),
            email,
        }),
    }
}

#[derive(askama::Template)]
#[template(path = "verify.html")]
struct VerifyPage {
    page: PageContext,
    email: String,
}

pub async fn verify_page(page: PageContext, Query(query): Query<PageQuery>) -> Response {
    render(&VerifyPage {
        page: page.notice(query.notice.as_deref()),
        email: query.email.unwrap_or_default(),
    })
}

pub async fn verify(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    match state
        .core
        .identity
        .verify_email(&email, form.get("code"), &client)
        .await
    {
        Ok(_) => see_other(&format!("/login?notice=verified&email={}", encode(&email))),
        Err(error) => render(&VerifyPage {
            page: page.error(shown(&error)),
            email,
        }),
    }
}

pub async fn resend(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    match state
        .core
        .identity
        .resend_verification(&email, &client)
        .await
    {
        Ok(()) => see_other(&format!("/verify?notice=resent&email={}", encode(&email))),
        Err(error) => render(&VerifyPage {
            page: page.error(shown(&error)),
            email,
        }),
    }
}

#[derive(askama::Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    page: PageContext,
}

pub async fn forgot_page(page: PageContext) -> Response {
    render(&ForgotPage { page })
}

pub async fn forgot(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    match state.core.identity.forgot_password(&email, &client).await {
        Ok(()) => see_other(&format!(
            "/reset?notice=reset-sent&email={}",
            encode(&email)
        )),
        Err(error) => render(&ForgotPage {
            page: page.error(shown(&error)),
        }),
    }
}

#[derive(askama::Template)]
#[template(path = "reset.html")]
struct ResetPage {
    page: PageContext,
    email: String,
    token: String,
}

pub async fn reset_page(page: PageContext, Query(query): Query<PageQuery>) -> Response {
    render(&ResetPage {
        page: page.notice(query.notice.as_deref()),
        email: query.email.unwrap_or_default(),
        token: query.token.unwrap_or_default(),
    })
}

pub async fn reset(
    State(state): State<AppState>,
    page: PageContext,
    ClientInfo(client): ClientInfo,
    form: PortalForm,
) -> Response {
    let email = form.get("email").to_owned();
    let secret = form.get("code").to_owned();
    match state
        .core
        .identity
        .reset_password(
            &email,
            &secret,
            SecretString::from(form.get("new_password").to_owned()),
            &client,
        )
        .await
    {
        Ok(()) => see_other(&format!("/login?notice=reset&email={}", encode(&email))),
        Err(error) => {
            // A link token stays in the form so the person can try another password.
            let token = if secret.len() > 6 {
                secret
            } else {
                String::new()
            };
            render(&ResetPage {
                page: page.error(shown(&error)),
                email,
                token,
            })
        }
    }
}

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[derive(askama::Template)]
#[template(path = "setup.html")]
struct SetupPage {
    page: PageContext,
    token: String,
    email: String,
}

pub async fn setup_page(page: PageContext, Query(query): Query<PageQuery>) -> Response {
    render(&SetupPage {
        page,
        token: query.token.unwrap_or_default(),
        email: String::new(),
    })
}

pub async fn setup(State(state): State<AppState>, page: PageContext, form: PortalForm) -> Response {
    let email = form.get("email").to_owned();
    let token = form.get("token").to_owned();
    let outcome = state
        .core
        .identity
        .create_first_admin(
            &token,
            &email,
            SecretString::from(form.get("password").to_owned()),
        )
        .await;
    match outcome {
        Ok(_) => see_other(&format!(
            "/login?notice=admin-created&email={}",
            encode(&email)
        )),
        Err(error) => render(&SetupPage {
            page: page.error(shown(&error)),
            token,
            email,
        }),
    }
}
