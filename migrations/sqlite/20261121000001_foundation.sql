-- Kalends foundation schema (SQLite). Ids are UUIDv7 stored as 16-byte blobs, instants as
-- RFC 3339 text in UTC (whole seconds where they are compared), dates as YYYY-MM-DD.

CREATE TABLE tenants (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE api_keys (
    id            BLOB PRIMARY KEY NOT NULL,
    tenant_id     BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash      TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    revoked_at    TEXT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE staff (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id  TEXT,
    name         TEXT NOT NULL,
    email        TEXT,
    time_zone    TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX staff_tenant ON staff(tenant_id, id);

CREATE TABLE resources (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id  TEXT,
    name         TEXT NOT NULL,
    time_zone    TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX resources_tenant ON resources(tenant_id, id);

CREATE TABLE bookings (
    id              BLOB PRIMARY KEY NOT NULL,
    tenant_id       BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id     TEXT,
    resource_id     BLOB REFERENCES resources(id) ON DELETE RESTRICT,
    status          TEXT NOT NULL CHECK (status IN ('tentative', 'confirmed', 'cancelled')),
    title           TEXT NOT NULL,
    description     TEXT,
    location        TEXT,
    customer_name   TEXT,
    customer_email  TEXT,
    customer_phone  TEXT,
    start_at        TEXT,
    end_at          TEXT,
    time_zone       TEXT,
    start_date      TEXT,
    end_date        TEXT,
    span_start      TEXT NOT NULL,
    span_end        TEXT NOT NULL,
    version         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (tenant_id, external_id),
    CHECK ((start_at IS NULL) <> (start_date IS NULL))
);
CREATE INDEX bookings_tenant_id ON bookings(tenant_id, id);
CREATE INDEX bookings_tenant_span ON bookings(tenant_id, span_start);
CREATE INDEX bookings_resource ON bookings(resource_id);

CREATE TABLE booking_staff (
    booking_id  BLOB NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    staff_id    BLOB NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    tenant_id   BLOB NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (booking_id, staff_id)
);
CREATE INDEX booking_staff_staff ON booking_staff(staff_id);

CREATE TABLE blocks (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  BLOB REFERENCES resources(id) ON DELETE CASCADE,
    staff_id     BLOB REFERENCES staff(id) ON DELETE CASCADE,
    start_at     TEXT,
    end_at       TEXT,
    start_date   TEXT,
    end_date     TEXT,
    span_start   TEXT NOT NULL,
    span_end     TEXT NOT NULL,
    reason       TEXT,
    created_at   TEXT NOT NULL,
    CHECK ((resource_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX blocks_tenant ON blocks(tenant_id, id);

-- Work owed to the job queue, written in the same transaction as the change that owes it.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    job            TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    claimed_until  TEXT
);

-- What the sync jobs did; until the providers land this is their only effect.
CREATE TABLE sync_attempts (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL,
    booking_id       BLOB NOT NULL,
    booking_version  INTEGER NOT NULL,
    kind             TEXT NOT NULL,
    attempted_at     TEXT NOT NULL,
    UNIQUE (booking_id, booking_version, kind)
);

-- Jobs that failed for good, with the reason.
CREATE TABLE job_failures (
    id         BLOB PRIMARY KEY NOT NULL,
    kind       TEXT NOT NULL,
    job        TEXT NOT NULL,
    error      TEXT NOT NULL,
    attempts   INTEGER NOT NULL,
    failed_at  TEXT NOT NULL
);
