-- postbode state on PostgreSQL, fourth schema: claims that rewrite no index.
--
-- A delivery's row is written three times: planned, claimed, settled. Each
-- update that changes an indexed column (or one an index's WHERE names) is
-- a new row version with an entry in every index of the table; one that
-- changes none is a heap-only (HOT) update, written beside the old version
-- in the same page. With `status` in three indexes, every claim (pending ->
-- sending) and every outcome wrote five index entries per delivery: most of
-- the database server's work in a large announcement.
--
-- Now no index names `status` or the lease: the rows still to be sent are
-- found through `closed`, computed from `status`, which a claim leaves
-- false (a HOT update) and only the final outcome (sent, dead) sets.
-- Queries for rows still open say `NOT closed` so that the planner uses
-- `deliveries_open`; counts and the history by status read the blog's rows.
ALTER TABLE deliveries
    ADD COLUMN closed BOOLEAN GENERATED ALWAYS AS (status IN ('sent', 'dead')) STORED;
DROP INDEX deliveries_by_status;
DROP INDEX deliveries_by_lease;
DROP INDEX deliveries_open;
CREATE INDEX deliveries_open ON deliveries (blog, id) WHERE NOT closed;
-- Room in each page for the claim's and the outcome's versions of the rows
-- it holds: an update is HOT only when the new version fits beside the old.
ALTER TABLE deliveries SET (fillfactor = 50);
