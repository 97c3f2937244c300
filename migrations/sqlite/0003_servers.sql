-- Servers: one row per server a customer has or had, on whichever provider it lives.
-- The row is written before the provider is asked to create it (state 'creating'), so a create
-- whose answer was lost is still known, and `create_key` makes the provider call idempotent.

CREATE TABLE servers (
    id               INTEGER PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users (id),
    -- the provider's name in the config ([providers.NAME]) and the server's id there
    provider         TEXT NOT NULL,
    remote_id        TEXT,
    create_key       TEXT NOT NULL UNIQUE,
    name             TEXT NOT NULL,
    hostname         TEXT NOT NULL,
    -- a plan name from pricing.toml, or 'custom'
    plan             TEXT NOT NULL,
    vcpus            INTEGER NOT NULL,
    memory_mib       INTEGER NOT NULL,
    disk_gib         INTEGER NOT NULL,
    image            TEXT NOT NULL,
    location         TEXT,
    state            TEXT NOT NULL CHECK (state IN
        ('creating', 'building', 'running', 'stopped', 'unknown', 'failed', 'deleted')),
    -- hostdeck's own suspension (unpaid balance or staff); the provider is told as well
    suspended_at     TEXT,
    suspend_reason   TEXT,
    -- The price snapshot taken at create or resize: micro-units per `rate_hours` hours while
    -- running and while stopped. Hour k after `rate_since` costs
    -- floor((k+1)*rate/rate_hours) - floor(k*rate/rate_hours), so nothing is rounded away.
    rate_running     INTEGER NOT NULL CHECK (rate_running >= 0),
    rate_stopped     INTEGER NOT NULL CHECK (rate_stopped >= 0),
    rate_hours       INTEGER NOT NULL CHECK (rate_hours > 0),
    rate_since       TEXT NOT NULL,
    -- the start of the first UTC hour not billed yet
    billed_until     TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    deleted_at       TEXT,
    UNIQUE (provider, remote_id)
);

CREATE INDEX servers_by_user ON servers (user_id, id);
CREATE INDEX servers_to_bill ON servers (billed_until) WHERE deleted_at IS NULL;

-- Every state a server entered, and who saw it: the history hourly billing reads.
CREATE TABLE server_events (
    id        INTEGER PRIMARY KEY,
    server_id INTEGER NOT NULL REFERENCES servers (id),
    at        TEXT NOT NULL,
    state     TEXT NOT NULL,
    -- 'action' (through hostdeck), 'sync' (seen on the provider), 'billing'
    source    TEXT NOT NULL
);

CREATE INDEX server_events_by_server ON server_events (server_id, at);
