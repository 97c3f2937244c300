-- PayPal: the orders hostdeck created, and the webhook events it received.
-- Money moves only through ledger postings (`paypal:capture:{id}`, `paypal:refund:{id}`); these
-- tables remember what PayPal was asked and told, so a capture is matched with its order and
-- a webhook is stored before it is processed.

CREATE TABLE paypal_orders (
    -- PayPal's order id
    id          TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users (id),
    -- micro-units of `currency`, as the server chose them (never from the browser)
    amount      BIGINT NOT NULL CHECK (amount > 0),
    currency    TEXT NOT NULL,
    -- the PayPal-Request-Id the order was created with
    request_id  TEXT NOT NULL UNIQUE,
    status      TEXT NOT NULL CHECK (status IN
        ('created', 'completed', 'pending', 'declined', 'failed', 'cancelled')),
    capture_id  TEXT UNIQUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE INDEX paypal_orders_by_user ON paypal_orders (user_id, created_at);

CREATE TABLE paypal_events (
    -- PayPal's event id (WH-...): a delivery seen before is stored once
    id           TEXT PRIMARY KEY,
    event_type   TEXT NOT NULL,
    -- the raw body as received and verified
    body         TEXT NOT NULL,
    received_at  TIMESTAMPTZ NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN
        ('pending', 'done', 'waiting', 'rejected', 'ignored')),
    -- a refund that arrived before its capture waits for this capture
    waiting_for  TEXT,
    locked_until TIMESTAMPTZ,
    attempts     BIGINT NOT NULL DEFAULT 0,
    outcome      TEXT,
    processed_at TIMESTAMPTZ
);

CREATE INDEX paypal_events_pending ON paypal_events (status, received_at);
CREATE INDEX paypal_events_waiting ON paypal_events (waiting_for);
