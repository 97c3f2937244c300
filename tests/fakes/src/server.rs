//! What every fake shares: a server on a free loopback port, a log of the calls it received,
//! and faults a test can inject.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::task::JoinHandle;

/// One request a fake received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    /// Path and query as sent.
    pub uri: String,
    pub headers: HeaderMap,
    /// The body parsed as JSON, or `Value::String` with the raw text when it is not JSON.
    pub body: Value,
    /// What the fake found wrong with the request (empty when it matched the spec).
    pub problems: Vec<String>,
}

impl Call {
    pub fn path(&self) -> &str {
        self.uri.split('?').next().unwrap_or(&self.uri)
    }
}

/// A fault to apply to the next matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body instead of the real answer.
    Status(StatusCode, Value),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Never answer (the client must time out).
    Hang,
    /// Close the connection without an answer.
    Drop,
}

#[derive(Debug, Clone)]
struct Rule {
    /// Applies to requests whose path contains this text ("" for all).
    path_contains: String,
    fault: Fault,
    /// How many more requests it applies to; `None` for all of them.
    remaining: Option<usize>,
}

/// The call log and the fault queue of one fake. Cheap to clone; clones share state.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    calls: Arc<Mutex<Vec<Call>>>,
    rules: Arc<Mutex<VecDeque<Rule>>>,
    /// Requests answered by a fault instead of the fake (they are not in `calls`).
    faulted: Arc<Mutex<usize>>,
}

impl Recorder {
    pub fn record(&self, call: Call) {
        lock(&self.calls).push(call);
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// Calls whose method matches and whose path contains `path_contains`.
    pub fn calls_to(&self, method: &Method, path_contains: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == *method && call.path().contains(path_contains))
            .collect()
    }

    /// Every problem the fake found in what it received; a test asserts this is empty.
    pub fn problems(&self) -> Vec<String> {
        self.calls()
            .iter()
            .flat_map(|call| {
                call.problems
                    .iter()
                    .map(move |p| format!("{} {}: {p}", call.method, call.uri))
            })
            .collect()
    }

    pub fn clear(&self) {
        lock(&self.calls).clear();
    }

    /// Applies `fault` to the next `times` requests whose path contains `path_contains`.
    pub fn fail_next(&self, path_contains: &str, times: usize, fault: Fault) {
        lock(&self.rules).push_back(Rule {
            path_contains: path_contains.to_owned(),
            fault,
            remaining: Some(times),
        });
    }

    /// Applies `fault` to every request whose path contains `path_contains` until [`Self::heal`].
    pub fn fail_always(&self, path_contains: &str, fault: Fault) {
        lock(&self.rules).push_back(Rule {
            path_contains: path_contains.to_owned(),
            fault,
            remaining: None,
        });
    }

    /// How many requests a fault has answered (or delayed) so far.
    pub fn faults_applied(&self) -> usize {
        *lock(&self.faulted)
    }

    /// Removes every fault.
    pub fn heal(&self) {
        lock(&self.rules).clear();
    }

    fn take_fault(&self, path: &str) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        let index = rules
            .iter()
            .position(|rule| path.contains(&rule.path_contains))?;
        let rule = &mut rules[index];
        let fault = rule.fault.clone();
        if let Some(remaining) = &mut rule.remaining {
            *remaining -= 1;
            if *remaining == 0 {
                rules.remove(index);
            }
        }
        *lock(&self.faulted) += 1;
        Some(fault)
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Middleware that applies injected faults before the fake's own handler runs.
pub async fn apply_faults(recorder: Recorder, request: Request, next: Next) -> Response {
    match recorder.take_fault(request.uri().path()) {
        None => next.run(request).await,
        Some(Fault::Status(status, body)) => (status, axum::Json(body)).into_response(),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Some(Fault::Hang) => {
            std::future::pending::<()>().await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Some(Fault::Drop) => {
            // A body that fails makes hyper abort the connection mid-answer.
            let failing = futures_util::stream::once(async {
                Err::<axum::body::Bytes, std::io::Error>(std::io::Error::other(
                    "connection dropped by the fake",
                ))
            });
            Response::new(Body::from_stream(failing))
        }
    }
}

/// A fake running on 127.0.0.1. Dropping it stops the server.
pub struct Running {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:PORT`, the base URL to configure hostdeck with.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on a free loopback port, with `recorder`'s faults applied.
pub async fn spawn(router: Router, recorder: &Recorder) -> Running {
    let recorder = recorder.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| apply_faults(recorder.clone(), request, next),
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Running { addr, task }
}
