-- Busy times imported from staff members' connected calendars (PostgreSQL), the incremental-sync
-- cursor of each imported calendar, and when each connection is next imported.

CREATE TABLE calendar_busy (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL,
    connection_id   UUID NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    staff_id        UUID NOT NULL,
    -- The calendar it was read from, and the provider's event id in it.
    calendar_id     TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    summary         TEXT,
    -- Whole days (end exclusive) for all-day events, NULL for timed ones.
    start_date      DATE,
    end_date        DATE,
    -- The instants it covers (all-day events read in the staff member's zone).
    span_start      TIMESTAMPTZ NOT NULL,
    span_end        TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (connection_id, calendar_id, remote_id)
);
CREATE INDEX calendar_busy_staff ON calendar_busy(tenant_id, staff_id, span_start);

-- Where the next incremental import of a calendar starts: a Google sync token or a Graph delta
-- link. Written in the same transaction as the items it follows.
CREATE TABLE calendar_cursors (
    connection_id   UUID NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    calendar_id     TEXT NOT NULL,
    cursor          TEXT NOT NULL,
    synced_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (connection_id, calendar_id)
);

-- When the scheduler next imports the connection's busy times (NULL: at once).
ALTER TABLE connections ADD COLUMN next_import_at TIMESTAMPTZ;
CREATE INDEX connections_next_import ON connections(next_import_at);
