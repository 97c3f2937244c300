-- Discord: linked accounts, one-time link codes, and staff credit adjustments waiting for their
-- confirm button (kept here, not in memory, so a button still works after a restart).

-- One Discord user per account and one account per Discord user.
CREATE TABLE discord_links (
    discord_user_id INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL UNIQUE REFERENCES users (id),
    -- the Discord username when linked, shown on the account page
    discord_name    TEXT NOT NULL,
    linked_at       TEXT NOT NULL
);

-- Codes made on the portal's account page; only their SHA-256 is kept.
CREATE TABLE discord_link_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);

CREATE INDEX discord_link_codes_by_user ON discord_link_codes (user_id);

-- `/credits add|remove`: written when the reason is given, posted when the button is pressed.
-- `idempotency_key` comes from the slash command's interaction id, so the posting happens once
-- however often the button is pressed or the interaction replayed.
CREATE TABLE discord_credit_requests (
    id                 INTEGER PRIMARY KEY,
    idempotency_key    TEXT NOT NULL UNIQUE,
    -- the staff member who asked, and the only one who may confirm
    requested_by       INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL REFERENCES users (id),
    -- signed: positive adds credit, negative takes it away
    amount             INTEGER NOT NULL,
    reason             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    expires_at         TEXT NOT NULL,
    -- set once: 'posted' or 'cancelled'
    outcome            TEXT,
    decided_at         TEXT,
    posting_id         INTEGER
);
