//! The knowledge base: articles admins write and everybody reads, and the search over them
//! that help pages, the API and answers use.
//!
//! What lives here: the [`Knowledge`] service (list, read, save, delete, import and export
//! articles; search), the file format of `hostdeck kb import|export` ([`files`]), the starter
//! articles a fresh install is loaded with ([`starter`]), `[knowledge]` ([`config`]) and the
//! model-free [`retrieval`]. Admins manage articles ([`Permission::ManageKnowledge`], which
//! needs two-factor); anyone reads and searches the published ones ([`Permission::ViewHelp`]).
//!
//! Every replica keeps its own index in memory, built from the store. A change bumps the
//! store's knowledge version in its transaction; a search reads that version at most every
//! [`RECHECK`] and rebuilds when it moved, so an edit on one replica reaches the others within
//! seconds (at once on the replica that made it).

pub mod config;
pub mod files;
pub mod passages;
pub mod retrieval;
pub mod starter;

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::{Audit, AuditEntry};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::policy::{Actor, Permission};
pub use crate::records::knowledge::{Article, ArticleContent, ArticleKind, Slug};
use crate::store::Store;
use config::KnowledgeConfig;
use files::ArticleFile;
use retrieval::glossary::Glossary;
use retrieval::text::Analyzer;
pub use retrieval::{Hit, Retrieval, Retriever};

/// How often a search asks the store whether the articles changed.
pub const RECHECK: Duration = Duration::from_secs(2);
/// The most results one search returns.
pub const MAX_RESULTS: usize = 20;
/// The longest question searched, in characters.
pub const MAX_QUESTION: usize = 1000;

/// What saving an article did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Saved {
    Created,
    Updated,
    Unchanged,
}

impl Saved {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

/// What an import did, per slug, in file-name order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub articles: Vec<(Slug, Saved)>,
}

impl ImportReport {
    pub fn count(&self, saved: Saved) -> usize {
        self.articles.iter().filter(|(_, s)| *s == saved).count()
    }
}

struct Cached {
    version: i64,
    checked: Instant,
    /// Set by a change on this replica: read the store at the next search.
    stale: bool,
    retriever: Arc<Retriever>,
}

/// The knowledge base.
#[derive(Clone)]
pub struct Knowledge {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    audit: Audit,
    glossary: Arc<Glossary>,
    cache: Arc<RwLock<Option<Cached>>>,
    /// One rebuild at a time; searches that find the index stale wait for it.
    rebuild: Arc<tokio::sync::Mutex<()>>,
}

impl Knowledge {
    /// Reads the glossary additions `config.glossary` names, when that file exists.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        audit: Audit,
        config: &KnowledgeConfig,
    ) -> Result<Self> {
        Ok(Self {
            store,
            clock,
            audit,
            glossary: Arc::new(load_glossary(&config.glossary)?),
            cache: Arc::default(),
            rebuild: Arc::default(),
        })
    }

    /// Loads the [`starter`] articles when the knowledge base was never written (a fresh
    /// install); `true` when it did.
    pub async fn seed_starter(&self) -> Result<bool> {
        if self.store.knowledge().knowledge_version().await? != 0 {
            return Ok(false);
        }
        let now = self.clock.now();
        let articles = starter::articles()?
            .into_iter()
            .map(|content| Article {
                content,
                updated_at: now,
            })
            .collect::<Vec<_>>();
        self.store.knowledge().seed_articles(&articles).await
    }

    /// Every article for an admin, the published ones for anybody else; by slug.
    pub async fn list(&self, actor: &Actor) -> Result<Vec<Article>> {
        actor.require(Permission::ViewHelp)?;
        let drafts = actor.can(Permission::ManageKnowledge);
        let mut articles = self.store.knowledge().articles().await?;
        articles.retain(|article| drafts || article.content.published);
        Ok(articles)
    }

    /// One article; a draft only for an admin.
    pub async fn article(&self, actor: &Actor, slug: &str) -> Result<Article> {
        actor.require(Permission::ViewHelp)?;
        let missing = || Error::NotFound(format!("There is no help article {slug:?}."));
        let slug = Slug::parse(slug).map_err(|_| missing())?;
        match self.store.knowledge().article(&slug).await? {
            Some(article)
                if article.content.published || actor.can(Permission::ManageKnowledge) =>
            {
                Ok(article)
            }
            _ => Err(missing()),
        }
    }

    /// Writes an article, new or replacing the one of its slug; an unchanged article is
    /// left as it was (its time too).
    pub async fn save(&self, actor: &Actor, content: ArticleContent) -> Result<Saved> {
        actor.require(Permission::ManageKnowledge)?;
        let content = content.checked()?;
        let saved = match self.store.knowledge().article(&content.slug).await? {
            Some(existing) if existing.content == content => return Ok(Saved::Unchanged),
            Some(_) => Saved::Updated,
            None => Saved::Created,
        };
        let article = Article {
            content,
            updated_at: self.clock.now(),
        };
        self.store.knowledge().put_article(&article).await?;
        self.forget_index();
        self.audit
            .record(
                AuditEntry::new(actor, "knowledge.save")
                    .target(format!("article:{}", article.content.slug))
                    .detail(serde_json::json!({ "outcome": saved.as_str() })),
            )
            .await?;
        Ok(saved)
    }

    pub async fn delete(&self, actor: &Actor, slug: &str) -> Result<()> {
        actor.require(Permission::ManageKnowledge)?;
        let missing = || Error::NotFound(format!("There is no help article {slug:?}."));
        let slug = Slug::parse(slug).map_err(|_| missing())?;
        if !self.store.knowledge().delete_article(&slug).await? {
            return Err(missing());
        }
        self.forget_index();
        self.audit
            .record(AuditEntry::new(actor, "knowledge.delete").target(format!("article:{slug}")))
            .await
    }

    /// Reads every file first and refuses them all if one is bad (the refusal names the file
    /// and the line); then saves each. Importing the same files again changes nothing.
    pub async fn import(&self, actor: &Actor, files: &[ArticleFile]) -> Result<ImportReport> {
        actor.require(Permission::ManageKnowledge)?;
        let contents = files.iter().map(files::parse).collect::<Result<Vec<_>>>()?;
        let mut report = ImportReport::default();
        for content in contents {
            let slug = content.slug.clone();
            report
                .articles
                .push((slug, self.save(actor, content).await?));
        }
        Ok(report)
    }

    /// Every article, drafts included, as files.
    pub async fn export(&self, actor: &Actor) -> Result<Vec<ArticleFile>> {
        actor.require(Permission::ManageKnowledge)?;
        let articles = self.store.knowledge().articles().await?;
        Ok(articles
            .iter()
            .map(|article| files::render(&article.content))
            .collect())
    }

    /// The published articles that best answer `question`, at most `limit` (1 to
    /// [`MAX_RESULTS`]), and whether the best is relevant enough to answer from.
    pub async fn search(&self, actor: &Actor, question: &str, limit: usize) -> Result<Retrieval> {
        actor.require(Permission::ViewHelp)?;
        if !(1..=MAX_RESULTS).contains(&limit) {
            return Err(Error::invalid(
                "limit",
                format!("limit is 1 to {MAX_RESULTS}"),
            ));
        }
        if question.chars().count() > MAX_QUESTION {
            return Err(Error::invalid(
                "q",
                format!("Ask in at most {MAX_QUESTION} characters."),
            ));
        }
        Ok(self.retriever().await?.search(question, limit))
    }

    /// The index of the published articles as they are now (re-read from the store at most
    /// every [`RECHECK`], rebuilt when they changed).
    pub async fn retriever(&self) -> Result<Arc<Retriever>> {
        if let Some(fresh) =
            self.cached(|cached| !cached.stale && cached.checked.elapsed() < RECHECK)
        {
            return Ok(fresh);
        }
        let _rebuilding = self.rebuild.lock().await;
        if let Some(fresh) =
            self.cached(|cached| !cached.stale && cached.checked.elapsed() < RECHECK)
        {
            return Ok(fresh);
        }
        let version = self.store.knowledge().knowledge_version().await?;
        let retriever = match self.cached(|cached| cached.version == version) {
            Some(same) => same,
            None => {
                let articles = self.store.knowledge().articles().await?;
                let glossary = self.glossary.clone();
                tokio::task::spawn_blocking(move || Arc::new(Retriever::new(glossary, &articles)))
                    .await
                    .map_err(|error| Error::internal("building the search index", error))?
            }
        };
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *cache = Some(Cached {
            version,
            checked: Instant::now(),
            stale: false,
            retriever: retriever.clone(),
        });
        Ok(retriever)
    }

    fn cached(&self, usable: impl Fn(&Cached) -> bool) -> Option<Arc<Retriever>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .as_ref()
            .filter(|cached| usable(cached))
            .map(|cached| cached.retriever.clone())
    }

    /// Makes the next search on this replica read the store again.
    fn forget_index(&self) {
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(cached) = cache.as_mut() {
            cached.stale = true;
        }
    }
}

fn load_glossary(path: &Path) -> Result<Glossary> {
    let extra = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(Error::invalid(
                "knowledge.glossary",
                format!("cannot read {}: {error}", path.display()),
            ));
        }
    };
    let source = path.display().to_string();
    Glossary::load(
        &Analyzer::default(),
        extra.as_deref().map(|text| (source.as_str(), text)),
    )
}
