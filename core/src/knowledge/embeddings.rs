//! Embeddings of the published passages and of questions, from Gemini's embedding model (only
//! when `gemini.api_key` is set and `knowledge.embeddings` is on).
//!
//! Passages are embedded as documents (`RETRIEVAL_DOCUMENT` with the article's title), in
//! batches of at most [`EMBED_BATCH`], one at a time when the model refuses batches; questions
//! as queries (`RETRIEVAL_QUERY`). Vectors are stored by model, size and the SHA-256 of the
//! passage's title, heading and text, so an edit re-embeds only what it changed and every
//! replica reads the same vectors. A question's embedding has a short deadline of its own; when
//! it fails, questions are searched by words alone for a while, so a Gemini outage costs one
//! slow search, not every search.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::config::KnowledgeConfig;
use super::retrieval::Retriever;
use super::retrieval::meaning::PassageVectors;
use crate::assistant::config::GeminiConfig;
use crate::assistant::failure::GeminiError;
use crate::assistant::gemini::{EMBED_BATCH, EmbedTask, EmbedText, Gemini};
use crate::error::Result;
use crate::records::knowledge::StoredEmbedding;
use crate::store::knowledge::KnowledgeStore;

/// The passage's key in `knowledge_embeddings`: SHA-256 (hex) of its article's title, its
/// heading and its text, each ended by a NUL.
pub fn text_hash(title: &str, heading: &str, text: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [title, heading, text] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    format!("{:x}", hasher.finalize())
}

/// What embedding the passages of an index came to.
#[derive(Debug)]
pub struct Embedded {
    pub vectors: PassageVectors,
    /// Passages embedded by this call (the rest were stored already).
    pub new: usize,
    /// Why some passages have no vector, when the model failed.
    pub failure: Option<GeminiError>,
}

/// The embedding side of the knowledge base.
pub struct Embeddings {
    gemini: Gemini,
    model: String,
    dims: u32,
    /// The most one batch of passages may take, retries included.
    batch_time: Duration,
    question_time: Duration,
    rest: Duration,
    /// After a failed question embedding, questions are searched by words alone until then.
    resting_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Embeddings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embeddings")
            .field("model", &self.model)
            .field("dims", &self.dims)
            .finish_non_exhaustive()
    }
}

impl Embeddings {
    /// `None` without a Gemini key or with `knowledge.embeddings` off.
    pub fn from_config(gemini: &GeminiConfig, knowledge: &KnowledgeConfig) -> Option<Self> {
        if !knowledge.embeddings {
            return None;
        }
        Some(Self {
            gemini: Gemini::from_config(gemini)?,
            model: gemini.embedding_model.clone(),
            dims: gemini.embedding_dims,
            batch_time: gemini.total_timeout,
            question_time: knowledge.question_embedding_timeout,
            rest: knowledge.embedding_rest,
            resting_until: Mutex::new(None),
        })
    }

    /// How long searches go by words alone after a failed embedding.
    pub fn rest(&self) -> Duration {
        self.rest
    }

    /// The vectors of `retriever`'s passages: the stored ones read, the missing ones embedded
    /// and stored (as far as the model answers). With `prune`, vectors of passages that are no
    /// longer indexed, and of other models or sizes, are deleted.
    pub async fn passages(
        &self,
        store: &dyn KnowledgeStore,
        retriever: &Retriever,
        prune: bool,
    ) -> Result<Embedded> {
        let passages: Vec<(&str, &str, &str)> = retriever.passage_texts().collect();
        let hashes: Vec<String> = passages
            .iter()
            .map(|(title, heading, text)| text_hash(title, heading, text))
            .collect();
        let mut known: HashMap<String, Vec<f32>> = store
            .embeddings(&self.model, self.dims)
            .await?
            .into_iter()
            .map(|stored| (stored.text_hash, stored.vector))
            .collect();
        if prune {
            let current: HashSet<&String> = hashes.iter().collect();
            let stale: Vec<String> = known
                .keys()
                .filter(|hash| !current.contains(hash))
                .cloned()
                .collect();
            store
                .prune_embeddings(&self.model, self.dims, &stale)
                .await?;
        }
        let mut missing: Vec<usize> = Vec::new();
        let mut queued: HashSet<&str> = HashSet::new();
        for (at, hash) in hashes.iter().enumerate() {
            if !known.contains_key(hash) && queued.insert(hash) {
                missing.push(at);
            }
        }
        let mut new = 0;
        let mut failure = None;
        for batch in missing.chunks(EMBED_BATCH) {
            let bodies: Vec<String> = batch
                .iter()
                .map(|at| match passages[*at] {
                    (_, "", text) => text.to_owned(),
                    (_, heading, text) => format!("{heading}\n\n{text}"),
                })
                .collect();
            let texts: Vec<EmbedText<'_>> = batch
                .iter()
                .zip(&bodies)
                .map(|(at, body)| EmbedText {
                    text: body,
                    title: Some(passages[*at].0),
                    task: EmbedTask::Document,
                })
                .collect();
            match self.embed_documents(&texts).await {
                Ok(vectors) => {
                    let rows: Vec<StoredEmbedding> = batch
                        .iter()
                        .zip(vectors)
                        .map(|(at, vector)| StoredEmbedding {
                            model: self.model.clone(),
                            dims: self.dims,
                            text_hash: hashes[*at].clone(),
                            vector,
                        })
                        .collect();
                    store.put_embeddings(&rows).await?;
                    new += rows.len();
                    for row in rows {
                        known.insert(row.text_hash, row.vector);
                    }
                }
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        let vectors: Vec<Option<&[f32]>> = hashes
            .iter()
            .map(|hash| known.get(hash).map(Vec::as_slice))
            .collect();
        Ok(Embedded {
            vectors: PassageVectors::new(&vectors),
            new,
            failure,
        })
    }

    /// One batch; one text at a time when the model takes no batches (a 400 or 404 to
    /// `batchEmbedContents`, which some embedding models answer).
    async fn embed_documents(
        &self,
        texts: &[EmbedText<'_>],
    ) -> std::result::Result<Vec<Vec<f32>>, GeminiError> {
        let deadline = Instant::now() + self.batch_time;
        match self.gemini.embed_batch(texts, deadline).await {
            Err(GeminiError::UnknownModel(_) | GeminiError::Refused { status: 400, .. }) => {
                let mut vectors = Vec::with_capacity(texts.len());
                for text in texts {
                    let deadline = Instant::now() + self.batch_time;
                    vectors.push(self.gemini.embed(text, deadline).await?);
                }
                Ok(vectors)
            }
            other => other,
        }
    }

    /// The question's vector, or `None` when the model does not give it in time (then, for
    /// `knowledge.embedding_rest`, `None` at once).
    pub async fn question(&self, question: &str) -> Option<Vec<f32>> {
        let now = Instant::now();
        if self.resting().is_some_and(|until| now < until) {
            return None;
        }
        let text = EmbedText {
            text: question,
            title: None,
            task: EmbedTask::Query,
        };
        let deadline = now + self.question_time;
        let answer = tokio::time::timeout(self.question_time, self.gemini.embed(&text, deadline))
            .await
            .unwrap_or(Err(GeminiError::Timeout));
        match answer {
            Ok(vector) => Some(vector),
            Err(error) => {
                tracing::warn!(
                    kind = error.kind(),
                    "embedding a question failed; searching by words alone"
                );
                *self
                    .resting_until
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(Instant::now() + self.rest);
                None
            }
        }
    }

    fn resting(&self) -> Option<Instant> {
        *self
            .resting_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_tells_title_heading_and_text_apart() {
        assert_ne!(text_hash("a", "b", "c"), text_hash("ab", "", "c"));
        assert_eq!(text_hash("a", "b", "c"), text_hash("a", "b", "c"));
        assert_eq!(text_hash("", "", "").len(), 64);
    }
}
