//! Liveness and readiness, for load balancers and orchestrators.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;

/// The process is up and answering. Checks nothing else, so a slow database never gets a
/// healthy process restarted.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready for traffic: the database answers. 503 otherwise, so a load balancer routes around it.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.core.ping().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ready", "checks": { "database": "ok" } })),
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "checks": { "database": "unavailable" } })),
            )
        }
    }
}
