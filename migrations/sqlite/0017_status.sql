-- The status report (`core/src/status/`): computed on a schedule by one replica per interval
-- and shared through these tables.

-- Who does a scheduled job this interval: one row per job, taken by the replica whose
-- statement finds it expired.
CREATE TABLE status_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- The last report computed (one row, id 1), as JSON, read by every replica.
CREATE TABLE status_reports (
    id          INTEGER PRIMARY KEY,
    body        TEXT NOT NULL,
    computed_at TEXT NOT NULL
);

-- Each public component's state at each refresh, kept 90 days, for the per-day uptime bars.
CREATE TABLE status_samples (
    component TEXT NOT NULL,
    at        TEXT NOT NULL,
    -- the UTC day of `at`, YYYY-MM-DD, so both engines group by the same text
    day       TEXT NOT NULL,
    state     TEXT NOT NULL,
    PRIMARY KEY (component, at)
);

CREATE INDEX status_samples_by_day ON status_samples (day);

-- hostdeck's own incidents and maintenance windows, declared by staff.
CREATE TABLE status_incidents (
    id          INTEGER PRIMARY KEY,
    -- incident | maintenance
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    -- none | minor | major | critical
    impact      TEXT NOT NULL,
    -- investigating | identified | monitoring | resolved (maintenance: scheduled,
    -- in_progress, completed are read from the window and `status`)
    status      TEXT NOT NULL,
    -- JSON array of configured component ids
    components  TEXT NOT NULL,
    starts_at   TEXT,
    ends_at     TEXT,
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    created_by  INTEGER REFERENCES users (id)
);

CREATE INDEX status_incidents_open ON status_incidents (resolved_at);

-- The public updates of an incident, in the order they were posted.
CREATE TABLE status_incident_updates (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES status_incidents (id),
    status      TEXT NOT NULL,
    message     TEXT NOT NULL,
    at          TEXT NOT NULL,
    author      INTEGER REFERENCES users (id)
);

CREATE INDEX status_incident_updates_by_incident ON status_incident_updates (incident_id, id);
