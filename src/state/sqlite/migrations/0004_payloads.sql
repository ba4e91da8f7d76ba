-- postbode state, fourth schema: a message's payload is stored once, in
-- `payloads`, and each delivery refers to it. Before, every delivery row
-- carried its own copy of the post's frozen message data (about 1 KB), so
-- announcing a post to 100,000 subscribers wrote 100 MB of identical text,
-- and again with every claim and outcome (each writes a new row version on
-- PostgreSQL).

-- One row per distinct payload. sha256 is the SHA-256 (hex) of the body's
-- UTF-8 bytes, by which planning finds a payload already stored; NULL for
-- the payloads moved out of the deliveries below (SQLite cannot compute a
-- SHA-256), which are never looked up by content: they belong to
-- deliveries planned before. Payloads are never changed or deleted: a
-- digest's merged message is a payload of its own.
CREATE TABLE payloads (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    sha256 TEXT UNIQUE,
    body   TEXT NOT NULL CHECK (json_valid(body))
);

-- Moves the existing payloads out, one row per distinct text, in the order
-- of the first delivery that carried each.
INSERT INTO payloads (body)
SELECT payload FROM deliveries GROUP BY payload ORDER BY MIN(id);
-- Only to find each delivery's payload below.
CREATE INDEX payloads_by_body ON payloads (body);

-- SQLite cannot drop a column a CHECK refers to, nor add a NOT NULL
-- reference: the table is rebuilt, with the same ids.
CREATE TABLE deliveries_0004 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    blog              TEXT NOT NULL,
    post_key          TEXT NOT NULL,
    subscriber        TEXT NOT NULL,
    channel           TEXT NOT NULL,
    payload_id        INTEGER NOT NULL REFERENCES payloads (id),
    status            TEXT NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sending', 'retrying', 'sent', 'dead')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    previous_attempts INTEGER NOT NULL DEFAULT 0,
    hold_until        TEXT,
    next_attempt_at   TEXT,
    lease_run         INTEGER REFERENCES runs (id),
    lease_until       TEXT,
    last_error        TEXT,
    sent_at           TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (blog, post_key, subscriber, channel),
    FOREIGN KEY (blog, post_key) REFERENCES posts (blog, key)
);
INSERT INTO deliveries_0004
    (id, blog, post_key, subscriber, channel, payload_id, status, attempts,
     previous_attempts, hold_until, next_attempt_at, lease_run, lease_until,
     last_error, sent_at, created_at)
SELECT d.id, d.blog, d.post_key, d.subscriber, d.channel, p.id, d.status, d.attempts,
       d.previous_attempts, d.hold_until, d.next_attempt_at, d.lease_run, d.lease_until,
       d.last_error, d.sent_at, d.created_at
FROM deliveries d JOIN payloads p ON p.body = d.payload
ORDER BY d.id;
-- A delivery's id is never used again (it is the message's identity on the
-- wire): the new table's counter continues from the old one's.
DELETE FROM sqlite_sequence WHERE name = 'deliveries_0004';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'deliveries_0004', seq FROM sqlite_sequence WHERE name = 'deliveries';
DROP TABLE deliveries;
ALTER TABLE deliveries_0004 RENAME TO deliveries;
DROP INDEX payloads_by_body;
-- As in the first schema: claims, open_deliveries and counts look rows up
-- by blog and status.
CREATE INDEX deliveries_by_status ON deliveries (blog, status, id);
