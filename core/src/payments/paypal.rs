//! The one HTTP client of PayPal's REST API: OAuth tokens cached until shortly before they
//! expire (and fetched again on a 401), `PayPal-Request-Id` on every POST so a retry is never a
//! second order, capture or refund, retries with backoff on 5xx and on no answer, and PayPal's
//! own reason on a 4xx.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;

use super::config::PaypalConfig;
use crate::error::Error;

/// Tries of one call when PayPal answers 5xx or not at all.
const ATTEMPTS: u32 = 4;
/// The first wait between tries; it doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// A token is renewed this long before PayPal says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Why a call to PayPal did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaypalError {
    /// PayPal refused the request (4xx): `name` and the first `issue` from its error body.
    Refused {
        status: u16,
        name: String,
        issue: Option<String>,
        message: String,
    },
    /// No usable answer after every retry (5xx, timeouts, refused connections).
    Unreachable(String),
}

impl PaypalError {
    /// PayPal's issue code, e.g. `INSTRUMENT_DECLINED` or `ORDER_ALREADY_CAPTURED`.
    pub fn issue(&self) -> Option<&str> {
        match self {
            Self::Refused { issue, .. } => issue.as_deref(),
            Self::Unreachable(_) => None,
        }
    }
}

impl From<PaypalError> for Error {
    fn from(error: PaypalError) -> Self {
        match error {
            PaypalError::Refused {
                status: 401 | 403,
                message,
                ..
            } => Error::Unavailable(format!(
                "PayPal did not accept hostdeck's credentials ({message}); check paypal.client_id \
                 and paypal.client_secret."
            )),
            PaypalError::Refused {
                name,
                issue,
                message,
                ..
            } => Error::Conflict(format!(
                "PayPal refused: {}{message}",
                issue
                    .map(|issue| format!("{issue}: "))
                    .unwrap_or_else(|| format!("{name}: "))
            )),
            PaypalError::Unreachable(why) => Error::Unavailable(format!(
                "PayPal is not answering right now ({why}); try again in a few minutes."
            )),
        }
    }
}

struct Token {
    value: SecretString,
    renew_at: Instant,
}

/// A PayPal REST client for one app.
pub struct PaypalClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
    secret: SecretString,
    token: Mutex<Option<Token>>,
}

impl PaypalClient {
    /// `None` while payments are off (no credentials).
    pub fn from_config(config: &PaypalConfig) -> Result<Option<Self>, Error> {
        if !config.enabled() {
            return Ok(None);
        }
        let (Some(client_id), Some(secret)) = (&config.client_id, &config.client_secret) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("hostdeck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| Error::internal("building the PayPal client", error))?;
        Ok(Some(Self {
            http,
            base: config.base_url.as_str().trim_end_matches('/').to_owned(),
            client_id: client_id.clone(),
            secret: secret.clone(),
            token: Mutex::new(None),
        }))
    }

    /// A valid access token: the cached one, or a new one.
    async fn token(&self) -> Result<SecretString, PaypalError> {
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.value.clone());
        }
        let answer = self.send_with_retries(|| self.token_request()).await?;
        let value = answer["access_token"]
            .as_str()
            .ok_or_else(|| PaypalError::Unreachable("a token answer without a token".into()))?;
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(0));
        let token = Token {
            value: SecretString::from(value.to_owned()),
            renew_at: Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
        };
        let value = token.value.clone();
        *cached = Some(token);
        Ok(value)
    }

    fn token_request(&self) -> reqwest::RequestBuilder {
        let basic = STANDARD.encode(format!(
            "{}:{}",
            self.client_id,
            self.secret.expose_secret()
        ));
        self.http
            .post(format!("{}/v1/oauth2/token", self.base))
            .header("authorization", format!("Basic {basic}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body("grant_type=client_credentials")
    }

    /// Whether PayPal answers and accepts the credentials now: one token request, not retried
    /// and not cached (the status report's check).
    pub async fn reachable(&self) -> bool {
        matches!(
            self.token_request().send().await,
            Ok(answer) if answer.status().is_success()
        )
    }

    async fn forget_token(&self) {
        *self.token.lock().await = None;
    }

    /// Calls `method path` with a JSON body; POSTs carry `request_id` as `PayPal-Request-Id`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        request_id: Option<&str>,
    ) -> Result<Value, PaypalError> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let outcome = self
                .send_with_retries(|| {
                    let mut request = self
                        .http
                        .request(method.clone(), format!("{}{path}", self.base))
                        .bearer_auth(token.expose_secret())
                        .header("accept", "application/json")
                        .header("prefer", "return=representation");
                    if let Some(id) = request_id {
                        request = request.header("paypal-request-id", id);
                    }
                    if method == Method::POST {
                        request = request
                            .header("content-type", "application/json")
                            .body(body.map(Value::to_string).unwrap_or_else(|| "{}".into()));
                    }
                    request
                })
                .await;
            match outcome {
                // An expired or revoked token: fetch a new one, once.
                Err(PaypalError::Refused { status: 401, .. }) if !renewed => {
                    renewed = true;
                    self.forget_token().await;
                }
                other => return other,
            }
        }
    }

    /// Sends what `build` makes, again after a 5xx or no answer, waiting longer each time.
    async fn send_with_retries(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, PaypalError> {
        let mut wait = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let why = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    let bytes = response.bytes().await.unwrap_or_default();
                    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    if status.is_success() {
                        return Ok(json);
                    }
                    if status.is_client_error() {
                        return Err(refusal(status, &json));
                    }
                    format!("PayPal answered {status}")
                }
                Err(error) if error.is_timeout() => "PayPal did not answer in time".to_owned(),
                Err(error) => format!("no answer from PayPal: {}", without_url(&error)),
            };
            if attempt >= ATTEMPTS {
                return Err(PaypalError::Unreachable(why));
            }
            tracing::warn!(attempt, %why, "PayPal call failed; retrying");
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
}

/// A reqwest error's text without the URL (which holds nothing secret, but is noise).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "");
    }
    text.trim().to_owned()
}

/// PayPal's error body: `{name, message, details:[{issue, description}]}`, or OAuth's
/// `{error, error_description}`.
fn refusal(status: StatusCode, body: &Value) -> PaypalError {
    let detail = &body["details"][0];
    let name = body["name"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .unwrap_or("UNKNOWN")
        .to_owned();
    let message = detail["description"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .or_else(|| body["error_description"].as_str())
        .unwrap_or("no reason given")
        .to_owned();
    PaypalError::Refused {
        status: status.as_u16(),
        name,
        issue: detail["issue"].as_str().map(str::to_owned),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_names_the_issue() {
        let body = serde_json::json!({
            "name": "UNPROCESSABLE_ENTITY",
            "message": "The requested action could not be performed.",
            "details": [{"issue": "ORDER_ALREADY_CAPTURED", "description": "Order already captured."}]
        });
        let error = refusal(StatusCode::UNPROCESSABLE_ENTITY, &body);
        assert_eq!(error.issue(), Some("ORDER_ALREADY_CAPTURED"));
        let shown = Error::from(error).to_string();
        assert!(shown.contains("ORDER_ALREADY_CAPTURED"), "{shown}");
    }
}
