-- The support desk: tickets, their messages (staff notes among them), and the history of
-- messages edited in Discord. Discord snowflakes are kept as integers (they fit in 63 bits).
CREATE TABLE tickets (
    id                   INTEGER PRIMARY KEY,
    customer_id          INTEGER NOT NULL REFERENCES users (id),
    subject              TEXT NOT NULL,
    department           TEXT NOT NULL,
    -- low, normal, high, urgent
    priority             TEXT NOT NULL,
    server_id            INTEGER REFERENCES servers (id),
    -- open, awaiting_staff, awaiting_customer, closed
    status               TEXT NOT NULL,
    assignee_id          INTEGER REFERENCES users (id),
    created_at           TEXT NOT NULL,
    first_response_at    TEXT,
    last_activity_at     TEXT NOT NULL,
    -- the next SLA deadline: first response while there is none, then resolution
    due_at               TEXT,
    closed_at            TEXT,
    close_reason         TEXT,
    closed_by            INTEGER REFERENCES users (id),
    rating               INTEGER,
    rating_comment       TEXT,
    sla_warned_at        TEXT,
    sla_breached_at      TEXT,
    autoclose_warned_at  TEXT,
    -- portal, api, discord, email, system
    opened_via           TEXT NOT NULL,
    -- bumped by every change, so two changes made at once cannot overwrite each other
    version              INTEGER NOT NULL DEFAULT 0,
    discord_thread_id    INTEGER UNIQUE,
    -- one replica at a time brings the thread up to date
    sync_lease_until     TEXT,
    -- the newest thread message read, where catch-up after a restart starts
    last_seen_message_id INTEGER
);

CREATE INDEX tickets_by_customer ON tickets (customer_id, status);
CREATE INDEX tickets_by_status ON tickets (status, due_at);
CREATE INDEX tickets_by_assignee ON tickets (assignee_id, status);
CREATE INDEX tickets_by_created ON tickets (created_at);

CREATE TABLE ticket_messages (
    id                 INTEGER PRIMARY KEY,
    ticket_id          INTEGER NOT NULL REFERENCES tickets (id),
    author_id          INTEGER REFERENCES users (id),
    author_name        TEXT NOT NULL,
    author_staff       INTEGER NOT NULL DEFAULT 0,
    door               TEXT NOT NULL,
    body               TEXT NOT NULL,
    -- staff-only: never shown to the customer anywhere
    note               INTEGER NOT NULL DEFAULT 0,
    -- a JSON list of {name, size, url}
    attachments        TEXT NOT NULL DEFAULT '[]',
    -- the message in the thread: the inbound one, or our post of it
    discord_message_id INTEGER UNIQUE,
    created_at         TEXT NOT NULL,
    edited_at          TEXT,
    deleted_at         TEXT
);

CREATE INDEX ticket_messages_by_ticket ON ticket_messages (ticket_id, id);

CREATE TABLE ticket_message_edits (
    id         INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES ticket_messages (id),
    -- the body before the edit
    body       TEXT NOT NULL,
    edited_at  TEXT NOT NULL
);

CREATE INDEX ticket_message_edits_by_message ON ticket_message_edits (message_id);
