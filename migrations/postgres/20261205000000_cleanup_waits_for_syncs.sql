-- When the holder of a booking's sync lease took it (not moved by renewals): a disconnect's
-- cleanup waits for the syncs that took theirs before it first ran, which may have read the
-- calendar as still connected. NULL for a lease taken before this column existed.
ALTER TABLE sync_leases ADD COLUMN taken_at TIMESTAMPTZ;
-- When a cleanup first ran, after its disconnect committed: the sync leases taken before it are
-- the ones it waits for, and that set only drains.
ALTER TABLE connection_cleanups ADD COLUMN syncs_before TIMESTAMPTZ;
