-- Where each booking stands in each connected calendar (SQLite): the event Kalends made for it.

CREATE TABLE booking_events (
    booking_id      BLOB NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    connection_id   BLOB NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    tenant_id       BLOB NOT NULL,
    -- The calendar the event is in (the connection's destination when it was written).
    calendar_id     TEXT NOT NULL,
    -- The provider's event id, once known (Google's is derived from the booking and connection).
    remote_id       TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'failed', 'deleted')),
    -- The booking version the event holds; only ever moves forward.
    synced_version  INTEGER,
    last_error      TEXT,
    synced_at       TEXT,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (booking_id, connection_id)
);
CREATE INDEX booking_events_connection ON booking_events(connection_id);
