-- The knowledge base: articles people read on the help pages and that answers are grounded in.
-- Tags and "also asked as" phrasings are JSON arrays of strings.
CREATE TABLE knowledge_articles (
    slug        TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('faq', 'doc')),
    tags        TEXT NOT NULL,
    body        TEXT NOT NULL,
    also_asked  TEXT NOT NULL,
    published   BOOLEAN NOT NULL,
    updated_at  TEXT NOT NULL
);

-- One row: bumped in the transaction of every change to the articles, so every replica sees
-- with one cheap read whether its search index is stale. 0 means never written: the starter
-- articles are loaded only then.
CREATE TABLE knowledge_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO knowledge_version (id, version) VALUES (1, 0);
