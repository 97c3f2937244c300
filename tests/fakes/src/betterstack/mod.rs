//! A fake BetterStack Uptime API, serving the example data set in
//! `../shared/wire/betterstack/` (six monitors over two pages, three monitor groups, three v3
//! incidents, a status page's reports and updates).
//!
//! ```text
//! let bs = FakeBetterstack::start().await;          // base_url = bs.base_url(), token = bs.token()
//! bs.set_monitor("2210043", "up", now);              // a monitor's status and last check
//! bs.set_scenario(Scenario::RateLimited { retry_after: Some(30) });
//! bs.count("GET /api/v2/monitors");                  // requests answered per route
//! ```
//!
//! It answers as documented: `Authorization: Bearer TOKEN` or a 401 with the body seen in the
//! wild (`{"errors": "Invalid Team API token. ..."}`); JSON:API lists with `data` and
//! `pagination` (`first`, `last`, `prev`, `next`, absolute URLs on the fake's own origin, the
//! query kept), `page` from 1 and `per_page` (monitors 50 by default, at most 250; incidents 10,
//! at most 50); 404 `{"errors": "Resource with provided ID was not found"}` for an unknown id.
//! A scenario makes every answer fail the way BetterStack can: 401, 429 with or without
//! `Retry-After`, a 500 with an HTML body, an answer slower than the client waits, a truncated
//! JSON body, an empty `data`, or a `next` link to another host. [`unreachable_url`] is an
//! address where nothing listens.

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::exchange::Exchange;
use crate::server::lock;
use crate::server::{self, Recorder, Running};

/// How every answer goes wrong, until set back to `Normal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    Normal,
    /// 401 with the observed body.
    Unauthorized,
    /// 429, with `Retry-After: N` when given.
    RateLimited {
        retry_after: Option<u64>,
    },
    /// 500 with an HTML page.
    ServerError,
    /// Answers after this long.
    Slow(Duration),
    /// A 200 whose JSON stops half-way.
    Truncated,
    /// Every list answers `"data": []`.
    Empty,
    /// Pages of three items, the first linking its next page on another host.
    ForeignNext,
}

/// The fake's data, changed by tests.
struct World {
    token: String,
    origin: Mutex<String>,
    exchange: Arc<Exchange>,
    scenario: Mutex<Scenario>,
    monitors: Mutex<Vec<Value>>,
    groups: Vec<Value>,
    incidents: Mutex<Vec<Value>>,
    reports: Vec<Value>,
    updates: Vec<Value>,
}

pub struct FakeBetterstack {
    running: Running,
    world: Arc<World>,
    pub recorder: Recorder,
}

fn example(name: &str) -> Value {
    let path = crate::wire_dir().join("betterstack").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("parse {name}: {error}"))
}

fn data(name: &str) -> Vec<Value> {
    example(name)["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// An address on 127.0.0.1 where nothing listens (the port was free a moment ago).
pub fn unreachable_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}")
}

impl FakeBetterstack {
    /// Starts a fake serving the example data set.
    pub async fn start() -> Self {
        let recorder = Recorder::default();
        let mut monitors = data("monitors.list.page1.example.json");
        monitors.extend(data("monitors.list.page2.example.json"));
        let world = Arc::new(World {
            token: "bs-test-token-5d1e7a0c93".to_owned(),
            origin: Mutex::new(String::new()),
            exchange: Exchange::new(recorder.clone(), ""),
            scenario: Mutex::new(Scenario::Normal),
            monitors: Mutex::new(monitors),
            groups: data("monitor-groups.list.example.json"),
            incidents: Mutex::new(data("incidents-v3.list.example.json")),
            reports: data("status-reports.list.example.json"),
            updates: data("status-updates.list.example.json"),
        });
        let running = server::spawn(router(world.clone()), &recorder).await;
        *lock(&world.origin) = running.base_url();
        Self {
            running,
            world,
            recorder,
        }
    }

    /// `http://127.0.0.1:PORT`, what hostdeck's `betterstack.base_url` names.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// The one token the fake accepts.
    pub fn token(&self) -> &str {
        &self.world.token
    }

    pub fn set_scenario(&self, scenario: Scenario) {
        *lock(&self.world.scenario) = scenario;
    }

    /// Sets a monitor's `status` and `last_checked_at`.
    pub fn set_monitor(&self, id: &str, status: &str, last_checked_at: &str) {
        for monitor in lock(&self.world.monitors).iter_mut() {
            if monitor["id"] == id {
                monitor["attributes"]["status"] = json!(status);
                monitor["attributes"]["last_checked_at"] = json!(last_checked_at);
            }
        }
    }

    /// Sets an attribute of a monitor (to plant text in it, or change a type).
    pub fn set_monitor_attribute(&self, id: &str, name: &str, value: Value) {
        for monitor in lock(&self.world.monitors).iter_mut() {
            if monitor["id"] == id {
                monitor["attributes"][name] = value.clone();
            }
        }
    }

    /// Sets an attribute of every incident.
    pub fn set_incident_attribute(&self, name: &str, value: Value) {
        for incident in lock(&self.world.incidents).iter_mut() {
            incident["attributes"][name] = value.clone();
        }
    }

    /// Requests answered on one route (`GET /api/v2/monitors`), whatever the answer.
    pub fn count(&self, route: &str) -> u64 {
        self.world.exchange.count(route)
    }

    /// Every request answered so far.
    pub fn total(&self) -> u64 {
        self.world.exchange.counts().values().sum()
    }
}

fn router(world: Arc<World>) -> Router {
    Router::new()
        .route("/api/v2/monitors", get(monitors))
        .route("/api/v2/monitors/{id}", get(monitor))
        .route("/api/v2/monitor-groups", get(groups))
        .route("/api/v3/incidents", get(incidents))
        .route("/api/v2/status-pages/{page}/status-reports", get(reports))
        .route(
            "/api/v2/status-pages/{page}/status-reports/{report}/status-updates",
            get(updates),
        )
        .fallback(|| async { not_found() })
        .route_layer(axum::middleware::from_fn_with_state(
            world.clone(),
            require_token,
        ))
        .layer(axum::middleware::from_fn_with_state(
            world.clone(),
            scenario,
        ))
        .layer(axum::middleware::from_fn_with_state(
            world.exchange.clone(),
            crate::exchange::observe,
        ))
        .with_state(world)
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"errors": "Resource with provided ID was not found"})),
    )
        .into_response()
}

async fn require_token(State(world): State<Arc<World>>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", world.token);
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if presented == Some(expected.as_str()) {
        next.run(request).await
    } else {
        unauthorized()
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(example("error-401.observed-shape.example.json")),
    )
        .into_response()
}

/// Applies the scenario before the real answer (slow, truncated and foreign links after it).
async fn scenario(State(world): State<Arc<World>>, request: Request, next: Next) -> Response {
    let scenario = lock(&world.scenario).clone();
    match scenario {
        Scenario::Normal | Scenario::Empty | Scenario::ForeignNext => next.run(request).await,
        Scenario::Unauthorized => unauthorized(),
        Scenario::RateLimited { retry_after } => {
            let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
            }
            response
        }
        Scenario::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>500</h1>upstream api-2.internal.example:8080 failed</body></html>",
        )
            .into_response(),
        Scenario::Slow(delay) => {
            tokio::time::sleep(delay).await;
            next.run(request).await
        }
        Scenario::Truncated => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"data\": [{\"id\": \"2210041\", \"type\": \"monitor\", \"attrib",
        )
            .into_response(),
    }
}

#[derive(Debug, Deserialize)]
struct Paging {
    page: Option<u64>,
    per_page: Option<u64>,
    #[serde(flatten)]
    rest: std::collections::BTreeMap<String, String>,
}

/// One page of `items` as BetterStack lists it, links on the fake's own origin.
fn page_of(
    world: &World,
    path: &str,
    items: &[Value],
    paging: &Paging,
    default: u64,
    max: u64,
) -> Response {
    let scenario = lock(&world.scenario).clone();
    let mut per_page = paging.per_page.unwrap_or(default).clamp(1, max);
    if scenario == Scenario::ForeignNext {
        per_page = per_page.min(3);
    }
    let page = paging.page.unwrap_or(1).max(1);
    let items: &[Value] = if scenario == Scenario::Empty {
        &[]
    } else {
        items
    };
    let pages = u64::try_from(items.len())
        .unwrap_or(0)
        .div_ceil(per_page)
        .max(1);
    let start = usize::try_from((page - 1) * per_page).unwrap_or(usize::MAX);
    let shown: Vec<Value> = items
        .iter()
        .skip(start)
        .take(usize::try_from(per_page).unwrap_or(usize::MAX))
        .cloned()
        .collect();
    let origin = lock(&world.origin).clone();
    let link = |number: u64, origin: &str| {
        let mut query: Vec<String> = paging
            .rest
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect();
        query.push(format!("page={number}"));
        query.push(format!("per_page={per_page}"));
        json!(format!("{origin}{path}?{}", query.join("&")))
    };
    let next = if page < pages {
        if scenario == Scenario::ForeignNext {
            link(page + 1, "http://elsewhere.example.net")
        } else {
            link(page + 1, &origin)
        }
    } else {
        Value::Null
    };
    axum::Json(json!({
        "data": shown,
        "pagination": {
            "first": link(1, &origin),
            "last": link(pages, &origin),
            "prev": if page > 1 { link(page - 1, &origin) } else { Value::Null },
            "next": next,
        }
    }))
    .into_response()
}

async fn monitors(State(world): State<Arc<World>>, Query(paging): Query<Paging>) -> Response {
    let items = lock(&world.monitors).clone();
    page_of(&world, "/api/v2/monitors", &items, &paging, 50, 250)
}

async fn monitor(State(world): State<Arc<World>>, Path(id): Path<String>) -> Response {
    let found = lock(&world.monitors)
        .iter()
        .find(|m| m["id"] == id.as_str())
        .cloned();
    match found {
        Some(monitor) => axum::Json(json!({ "data": monitor })).into_response(),
        None => not_found(),
    }
}

async fn groups(State(world): State<Arc<World>>, Query(paging): Query<Paging>) -> Response {
    page_of(
        &world,
        "/api/v2/monitor-groups",
        &world.groups,
        &paging,
        50,
        250,
    )
}

async fn incidents(State(world): State<Arc<World>>, Query(paging): Query<Paging>) -> Response {
    let mut items = lock(&world.incidents).clone();
    if paging.rest.get("resolved").map(String::as_str) == Some("false") {
        items.retain(|incident| incident["attributes"]["resolved_at"].is_null());
    }
    page_of(&world, "/api/v3/incidents", &items, &paging, 10, 50)
}

async fn reports(
    State(world): State<Arc<World>>,
    Path(page): Path<String>,
    Query(paging): Query<Paging>,
) -> Response {
    if page != "190455" {
        return not_found();
    }
    let path = format!("/api/v2/status-pages/{page}/status-reports");
    page_of(&world, &path, &world.reports, &paging, 50, 250)
}

async fn updates(
    State(world): State<Arc<World>>,
    Path((page, report)): Path<(String, String)>,
    Query(paging): Query<Paging>,
) -> Response {
    let items: Vec<Value> = world
        .updates
        .iter()
        .filter(|update| {
            update["attributes"]["status_report_id"]
                .as_u64()
                .is_some_and(|id| id.to_string() == report)
        })
        .cloned()
        .collect();
    let path = format!("/api/v2/status-pages/{page}/status-reports/{report}/status-updates");
    page_of(&world, &path, &items, &paging, 50, 250)
}
