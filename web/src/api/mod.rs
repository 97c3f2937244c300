//! The JSON API under `/api/v1`, and its OpenAPI document at `/api/openapi.json`.
//!
//! Routes are registered through utoipa-axum's `OpenApiRouter`, which takes each handler's
//! `#[utoipa::path]`: a route cannot exist without being documented. Handlers are thin: parse,
//! call core with the caller's actor, render one of the views below.

mod account;
mod admin;
mod ask;
mod auth;
mod catalog;
mod keys;
mod knowledge;
mod payments;
mod servers;
mod ssh_keys;
mod status;
mod tickets;
mod views;

use axum::Json;
use axum::extract::State;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub use views::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hostdeck API",
        description = "Accounts, billing, servers and tickets of a hostdeck platform. Authenticate with \
                       `Authorization: Bearer <session token or API key>`. API keys are limited to 100 \
                       requests a minute each (see the RateLimit-* headers). Every error, also for a malformed \
                       id or body, a wrong content type or a body over the size limit, is \
                       `{\"error\":{\"code\",\"message\"}}` with a stable code: not_found (404), \
                       unauthenticated (401), forbidden (403), invalid (400, 413, 415 or 422), conflict (409), \
                       idempotency_mismatch (422), rate_limited (429), unavailable (503), internal (500)."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registering and signing in"),
        (name = "account", description = "The caller's own account"),
        (name = "api-keys", description = "Personal API keys"),
        (name = "admin", description = "Staff administration"),
        (name = "billing", description = "Top-ups with PayPal, statements and exports"),
        (name = "servers", description = "Servers: list, create, power, resize, delete"),
        (name = "tickets", description = "Support tickets: the conversation, and for staff the queue, notes, assignment and the SLA report"),
        (name = "help", description = "The help articles: searched without signing in, managed by admins"),
        (name = "status", description = "The status of the platform, without signing in; staff declare incidents and maintenance")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every `/api/v1` route in two parts, and the OpenAPI document that describes them all.
pub struct Routes {
    /// Open during maintenance: signing in and out, and the status.
    pub open: axum::Router<AppState>,
    /// Everything else; maintenance closes these.
    pub gated: axum::Router<AppState>,
    pub openapi: utoipa::openapi::OpenApi,
}

/// Every `/api/v1` route, and the OpenAPI document that describes them.
pub fn routes() -> Routes {
    let (open, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(auth::open_routes())
        .merge(status::open_routes())
        .split_for_parts();
    let (gated, mut openapi) = OpenApiRouter::with_openapi(openapi)
        .merge(auth::routes())
        .merge(account::routes())
        .merge(keys::routes())
        .merge(admin::routes())
        .merge(payments::routes())
        .merge(servers::routes())
        .merge(catalog::routes())
        .merge(ssh_keys::routes())
        .merge(tickets::routes())
        .merge(knowledge::routes())
        .merge(status::routes())
        .merge(ask::routes())
        .split_for_parts();
    unreadable_bodies(&mut openapi);
    Routes {
        open,
        gated,
        openapi,
    }
}

/// Documents what every operation that takes a body may answer before its handler runs: 400
/// (not JSON), 413 (too large) and 415 (not sent as JSON), in the usual error shape.
fn unreadable_bodies(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    for item in openapi.paths.paths.values_mut() {
        for operation in [
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        .filter(|operation| operation.request_body.is_some())
        {
            for (status, description) in [
                ("400", "The body is not JSON"),
                ("413", "The body is larger than this server accepts"),
                ("415", "The body is not sent as application/json"),
            ] {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| {
                        ResponseBuilder::new()
                            .description(description)
                            .content(
                                "application/json",
                                ContentBuilder::new()
                                    .schema(Some(Ref::from_schema_name("ErrorView")))
                                    .build(),
                            )
                            .build()
                            .into()
                    });
            }
        }
    }
}

/// `GET /api/openapi.json`.
pub async fn openapi(State(state): State<AppState>) -> Json<utoipa::openapi::OpenApi> {
    Json((*state.openapi).clone())
}
