-- The hourly tick moves `billed_until` on every billable server. With an index on that column
-- every move writes a new entry into each of the table's indexes; without it, and with room
-- left on each page for the row's next version, PostgreSQL makes the move a heap-only update
-- that touches no index. Finding the servers due is a walk of the primary key instead, which
-- the tick does in id order anyway.
DROP INDEX servers_to_bill;
ALTER TABLE servers SET (fillfactor = 50);
