-- A paused import is not run by the scheduler (its `next_run_at` stays where it was, so resuming
-- a long-paused import runs it once at once); "Run now" still runs it by hand.
ALTER TABLE imports ADD COLUMN paused_at TIMESTAMPTZ;
