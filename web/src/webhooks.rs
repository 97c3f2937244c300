//! `POST /webhooks/paypal`: verify, store, answer. The event is processed later from the
//! store, so the answer is quick and a crash after it loses nothing. Core stores deliveries
//! that arrive together with one commit and returns only once that commit is durable.
//!
//! Answers: 200 when stored (or stored before: a duplicate), 400 when the delivery is not
//! genuine (nothing is stored), 503 when it could not be checked now (PayPal tries again).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hostdeck_core::Error;
use hostdeck_core::payments::{Rejection, WebhookHeaders};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

pub async fn paypal(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let delivery = WebhookHeaders {
        transmission_id: header(&headers, "paypal-transmission-id"),
        transmission_time: header(&headers, "paypal-transmission-time"),
        transmission_sig: header(&headers, "paypal-transmission-sig"),
        cert_url: header(&headers, "paypal-cert-url"),
        auth_algo: header(&headers, "paypal-auth-algo"),
    };
    match state.core.payments.receive_webhook(&delivery, &body).await {
        Ok(received) => {
            metrics::counter!("paypal_webhooks_total", "outcome" => if received.new { "stored" } else { "duplicate" })
                .increment(1);
            (
                StatusCode::OK,
                Json(json!({"received": received.event_id, "new": received.new})),
            )
                .into_response()
        }
        Err(Rejection::Forged(why)) => {
            metrics::counter!("paypal_webhooks_total", "outcome" => "refused").increment(1);
            tracing::warn!(%why, "a PayPal webhook delivery was refused");
            let mut response = ApiError(Error::Invalid {
                field: None,
                message: "The delivery did not verify.".into(),
            })
            .into_response();
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
        Err(Rejection::Unavailable(why)) => {
            // The reason (PayPal's answer, the store's error) stays in the log: the caller is
            // not authenticated.
            tracing::warn!(%why, "a PayPal webhook delivery could not be checked now");
            ApiError(Error::Unavailable(
                "The delivery could not be checked or stored now; deliver it again later.".into(),
            ))
            .into_response()
        }
    }
}
