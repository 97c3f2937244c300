-- Email subscriptions to the status page's incidents (`core/src/status/subscriptions.rs`): one
-- row per subscribed user; `token` is the opaque id of the unsubscribe link in every email.
CREATE TABLE status_subscriptions (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id),
    token      TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
