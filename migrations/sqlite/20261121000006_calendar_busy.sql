-- Busy times imported from staff members' connected calendars (SQLite), the incremental-sync
-- cursor of each imported calendar, and when each connection is next imported.

CREATE TABLE calendar_busy (
    id              BLOB PRIMARY KEY NOT NULL,
    tenant_id       BLOB NOT NULL,
    connection_id   BLOB NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    staff_id        BLOB NOT NULL,
    -- The calendar it was read from, and the provider's event id in it.
    calendar_id     TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    summary         TEXT,
    -- Whole days (end exclusive) for all-day events, NULL for timed ones.
    start_date      TEXT,
    end_date        TEXT,
    -- The instants it covers (all-day events read in the staff member's zone).
    span_start      TEXT NOT NULL,
    span_end        TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (connection_id, calendar_id, remote_id)
);
CREATE INDEX calendar_busy_staff ON calendar_busy(tenant_id, staff_id, span_start);

-- Where the next incremental import of a calendar starts: a Google sync token or a Graph delta
-- link. Written in the same transaction as the items it follows.
CREATE TABLE calendar_cursors (
    connection_id   BLOB NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    calendar_id     TEXT NOT NULL,
    cursor          TEXT NOT NULL,
    synced_at       TEXT NOT NULL,
    PRIMARY KEY (connection_id, calendar_id)
);

-- When the scheduler next imports the connection's busy times (NULL: at once).
ALTER TABLE connections ADD COLUMN next_import_at TEXT;
CREATE INDEX connections_next_import ON connections(next_import_at);
