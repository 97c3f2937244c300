-- Embeddings of the published articles' passages, from the configured Gemini embedding model.
-- Content-addressed: a passage's vector is found by the SHA-256 of its article title, heading
-- and text, so an edit re-embeds only the passages it changed and every replica finds the
-- same vectors. Vectors from another model or size are never compared (and are pruned).
-- The vector is the little-endian f32 values, unit length, in base64.
CREATE TABLE knowledge_embeddings (
    model      TEXT NOT NULL,
    dims       INTEGER NOT NULL,
    text_hash  TEXT NOT NULL,
    vector     TEXT NOT NULL,
    PRIMARY KEY (model, dims, text_hash)
);
