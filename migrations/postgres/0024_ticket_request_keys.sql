-- Idempotency keys of ticket opens and replies (the API's Idempotency-Key): the key in its
-- scope (the person, and for a reply the ticket), the fingerprint of the request it came with,
-- and what the request made. Written in the transaction of the open or reply itself, so a key
-- names what it made or nothing.
CREATE TABLE ticket_request_keys (
    scope       TEXT NOT NULL,
    request_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ticket_id   BIGINT NOT NULL REFERENCES tickets (id),
    message_id  BIGINT NOT NULL REFERENCES ticket_messages (id),
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, request_key)
);
