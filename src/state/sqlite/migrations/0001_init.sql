-- postbode state, first schema. Timestamps are RFC 3339 text in UTC with a
-- fixed width ("2025-07-15T08:00:00.000000Z", see state::ts), so comparing
-- them as text compares them as times, and `sqlite3 state.db` stays readable.
-- Everything is keyed by the blog name (the feed definition's file stem), so
-- one database can serve every blog in a feeds/ folder.

-- Posts seen in the blog. A post is announced at most once: announced_at is
-- set when its deliveries are planned (or, on a first run, when it is taken
-- as already known) and never cleared.
CREATE TABLE posts (
    blog          TEXT NOT NULL,
    key           TEXT NOT NULL,
    permalink     TEXT NOT NULL,
    title         TEXT NOT NULL,
    first_seen_at TEXT NOT NULL,
    published_at  TEXT,
    announced_at  TEXT,
    PRIMARY KEY (blog, key)
);

-- Every run of `postbode run`/`notify`/the daemon loop.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    blog        TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    hostname    TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'finished', 'abandoned')),
    summary     TEXT CHECK (summary IS NULL OR json_valid(summary))
);
CREATE INDEX runs_by_blog ON runs (blog, id);

-- One row per blog while a run holds it. proc_start (Linux: start time of the
-- process in clock ticks) tells a live holder from a recycled pid.
CREATE TABLE run_locks (
    blog         TEXT PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id),
    pid          INTEGER NOT NULL,
    hostname     TEXT NOT NULL,
    proc_start   TEXT,
    acquired_at  TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

-- The outbox. AUTOINCREMENT so an id is never reused: the id is the message's
-- identity on the wire (webhook-id, Message-ID) and receivers drop duplicates
-- by it.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    blog            TEXT NOT NULL,
    post_key        TEXT NOT NULL,
    subscriber      TEXT NOT NULL,
    channel         TEXT NOT NULL,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'retrying', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    hold_until      TEXT,
    next_attempt_at TEXT,
    lease_run       INTEGER REFERENCES runs (id),
    lease_until     TEXT,
    last_error      TEXT,
    sent_at         TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (blog, post_key, subscriber, channel),
    FOREIGN KEY (blog, post_key) REFERENCES posts (blog, key)
);
-- claim_due, open_deliveries and counts all look rows up by blog and status.
CREATE INDEX deliveries_by_status ON deliveries (blog, status, id);

-- Subscribers switched off by a receiver (HTTP 410) or by hand.
CREATE TABLE disabled_subscribers (
    blog        TEXT NOT NULL,
    subscriber  TEXT NOT NULL,
    disabled_at TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (blog, subscriber)
);
