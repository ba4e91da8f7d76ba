-- postbode state, third schema: `retry --dead` starts a delivery over
-- (pending, no attempts) but keeps how many attempts it had before, so
-- `status` can say "3 attempts before the retry" instead of showing a row
-- that looks as if it had never been tried, next to an old error.
ALTER TABLE deliveries ADD COLUMN previous_attempts INTEGER NOT NULL DEFAULT 0;
