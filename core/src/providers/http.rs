//! The one HTTP client of each provider: timeouts on every call, retries with backoff for reads
//! only, and transport failures (refused, dropped, timed out) turned into [`Failure`]s.
//!
//! What a status code means is left to each provider, because the platforms disagree (a 500 is
//! "not found" on Proxmox, a 503 is "maintenance" on VirtFusion). Nothing here logs a header or
//! a body: credentials travel in headers marked sensitive or in form bodies, never in URLs.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Client, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use url::Url;

use super::config::{ProviderConfig, required};
use super::{Failure, ProviderError, ProviderKind};

/// Whether a call may be sent again when its answer is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call {
    /// Changes nothing: retried with backoff on a transport failure or a 502/503/504.
    Read,
    /// Changes something: sent once. A lost answer is reported as "may have happened".
    Write,
}

/// Attempts a read gets in all, and the pause before the second (doubled each time after).
const READ_ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// An answer, read to the end.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    /// The reason phrase when the server sent its own (Proxmox puts its error messages there).
    pub reason: Option<String>,
    pub body: Vec<u8>,
    pub retry_after: Option<Duration>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        self.status.is_success()
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        serde_json::from_slice(&self.body).map_err(|error| {
            Failure::Protocol(format!(
                "HTTP {} with a body that is not the JSON expected ({error}): {}",
                self.status.as_u16(),
                self.text()
            ))
        })
    }

    /// The body as text, cut short, for messages.
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((cut, _)) => format!("{}…", &text[..cut]),
            None => text.to_owned(),
        }
    }
}

impl Reply {
    /// What 401, 403, 429 and 5xx mean on every platform; `None` for the codes each provider
    /// reads its own way. `detail` is the platform's own words, if any.
    pub fn common_failure(&self, detail: &str) -> Option<Failure> {
        common_failure(self.status.as_u16(), detail, self.retry_after)
    }
}

/// How long to wait after a 429 that did not say.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// [`Reply::common_failure`] from its parts.
pub(crate) fn common_failure(
    status: u16,
    detail: &str,
    retry_after: Option<Duration>,
) -> Option<Failure> {
    let detail = detail.trim();
    let said = |what: &str| {
        if detail.is_empty() {
            format!("HTTP {status}: {what}")
        } else {
            format!("HTTP {status}: {what}: {detail}")
        }
    };
    Some(match status {
        401 => Failure::BadCredentials {
            detail: said("the API token is not valid"),
        },
        403 => Failure::BadCredentials {
            detail: said("the API token lacks a permission"),
        },
        429 => Failure::RateLimited {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        500..=599 => Failure::ProviderFailed {
            status,
            detail: if detail.is_empty() {
                format!("HTTP {status}")
            } else {
                detail.to_owned()
            },
        },
        _ => return None,
    })
}

/// Every platform's results come wrapped in `data`.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Data<T> {
    pub data: T,
}

/// One provider's client and address.
pub(crate) struct Endpoint {
    provider: String,
    kind: ProviderKind,
    client: Client,
    /// The API root, ending in `/`, that relative paths are joined to.
    base: Url,
    timeout: Duration,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("provider", &self.provider)
            .field("base", &self.base.as_str())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// The client a provider's config describes: its required `base_url` + `api_path`, its
    /// timeout and CA file.
    pub fn for_provider(
        name: &str,
        kind: ProviderKind,
        config: &ProviderConfig,
        api_path: &str,
    ) -> Result<Self, String> {
        let base_url = required(config.base_url.as_ref(), name, "base_url")?;
        Self::new(
            name,
            kind,
            base_url,
            api_path,
            config.timeout(),
            config.ca_file.as_deref(),
        )
    }

    /// A client for `base_url` + `api_path`. Errors are config problems naming the key.
    pub fn new(
        provider: &str,
        kind: ProviderKind,
        base_url: &Url,
        api_path: &str,
        timeout: Duration,
        ca_file: Option<&Path>,
    ) -> Result<Self, String> {
        let mut base = base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let base = base
            .join(api_path)
            .map_err(|error| format!("providers.{provider}.base_url: {error}"))?;
        let mut builder = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("hostdeck/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|error| {
                format!(
                    "providers.{provider}.ca_file: cannot read {}: {error}",
                    path.display()
                )
            })?;
            let certificate = reqwest::Certificate::from_pem(&pem).map_err(|error| {
                format!(
                    "providers.{provider}.ca_file: {} is not a PEM certificate: {error}",
                    path.display()
                )
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        let client = builder.build().map_err(|error| {
            format!("providers.{provider}: the HTTP client could not be built: {error}")
        })?;
        Ok(Self {
            provider: provider.to_owned(),
            kind,
            client,
            base,
            timeout,
        })
    }

    pub fn provider(&self) -> &str {
        &self.provider
    }

    pub fn error(&self, failure: Failure) -> ProviderError {
        ProviderError::new(&self.provider, self.kind, failure)
    }

    /// `path` (relative, no leading `/`) under the API root.
    pub fn url(&self, path: &str) -> Result<Url, ProviderError> {
        self.base.join(path).map_err(|error| {
            self.error(Failure::Protocol(format!(
                "cannot build the address of {path:?}: {error}"
            )))
        })
    }

    /// Sends a request within the configured timeout.
    pub async fn send(
        &self,
        call: Call,
        build: impl Fn(&Client) -> RequestBuilder + Send + Sync,
    ) -> Result<Reply, ProviderError> {
        self.send_within(call, self.timeout, build).await
    }

    /// Sends a request that may take `patience` (a platform that answers only when it is done).
    pub async fn send_within(
        &self,
        call: Call,
        patience: Duration,
        build: impl Fn(&Client) -> RequestBuilder + Send + Sync,
    ) -> Result<Reply, ProviderError> {
        let mut attempt = 1;
        loop {
            let outcome = self.once(call, patience, &build).await;
            let transient = match &outcome {
                Ok(reply) => matches!(reply.status.as_u16(), 502..=504),
                Err(_) => true,
            };
            if call == Call::Read && transient && attempt < READ_ATTEMPTS {
                let pause = backoff(attempt);
                let what = match &outcome {
                    Ok(reply) => format!("HTTP {}", reply.status.as_u16()),
                    Err(failure) => failure.to_string(),
                };
                tracing::warn!(
                    provider = %self.provider,
                    attempt,
                    pause_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
                    "provider read failed ({what}); retrying"
                );
                tokio::time::sleep(pause).await;
                attempt += 1;
                continue;
            }
            return outcome.map_err(|failure| self.error(failure));
        }
    }

    async fn once(
        &self,
        call: Call,
        patience: Duration,
        build: &(impl Fn(&Client) -> RequestBuilder + Send + Sync),
    ) -> Result<Reply, Failure> {
        let response = build(&self.client)
            .timeout(patience)
            .send()
            .await
            .map_err(|error| transport_failure(&error, call, patience))?;
        let status = response.status();
        let reason = reason_phrase(&response);
        let retry_after = retry_after(response.headers());
        let body = response
            .bytes()
            .await
            .map_err(|error| transport_failure(&error, call, patience))?;
        Ok(Reply {
            status,
            reason,
            body: body.to_vec(),
            retry_after,
        })
    }
}

/// A header value that reqwest and hyper will not print (`Debug` shows `Sensitive`).
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, Failure> {
    let mut header = HeaderValue::from_str(value).map_err(|_| Failure::BadCredentials {
        detail: "the configured credentials contain characters a header cannot carry".into(),
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// A path segment with everything but unreserved characters percent-encoded (a UPID's `:`
/// and `@`, a name's spaces).
pub(crate) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A `Retry-After` header in whole seconds (the form APIs send), for any outside service.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let base = FIRST_PAUSE * 2_u32.saturating_pow(attempt - 1);
    let jitter =
        rand::thread_rng().gen_range(0..=u64::try_from(base.as_millis()).unwrap_or(u64::MAX) / 4);
    base + Duration::from_millis(jitter)
}

fn transport_failure(error: &reqwest::Error, call: Call, patience: Duration) -> Failure {
    // A request that never connected was never seen by the provider.
    let sent = call == Call::Write && !error.is_connect();
    if error.is_timeout() {
        Failure::Timeout {
            after: patience,
            maybe_done: sent,
        }
    } else {
        Failure::Unreachable {
            detail: root_cause(error),
            maybe_done: sent,
        }
    }
}

/// The innermost cause: "Connection refused (os error 111)" rather than reqwest's outer text,
/// which names the URL.
fn root_cause(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    if std::ptr::addr_eq(cause, error) {
        return "the connection failed".to_owned();
    }
    cause.to_string()
}

/// The reason phrase the server sent, when it is not the standard one for the status. reqwest
/// keeps it only inside its status error, whose text is `HTTP status ... (CODE REASON)`.
fn reason_phrase(response: &reqwest::Response) -> Option<String> {
    let status = response.status();
    let error = response.error_for_status_ref().err()?;
    let text = error.without_url().to_string();
    let opening = format!("({} ", status.as_str());
    let (_, rest) = text.split_once(&opening)?;
    let reason = rest.strip_suffix(')')?.trim();
    (Some(reason) != status.canonical_reason() && !reason.is_empty()).then(|| reason.to_owned())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server that answers every connection with `raw`, then closes it.
    async fn answering(raw: &'static str) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = [0_u8; 4096];
                let _ = socket.read(&mut buffer).await;
                let _ = socket.write_all(raw.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Url::parse(&format!("http://{addr}/")).expect("url")
    }

    fn endpoint(base: &Url, timeout: Duration) -> Endpoint {
        Endpoint::new("test", ProviderKind::Proxmox, base, "api/", timeout, None).expect("client")
    }

    #[tokio::test]
    async fn a_custom_reason_phrase_is_kept_and_a_standard_one_is_not() {
        let base = answering(
            "HTTP/1.1 500 VM 100 is running - destroy failed\r\ncontent-length: 13\r\n\
             connection: close\r\n\r\n{\"data\":null}",
        )
        .await;
        let http = endpoint(&base, Duration::from_secs(2));
        let url = http.url("x").expect("url");
        let reply = http
            .send(Call::Write, |client| client.delete(url.clone()))
            .await
            .expect("an answer");
        assert_eq!(reply.status.as_u16(), 500);
        assert_eq!(
            reply.reason.as_deref(),
            Some("VM 100 is running - destroy failed")
        );

        let base = answering(
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        let http = endpoint(&base, Duration::from_secs(2));
        let url = http.url("x").expect("url");
        let reply = http
            .send(Call::Write, |client| client.get(url.clone()))
            .await
            .expect("an answer");
        assert_eq!(reply.reason, None);
    }

    #[tokio::test]
    async fn a_refused_connection_is_unreachable_and_never_maybe_done() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let base = Url::parse(&format!("http://{addr}/")).expect("url");
        let http = endpoint(&base, Duration::from_secs(2));
        let url = http.url("x").expect("url");
        let error = http
            .send(Call::Write, |client| client.post(url.clone()))
            .await
            .expect_err("nothing listens");
        match error.failure {
            Failure::Unreachable { detail, maybe_done } => {
                assert!(!maybe_done);
                assert!(!detail.contains("127.0.0.1"), "{detail}");
            }
            other => panic!("expected unreachable, got {other:?}"),
        }
    }

    #[test]
    fn the_codes_every_platform_shares_mean_the_same_everywhere() {
        let failure = |status, detail: &str, retry| common_failure(status, detail, retry);
        assert!(matches!(
            failure(401, "", None),
            Some(Failure::BadCredentials { detail }) if detail == "HTTP 401: the API token is not valid"
        ));
        assert!(matches!(
            failure(403, "needs VM.Allocate", None),
            Some(Failure::BadCredentials { detail }) if detail.ends_with(": needs VM.Allocate")
        ));
        assert_eq!(
            failure(429, "", None),
            Some(Failure::RateLimited {
                retry_after: Duration::from_secs(60)
            })
        );
        assert_eq!(
            failure(429, "", Some(Duration::from_secs(5))),
            Some(Failure::RateLimited {
                retry_after: Duration::from_secs(5)
            })
        );
        assert_eq!(
            failure(502, "", None),
            Some(Failure::ProviderFailed {
                status: 502,
                detail: "HTTP 502".into()
            })
        );
        for own in [400, 404, 409, 422, 423] {
            assert_eq!(
                failure(own, "x", None),
                None,
                "{own} is the provider's to read"
            );
        }
    }

    #[test]
    fn segments_are_fully_encoded() {
        assert_eq!(
            segment("UPID:pve:0001:root@pam!hostdeck:"),
            "UPID%3Apve%3A0001%3Aroot%40pam%21hostdeck%3A"
        );
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn a_base_url_with_a_path_keeps_it() {
        let base = Url::parse("https://panel.example.com/vf").expect("url");
        let http = Endpoint::new(
            "vf",
            ProviderKind::Virtfusion,
            &base,
            "api/v1/",
            Duration::from_secs(1),
            None,
        )
        .expect("client");
        assert_eq!(
            http.url("servers/1").expect("url").as_str(),
            "https://panel.example.com/vf/api/v1/servers/1"
        );
        let debug = format!("{http:?}");
        assert!(debug.contains("panel.example.com"), "{debug}");
    }
}
