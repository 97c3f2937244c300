-- Money checks that hold however PayPal's events arrive, and idempotency keys that remember
-- what they were first used for.
--
-- An order credits at most its amount, whatever captures arrive for it: `credited` counts what
-- its captures credited, raised in the credit's own transaction only while it stays within
-- `amount`. A capture's refunds and reversals debit at most what it credited: `refunded`
-- counts them the same way, in each debit's transaction.

ALTER TABLE paypal_orders ADD COLUMN credited INTEGER NOT NULL DEFAULT 0;

-- What each order's capture actually credited (its `paypal:capture:` posting), whatever the
-- order's status says: a completed order whose credit was never posted credited nothing, and
-- a credit posted for an order still marked otherwise counts.
UPDATE paypal_orders SET credited = COALESCE((SELECT SUM(p.amount) FROM postings p
                                              WHERE p.idempotency_key = 'paypal:capture:' || paypal_orders.capture_id), 0)
WHERE capture_id IS NOT NULL;

CREATE TABLE paypal_captures (
    -- PayPal's capture id, credited under `paypal:capture:{id}`
    id        TEXT PRIMARY KEY,
    -- micro-units it credited
    amount    INTEGER NOT NULL CHECK (amount > 0),
    -- micro-units its refunds and reversals debited so far
    refunded  INTEGER NOT NULL DEFAULT 0,
    CHECK (refunded >= 0 AND refunded <= amount)
);

INSERT INTO paypal_captures (id, amount, refunded)
SELECT substr(c.idempotency_key, 16), c.amount,
       MIN(c.amount, COALESCE((SELECT SUM(r.amount) FROM postings r
                               WHERE r.kind IN ('refund', 'reversal')
                                 AND r.reference = 'PayPal ' || substr(c.idempotency_key, 16)), 0))
FROM postings c
WHERE c.idempotency_key LIKE 'paypal:capture:%';

-- A client's idempotency key and what the request it came with was: the same key again with
-- another request is refused instead of answered with the first one's result.
CREATE TABLE idempotency_keys (
    -- what kind of request: `server.create`, `credits.adjust`, `paypal.refund`
    scope        TEXT NOT NULL,
    -- the key as hostdeck keeps it (scoped to the customer where keys are theirs)
    client_key   TEXT NOT NULL,
    -- hex SHA-256 of the request, in a canonical form
    fingerprint  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, client_key)
);
