//! Knowledge-base articles (`knowledge_articles`) and their version counter
//! (`knowledge_version`). A trait of its own beside [`super::Store`] (reached through
//! [`super::Store::knowledge`]). Every change bumps the version in its transaction, so a
//! replica learns with one cheap read that its search index is stale. The passages'
//! embeddings (`knowledge_embeddings`) are kept by model, size and text hash.

use crate::error::Result;
use crate::records::knowledge::{Article, Slug, StoredEmbedding};

#[async_trait::async_trait]
pub trait KnowledgeStore: Send + Sync {
    /// Every article, drafts included, by slug.
    async fn articles(&self) -> Result<Vec<Article>>;
    /// One article, draft or not.
    async fn article(&self, slug: &Slug) -> Result<Option<Article>>;
    /// Writes the article (new, or replacing the one of its slug) and bumps the version.
    async fn put_article(&self, article: &Article) -> Result<()>;
    /// Deletes the article and bumps the version; `false` when there was none.
    async fn delete_article(&self, slug: &Slug) -> Result<bool>;
    /// The version counter: 0 until the first write, then bumped by every change.
    async fn knowledge_version(&self) -> Result<i64>;
    /// Writes `articles` when the version is still 0 (the knowledge base was never written),
    /// in one transaction that bumps it; `false` when it was written before. Replicas that
    /// start together load them once.
    async fn seed_articles(&self, articles: &[Article]) -> Result<bool>;
    /// Every stored embedding of `model` at `dims` dimensions (a row that does not decode is
    /// left out).
    async fn embeddings(&self, model: &str, dims: u32) -> Result<Vec<StoredEmbedding>>;
    /// Stores embeddings; one already stored for the same model, size and text is kept.
    async fn put_embeddings(&self, embeddings: &[StoredEmbedding]) -> Result<()>;
    /// Deletes the embeddings of other models or sizes, and those of `model` at `dims` whose
    /// text hash is in `stale`.
    async fn prune_embeddings(&self, model: &str, dims: u32, stale: &[String]) -> Result<()>;
}
