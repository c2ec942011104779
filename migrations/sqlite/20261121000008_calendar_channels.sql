-- Push notifications from providers: Google watch channels and Microsoft subscriptions, one per
-- watched calendar of a connection, with the sealed secret each notification must echo.

CREATE TABLE calendar_channels (
    id              BLOB PRIMARY KEY NOT NULL,
    connection_id   BLOB NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    tenant_id       BLOB NOT NULL,
    provider        TEXT NOT NULL,
    calendar_id     TEXT NOT NULL,
    -- Google's channel id (ours) or Microsoft's subscription id (theirs).
    channel_id      TEXT NOT NULL UNIQUE,
    -- Google's resourceId, needed to stop the channel.
    resource_id     TEXT,
    -- Sealed: the channel token / clientState notifications carry.
    secret          TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    -- Whoever renews holds this lease.
    renewing_until  TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX calendar_channels_connection ON calendar_channels(connection_id);
CREATE INDEX calendar_channels_expiry ON calendar_channels(expires_at);

-- A notification asks for an import once: set when one is queued, cleared when it starts.
ALTER TABLE connections ADD COLUMN import_requested_at TEXT;

-- When the connection's calendar is next compared with what Kalends made (reconciliation).
ALTER TABLE connections ADD COLUMN next_reconcile_at TEXT;
