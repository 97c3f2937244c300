//! Creating a server: the choice reviewed and priced, the row, ceilings and first hour in one
//! transaction, then the provider asked; a refused create refunded, a lost answer left to the
//! sync, a repeated key answered with the first create.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;

use super::limits;
use super::{NewServerRow, Rate, Server, ServerStatus, Servers};
use crate::audit::AuditEntry;
use crate::billing::meter::{hour_of, posting_reference};
use crate::error::{Error, Result};
use crate::ids::UserId;
use crate::ledger::Overdraft;
use crate::policy::{Actor, Permission};
use crate::pricing::{Quote, Size};
use crate::providers::{
    CreateKey, Failure, Hostname, Image, NewServer, Owner, Provider, ProviderError, RemoteServer,
    RootPassword,
};
use crate::records::users::User;
use crate::ssh_keys::{SshKeyId, SshPublicKey};
use crate::store::servers::{CreateStart, EventSource, FirstHour, HeldCreate};

/// The server's owner as its provider is told: refused (before anything is charged) if the
/// account's address cannot be sent.
fn owner_of(user: &User) -> Result<Owner> {
    Ok(Owner {
        user: user.id,
        name: user.display_name.clone().unwrap_or_else(|| {
            user.email
                .split('@')
                .next()
                .unwrap_or("customer")
                .to_owned()
        }),
        email: crate::email::Email::existing(&user.email)?,
    })
}

/// What a customer asks for: what they chose, under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateServer {
    /// Chosen by the client (a form's hidden field, an `Idempotency-Key`), so a retry or a
    /// double click is the same create.
    pub key: CreateKey,
    pub choice: CreateChoice,
    /// Keys given for this server alone (parsed, so valid).
    pub ssh_keys: Vec<SshPublicKey>,
    /// Keys saved on the account, by id: checked to be the creator's at the create.
    pub saved_keys: Vec<SshKeyId>,
    /// Whether a root password is wanted besides the keys. Without any key one is always
    /// generated, where the platform takes one, so the customer can log in.
    pub root_password: bool,
}

impl CreateServer {
    /// A create of `choice` under `key`, without SSH keys.
    pub fn new(key: CreateKey, choice: CreateChoice) -> Self {
        Self {
            key,
            choice,
            ssh_keys: Vec::new(),
            saved_keys: Vec::new(),
            root_password: false,
        }
    }

    /// What the request is, for its key ([`crate::idempotency`]): the same key again must
    /// come with the same choice.
    pub fn fingerprint(&self) -> crate::idempotency::Fingerprint {
        let choice = &self.choice;
        let size = match &choice.size {
            Size::Plan(plan) => format!("plan:{}", plan.trim()),
            Size::Custom(size) => format!(
                "custom:{}:{}:{}",
                size.vcpus, size.memory_mib, size.disk_gib
            ),
        };
        let image = match &choice.image {
            Image::Template(id) => format!("template:{}", id.trim()),
            Image::Iso(volume) => format!("iso:{}", volume.trim()),
        };
        let mut fields = vec![
            choice.name.trim(),
            choice.hostname.trim(),
            &size,
            &image,
            choice.location.as_deref().map_or("", str::trim),
        ];
        // Keys and saved ids are sets: their order (and a repeat) is not another request.
        let given: BTreeSet<&str> = self.ssh_keys.iter().map(SshPublicKey::as_str).collect();
        fields.extend(given);
        let saved: BTreeSet<SshKeyId> = self.saved_keys.iter().copied().collect();
        let saved: Vec<String> = saved.iter().map(|id| format!("saved:{id}")).collect();
        fields.extend(saved.iter().map(String::as_str));
        if self.root_password {
            fields.push("root_password");
        }
        crate::idempotency::Fingerprint::of(&fields)
    }
}

/// The most SSH keys one server gets.
pub const MAX_SSH_KEYS: usize = 10;

/// How the customer logs in to a new server: what is sent to the provider.
#[derive(Debug, Clone, Default)]
struct Login {
    ssh_keys: Vec<SshPublicKey>,
    root_password: Option<RootPassword>,
}

/// A new server as a person chose it, before anything is checked: [`Servers::review`] checks
/// it (after the permission) and prices it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateChoice {
    pub name: String,
    /// As typed; parsed by the review.
    pub hostname: String,
    pub size: Size,
    pub image: Image,
    /// A provider name; `None` takes the first configured one.
    pub location: Option<String>,
}

impl CreateChoice {
    /// A plan and an OS template by name, as the portal's wizard and Discord offer them. An
    /// empty location takes the first provider.
    pub fn of_plan(
        name: &str,
        hostname: &str,
        plan: &str,
        template: &str,
        location: Option<&str>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            hostname: hostname.trim().to_owned(),
            size: Size::Plan(plan.trim().to_owned()),
            image: Image::Template(template.trim().to_owned()),
            location: location
                .map(str::trim)
                .filter(|location| !location.is_empty())
                .map(str::to_owned),
        }
    }
}

/// A choice that passed the review.
struct Reviewed {
    name: String,
    hostname: Hostname,
    quote: Quote,
    /// As stored: `template:ID` or `iso:VOLUME`.
    image: String,
    provider: Arc<dyn Provider>,
}

/// The result of a create.
#[derive(Debug, Clone)]
pub struct Created {
    pub server: Server,
    pub quote: Quote,
    /// `true` when this key had been used before: nothing new was made or charged.
    pub replayed: bool,
    /// The root password set on the new server: shown to its owner in this answer only, and
    /// kept nowhere (a replayed create has none).
    pub root_password: Option<RootPassword>,
}

/// The create key for a key a client sent (an `Idempotency-Key` header, a form's hidden
/// field, a Discord interaction id): any text of 1 to 200 characters, scoped to the user so two
/// customers' keys never meet, made into a [`CreateKey`] by hashing.
pub fn client_key(user: UserId, text: &str) -> Result<CreateKey> {
    use sha2::{Digest, Sha256};
    let text = text.trim();
    if text.is_empty() || text.len() > 200 {
        return Err(Error::invalid(
            "key",
            "An idempotency key has 1 to 200 characters.",
        ));
    }
    let digest = Sha256::digest(format!("{user}:{text}").as_bytes());
    let hex: String = digest
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    CreateKey::parse(&format!("c{hex}"))
}

impl Servers {
    /// Creates a server for the actor: price it; record it, within the customer's ceilings,
    /// with its first hour charged (refused if the balance does not cover it); ask the
    /// provider; refund the hour if the provider refused. The same key again returns the same
    /// server and charges nothing more.
    pub async fn create(&self, actor: &Actor, request: CreateServer) -> Result<Created> {
        actor.require(Permission::CreateServers)?;
        let user_id = actor
            .user
            .ok_or_else(|| Error::Forbidden("To create servers, sign in first.".into()))?;
        // A key seen before is its server; a create of the actor's that failed is tried again
        // as a new create of what it chose then (priced now, billed from now). Either only
        // with the request the key came with first.
        let fingerprint = request.fingerprint();
        let (request, retry) = match self
            .store
            .servers()
            .server_by_key(request.key.as_str())
            .await?
        {
            Some(existing) if existing.user == user_id => {
                let _ = self.remember_key(&request, &fingerprint).await?;
                if existing.state == ServerStatus::Failed {
                    (chosen_before(&existing, request)?, Some(existing.id))
                } else {
                    return self.replay(actor, existing);
                }
            }
            Some(existing) => return self.replay(actor, existing),
            None => (request, None),
        };
        let Reviewed {
            name,
            hostname,
            quote,
            image,
            provider,
        } = self.checked(actor, &request.choice).await?;
        let login = self.login(user_id, provider.as_ref(), &request).await?;
        let user = self.user(user_id).await?;
        // Everything the provider is sent is ready before the row is charged: nothing after
        // the charge but the provider's answer may fail the create.
        let owner = owner_of(&user)?;
        let first = quote.first_hour();
        // Remembered once the request passed its checks, before anything is made; forgotten
        // again if the store refuses the create (credit, a ceiling, the rate), so that the
        // corrected request may use the key.
        let remembered_now = retry.is_none() && self.remember_key(&request, &fingerprint).await?;
        let now = self.clock.now();
        let row = NewServerRow {
            user: user.id,
            provider: provider.name().to_owned(),
            key: request.key.clone(),
            name: name.clone(),
            hostname: hostname.as_str().to_owned(),
            plan: quote.plan.clone(),
            resources: quote.resources,
            image,
            location: Some(provider.name().to_owned()),
            rate: Rate {
                running: quote.running,
                stopped: quote.stopped,
                hours: quote.rate_hours,
                since: now,
            },
            billed_until: hour_of(now) + Duration::hours(1),
        };
        let charge = FirstHour {
            wallet: user.wallet,
            amount: first,
            overdraft: Overdraft::Forbid,
            limits: Some(&self.config.customer_limits),
        };
        let started = match retry {
            Some(id) => {
                self.store
                    .servers()
                    .retry_failed_server(id, &row, Some(&charge))
                    .await
            }
            None => {
                self.store
                    .servers()
                    .insert_server(&row, Some(&charge))
                    .await
            }
        };
        if remembered_now && !matches!(started, Ok(CreateStart::Started(_) | CreateStart::Taken(_)))
        {
            crate::idempotency::forget(
                self.store.as_ref(),
                "server.create",
                request.key.as_str(),
                &fingerprint,
            )
            .await?;
        }
        let server = match started {
            Ok(CreateStart::Started(server)) => server,
            // Another request with the same key got there first.
            Ok(CreateStart::Taken(server)) => return self.replay(actor, server),
            Ok(CreateStart::NoFunds { balance }) => {
                return Err(Error::Conflict(format!(
                    "Not enough credit: the first hour of this server costs {} and your balance \
                     is {}. Top up, then try again.",
                    first.display(&self.config.billing.currency),
                    balance.display(&self.config.billing.currency)
                )));
            }
            Err(error) => {
                if matches!(
                    error.code(),
                    crate::ErrorCode::Conflict | crate::ErrorCode::RateLimited
                ) {
                    return Err(self.refused(actor, "server.create", None, error).await);
                }
                return Err(error);
            }
        };
        self.make(
            actor, server, provider, owner, &request, login, hostname, quote,
        )
        .await
    }

    /// Checks a create as chosen, in the order people should hear about it (permission first,
    /// then name, host name, size, image and location), and prices it. What the create, the
    /// held create and the portal's review step all ask.
    pub async fn review(&self, actor: &Actor, choice: &CreateChoice) -> Result<Quote> {
        Ok(self.checked(actor, choice).await?.quote)
    }

    async fn checked(&self, actor: &Actor, choice: &CreateChoice) -> Result<Reviewed> {
        actor.require(Permission::CreateServers)?;
        if actor.user.is_none() {
            return Err(Error::Forbidden("To create servers, sign in first.".into()));
        }
        let name = crate::text::name("name", "A server name", &choice.name, 64)?;
        let hostname = Hostname::parse(&choice.hostname)?;
        // Plans are checked when the pricing loads, custom sizes by the quote.
        let quote = self.pricing.quote(&choice.size)?;
        if choice.image.id().trim().is_empty() || choice.image.id().len() > 200 {
            return Err(Error::invalid(
                "image",
                "Choose an operating system to install from.",
            ));
        }
        let provider =
            match &choice.location {
                Some(location) => self.providers.require(location)?,
                None => self.providers.iter().next().cloned().ok_or_else(|| {
                    Error::Unavailable("No server provider is configured.".into())
                })?,
            };
        limits::check_size(&self.config.providers, provider.name(), &quote.resources)?;
        // Only what the location lists, by exact id: never a free string to the provider.
        let listed = self
            .catalog
            .resolve(provider.as_ref(), &choice.image)
            .await?;
        let image = format!("{}:{}", listed.image.kind(), listed.image.id());
        Ok(Reviewed {
            name,
            hostname,
            quote,
            image,
            provider,
        })
    }

    /// Prices a create and keeps it until it is confirmed (a front door that asks before it
    /// creates, such as Discord's confirm button, which can only carry an id). Returns the
    /// held request's id and the price.
    pub async fn hold_create(&self, actor: &Actor, choice: CreateChoice) -> Result<(i64, Quote)> {
        let quote = self.review(actor, &choice).await?;
        let user = actor
            .user
            .ok_or_else(|| Error::Forbidden("To create servers, sign in first.".into()))?;
        let (Size::Plan(plan), Image::Template(template)) = (choice.size, choice.image) else {
            return Err(Error::invalid(
                "plan",
                "A create that waits for its confirmation is of a plan and a template.",
            ));
        };
        let held = HeldCreate {
            user,
            name: choice.name.trim().to_owned(),
            hostname: choice.hostname,
            plan,
            template,
            location: choice.location,
        };
        let id = self
            .store
            .servers()
            .insert_create_request(&held, self.clock.now())
            .await?;
        Ok((id, quote))
    }

    /// Creates the server of a held request: only for the person who asked, and once however
    /// often it is confirmed (its create key comes from the request's id). `saved_keys` are
    /// the account's keys to install (checked to be the actor's).
    pub async fn create_held(
        &self,
        actor: &Actor,
        id: i64,
        saved_keys: &[SshKeyId],
    ) -> Result<Created> {
        let held = self
            .store
            .servers()
            .create_request(id)
            .await?
            .filter(|held| Some(held.user) == actor.user)
            .ok_or_else(|| {
                Error::NotFound("That create request is not yours or is gone.".into())
            })?;
        let choice = CreateChoice::of_plan(
            &held.name,
            &held.hostname,
            &held.plan,
            &held.template,
            held.location.as_deref(),
        );
        let request = CreateServer {
            saved_keys: saved_keys.to_vec(),
            ..CreateServer::new(client_key(held.user, &format!("held:{id}"))?, choice)
        };
        self.create(actor, request).await
    }

    /// A create key seen before: its server, priced as it was charged, and nothing new done.
    /// Remembers a create's key with its request, or refuses another request under it.
    async fn remember_key(
        &self,
        request: &CreateServer,
        fingerprint: &crate::idempotency::Fingerprint,
    ) -> Result<bool> {
        crate::idempotency::remember(
            self.store.as_ref(),
            "server.create",
            request.key.as_str(),
            fingerprint,
            self.clock.now(),
        )
        .await
    }

    fn replay(&self, actor: &Actor, existing: Server) -> Result<Created> {
        if Some(existing.user) != actor.user {
            return Err(Error::Conflict(
                "That create key is already used; start the create again for a new key.".into(),
            ));
        }
        Ok(Created {
            quote: existing.quote(),
            server: existing,
            replayed: true,
            root_password: None,
        })
    }

    /// Asks the provider for the server of a `creating` row (its first hour charged with it),
    /// and refunds the hour if the provider refused.
    #[expect(
        clippy::too_many_arguments,
        reason = "each argument is a part of the create already checked; bundling them would only rename them"
    )]
    async fn make(
        &self,
        actor: &Actor,
        server: Server,
        provider: Arc<dyn Provider>,
        owner: Owner,
        request: &CreateServer,
        login: Login,
        hostname: Hostname,
        quote: Quote,
    ) -> Result<Created> {
        let entry = AuditEntry::new(actor, "server.create")
            .target(posting_reference(server.id))
            .detail(serde_json::json!({
                "provider": server.provider,
                "plan": server.plan,
                "key": server.key,
                "first_hour_micros": quote.first_hour().micros(),
            }));
        let new = NewServer {
            key: request.key.clone(),
            owner,
            name: server.name.clone(),
            hostname,
            resources: server.resources,
            image: request.choice.image.clone(),
            plan: None,
            ssh_keys: login.ssh_keys,
            root_password: login.root_password.clone(),
        };
        match provider.create(&new).await {
            Ok(remote) => {
                // `false`: the sync found the server first and charged and audited it.
                if self
                    .finish_create(&server, &remote, EventSource::Action)
                    .await?
                {
                    self.audit.record(entry).await?;
                }
                Ok(Created {
                    server: self.existing(server.id).await?,
                    quote,
                    replayed: false,
                    root_password: login.root_password,
                })
            }
            Err(error) if maybe_done(&error) => {
                // The provider may have made it: the sync finds it by its key and charges then.
                Err(self.failed(entry, error).await)
            }
            Err(error) => {
                self.store
                    .servers()
                    .server_failed(server.id, server.created_at, self.clock.now())
                    .await?;
                Err(self.failed(entry, error).await)
            }
        }
    }

    /// Records a server the provider made (its first hour was charged with its row). Returns
    /// `false` when the row was no longer `creating` (the sync or the create call finished it
    /// already, or it was given up on).
    pub(crate) async fn finish_create(
        &self,
        server: &Server,
        remote: &RemoteServer,
        source: EventSource,
    ) -> Result<bool> {
        let state = ServerStatus::from_remote(remote.state);
        if !self
            .store
            .servers()
            .server_created(
                server.id,
                &remote.remote_id,
                state,
                self.clock.now(),
                source,
            )
            .await?
        {
            return Ok(false);
        }
        Ok(true)
    }

    /// The keys and password a new server gets: the keys given and the saved ones chosen
    /// (each checked to be `user`'s), and a generated root password when asked for or when
    /// there is no key, where the platform takes them.
    async fn login(
        &self,
        user: UserId,
        provider: &dyn Provider,
        request: &CreateServer,
    ) -> Result<Login> {
        // Bounded before any lookup: each saved id is one read.
        let saved: BTreeSet<SshKeyId> = request.saved_keys.iter().copied().collect();
        let given: BTreeSet<String> = request
            .ssh_keys
            .iter()
            .map(SshPublicKey::fingerprint)
            .collect();
        if saved.len() + given.len() > MAX_SSH_KEYS {
            return Err(Error::invalid(
                "ssh_keys",
                format!("A server takes at most {MAX_SSH_KEYS} SSH keys."),
            ));
        }
        let mut keys = request.ssh_keys.clone();
        for id in &saved {
            let saved = self
                .store
                .ssh_keys()
                .ssh_key(*id)
                .await?
                .filter(|saved| saved.user == user)
                .ok_or_else(|| Error::NotFound(format!("You have no saved SSH key {id}.")))?;
            keys.push(saved.key);
        }
        let mut seen = BTreeSet::new();
        keys.retain(|key| seen.insert(key.fingerprint()));
        if keys.len() > MAX_SSH_KEYS {
            return Err(Error::invalid(
                "ssh_keys",
                format!("A server takes at most {MAX_SSH_KEYS} SSH keys."),
            ));
        }
        let access = provider.access();
        if !keys.is_empty() && !access.ssh_keys {
            return Err(Error::invalid(
                "ssh_keys",
                format!(
                    "Servers in {} cannot get SSH keys at creation; create it without a key \
                     and add your key once you are logged in.",
                    provider.name()
                ),
            ));
        }
        let wanted = request.root_password || keys.is_empty();
        Ok(Login {
            ssh_keys: keys,
            root_password: (wanted && access.root_password).then(RootPassword::generate),
        })
    }
}

/// What a create that failed chose (its name, hostname, size, image and provider), to try it
/// again under the same key; only the SSH keys, never stored, come from the new request.
fn chosen_before(server: &Server, request: CreateServer) -> Result<CreateServer> {
    let image = match server.image.split_once(':') {
        Some(("template", id)) => Image::Template(id.to_owned()),
        Some(("iso", volume)) => Image::Iso(volume.to_owned()),
        _ => {
            return Err(Error::internal(
                "retrying a create",
                format!("{:?} is not a stored image", server.image),
            ));
        }
    };
    let size = if server.plan == "custom" {
        Size::Custom(server.resources)
    } else {
        Size::Plan(server.plan.clone())
    };
    Ok(CreateServer {
        key: request.key,
        choice: CreateChoice {
            name: server.name.clone(),
            hostname: server.hostname.clone(),
            size,
            image,
            location: Some(server.provider.clone()),
        },
        ssh_keys: request.ssh_keys,
        saved_keys: request.saved_keys,
        root_password: request.root_password,
    })
}

/// Whether a failed write may have happened anyway (its answer was lost).
fn maybe_done(error: &ProviderError) -> bool {
    matches!(
        error.failure,
        Failure::Timeout {
            maybe_done: true,
            ..
        } | Failure::Unreachable {
            maybe_done: true,
            ..
        } | Failure::StillRunning { .. }
    )
}
