-- The hourly tick moves `billed_until` on every billable server. Kept in the wide `servers`
-- row, that move rewrote every page of the table each hour (about 6,000 pages for 100,000
-- servers, all of them written to the WAL at commit); in a narrow table of its own it touches
-- a sixth as many. A server has its row here from the moment it is inserted.
CREATE TABLE server_billing (
    server_id    INTEGER PRIMARY KEY REFERENCES servers (id),
    -- the start of the first UTC hour not billed yet
    billed_until TEXT NOT NULL
);
INSERT INTO server_billing (server_id, billed_until) SELECT id, billed_until FROM servers;
ALTER TABLE servers DROP COLUMN billed_until;
