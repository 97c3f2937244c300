-- Accounts, the ledger and the audit log.
-- Timestamps are RFC 3339 text in UTC; money is INTEGER micro-units.

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    email             TEXT NOT NULL,
    -- the email lowercased: one account per address whatever its case
    email_key         TEXT NOT NULL UNIQUE,
    password_hash     TEXT,
    role              TEXT NOT NULL CHECK (role IN ('customer', 'support', 'billing', 'admin')),
    status            TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    email_verified_at TEXT,
    created_at        TEXT NOT NULL
);

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('wallet', 'system')),
    user_id    INTEGER UNIQUE REFERENCES users (id),
    code       TEXT UNIQUE,
    -- kept for wallets only; system accounts have no hot row
    balance    INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    CHECK ((kind = 'wallet' AND user_id IS NOT NULL AND code IS NULL)
        OR (kind = 'system' AND user_id IS NULL AND code IS NOT NULL))
);

INSERT INTO accounts (kind, code, created_at) VALUES
    ('system', 'paypal', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('system', 'usage', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('system', 'promotions', strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    ('system', 'adjustments', strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));

CREATE TABLE postings (
    id                   INTEGER PRIMARY KEY,
    debit_account        INTEGER NOT NULL REFERENCES accounts (id),
    credit_account       INTEGER NOT NULL REFERENCES accounts (id),
    amount               INTEGER NOT NULL CHECK (amount > 0),
    kind                 TEXT NOT NULL,
    idempotency_key      TEXT NOT NULL UNIQUE,
    reference            TEXT,
    memo                 TEXT,
    actor_user_id        INTEGER REFERENCES users (id),
    actor_via            TEXT NOT NULL,
    debit_balance_after  INTEGER,
    credit_balance_after INTEGER,
    created_at           TEXT NOT NULL,
    CHECK (debit_account <> credit_account)
);

CREATE INDEX postings_by_debit ON postings (debit_account, id);
CREATE INDEX postings_by_credit ON postings (credit_account, id);

CREATE TRIGGER postings_are_append_only_update BEFORE UPDATE ON postings
BEGIN
    SELECT RAISE(ABORT, 'postings are append-only');
END;

CREATE TRIGGER postings_are_append_only_delete BEFORE DELETE ON postings
BEGIN
    SELECT RAISE(ABORT, 'postings are append-only');
END;

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    actor_user_id INTEGER,
    actor_via     TEXT NOT NULL,
    action        TEXT NOT NULL,
    target        TEXT,
    outcome       TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail        TEXT
);

CREATE INDEX audit_log_by_actor ON audit_log (actor_user_id, id);
