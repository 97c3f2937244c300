-- Hourly billing: where each customer stands in the low-balance / below-zero / suspended steps.
-- One row per customer who ever got near or below zero; a step's column is set when the step
-- is taken (by exactly one replica: the UPDATE that sets it is conditional) and cleared when
-- the balance recovers, so each crossing is acted on once.

CREATE TABLE billing_states (
    user_id          BIGINT PRIMARY KEY REFERENCES users (id),
    -- the low-balance notice of the current crossing was sent; NULL = armed for the next one
    low_notice_at    TIMESTAMPTZ,
    -- the balance went below zero at this time (NULL while it is zero or more)
    negative_since   TIMESTAMPTZ,
    -- the reminder half-way through the grace period was sent
    reminder_at      TIMESTAMPTZ,
    -- the customer's servers were suspended for the unpaid balance
    suspended_at     TIMESTAMPTZ,
    updated_at       TIMESTAMPTZ NOT NULL
);

