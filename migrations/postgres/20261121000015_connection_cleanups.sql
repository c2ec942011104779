-- A calendar connection being taken away (disconnected, or its staff member deleted): what the
-- cleanup at the provider needs (remove Kalends's events, stop push channels, revoke the grant),
-- kept until the cleanup job succeeded or gave up. The tokens are copied sealed as they were
-- (bound to the connection's id), so the connection row itself can be disconnected or deleted at
-- once; this row is forgotten when the cleanup is done.

CREATE TABLE connection_cleanups (
    id                       UUID PRIMARY KEY,
    -- No foreign keys: the connection (and its staff member) may already be gone.
    connection_id            UUID NOT NULL,
    tenant_id                UUID NOT NULL,
    provider                 TEXT NOT NULL,
    account_email            TEXT NOT NULL,
    destination_calendar_id  TEXT,
    -- Sealed as in `connections` (context `connection/<connection_id>/access|refresh`).
    access_token             TEXT NOT NULL,
    refresh_token            TEXT,
    token_expires_at         TIMESTAMPTZ NOT NULL,
    -- Remove the events this connection wrote (always when its staff member is deleted).
    remove_events            BOOLEAN NOT NULL,
    -- JSON: the events Kalends recorded for it, [[calendar_id, remote_id], ...].
    events                   TEXT NOT NULL,
    -- JSON: its push channels, [{"id", "resource_id", "expires_at"}, ...].
    channels                 TEXT NOT NULL,
    -- One cleanup run at a time holds this lease.
    claimed_until            TIMESTAMPTZ,
    created_at               TIMESTAMPTZ NOT NULL
);
