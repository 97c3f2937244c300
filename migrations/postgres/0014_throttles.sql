-- Throttles every replica shares: attempts at sign-in, at one-time codes and at sending mail,
-- counted per key in a window that starts at its first attempt (one row per key, window_index
-- 0). The key is a SHA-256 of what is counted (an email, an
-- address), so no email or address is kept here; rows are deleted once their window is over.
CREATE TABLE throttle_counts (
    key          TEXT NOT NULL,
    window_index BIGINT NOT NULL,
    hits         BIGINT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (key, window_index)
);

CREATE INDEX throttle_counts_by_expiry ON throttle_counts (expires_at);
