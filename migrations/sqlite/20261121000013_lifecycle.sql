-- Lifecycle upkeep: the scheduler's periodic sweeps read only what they need.

-- E-mails claimed and never finished (a worker died mid-send), oldest first.
CREATE INDEX customer_messages_sending ON customer_messages(created_at) WHERE status = 'sending';

-- When each kind of periodic upkeep (drift check, pruning) next runs: one worker claims each run.
CREATE TABLE maintenance_runs (
    name         TEXT PRIMARY KEY NOT NULL,
    next_run_at  TEXT NOT NULL
);

-- History pruned by age.
CREATE INDEX import_runs_finished ON import_runs(finished_at);
CREATE INDEX sync_attempts_attempted ON sync_attempts(attempted_at);
CREATE INDEX job_failures_failed ON job_failures(failed_at);
