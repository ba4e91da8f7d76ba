-- postbode state, second schema: what lets a lost state be told from a first
-- run, and a changed subscriber target from the one a receiver refused.

-- Facts about this database. `id` is a random id written when the state is
-- first opened, and also into a marker file beside it (`<state>.id`): a
-- marker without its state means the state existed and was lost, which is an
-- error (restore it, or start over with --new-state), not a first run.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- The SHA-256 (hex) of the target a subscriber was disabled with (webhook
-- URL or email address; never the target itself: chat webhook URLs are
-- secrets). A later run whose target for the subscriber hashes differently
-- enables it again. NULL: not known (disabled before this column existed).
ALTER TABLE disabled_subscribers ADD COLUMN target_sha256 TEXT;
