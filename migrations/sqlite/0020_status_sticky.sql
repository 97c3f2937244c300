-- The status channel's sticky message (`discord.status_channel_id`): which message it is, the
-- report it shows (a hash of the public report), and when it was posted and last written, so a
-- restarted bot or another replica edits the same message instead of posting another, and the
-- edits keep to `status.sticky_min_interval` and Discord's rate limits across the cluster.
CREATE TABLE status_sticky (
    channel_id  TEXT PRIMARY KEY,
    -- NULL until posted, and again once Discord says the message is gone
    message_id  TEXT,
    report_hash TEXT,
    posted_at   TEXT,
    written_at  TEXT,
    -- Discord asked to wait (429 Retry-After) until then
    not_before  TEXT
);
