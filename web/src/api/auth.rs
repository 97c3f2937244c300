//! Registering, verifying, signing in and out, passwords and two-factor.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use hostdeck_core::identity::{KeysOnPasswordChange, SignIn};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, MessageView, SessionView};
use crate::AppState;
use crate::auth::{Caller, ClientInfo};
use crate::error::{ApiError, ApiJson};

/// Signing in and out: open during maintenance, so an admin can turn it off.
pub fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
}

/// The rest of `/api/v1/auth`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(two_factor_enroll))
        .routes(routes!(two_factor_confirm))
        .routes(routes!(two_factor_disable))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub email: String,
    /// 8 to 128 characters, not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
}

/// Creates a customer account and emails a verification code. Answers the same whether or not
/// the address already has an account.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 202, body = MessageView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn register(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    state
        .core
        .identity
        .register(&body.email, SecretString::from(body.password), &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageView::new(
            "Check your email for a verification code.",
        )),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    pub email: String,
    /// The 6-digit code from the email.
    pub code: String,
}

/// Confirms the email address with the emailed code.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = VerifyEmailRequest,
    responses((status = 200, body = MessageView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn verify_email(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> Result<Json<MessageView>, ApiError> {
    state
        .core
        .identity
        .verify_email(&body.email, &body.code, &client)
        .await?;
    Ok(Json(MessageView::new(
        "Your email is verified; you can sign in.",
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EmailRequest {
    pub email: String,
}

/// Sends a new verification code to an unverified address.
#[utoipa::path(post, path = "/api/v1/auth/resend-verification", tag = "auth", request_body = EmailRequest,
    responses((status = 202, body = MessageView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn resend_verification(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    state
        .core
        .identity
        .resend_verification(&body.email, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageView::new(
            "If the address waits for verification, a new code is on its way.",
        )),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// The current code from the authenticator app, when two-factor is on. Also taken as
    /// `code`, the name the two-factor endpoints use.
    #[serde(alias = "code")]
    pub totp_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session token; absent when a two-factor code is needed first.
    pub token: Option<String>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// True when the password was right and a two-factor code must be sent too.
    pub two_factor_required: bool,
}

/// Signs in and returns a session token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn login(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let outcome = state
        .core
        .identity
        .sign_in(
            &body.email,
            SecretString::from(body.password),
            body.totp_code.as_deref(),
            &client,
        )
        .await?;
    Ok(Json(match outcome {
        SignIn::Session(session) => LoginResponse {
            token: Some(session.token.expose_secret().to_owned()),
            expires_at: Some(session.expires_at),
            two_factor_required: false,
        },
        SignIn::TwoFactorRequired => LoginResponse {
            token: None,
            expires_at: None,
            two_factor_required: true,
        },
    }))
}

/// Ends the session the request was made with. An API key has no session: revoke it instead.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorView), (status = 403, body = ErrorView)))]
async fn logout(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    let Some(session) = &caller.0.session else {
        return Err(ApiError(hostdeck_core::Error::Forbidden(
            "An API key cannot sign out; revoke the key under API keys to stop it working.".into(),
        )));
    };
    state.core.identity.sign_out(session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Emails a reset link and code if the address has an account; answers the same either way.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth", request_body = EmailRequest,
    responses((status = 202, body = MessageView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn forgot_password(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<(StatusCode, Json<MessageView>), ApiError> {
    state
        .core
        .identity
        .forgot_password(&body.email, &client)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(MessageView::new(
            "If the address has an account, a reset link is on its way.",
        )),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    pub email: String,
    /// The token from the emailed link, or the 6-digit code.
    pub code: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

/// Sets a new password with the emailed token or code; every session ends and every API key is
/// revoked.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 200, body = MessageView), (status = 422, body = ErrorView), (status = 429, body = ErrorView)))]
async fn reset_password(
    State(state): State<AppState>,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> Result<Json<MessageView>, ApiError> {
    state
        .core
        .identity
        .reset_password(
            &body.email,
            &body.code,
            SecretString::from(body.new_password),
            &client,
        )
        .await?;
    Ok(Json(MessageView::new(
        "Your password is changed, every sign-in was ended and every API key revoked; sign in with the new password.",
    )))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
    /// Whether to revoke every API key of the account too (scripts using them stop working).
    /// Default: true. A key is a password of its own, and a new password does not change it.
    #[serde(default = "revoke_by_default")]
    #[schema(default = true)]
    pub revoke_api_keys: bool,
}

fn revoke_by_default() -> bool {
    true
}

/// The new session, and what the change did to sessions and keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordChangedView {
    /// The new session token; every other session ended.
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// API keys revoked by this change.
    pub api_keys_revoked: u64,
    /// API keys that still work.
    pub api_keys_kept: u64,
    /// What happened, in words.
    pub message: String,
}

/// Changes the password. Every other session ends; the answer carries a new token. API keys
/// are revoked too unless `revoke_api_keys` is false; the answer says what became of them.
#[utoipa::path(post, path = "/api/v1/auth/change-password", tag = "auth", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses((status = 200, body = PasswordChangedView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<ChangePasswordRequest>,
) -> Result<Json<PasswordChangedView>, ApiError> {
    let keys = if body.revoke_api_keys {
        KeysOnPasswordChange::Revoke
    } else {
        KeysOnPasswordChange::Keep
    };
    let changed = state
        .core
        .identity
        .change_password(
            caller.actor(),
            SecretString::from(body.current_password),
            SecretString::from(body.new_password),
            keys,
            &client,
        )
        .await?;
    Ok(Json(PasswordChangedView {
        token: changed.session.token.expose_secret().to_owned(),
        expires_at: changed.session.expires_at,
        api_keys_revoked: changed.keys_revoked,
        api_keys_kept: changed.keys_kept,
        message: changed.summary(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrolmentView {
    /// The secret in base32, for typing into an app.
    pub secret: String,
    /// The otpauth:// URL, for a QR code.
    pub otpauth_url: String,
}

/// Starts two-factor setup: returns a secret for the authenticator app.
#[utoipa::path(post, path = "/api/v1/auth/2fa/enroll", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = EnrolmentView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 409, body = ErrorView)))]
async fn two_factor_enroll(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<EnrolmentView>, ApiError> {
    let enrolment = state.core.identity.start_two_factor(caller.actor()).await?;
    Ok(Json(EnrolmentView {
        secret: enrolment.secret.expose_secret().to_owned(),
        otpauth_url: enrolment.otpauth_url.expose_secret().to_owned(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CodeRequest {
    /// The current 6-digit code from the authenticator app.
    pub code: String,
}

/// Confirms two-factor setup with a code; returns a new token that passed two-factor.
#[utoipa::path(post, path = "/api/v1/auth/2fa/confirm", tag = "auth", security(("bearer" = [])), request_body = CodeRequest,
    responses((status = 200, body = SessionView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn two_factor_confirm(
    State(state): State<AppState>,
    caller: Caller,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<CodeRequest>,
) -> Result<Json<SessionView>, ApiError> {
    let session = state
        .core
        .identity
        .confirm_two_factor(
            caller.actor(),
            caller.0.session.as_deref(),
            &body.code,
            &client,
        )
        .await?;
    Ok(Json(SessionView::from(&session)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DisableTwoFactorRequest {
    pub current_password: String,
    pub code: String,
}

/// Turns two-factor off with the password and a current code.
#[utoipa::path(post, path = "/api/v1/auth/2fa/disable", tag = "auth", security(("bearer" = [])), request_body = DisableTwoFactorRequest,
    responses((status = 200, body = SessionView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView)))]
async fn two_factor_disable(
    State(state): State<AppState>,
    caller: Caller,
    ClientInfo(client): ClientInfo,
    ApiJson(body): ApiJson<DisableTwoFactorRequest>,
) -> Result<Json<SessionView>, ApiError> {
    let session = state
        .core
        .identity
        .disable_two_factor(
            caller.actor(),
            SecretString::from(body.current_password),
            &body.code,
            &client,
        )
        .await?;
    Ok(Json(SessionView::from(&session)))
}
