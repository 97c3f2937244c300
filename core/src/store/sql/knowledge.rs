//! [`KnowledgeStore`] for both engines: plain `$N` SQL, like the rest of [`super::SqlStore`].
//! Tags and phrasings are stored as JSON arrays of strings.

use sqlx::Row;

use super::SqlStore;
use crate::error::{Error, Result};
use crate::records::knowledge::{Article, ArticleContent, ArticleKind, Slug, StoredEmbedding};
use crate::store::knowledge::KnowledgeStore;

const COLUMNS: &str = "SELECT slug, title, kind, tags, body, also_asked, published, updated_at \
                       FROM knowledge_articles";

const BUMP: &str = "UPDATE knowledge_version SET version = version + 1 WHERE id = 1";

#[hostdeck_macros::row_bounds]
fn article_from_row<R: Row>(row: &R) -> Result<Article> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|error| Error::internal("reading an article's list", error))
    };
    let slug: String = row.try_get("slug")?;
    let kind: String = row.try_get("kind")?;
    Ok(Article {
        content: ArticleContent {
            slug: Slug::parse(&slug)?,
            title: row.try_get("title")?,
            kind: ArticleKind::parse(&kind)?,
            tags: list("tags")?,
            body: row.try_get("body")?,
            also_asked: list("also_asked")?,
            published: row.try_get("published")?,
        },
        updated_at: row.try_get("updated_at")?,
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

#[hostdeck_macros::sql_bounds]
impl<DB> SqlStore<DB> {
    async fn write_article(conn: &mut DB::Connection, article: &Article) -> Result<()> {
        let content = &article.content;
        sqlx::query(
            "INSERT INTO knowledge_articles \
             (slug, title, kind, tags, body, also_asked, published, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (slug) DO UPDATE SET title = excluded.title, kind = excluded.kind, \
             tags = excluded.tags, body = excluded.body, also_asked = excluded.also_asked, \
             published = excluded.published, updated_at = excluded.updated_at",
        )
        .bind(content.slug.as_str().to_owned())
        .bind(content.title.clone())
        .bind(content.kind.as_str().to_owned())
        .bind(json_list(&content.tags))
        .bind(content.body.clone())
        .bind(json_list(&content.also_asked))
        .bind(content.published)
        .bind(article.updated_at)
        .execute(conn)
        .await?;
        Ok(())
    }
}

#[hostdeck_macros::sql_bounds]
#[async_trait::async_trait]
impl<DB> KnowledgeStore for SqlStore<DB> {
    async fn articles(&self) -> Result<Vec<Article>> {
        let rows = sqlx::query(&format!("{COLUMNS} ORDER BY slug"))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(article_from_row).collect()
    }

    async fn article(&self, slug: &Slug) -> Result<Option<Article>> {
        let row = sqlx::query(&format!("{COLUMNS} WHERE slug = $1"))
            .bind(slug.as_str().to_owned())
            .fetch_optional(&self.reader)
            .await?;
        row.as_ref().map(article_from_row).transpose()
    }

    async fn put_article(&self, article: &Article) -> Result<()> {
        let mut tx = self.begin_write().await?;
        Self::write_article(&mut *tx, article).await?;
        sqlx::query(BUMP).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_article(&self, slug: &Slug) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query("DELETE FROM knowledge_articles WHERE slug = $1 RETURNING slug")
            .bind(slug.as_str().to_owned())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if gone {
            sqlx::query(BUMP).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(gone)
    }

    async fn knowledge_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT version FROM knowledge_version WHERE id = 1")
            .fetch_one(&self.reader)
            .await?;
        Ok(row.try_get("version")?)
    }

    async fn seed_articles(&self, articles: &[Article]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "UPDATE knowledge_version SET version = 1 WHERE id = 1 AND version = 0 RETURNING id",
        )
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !claimed {
            tx.rollback().await?;
            return Ok(false);
        }
        for article in articles {
            Self::write_article(&mut *tx, article).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn embeddings(&self, model: &str, dims: u32) -> Result<Vec<StoredEmbedding>> {
        let rows = sqlx::query(
            "SELECT text_hash, vector FROM knowledge_embeddings WHERE model = $1 AND dims = $2",
        )
        .bind(model.to_owned())
        .bind(i64::from(dims))
        .fetch_all(&self.reader)
        .await?;
        let mut embeddings = Vec::with_capacity(rows.len());
        for row in &rows {
            let vector: String = row.try_get("vector")?;
            if let Some(vector) = StoredEmbedding::decode_vector(&vector) {
                embeddings.push(StoredEmbedding {
                    model: model.to_owned(),
                    dims,
                    text_hash: row.try_get("text_hash")?,
                    vector,
                });
            }
        }
        Ok(embeddings)
    }

    async fn put_embeddings(&self, embeddings: &[StoredEmbedding]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for embedding in embeddings {
            sqlx::query(
                "INSERT INTO knowledge_embeddings (model, dims, text_hash, vector) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (model, dims, text_hash) DO NOTHING",
            )
            .bind(embedding.model.clone())
            .bind(i64::from(embedding.dims))
            .bind(embedding.text_hash.clone())
            .bind(embedding.encoded_vector())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn prune_embeddings(&self, model: &str, dims: u32, stale: &[String]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM knowledge_embeddings WHERE model <> $1 OR dims <> $2")
            .bind(model.to_owned())
            .bind(i64::from(dims))
            .execute(&mut *tx)
            .await?;
        for hash in stale {
            sqlx::query(
                "DELETE FROM knowledge_embeddings WHERE model = $1 AND dims = $2 AND text_hash = $3",
            )
            .bind(model.to_owned())
            .bind(i64::from(dims))
            .bind(hash.clone())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
