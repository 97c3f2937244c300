-- SSH public keys saved on an account, chosen when a server is created. Only public keys;
-- the line is stored as hostdeck checked and rewrote it.
CREATE TABLE ssh_keys (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id),
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL,
    -- SHA256:... of the key's blob, as ssh-keygen -l shows it; one of each per account
    fingerprint TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (user_id, fingerprint)
);
