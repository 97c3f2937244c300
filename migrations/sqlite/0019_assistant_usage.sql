-- The assistant (`/ask`): every question asked, with what became of it and the model tokens it
-- used, for admins; and the tokens used per UTC day, which the global daily budget is counted
-- against in one statement so concurrent questions cannot overrun it.
CREATE TABLE ask_usage (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at   TEXT NOT NULL,
    user_id    INTEGER REFERENCES users (id),
    asker      TEXT NOT NULL,
    channel    TEXT,
    outcome    TEXT NOT NULL,
    tokens     INTEGER NOT NULL
);

CREATE INDEX ask_usage_by_time ON ask_usage (asked_at);

CREATE TABLE ask_token_days (
    day    TEXT PRIMARY KEY,
    tokens INTEGER NOT NULL
);
