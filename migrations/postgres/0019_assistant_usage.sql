-- The assistant (`/ask`): every question asked, with what became of it and the model tokens it
-- used, for admins; and the tokens used per UTC day, which the global daily budget is counted
-- against in one statement so concurrent questions cannot overrun it.
CREATE TABLE ask_usage (
    id         BIGSERIAL PRIMARY KEY,
    asked_at   TIMESTAMPTZ NOT NULL,
    user_id    BIGINT REFERENCES users (id),
    asker      TEXT NOT NULL,
    channel    TEXT,
    outcome    TEXT NOT NULL,
    tokens     BIGINT NOT NULL
);

CREATE INDEX ask_usage_by_time ON ask_usage (asked_at);

CREATE TABLE ask_token_days (
    day    TEXT PRIMARY KEY,
    tokens BIGINT NOT NULL
);
