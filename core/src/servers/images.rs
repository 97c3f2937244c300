//! What a new server may be installed from: the allow-list of each location.
//!
//! A customer never names a template or an ISO freely: they choose one of the list of the
//! location (provider) they create in, and a create, a held create and a review all check the
//! choice against that list by exact id. The list is the provider's `templates` (and `isos`)
//! in the config when the operator set them, otherwise what the platform itself offers
//! ([`Provider::images`]: Proxmox's `vztmpl` and `iso` storage content, VirtFusion's package
//! templates, Jelastic's VPS node types), kept for [`CATALOG_TTL`] so a form or an
//! autocomplete does not ask the platform each time. A guest's disk, a backup volume or a path
//! trick is never on any list, so it never reaches a provider.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::policy::{Actor, Permission};
use crate::providers::{Image, OsImage, Provider};

/// How long a platform's list is kept before it is read again.
pub const CATALOG_TTL: Duration = Duration::from_secs(300);

/// Each location's list, with when it was read.
type Lists = BTreeMap<String, (Instant, Arc<Vec<OsImage>>)>;

/// The allow-lists of every location, read once per [`CATALOG_TTL`].
#[derive(Clone)]
pub struct Catalog {
    config: Arc<Config>,
    cache: Arc<Mutex<Lists>>,
}

impl Catalog {
    pub fn new(config: Arc<Config>) -> Self {
        Self {
            config,
            cache: Arc::default(),
        }
    }

    /// What `provider` offers for new servers, in the order the list gives.
    pub async fn offered(&self, provider: &dyn Provider) -> Result<Arc<Vec<OsImage>>> {
        if let Some(configured) = self.configured(provider.name()) {
            return Ok(Arc::new(configured));
        }
        let now = Instant::now();
        if let Some((read_at, images)) = self.lock().get(provider.name())
            && now.duration_since(*read_at) < CATALOG_TTL
        {
            return Ok(images.clone());
        }
        let images = Arc::new(provider.images().await?);
        self.lock()
            .insert(provider.name().to_owned(), (now, images.clone()));
        Ok(images)
    }

    /// The listed image `chosen` names, or a refusal that says to choose from the list.
    pub async fn resolve(&self, provider: &dyn Provider, chosen: &Image) -> Result<OsImage> {
        let offered = self.offered(provider).await?;
        offered
            .iter()
            .find(|listed| &listed.image == chosen)
            .cloned()
            .ok_or_else(|| {
                let what = match chosen {
                    Image::Template(_) => "operating system",
                    Image::Iso(_) => "installer ISO",
                };
                Error::invalid(
                    "image",
                    format!(
                        "That {what} is not offered in {}; choose one from its list of \
                         operating systems.",
                        provider.name()
                    ),
                )
            })
    }

    /// The operator's list for `provider`, when the config has one.
    fn configured(&self, provider: &str) -> Option<Vec<OsImage>> {
        let entry = self.config.providers.named.get(provider)?;
        if entry.templates.is_none() && entry.isos.is_none() {
            return None;
        }
        let templates = entry.templates.iter().flatten().map(|image| OsImage {
            image: Image::Template(image.id.clone()),
            name: image.name.clone(),
        });
        let isos = entry.isos.iter().flatten().map(|image| OsImage {
            image: Image::Iso(image.id.clone()),
            name: image.name.clone(),
        });
        Some(templates.chain(isos).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lists> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An operating system offered in a location, for a list people choose from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offered {
    /// The location (provider) that offers it.
    pub location: String,
    /// What a create names: a template id, a node type, a volume.
    pub id: String,
    /// `template` or `iso`.
    pub kind: &'static str,
    pub name: String,
}

impl Offered {
    /// The choice a create makes of it.
    pub fn image(&self) -> Image {
        match self.kind {
            "iso" => Image::Iso(self.id.clone()),
            _ => Image::Template(self.id.clone()),
        }
    }
}

impl super::Servers {
    /// What new servers can be installed from, in one location or in every one. A location
    /// whose platform does not answer is left out of the whole list (and logged), but asked
    /// for by name it is an error.
    pub async fn templates(&self, actor: &Actor, location: Option<&str>) -> Result<Vec<Offered>> {
        actor.require(Permission::ReadOwnServers)?;
        let providers = match location.map(str::trim).filter(|l| !l.is_empty()) {
            Some(name) => vec![self.providers.require(name)?],
            None => self.providers.iter().cloned().collect(),
        };
        let mut offered = Vec::new();
        for provider in &providers {
            let images = match self.catalog.offered(provider.as_ref()).await {
                Ok(images) => images,
                Err(error) if location.is_none() => {
                    tracing::warn!(provider = provider.name(), %error,
                        "could not read what a provider offers to install");
                    continue;
                }
                Err(error) => return Err(error),
            };
            offered.extend(images.iter().map(|listed| Offered {
                location: provider.name().to_owned(),
                id: listed.image.id().to_owned(),
                kind: listed.image.kind(),
                name: listed.name.clone(),
            }));
        }
        Ok(offered)
    }
}
