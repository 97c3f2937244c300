-- The hourly tick moves `billed_until` on every billable server. Kept in the wide `servers`
-- row, that move wrote a new version of the whole row each hour; in a narrow table of its own
-- the new versions are a fraction of the size, and with room left on each page (fillfactor)
-- they stay heap-only updates that touch no index. `servers` itself is now rarely updated and
-- goes back to full pages. A server has its row here from the moment it is inserted.
CREATE TABLE server_billing (
    server_id    BIGINT PRIMARY KEY REFERENCES servers (id),
    -- the start of the first UTC hour not billed yet
    billed_until TIMESTAMPTZ NOT NULL
) WITH (fillfactor = 50);
INSERT INTO server_billing (server_id, billed_until) SELECT id, billed_until FROM servers;
ALTER TABLE servers DROP COLUMN billed_until;
ALTER TABLE servers RESET (fillfactor);
