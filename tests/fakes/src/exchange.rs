//! What the provider fakes (VirtFusion, Proxmox, Jelastic) share: each call reaches the call
//! log with what the fake found wrong in it, is counted by endpoint, and waits out the
//! configured latency first.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::server::lock;
use crate::server::{Call, Recorder};

const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// What a handler found out about the request it answered, left on the response.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// The provider's name for the operation, when the route does not say it; calls are
    /// counted by it.
    pub endpoint: Option<String>,
    /// What the real provider would have refused in the request.
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct Exchange {
    recorder: Recorder,
    /// The API prefix left out of endpoint names (`/api/v1`).
    prefix: String,
    latency: Mutex<Duration>,
    counts: Mutex<BTreeMap<String, u64>>,
}

impl Exchange {
    pub fn new(recorder: Recorder, prefix: &str) -> Arc<Self> {
        Arc::new(Self {
            recorder,
            prefix: prefix.to_owned(),
            latency: Mutex::new(Duration::ZERO),
            counts: Mutex::default(),
        })
    }

    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    pub fn count(&self, endpoint: &str) -> u64 {
        lock(&self.counts).get(endpoint).copied().unwrap_or(0)
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        lock(&self.counts).clone()
    }
}

/// Middleware: latency, then the handler, then the call log and the count.
pub async fn observe(
    State(exchange): State<Arc<Exchange>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let headers = request.headers().clone();
    let route = request.extensions().get::<MatchedPath>().map_or_else(
        || request.uri().path().to_owned(),
        |m| m.as_str().to_owned(),
    );
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let latency = *lock(&exchange.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes.clone())))
        .await;
    let verdict = response
        .extensions()
        .get::<Verdict>()
        .cloned()
        .unwrap_or_default();
    let endpoint = verdict.endpoint.unwrap_or_else(|| {
        let route = route.strip_prefix(&exchange.prefix).unwrap_or(&route);
        format!("{method} {route}")
    });
    *lock(&exchange.counts).entry(endpoint).or_default() += 1;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    exchange.recorder.record(Call {
        method,
        uri,
        headers,
        body,
        problems: verdict.problems,
    });
    response
}
