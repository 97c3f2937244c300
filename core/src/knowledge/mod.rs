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
pub mod embeddings;
pub mod files;
pub mod passages;
pub mod retrieval;
pub mod starter;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
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
use embeddings::Embeddings;
use files::ArticleFile;
use retrieval::glossary::Glossary;
use retrieval::meaning::PassageVectors;
use retrieval::text::Analyzer;
pub use retrieval::{Hit, Retrieval, Retriever};

/// How often a search asks the store whether the articles changed.
pub const RECHECK: Duration = Duration::from_secs(2);
/// How long a background embedding waits after a change for more changes.
const SETTLE: Duration = Duration::from_millis(300);
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
    /// The passages' vectors once they are read or embedded (with embeddings on).
    vectors: Option<Arc<PassageVectors>>,
    /// When the passages were last embedded for this index, whether or not it worked.
    embedded: Option<Instant>,
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
    /// With a Gemini key: the passages' and questions' embeddings.
    embeddings: Option<Arc<Embeddings>>,
    /// One embedding of the passages at a time.
    embedding: Arc<tokio::sync::Mutex<()>>,
    /// A background embedding is waiting for a run of changes to settle.
    embed_pending: Arc<AtomicBool>,
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
            embeddings: None,
            embedding: Arc::default(),
            embed_pending: Arc::default(),
        })
    }

    /// Fuses a ranking by meaning into the search (see [`embeddings`]); `None` leaves the
    /// search lexical.
    #[must_use]
    pub fn with_embeddings(mut self, embeddings: Option<Embeddings>) -> Self {
        self.embeddings = embeddings.map(Arc::new);
        self
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

    /// Every article, drafts included, for the admins' pages and API; by slug.
    pub async fn manage_list(&self, actor: &Actor) -> Result<Vec<Article>> {
        actor.require(Permission::ManageKnowledge)?;
        self.store.knowledge().articles().await
    }

    /// One article, draft or not, for an admin to edit.
    pub async fn for_editing(&self, actor: &Actor, slug: &str) -> Result<Article> {
        actor.require(Permission::ManageKnowledge)?;
        self.article(actor, slug).await
    }

    /// Publishes or unpublishes an article; an unpublished one leaves the search at once.
    pub async fn set_published(&self, actor: &Actor, slug: &str, published: bool) -> Result<Saved> {
        let mut content = self.for_editing(actor, slug).await?.content;
        content.published = published;
        self.save(actor, content).await
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
        if let Err(error) = self.refresh_embeddings().await {
            tracing::warn!(%error, "embedding the imported articles failed; searches embed later");
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
        let retriever = self.retriever().await?;
        let vectors = self.cached_vectors(&retriever);
        let question_vector = match (&self.embeddings, &vectors) {
            (Some(embeddings), Some(vectors)) if vectors.count() > 0 => {
                embeddings.question(question).await
            }
            _ => None,
        };
        let meaning = vectors.as_deref().zip(question_vector.as_deref());
        Ok(retriever.search_with(question, limit, meaning))
    }

    /// Embeds the published passages that have no stored vector yet and keeps the vectors for
    /// searches on this replica; the number of passages with a vector. Searches start this in
    /// the background when the index changed; an import waits for it.
    pub async fn refresh_embeddings(&self) -> Result<usize> {
        let Some(embeddings) = self.embeddings.clone() else {
            return Ok(0);
        };
        let retriever = self.current_index().await?;
        let _one_at_a_time = self.embedding.lock().await;
        if let Some(vectors) = self.cached_vectors(&retriever)
            && vectors.count() == retriever.passage_count()
        {
            return Ok(vectors.count());
        }
        let version = self.store.knowledge().knowledge_version().await?;
        let embedded = embeddings
            .passages(self.store.knowledge(), &retriever, true)
            .await;
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = cache
            .as_mut()
            .filter(|cached| Arc::ptr_eq(&cached.retriever, &retriever));
        let embedded = match embedded {
            Ok(embedded) => embedded,
            Err(error) => {
                if let Some(cached) = current {
                    cached.embedded = Some(Instant::now());
                }
                return Err(error);
            }
        };
        if let Some(failure) = &embedded.failure {
            tracing::warn!(
                kind = failure.kind(),
                version,
                "embedding help passages failed; searching by words for those"
            );
        }
        let count = embedded.vectors.count();
        if let Some(cached) = current {
            cached.vectors = Some(Arc::new(embedded.vectors));
            cached.embedded = Some(Instant::now());
        }
        Ok(count)
    }

    /// The vectors kept for `retriever`, when it is still the current index.
    fn cached_vectors(&self, retriever: &Arc<Retriever>) -> Option<Arc<PassageVectors>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .as_ref()
            .filter(|cached| Arc::ptr_eq(&cached.retriever, retriever))
            .and_then(|cached| cached.vectors.clone())
    }

    /// Starts [`Self::refresh_embeddings`] in the background when the current index has no
    /// complete vectors and was not embedded within `knowledge.embedding_rest`.
    fn embed_in_background(&self) {
        let Some(embeddings) = &self.embeddings else {
            return;
        };
        let due = {
            let cache = self
                .cache
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            cache.as_ref().is_some_and(|cached| {
                let complete = cached
                    .vectors
                    .as_ref()
                    .is_some_and(|v| v.count() == cached.retriever.passage_count());
                let resting = cached
                    .embedded
                    .is_some_and(|at| at.elapsed() < embeddings.rest());
                !complete && !resting
            })
        };
        if due && let Ok(handle) = tokio::runtime::Handle::try_current() {
            let knowledge = self.clone();
            handle.spawn(async move {
                if let Err(error) = knowledge.refresh_embeddings().await {
                    tracing::warn!(%error, "embedding help passages failed");
                }
            });
        }
    }

    /// The index of the published articles as they are now (re-read from the store at most
    /// every [`RECHECK`], rebuilt when they changed).
    pub async fn retriever(&self) -> Result<Arc<Retriever>> {
        let retriever = self.current_index().await?;
        self.embed_in_background();
        Ok(retriever)
    }

    /// The index, read again from the store when its version moved.
    async fn current_index(&self) -> Result<Arc<Retriever>> {
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
        let kept = cache
            .take()
            .filter(|cached| Arc::ptr_eq(&cached.retriever, &retriever));
        *cache = Some(Cached {
            version,
            checked: Instant::now(),
            stale: false,
            retriever: retriever.clone(),
            vectors: kept.as_ref().and_then(|cached| cached.vectors.clone()),
            embedded: kept.and_then(|cached| cached.embedded),
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
        drop(cache);
        self.embed_soon();
    }

    /// Rebuilds the index and embeds what changed in the background (with embeddings on).
    fn embed_soon(&self) {
        if self.embeddings.is_none() {
            return;
        }
        // Changes come in runs (an import, an editing session): one job waits for the run to
        // settle and covers them all.
        if self.embed_pending.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            let knowledge = self.clone();
            handle.spawn(async move {
                tokio::time::sleep(SETTLE).await;
                knowledge.embed_pending.store(false, Ordering::Release);
                if let Err(error) = knowledge.refresh_embeddings().await {
                    tracing::warn!(%error, "embedding help passages failed");
                }
            });
        } else {
            self.embed_pending.store(false, Ordering::Release);
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
