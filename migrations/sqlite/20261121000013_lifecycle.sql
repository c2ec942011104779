-- Lifecycle upkeep: the scheduler's periodic sweeps read only what they need.

-- E-mails claimed and never finished (a worker died mid-send), oldest first.
CREATE INDEX customer_messages_sending ON customer_messages(created_at) WHERE status = 'sending';

-- When each kind of periodic upkeep (drift check, pruning) next runs: one worker claims each run.
CREATE TABLE maintenance_runs (
    name         TEXT PRIMARY KEY NOT NULL,
    next_run_at  TEXT NOT NULL
);
