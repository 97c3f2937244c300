//! The sandbox provider: servers that exist only in this process's memory. Nothing real is
//! created, nothing is charged by anyone, and every address comes from 192.0.2.0/24, the range
//! reserved for documentation, so a sandbox server can never be mistaken for a real one.
//!
//! It serves the demo (a first run with no provider configured gets one called `sandbox`) and
//! the tests of everything above providers; [`Sandbox::fail_next`] makes its next call fail
//! (its own tests use it; the stories above providers inject failures into the fakes of the
//! real platforms instead). It keeps the same rules as the real providers: creates are
//! idempotent by key, power actions are no-ops when already done, suspend stops the server.

use std::collections::{BTreeMap, VecDeque};
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    Access, Failure, Health, Image, NewServer, OsImage, PageToken, PowerAction, Provider,
    ProviderError, ProviderKind, RemoteId, RemoteServer, Resources, ServerPage, ServerState, Usage,
};

/// Servers per listing page when the config says nothing.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

const ID_PREFIX: &str = "sbx-";

pub struct Sandbox {
    name: String,
    page_size: u32,
    world: Mutex<World>,
}

#[derive(Default)]
struct World {
    servers: BTreeMap<u64, RemoteServer>,
    next_id: u64,
    faults: VecDeque<Failure>,
    list_calls: u64,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("name", &self.name)
            .field("servers", &self.world().servers.len())
            .finish()
    }
}

impl Sandbox {
    pub fn new(name: &str) -> Self {
        Self::with_page_size(name, DEFAULT_PAGE_SIZE)
    }

    pub fn with_page_size(name: &str, page_size: u32) -> Self {
        Self {
            name: name.to_owned(),
            page_size: page_size.max(1),
            world: Mutex::new(World {
                next_id: 1,
                ..World::default()
            }),
        }
    }

    /// Makes the next call, whatever it is, fail with `failure`. Calls queue up.
    pub fn fail_next(&self, failure: Failure) {
        self.world().faults.push_back(failure);
    }

    /// How many listing requests were made, as a sync over a real provider would count them.
    pub fn list_calls(&self) -> u64 {
        self.world().list_calls
    }

    /// Adds `count` running servers, as if they had always been there; returns their ids.
    pub fn seed(&self, count: usize) -> Vec<RemoteId> {
        let mut world = self.world();
        (0..count)
            .map(|_| {
                let number = world.next_id;
                world.next_id += 1;
                let server = RemoteServer {
                    remote_id: RemoteId::new(format!("{ID_PREFIX}{number}")),
                    name: format!("seed-{number}"),
                    hostname: Some(format!("seed-{number}.sandbox.invalid")),
                    state: ServerState::Running,
                    resources: super::Resources {
                        vcpus: 1,
                        memory_mib: 1024,
                        disk_gib: 25,
                    },
                    ipv4: vec![address(number)],
                    key: None,
                    owner: None,
                };
                let id = server.remote_id.clone();
                world.servers.insert(number, server);
                id
            })
            .collect()
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn error(&self, failure: Failure) -> ProviderError {
        ProviderError::new(&self.name, ProviderKind::Sandbox, failure)
    }

    /// The world, unless a fault was queued for this call.
    fn enter(&self) -> Result<MutexGuard<'_, World>, ProviderError> {
        let mut world = self.world();
        match world.faults.pop_front() {
            Some(failure) => Err(self.error(failure)),
            None => Ok(world),
        }
    }

    fn number(&self, id: &RemoteId) -> Result<u64, ProviderError> {
        id.as_str()
            .strip_prefix(ID_PREFIX)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| self.not_found(id))
    }

    fn not_found(&self, id: &RemoteId) -> ProviderError {
        self.error(Failure::NotFound {
            what: format!("server {id}"),
        })
    }

    fn with_server<T>(
        &self,
        id: &RemoteId,
        change: impl FnOnce(&mut RemoteServer) -> Result<T, Failure>,
    ) -> Result<T, ProviderError> {
        let number = self.number(id)?;
        let mut world = self.enter()?;
        let server = world
            .servers
            .get_mut(&number)
            .ok_or_else(|| self.not_found(id))?;
        change(server).map_err(|failure| self.error(failure))
    }
}

/// 192.0.2.1 to 192.0.2.254, round and round.
fn address(number: u64) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, u8::try_from(number % 254 + 1).unwrap_or(1))
}

fn suspended_refusal() -> Failure {
    Failure::Conflict {
        detail: "the server is suspended".into(),
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> ProviderKind {
        ProviderKind::Sandbox
    }

    async fn list_servers(&self, page: Option<&PageToken>) -> Result<ServerPage, ProviderError> {
        let mut world = self.enter()?;
        world.list_calls += 1;
        let after: u64 = match page {
            None => 0,
            Some(token) => token.as_str().parse().map_err(|_| {
                self.error(Failure::Protocol(format!(
                    "{:?} is not a sandbox page token",
                    token.as_str()
                )))
            })?,
        };
        let size = usize::try_from(self.page_size).unwrap_or(usize::MAX);
        let servers: Vec<RemoteServer> = world
            .servers
            .range(after + 1..)
            .take(size)
            .map(|(_, server)| server.clone())
            .collect();
        let last_listed = world.servers.range(after + 1..).nth(size.saturating_sub(1));
        let next = match last_listed {
            Some((number, _)) if world.servers.range(number + 1..).next().is_some() => {
                Some(PageToken::new(number.to_string()))
            }
            _ => None,
        };
        Ok(ServerPage { servers, next })
    }

    async fn server(&self, id: &RemoteId) -> Result<RemoteServer, ProviderError> {
        self.with_server(id, |server| Ok(server.clone()))
    }

    async fn power(&self, id: &RemoteId, action: PowerAction) -> Result<(), ProviderError> {
        self.with_server(id, |server| {
            server.state = match (server.state, action) {
                (ServerState::Suspended, _) => return Err(suspended_refusal()),
                (ServerState::Building, _) => {
                    return Err(Failure::Busy {
                        detail: "the server is being built".into(),
                    });
                }
                (_, PowerAction::Boot | PowerAction::Restart) => ServerState::Running,
                (_, PowerAction::Shutdown | PowerAction::Poweroff) => ServerState::Stopped,
            };
            Ok(())
        })
    }

    async fn create(&self, new: &NewServer) -> Result<RemoteServer, ProviderError> {
        new.resources.check_for(self)?;
        let mut world = self.enter()?;
        if let Some(existing) = world
            .servers
            .values()
            .find(|server| server.key.as_ref() == Some(&new.key))
        {
            return Ok(existing.clone());
        }
        let number = world.next_id;
        world.next_id += 1;
        let server = RemoteServer {
            remote_id: RemoteId::new(format!("{ID_PREFIX}{number}")),
            name: new.name.clone(),
            hostname: Some(new.hostname.to_string()),
            state: ServerState::Running,
            resources: new.resources,
            ipv4: vec![address(number)],
            key: Some(new.key.clone()),
            owner: Some(new.owner.user),
        };
        world.servers.insert(number, server.clone());
        Ok(server)
    }

    async fn images(&self) -> Result<Vec<OsImage>, ProviderError> {
        Ok([
            (Image::Template("debian-12".into()), "Debian 12"),
            (Image::Template("ubuntu-24.04".into()), "Ubuntu 24.04"),
            (Image::Iso("debian-12.iso".into()), "Debian 12 installer"),
        ]
        .into_iter()
        .map(|(image, name)| OsImage {
            image,
            name: name.to_owned(),
        })
        .collect())
    }

    fn access(&self) -> Access {
        Access {
            ssh_keys: true,
            root_password: true,
        }
    }

    async fn suspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        self.with_server(id, |server| {
            server.state = ServerState::Suspended;
            Ok(())
        })
    }

    async fn unsuspend(&self, id: &RemoteId) -> Result<(), ProviderError> {
        self.with_server(id, |server| {
            server.state = ServerState::Running;
            Ok(())
        })
    }

    async fn resize(&self, id: &RemoteId, to: &Resources) -> Result<(), ProviderError> {
        to.check_for(self)?;
        self.with_server(id, |server| {
            if server.state == ServerState::Suspended {
                return Err(suspended_refusal());
            }
            if to.disk_gib < server.resources.disk_gib {
                return Err(Failure::Rejected {
                    detail: "disks can only grow".into(),
                });
            }
            server.resources = *to;
            Ok(())
        })
    }

    async fn delete(&self, id: &RemoteId) -> Result<(), ProviderError> {
        let number = self.number(id)?;
        self.enter()?.servers.remove(&number);
        Ok(())
    }

    async fn usage(&self, id: &RemoteId) -> Result<Option<Usage>, ProviderError> {
        self.with_server(id, |_| {
            Ok(Some(Usage {
                rx_bytes: 0,
                tx_bytes: 0,
                period_start: None,
                limit_gib: None,
            }))
        })
    }

    async fn health(&self) -> Result<Health, ProviderError> {
        let world = self.enter()?;
        Ok(Health {
            latency: Duration::ZERO,
            detail: format!(
                "sandbox: {} server(s) in memory only; nothing real is created",
                world.servers.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use crate::ids::UserId;
    use crate::providers::{CreateKey, Hostname, Owner, Resources, list_all};

    fn new_server(key: &str) -> NewServer {
        NewServer {
            key: CreateKey::parse(key).expect("key"),
            owner: Owner {
                user: UserId(7),
                name: "Ada".into(),
                email: Email::parse("ada@example.com").expect("email"),
            },
            name: "web".into(),
            hostname: Hostname::parse("web.example.com").expect("hostname"),
            resources: Resources {
                vcpus: 1,
                memory_mib: 1024,
                disk_gib: 20,
            },
            image: Image::Template("debian-12".into()),
            plan: None,
            ssh_keys: Vec::new(),
            root_password: None,
        }
    }

    #[tokio::test]
    async fn a_server_lives_and_dies_in_the_sandbox() {
        let sandbox = Sandbox::new("sandbox");
        let server = sandbox
            .create(&new_server("first-key"))
            .await
            .expect("create");
        assert_eq!(server.state, ServerState::Running);
        assert!(server.ipv4[0].to_string().starts_with("192.0.2."));
        let again = sandbox
            .create(&new_server("first-key"))
            .await
            .expect("retry");
        assert_eq!(again.remote_id, server.remote_id, "one server per key");

        let id = &server.remote_id;
        sandbox
            .power(id, PowerAction::Shutdown)
            .await
            .expect("shutdown");
        sandbox
            .power(id, PowerAction::Shutdown)
            .await
            .expect("again: a no-op");
        assert_eq!(
            sandbox.server(id).await.expect("get").state,
            ServerState::Stopped
        );
        sandbox.suspend(id).await.expect("suspend");
        let refused = sandbox
            .power(id, PowerAction::Boot)
            .await
            .expect_err("suspended");
        assert!(matches!(refused.failure, Failure::Conflict { .. }));
        sandbox.unsuspend(id).await.expect("unsuspend");
        assert_eq!(
            sandbox.server(id).await.expect("get").state,
            ServerState::Running
        );
        sandbox.delete(id).await.expect("delete");
        sandbox.delete(id).await.expect("deleting twice is fine");
        let gone = sandbox.server(id).await.expect_err("gone");
        assert_eq!(crate::Error::from(gone).code(), crate::ErrorCode::NotFound);
    }

    #[tokio::test]
    async fn a_resize_grows_a_server_and_never_shrinks_its_disk() {
        let sandbox = Sandbox::new("sandbox");
        let id = sandbox
            .create(&new_server("resize-key"))
            .await
            .expect("create")
            .remote_id;
        let bigger = Resources {
            vcpus: 4,
            memory_mib: 8192,
            disk_gib: 160,
        };
        sandbox.resize(&id, &bigger).await.expect("resize");
        assert_eq!(sandbox.server(&id).await.expect("get").resources, bigger);
        let shrink = sandbox
            .resize(
                &id,
                &Resources {
                    disk_gib: 10,
                    ..bigger
                },
            )
            .await
            .expect_err("a smaller disk");
        assert!(matches!(shrink.failure, Failure::Rejected { .. }));
        sandbox.suspend(&id).await.expect("suspend");
        let refused = sandbox.resize(&id, &bigger).await.expect_err("suspended");
        assert!(matches!(refused.failure, Failure::Conflict { .. }));
    }

    #[tokio::test]
    async fn listing_pages_through_everything_once() {
        let sandbox = Sandbox::with_page_size("sandbox", 7);
        sandbox.seed(50);
        let all = list_all(&sandbox).await.expect("list");
        assert_eq!(all.len(), 50);
        assert_eq!(sandbox.list_calls(), 8, "ceil(50 / 7) requests");
        let exact = Sandbox::with_page_size("sandbox", 10);
        exact.seed(20);
        assert_eq!(list_all(&exact).await.expect("list").len(), 20);
        assert_eq!(exact.list_calls(), 2);
    }

    #[tokio::test]
    async fn a_queued_fault_fails_the_next_call_only() {
        let sandbox = Sandbox::new("sandbox");
        sandbox.fail_next(Failure::Maintenance {
            detail: "host maintenance".into(),
        });
        let error = sandbox.health().await.expect_err("fault");
        assert_eq!(
            crate::Error::from(error).code(),
            crate::ErrorCode::Unavailable
        );
        assert!(
            sandbox
                .health()
                .await
                .expect("healthy")
                .detail
                .contains("sandbox")
        );
    }
}
