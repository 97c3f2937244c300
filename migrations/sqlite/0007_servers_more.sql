-- A create asked for and priced, waiting for its confirm button (Discord's /server create):
-- what was chosen, and who chose it. Confirming creates the server with a create key made from
-- this row's id, so pressing the button twice makes one server.

CREATE TABLE server_create_requests (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    name       TEXT NOT NULL,
    hostname   TEXT NOT NULL,
    plan       TEXT NOT NULL,
    template   TEXT NOT NULL,
    location   TEXT,
    created_at TEXT NOT NULL
);
