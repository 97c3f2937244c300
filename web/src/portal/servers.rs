//! The customer's servers in the portal: the list with state badges, a server's page (live
//! state, resources, addresses, traffic, what it has cost, power buttons that ask first, a
//! resize form whose new price is shown beside the current one before it is confirmed), and the create
//! wizard that shows the price before anything is made.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use hostdeck_core::ids::ServerId;
use hostdeck_core::pricing::Size;
use hostdeck_core::providers::{CreateKey, Image};
use hostdeck_core::servers::{
    CreateChoice, CreateServer, Location, Owners, Server, parse_power_action,
};
use hostdeck_core::ssh_keys::{SshKeyId, SshPublicKey};
use hostdeck_core::store::Page;
use hostdeck_core::{Error, ErrorCode};
use serde::Deserialize;

use super::context::{
    NoticeQuery, PageContext, PortalError, PortalForm, SshKeyRow, render, see_other, shown,
    signed_in, ssh_key_rows,
};
use super::incident_views::{IncidentNote, incident_notes};
use crate::AppState;
use crate::auth::Caller;

/// A server as the pages show it.
pub struct ServerRow {
    pub id: i64,
    pub name: String,
    pub hostname: String,
    pub state: &'static str,
    pub location: String,
    pub plan: String,
    pub image: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub hourly: String,
}

impl ServerRow {
    fn new(server: &Server, state: &AppState) -> Self {
        Self {
            id: server.id.0,
            name: server.name.clone(),
            hostname: server.hostname.clone(),
            state: server.shown_state(),
            location: server.provider.clone(),
            plan: server.plan.clone(),
            image: server.image.clone(),
            vcpus: server.resources.vcpus,
            memory_mib: server.resources.memory_mib,
            disk_gib: server.resources.disk_gib,
            hourly: server
                .hourly()
                .display_exact(&state.core.config.billing.currency),
        }
    }
}

#[derive(askama::Template)]
#[template(path = "servers.html")]
struct ServersPage {
    page: PageContext,
    servers: Vec<ServerRow>,
    page_number: u32,
    pages: u32,
    total: u64,
}

/// Servers on a page of the list.
const SERVERS_PER_PAGE: u32 = 25;

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    notice: Option<String>,
    page: Option<u32>,
}

pub async fn list(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let listed = state
        .core
        .servers
        .list_page(
            caller.actor(),
            Owners::Own,
            Page::new(query.page.unwrap_or(1).max(1), SERVERS_PER_PAGE)?,
        )
        .await?;
    Ok(render(&ServersPage {
        page: page.notice(query.notice.as_deref()),
        servers: listed
            .items
            .iter()
            .map(|server| ServerRow::new(server, &state))
            .collect(),
        page_number: listed.page,
        pages: u32::try_from(listed.pages().max(1)).unwrap_or(u32::MAX),
        total: listed.total,
    }))
}

#[derive(askama::Template)]
#[template(path = "server.html")]
struct ServerPage {
    page: PageContext,
    server: ServerRow,
    live_error: Option<String>,
    suspend_reason: Option<String>,
    ipv4: String,
    traffic: String,
    charged: String,
    /// Whether the server exists on its provider (delete and resize make sense).
    actions: bool,
    /// The power buttons its state offers: (action, label, asks first).
    power_actions: Vec<(&'static str, &'static str, bool)>,
    /// The plans a resize may choose, each with its monthly price.
    resize_plans: Vec<PlanOption>,
    /// Incidents and maintenance acting now that touch this server.
    incidents: Vec<IncidentNote>,
}

async fn server_view(
    state: &AppState,
    page: PageContext,
    caller: &Caller,
    id: ServerId,
) -> Result<Response, PortalError> {
    let view = state.core.servers.get(caller.actor(), id).await?;
    let incidents = incident_notes(
        state,
        &[view.server.provider.as_str()],
        state.core.clock.now(),
    )
    .await?;
    let currency = &state.core.config.billing.currency;
    let traffic = match view.usage {
        Some(usage) => format!(
            "{:.1} MB in, {:.1} MB out",
            usage.rx_bytes as f64 / 1e6,
            usage.tx_bytes as f64 / 1e6
        ),
        None => "not counted by this provider".into(),
    };
    Ok(render(&ServerPage {
        page,
        server: ServerRow::new(&view.server, state),
        live_error: view.live_error.clone(),
        suspend_reason: view.server.suspend_reason.clone(),
        ipv4: view
            .live
            .as_ref()
            .map(|live| {
                live.ipv4
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        traffic,
        charged: view.charged.display(currency),
        actions: view.server.state.is_on_provider(),
        resize_plans: plan_options(state, caller.actor())?,
        incidents,
        power_actions: view
            .server
            .power_actions()
            .iter()
            .map(|action| (action.as_str(), action.label(), action.needs_confirmation()))
            .collect(),
    }))
}

fn server_id(text: &str) -> Result<ServerId, PortalError> {
    text.parse()
        .map_err(|_| PortalError(Error::NotFound("There is no such server.".into())))
}

pub async fn show(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    server_view(
        &state,
        page.notice(query.notice.as_deref()),
        &caller,
        server_id(&id)?,
    )
    .await
}

#[derive(askama::Template)]
#[template(path = "server_confirm.html")]
struct ConfirmPage {
    page: PageContext,
    id: i64,
    heading: String,
    text: String,
    action: String,
    button: String,
    danger: bool,
}

/// The page that asks before a power action.
pub async fn confirm_power(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let action = parse_power_action(&action)?;
    // Reading it checks that it is the person's to see.
    let server = state.core.servers.get(caller.actor(), id).await?.server;
    if let Err(error) = server.may_power(action) {
        return server_view(&state, page.error(shown(&error)), &caller, id).await;
    }
    Ok(render(&ConfirmPage {
        page,
        id: id.0,
        heading: format!("{} {}?", action.label(), server.name),
        text: action.describe().into(),
        action: format!("/servers/{id}/power/{}", action.as_str()),
        button: action.label().into(),
        danger: action.needs_confirmation(),
    }))
}

pub async fn power(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path((id, action)): Path<(String, String)>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let action = parse_power_action(&action)?;
    match state.core.servers.power(caller.actor(), id, action).await {
        Ok(_) => Ok(see_other(&format!("/servers/{id}?notice=server-power"))),
        Err(error) if error.code() == hostdeck_core::ErrorCode::NotFound => Err(error.into()),
        Err(error) => {
            let text = shown(&error);
            server_view(&state, page.error(text), &caller, id).await
        }
    }
}

pub async fn confirm_delete(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let server = state.core.servers.get(caller.actor(), id).await?.server;
    Ok(render(&ConfirmPage {
        page,
        id: id.0,
        heading: format!("Delete {}?", server.name),
        text: "The server and its disks are deleted for good. Billing stops at the hour.".into(),
        action: format!("/servers/{id}/delete"),
        button: "Delete for good".into(),
        danger: true,
    }))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Option<Caller>,
    Path(id): Path<String>,
    _form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    state
        .core
        .servers
        .delete(caller.actor(), server_id(&id)?)
        .await?;
    Ok(see_other("/servers?notice=server-deleted"))
}

/// Every plan of the price list with its size and monthly price, for a `<select>`.
fn plan_options(
    state: &AppState,
    actor: &hostdeck_core::Actor,
) -> Result<Vec<PlanOption>, PortalError> {
    let currency = &state.core.config.billing.currency;
    let mut plans = Vec::new();
    for plan in state.core.pricing.plans() {
        let quote = state
            .core
            .servers
            .quote(actor, &Size::Plan(plan.name.clone()))?;
        plans.push(PlanOption {
            name: plan.name.clone(),
            label: format!(
                "{} — {} — {} a month",
                plan.name,
                plan.resources,
                state.core.pricing.monthly_price(&quote).display(currency)
            ),
        });
    }
    Ok(plans)
}

pub struct PlanOption {
    pub name: String,
    pub label: String,
}

/// An operating system option of the create page: `location|kind|id` as its value.
pub struct OsOption {
    pub value: String,
    pub name: String,
}

/// A location with its operating systems, for an `<optgroup>`.
pub struct LocationOptions {
    pub name: String,
    pub platform: &'static str,
    /// What a customer should know about logging in there.
    pub login: &'static str,
    pub systems: Vec<OsOption>,
}

#[derive(askama::Template)]
#[template(path = "server_new.html")]
struct NewServerPage {
    page: PageContext,
    plans: Vec<PlanOption>,
    locations: Vec<LocationOptions>,
    ssh_keys: Vec<SshKeyRow>,
}

pub async fn new_server(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let offered = state.core.servers.templates(caller.actor(), None).await?;
    let locations = state
        .core
        .servers
        .locations()
        .into_iter()
        .map(|location| LocationOptions {
            login: login_note(&location),
            systems: offered
                .iter()
                .filter(|os| os.location == location.name)
                .map(|os| OsOption {
                    value: format!("{}|{}|{}", os.location, os.kind, os.id),
                    name: os.name.clone(),
                })
                .collect(),
            name: location.name,
            platform: location.platform,
        })
        .filter(|location| !location.systems.is_empty())
        .collect();
    Ok(render(&NewServerPage {
        page,
        plans: plan_options(&state, caller.actor())?,
        locations,
        ssh_keys: ssh_key_rows(&state, &caller).await?,
    }))
}

/// How a customer logs in to a server of `location`.
fn login_note(location: &Location) -> &'static str {
    match (location.ssh_keys, location.root_password) {
        (true, true) => "SSH keys, or a root password shown once",
        (true, false) => "SSH keys; the platform emails the root password",
        (false, true) => "a root password shown once",
        (false, false) => "the platform emails the access details",
    }
}

/// What the create page sent: the choice, the keys and whether a password is wanted.
struct Chosen {
    choice: CreateChoice,
    os: String,
    ssh_keys: Vec<SshPublicKey>,
    saved_keys: Vec<SshKeyId>,
    root_password: bool,
    /// The fields as sent, to carry from the review to the create.
    fields: Vec<(String, String)>,
}

impl Chosen {
    fn read(fields: Vec<(String, String)>) -> Result<Self, PortalError> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map_or("", |(_, value)| value.as_str())
        };
        let os = get("os").to_owned();
        let mut parts = os.splitn(3, '|');
        let (location, kind, id) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        let mut choice = CreateChoice::of_plan(
            get("name"),
            get("hostname"),
            get("plan"),
            id,
            Some(location),
        );
        if kind == "iso" {
            choice.image = Image::Iso(id.to_owned());
        }
        let pasted = get("ssh_key_text").trim();
        let ssh_keys = if pasted.is_empty() {
            Vec::new()
        } else {
            vec![SshPublicKey::parse(pasted)?]
        };
        let saved_keys = fields
            .iter()
            .filter(|(key, _)| key == "ssh_key")
            .map(|(_, value)| {
                value
                    .parse()
                    .map(SshKeyId)
                    .map_err(|_| PortalError(Error::NotFound("There is no such SSH key.".into())))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let root_password = get("root_password") == "on";
        Ok(Self {
            choice,
            os,
            ssh_keys,
            saved_keys,
            root_password,
            fields: fields
                .into_iter()
                .filter(|(key, _)| {
                    [
                        "name",
                        "hostname",
                        "plan",
                        "os",
                        "ssh_key",
                        "ssh_key_text",
                        "root_password",
                    ]
                    .contains(&key.as_str())
                })
                .collect(),
        })
    }
}

#[derive(askama::Template)]
#[template(path = "server_review.html")]
struct ReviewPage {
    page: PageContext,
    key: String,
    name: String,
    hostname: String,
    plan: String,
    location: String,
    system: String,
    login: String,
    resources: String,
    per_hour: String,
    per_month: String,
    first_hour: String,
    balance: String,
    /// What the create page sent, carried to the create as hidden fields.
    fields: Vec<(String, String)>,
}

/// The price of what was chosen, and the button that creates it. The form carries a fresh
/// key, so pressing it twice makes one server.
pub async fn review(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Query(fields): Query<Vec<(String, String)>>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let actor = caller.actor();
    let currency = &state.core.config.billing.currency;
    let chosen = Chosen::read(fields)?;
    let quote = state.core.servers.review(actor, &chosen.choice).await?;
    let balance = state.core.ledger.balance(actor, &caller.0.user).await?;
    let location = chosen.choice.location.clone().unwrap_or_default();
    let system = state
        .core
        .servers
        .templates(actor, Some(&location))
        .await?
        .into_iter()
        .find(|os| format!("{}|{}|{}", os.location, os.kind, os.id) == chosen.os)
        .map(|os| os.name)
        .unwrap_or_default();
    let keys = chosen.ssh_keys.len() + chosen.saved_keys.len();
    let login = match (keys, chosen.root_password) {
        (0, _) => "a root password, shown once after the create".to_owned(),
        (n, false) => format!("{n} SSH key(s)"),
        (n, true) => format!("{n} SSH key(s) and a root password, shown once after the create"),
    };
    Ok(render(&ReviewPage {
        page,
        key: CreateKey::random().to_string(),
        name: chosen.choice.name.trim().to_owned(),
        hostname: chosen.choice.hostname.clone(),
        plan: quote.plan.clone(),
        location,
        system,
        login,
        resources: quote.resources.to_string(),
        per_hour: format!("{} {}", quote.per_hour_text(), currency.code()),
        per_month: state.core.pricing.monthly_price(&quote).display(currency),
        first_hour: quote.first_hour().display_exact(currency),
        balance: balance.display(currency),
        fields: chosen.fields,
    }))
}

#[derive(askama::Template)]
#[template(path = "server_created.html")]
struct CreatedPage {
    page: PageContext,
    id: i64,
    name: String,
    hostname: String,
    root_password: String,
}

pub async fn create(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let actor = caller.actor();
    let user = actor
        .user
        .ok_or_else(|| PortalError(Error::Unauthenticated("Sign in first.".into())))?;
    let key = hostdeck_core::servers::client_key(user, form.get("key"))?;
    let chosen = Chosen::read(form.0)?;
    let created = state
        .core
        .servers
        .create(
            actor,
            CreateServer {
                ssh_keys: chosen.ssh_keys,
                saved_keys: chosen.saved_keys,
                root_password: chosen.root_password,
                ..CreateServer::new(key, chosen.choice)
            },
        )
        .await?;
    match created.root_password {
        // Shown on this page, once: the password is kept nowhere to show it again.
        Some(password) => Ok(render(&CreatedPage {
            page,
            id: created.server.id.0,
            name: created.server.name.clone(),
            hostname: created.server.hostname.clone(),
            root_password: password.expose().to_owned(),
        })),
        None => Ok(see_other(&format!(
            "/servers/{}?notice=server-created",
            created.server.id
        ))),
    }
}

// --- Resizing: the new price beside the current one, then the resize once confirmed (the
// rules, checks and billing are core's: `Servers::quote_resize`, `Servers::resize`). ---

#[derive(Debug, Deserialize)]
pub struct ResizeChoice {
    #[serde(default)]
    plan: String,
}

#[derive(askama::Template)]
#[template(path = "server_resize.html")]
struct ResizePage {
    page: PageContext,
    id: i64,
    name: String,
    plan: String,
    from_resources: String,
    from_per_hour: String,
    from_per_month: String,
    to_resources: String,
    to_per_hour: String,
    to_per_month: String,
    billing_note: &'static str,
    caveat: &'static str,
}

/// The price of the chosen plan beside the server's, and the button that resizes. A resize
/// core refuses (a shrinking disk, a suspended server) is shown on the server's page.
pub async fn resize_review(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    Query(choice): Query<ResizeChoice>,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let size = Size::Plan(choice.plan.clone());
    let quote = match state
        .core
        .servers
        .quote_resize(caller.actor(), id, &size)
        .await
    {
        Ok(quote) => quote,
        Err(error) if error.code() == ErrorCode::NotFound => return Err(error.into()),
        Err(error) => {
            let text = shown(&error);
            return server_view(&state, page.error(text), &caller, id).await;
        }
    };
    let currency = &state.core.config.billing.currency;
    Ok(render(&ResizePage {
        page,
        id: id.0,
        name: quote.server.name.clone(),
        plan: quote.to.plan.clone(),
        from_resources: quote.from.resources.to_string(),
        from_per_hour: format!("{} {}", quote.from.per_hour_text(), currency.code()),
        from_per_month: state
            .core
            .pricing
            .monthly_price(&quote.from)
            .display(currency),
        to_resources: quote.to.resources.to_string(),
        to_per_hour: format!("{} {}", quote.to.per_hour_text(), currency.code()),
        to_per_month: quote.per_month.display(currency),
        billing_note: quote.billing_note(),
        caveat: quote.caveat(),
    }))
}

pub async fn resize(
    State(state): State<AppState>,
    page: PageContext,
    caller: Option<Caller>,
    Path(id): Path<String>,
    form: PortalForm,
) -> Result<Response, PortalError> {
    let caller = signed_in(caller)?;
    let id = server_id(&id)?;
    let size = Size::Plan(form.get("plan").to_owned());
    match state.core.servers.resize(caller.actor(), id, &size).await {
        Ok(_) => Ok(see_other(&format!("/servers/{id}?notice=server-resized"))),
        Err(error) if error.code() == ErrorCode::NotFound => Err(error.into()),
        Err(error) => {
            let text = shown(&error);
            server_view(&state, page.error(text), &caller, id).await
        }
    }
}
