-- Where each booking stands in each connected calendar (PostgreSQL): the event Kalends made for it.

CREATE TABLE booking_events (
    booking_id      UUID NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    connection_id   UUID NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    tenant_id       UUID NOT NULL,
    -- The calendar the event is in (the connection's destination when it was written).
    calendar_id     TEXT NOT NULL,
    -- The provider's event id, once known (Google's is derived from the booking and connection).
    remote_id       TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'synced', 'failed', 'deleted')),
    -- The booking version the event holds; only ever moves forward.
    synced_version  BIGINT,
    last_error      TEXT,
    synced_at       TIMESTAMPTZ,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (booking_id, connection_id)
);
CREATE INDEX booking_events_connection ON booking_events(connection_id);
