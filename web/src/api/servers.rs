//! Servers: list, create (idempotent by `Idempotency-Key` or a `key` field), read with live
//! state, delete, power actions, resize. Scopes: `read:servers` to read, `write:servers` to change.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use chrono::{DateTime, Utc};
use hostdeck_core::Error;
use hostdeck_core::ids::{ServerId, UserId};
use hostdeck_core::money::Currency;
use hostdeck_core::pricing::Size;
use hostdeck_core::providers::{CreateKey, Image, Resources};
use hostdeck_core::servers::{
    CreateChoice, CreateServer, Owners, Server, ServerView as CoreServerView,
};
use hostdeck_core::ssh_keys::{SshKeyId, SshPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ErrorView, MoneyView, PriceView};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, create_server))
        .routes(routes!(get_server, delete_server))
        .routes(routes!(power_server))
        .routes(routes!(resize_server))
}

/// A server.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerSummaryView {
    pub id: i64,
    /// The owner's account id.
    pub user_id: i64,
    pub name: String,
    pub hostname: String,
    /// creating, building, running, stopped, unknown, failed, deleted or suspended.
    pub state: String,
    /// The provider it runs on (the location chosen at create).
    pub location: String,
    pub plan: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// `template:ID` or `iso:VOLUME`.
    pub image: String,
    pub suspend_reason: Option<String>,
    /// What an hour costs in its current state.
    pub hourly: MoneyView,
    /// The power actions that make sense now (boot, shutdown, restart, poweroff): a running
    /// server is not booted, a stopped one not shut down; none while it is being made, has
    /// failed or is suspended.
    pub actions: Vec<String>,
    pub created_at: DateTime<Utc>,
}

impl ServerSummaryView {
    pub fn new(server: &Server, currency: &Currency) -> Self {
        Self {
            id: server.id.0,
            user_id: server.user.0,
            name: server.name.clone(),
            hostname: server.hostname.clone(),
            state: server.shown_state().into(),
            location: server.provider.clone(),
            plan: server.plan.clone(),
            vcpus: server.resources.vcpus,
            memory_mib: server.resources.memory_mib,
            disk_gib: server.resources.disk_gib,
            image: server.image.clone(),
            suspend_reason: server.suspend_reason.clone(),
            hourly: MoneyView::rate(server.hourly(), currency),
            actions: server
                .power_actions()
                .iter()
                .map(|action| action.as_str().to_owned())
                .collect(),
            created_at: server.created_at,
        }
    }
}

/// Network traffic, where the provider counts it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TrafficView {
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub limit_gib: Option<u64>,
}

/// A server with what its provider says now.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerDetailView {
    pub server: ServerSummaryView,
    /// The provider's own word now (running, stopped, suspended, building, unknown), or null
    /// when it did not answer.
    pub live_state: Option<String>,
    pub ipv4: Vec<String>,
    pub traffic: Option<TrafficView>,
    /// Why there is no live answer.
    pub live_error: Option<String>,
    /// Usage charged for this server so far.
    pub charged: MoneyView,
}

impl ServerDetailView {
    pub fn new(view: &CoreServerView, currency: &Currency) -> Self {
        Self {
            server: ServerSummaryView::new(&view.server, currency),
            live_state: view.live.as_ref().map(|live| {
                serde_json::to_value(live.state)
                    .ok()
                    .and_then(|value| value.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }),
            ipv4: view
                .live
                .as_ref()
                .map(|live| live.ipv4.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
            traffic: view.usage.map(|usage| TrafficView {
                rx_bytes: usage.rx_bytes,
                tx_bytes: usage.tx_bytes,
                limit_gib: usage.limit_gib,
            }),
            live_error: view.live_error.clone(),
            charged: MoneyView::new(view.charged, currency),
        }
    }
}

/// The answer to a create.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedServerView {
    pub server: ServerSummaryView,
    pub price: PriceView,
    /// True when this key was used before: the first create's server, nothing new charged.
    pub replayed: bool,
    /// The server's root password (user `root`). Shown only in this answer, stored nowhere:
    /// keep it now. Null when keys alone were asked for, on a replay, or where the location
    /// sets its own.
    pub root_password: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Staff: one customer's servers (their account id).
    pub customer: Option<i64>,
    /// Staff: everybody's servers.
    pub all: Option<bool>,
    /// The page, counted from 1 (default 1).
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Servers a page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Servers: the caller's own, or (staff) one customer's or everybody's, in id order, a page at
/// a time (`page`, `limit`). The body is the page's servers; `X-Total-Count` says how many
/// there are in all and `Link` (rel="next") where the next page is. Answered from the states
/// the sync keeps; read one server for its live state.
#[utoipa::path(get, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Vec<ServerSummaryView>, headers(
                  ("X-Total-Count" = u64, description = "Servers in all, over every page"),
                  ("Link" = String, description = "`<...>; rel=\"next\"` while there is a next page"))),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 422, body = ErrorView)))]
async fn list_servers(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<ServerSummaryView>>), ApiError> {
    let owners = match (query.customer, query.all) {
        (Some(user), _) => Owners::Of(UserId(user)),
        (None, Some(true)) => Owners::Everybody,
        _ => Owners::Own,
    };
    let page = hostdeck_core::store::Page::new(
        query.page.unwrap_or(1),
        query
            .limit
            .unwrap_or(hostdeck_core::store::Page::DEFAULT_LIMIT),
    )?;
    let listed = state
        .core
        .servers
        .list_page(caller.actor(), owners, page)
        .await?;
    let currency = &state.core.config.billing.currency;
    let mut headers = HeaderMap::new();
    headers.insert("x-total-count", HeaderValue::from(listed.total));
    if u64::from(listed.page) < listed.pages() {
        let mut next = url::form_urlencoded::Serializer::new(String::new());
        if let Some(customer) = query.customer {
            next.append_pair("customer", &customer.to_string());
        }
        if let Some(all) = query.all {
            next.append_pair("all", &all.to_string());
        }
        next.append_pair("page", &(listed.page + 1).to_string());
        next.append_pair("limit", &listed.limit.to_string());
        if let Ok(link) = HeaderValue::from_str(&format!(
            "</api/v1/servers?{}>; rel=\"next\"",
            next.finish()
        )) {
            headers.insert(axum::http::header::LINK, link);
        }
    }
    Ok((
        headers,
        Json(
            listed
                .items
                .iter()
                .map(|server| ServerSummaryView::new(server, currency))
                .collect(),
        ),
    ))
}

/// A custom size, where the price list offers them.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CustomSize {
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateServerRequest {
    #[schema(min_length = 1, max_length = 64)]
    pub name: String,
    pub hostname: String,
    /// A plan name from the price list; or give `custom`.
    pub plan: Option<String>,
    pub custom: Option<CustomSize>,
    /// An OS template of the location, by its `id` in `GET /api/v1/templates`; or give `iso`.
    pub template: Option<String>,
    /// An installer ISO of the location (`kind` iso in `GET /api/v1/templates`).
    pub iso: Option<String>,
    /// A provider name; the first configured one if absent.
    pub location: Option<String>,
    /// Makes the create idempotent when there is no `Idempotency-Key` header: the same key
    /// again returns the same server and charges nothing more.
    #[schema(max_length = 200)]
    pub key: Option<String>,
    /// SSH public key lines to install for root (ssh-ed25519, ecdsa-sha2-nistp256/384/521, or
    /// ssh-rsa of at least 2048 bits; one line each, no options).
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    /// Saved keys of your account to install, by id (`GET /api/v1/ssh-keys`).
    #[serde(default)]
    pub ssh_key_ids: Vec<i64>,
    /// Also set a generated root password (always done when no key is given, where the
    /// location takes one). It is in this answer only.
    #[serde(default)]
    pub root_password: bool,
}

/// Creates a server and charges its first hour. Send an `Idempotency-Key` header (or a `key`
/// field): a retried or doubled request then makes one server and one charge, and answers 200
/// with `replayed: true`; the same key with a different request is refused (422
/// `idempotency_mismatch`). Without either, every request is a new server.
#[utoipa::path(post, path = "/api/v1/servers", tag = "servers", security(("bearer" = [])), request_body = CreateServerRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Any text of 1 to 200 characters, unique per intended server")),
    responses((status = 201, body = CreatedServerView), (status = 200, body = CreatedServerView, description = "The key was used before"),
              (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 409, body = ErrorView),
              (status = 422, body = ErrorView, description = "Invalid input (`invalid`), or the key was used before with a different request (`idempotency_mismatch`)"),
              (status = 503, body = ErrorView)))]
async fn create_server(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(body): ApiJson<CreateServerRequest>,
) -> Result<(StatusCode, Json<CreatedServerView>), ApiError> {
    let actor = caller.actor();
    state.core.servers.may_write(actor)?;
    let header = headers
        .get("idempotency-key")
        .map(|value| {
            value
                .to_str()
                .map_err(|_| Error::invalid("Idempotency-Key", "Use plain ASCII text."))
        })
        .transpose()?;
    let key = match (header, body.key.as_deref(), actor.user) {
        (Some(text), _, Some(user)) | (None, Some(text), Some(user)) => {
            hostdeck_core::servers::client_key(user, text)?
        }
        _ => CreateKey::random(),
    };
    let size = size_of(body.plan, body.custom)?;
    let image = match (body.template, body.iso) {
        (Some(template), None) => Image::Template(template),
        (None, Some(iso)) => Image::Iso(iso),
        _ => {
            return Err(Error::invalid("template", "Give either a template or an ISO.").into());
        }
    };
    let ssh_keys = body
        .ssh_keys
        .iter()
        .map(|line| SshPublicKey::parse(line))
        .collect::<Result<Vec<_>, _>>()?;
    let created = state
        .core
        .servers
        .create(
            actor,
            CreateServer {
                ssh_keys,
                saved_keys: body.ssh_key_ids.into_iter().map(SshKeyId).collect(),
                root_password: body.root_password,
                ..CreateServer::new(
                    key,
                    CreateChoice {
                        name: body.name,
                        hostname: body.hostname,
                        size,
                        image,
                        location: body.location,
                    },
                )
            },
        )
        .await?;
    let currency = &state.core.config.billing.currency;
    let status = if created.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CreatedServerView {
            server: ServerSummaryView::new(&created.server, currency),
            price: PriceView::new(&created.quote, &state.core.pricing, currency),
            replayed: created.replayed,
            root_password: created
                .root_password
                .as_ref()
                .map(|password| password.expose().to_owned()),
        }),
    ))
}

/// One server, with its state asked of its provider now, addresses, traffic and the usage
/// charged so far.
#[utoipa::path(get, path = "/api/v1/servers/{id}", tag = "servers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The server's id")),
    responses((status = 200, body = ServerDetailView), (status = 401, body = ErrorView), (status = 403, body = ErrorView), (status = 404, body = ErrorView)))]
async fn get_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ServerDetailView>, ApiError> {
    let view = state.core.servers.get(caller.actor(), ServerId(id)).await?;
    Ok(Json(ServerDetailView::new(
        &view,
        &state.core.config.billing.currency,
    )))
}

/// Deletes a server for good. Billing stops at the hour.
#[utoipa::path(delete, path = "/api/v1/servers/{id}", tag = "servers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The server's id")),
    responses((status = 200, body = ServerSummaryView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 503, body = ErrorView)))]
async fn delete_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ServerSummaryView>, ApiError> {
    let server = state
        .core
        .servers
        .delete(caller.actor(), ServerId(id))
        .await?;
    Ok(Json(ServerSummaryView::new(
        &server,
        &state.core.config.billing.currency,
    )))
}

/// Boots, shuts down, restarts or powers off a server.
#[utoipa::path(post, path = "/api/v1/servers/{id}/power/{action}", tag = "servers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The server's id"),
           ("action" = String, Path, description = "boot, shutdown, restart or poweroff")),
    responses((status = 200, body = ServerSummaryView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView),
              (status = 503, body = ErrorView)))]
async fn power_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, action)): ApiPath<(i64, String)>,
) -> Result<Json<ServerSummaryView>, ApiError> {
    state.core.servers.may_write(caller.actor())?;
    let action = hostdeck_core::servers::parse_power_action(&action)?;
    let server = state
        .core
        .servers
        .power(caller.actor(), ServerId(id), action)
        .await?;
    Ok(Json(ServerSummaryView::new(
        &server,
        &state.core.config.billing.currency,
    )))
}

/// A new size: a plan name from the price list, or a custom size (as a create gives it).
#[derive(Debug, Deserialize, ToSchema)]
pub struct ResizeServerRequest {
    pub plan: Option<String>,
    pub custom: Option<CustomSize>,
}

/// The answer to a resize.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResizedServerView {
    /// The server at its new size and rate.
    pub server: ServerSummaryView,
    /// The price at the new size.
    pub price: PriceView,
    /// What was billed at the switch: hours owed at the old rate, or the current hour topped
    /// up to the new, larger rate.
    pub billed: MoneyView,
}

/// Resizes a server to a plan or a custom size, where its provider can. The disk never
/// shrinks. Hours before the resize are billed at the old rate, the hour of the resize at the
/// larger of the two, later hours at the new one. A larger size needs credit for one hour of
/// it. Sent once to the provider: on 503, check the server before trying again.
#[utoipa::path(post, path = "/api/v1/servers/{id}/resize", tag = "servers", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The server's id")), request_body = ResizeServerRequest,
    responses((status = 200, body = ResizedServerView), (status = 401, body = ErrorView), (status = 403, body = ErrorView),
              (status = 404, body = ErrorView), (status = 409, body = ErrorView), (status = 422, body = ErrorView),
              (status = 503, body = ErrorView)))]
async fn resize_server(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ResizeServerRequest>,
) -> Result<Json<ResizedServerView>, ApiError> {
    state.core.servers.may_write(caller.actor())?;
    let size = size_of(body.plan, body.custom)?;
    let resized = state
        .core
        .servers
        .resize(caller.actor(), ServerId(id), &size)
        .await?;
    let currency = &state.core.config.billing.currency;
    Ok(Json(ResizedServerView {
        server: ServerSummaryView::new(&resized.server, currency),
        price: PriceView::new(&resized.quote.to, &state.core.pricing, currency),
        billed: MoneyView::new(resized.billed, currency),
    }))
}

/// A plan or a custom size, exactly one of them.
fn size_of(plan: Option<String>, custom: Option<CustomSize>) -> Result<Size, Error> {
    match (plan, custom) {
        (Some(plan), None) => Ok(Size::Plan(plan)),
        (None, Some(custom)) => Ok(Size::Custom(Resources {
            vcpus: custom.vcpus,
            memory_mib: custom.memory_mib,
            disk_gib: custom.disk_gib,
        })),
        _ => Err(Error::invalid(
            "plan",
            "Give either a plan or a custom size.",
        )),
    }
}
