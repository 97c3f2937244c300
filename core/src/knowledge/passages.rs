//! The knowledge base as the assistant's retriever: [`KnowledgePassages`] implements
//! [`Passages`] over [`Knowledge::search`], with published articles only and each passage's
//! help page as its address. The assistant's trait is imported here, never the reverse, so the
//! assistant knows nothing of how articles are stored or ranked.

use crate::assistant::{Passage, Passages, Retrieved};
use crate::config::web::WebConfig;
use crate::error::Result;
use crate::policy::{Actor, Via};

use super::{Knowledge, MAX_QUESTION, MAX_RESULTS};

/// [`Passages`] over the knowledge base.
#[derive(Clone)]
pub struct KnowledgePassages {
    pub knowledge: Knowledge,
    /// Where the help pages are reached (`web.public_url`).
    pub web: WebConfig,
}

#[async_trait::async_trait]
impl Passages for KnowledgePassages {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Retrieved> {
        // Published articles are everybody's: the search runs as nobody in particular.
        let anybody = Actor::anonymous(Via::System);
        let query: String = query.chars().take(MAX_QUESTION).collect();
        let found = self
            .knowledge
            .search(&anybody, &query, limit.clamp(1, MAX_RESULTS))
            .await?;
        let passages = (1_i64..)
            .zip(found.hits)
            .map(|(rank, hit)| Passage {
                article: rank,
                url: self.web.portal_url(&hit.slug.help_path()),
                slug: hit.slug.to_string(),
                title: hit.title,
                text: if hit.heading.is_empty() {
                    hit.passage
                } else {
                    format!("{}\n{}", hit.heading, hit.passage)
                },
                score: f64::from(hit.score),
            })
            .collect();
        Ok(Retrieved {
            passages,
            answerable: found.answerable,
        })
    }
}
