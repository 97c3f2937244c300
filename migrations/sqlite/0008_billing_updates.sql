-- The hourly tick moves `billed_until` on every billable server; an index on that column made
-- every move rewrite an index entry too. Finding the servers due is a walk of the primary key
-- instead, which the tick does in id order anyway.
DROP INDEX servers_to_bill;
