-- Kalends foundation schema (PostgreSQL). Ids are UUIDv7, instants TIMESTAMPTZ, dates DATE.

CREATE TABLE tenants (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    key_hash      TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE staff (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id  TEXT,
    name         TEXT NOT NULL,
    email        TEXT,
    time_zone    TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX staff_tenant ON staff(tenant_id, id);

CREATE TABLE resources (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id  TEXT,
    name         TEXT NOT NULL,
    time_zone    TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, external_id)
);
CREATE INDEX resources_tenant ON resources(tenant_id, id);

CREATE TABLE bookings (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    external_id     TEXT,
    resource_id     UUID REFERENCES resources(id) ON DELETE RESTRICT,
    status          TEXT NOT NULL CHECK (status IN ('tentative', 'confirmed', 'cancelled')),
    title           TEXT NOT NULL,
    description     TEXT,
    location        TEXT,
    customer_name   TEXT,
    customer_email  TEXT,
    customer_phone  TEXT,
    start_at        TIMESTAMPTZ,
    end_at          TIMESTAMPTZ,
    time_zone       TEXT,
    start_date      DATE,
    end_date        DATE,
    span_start      TIMESTAMPTZ NOT NULL,
    span_end        TIMESTAMPTZ NOT NULL,
    version         BIGINT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, external_id),
    CHECK ((start_at IS NULL) <> (start_date IS NULL))
);
CREATE INDEX bookings_tenant_id ON bookings(tenant_id, id);
CREATE INDEX bookings_tenant_span ON bookings(tenant_id, span_start);
CREATE INDEX bookings_resource ON bookings(resource_id);

CREATE TABLE booking_staff (
    booking_id  UUID NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    staff_id    UUID NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (booking_id, staff_id)
);
CREATE INDEX booking_staff_staff ON booking_staff(staff_id);

CREATE TABLE blocks (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  UUID REFERENCES resources(id) ON DELETE CASCADE,
    staff_id     UUID REFERENCES staff(id) ON DELETE CASCADE,
    start_at     TIMESTAMPTZ,
    end_at       TIMESTAMPTZ,
    start_date   DATE,
    end_date     DATE,
    span_start   TIMESTAMPTZ NOT NULL,
    span_end     TIMESTAMPTZ NOT NULL,
    reason       TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    CHECK ((resource_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX blocks_tenant ON blocks(tenant_id, id);

-- Work owed to the job queue, written in the same transaction as the change that owes it.
CREATE TABLE outbox (
    id             BIGSERIAL PRIMARY KEY,
    job            TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    claimed_until  TIMESTAMPTZ
);

-- What the sync jobs did; until the providers land this is their only effect.
CREATE TABLE sync_attempts (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL,
    booking_id       UUID NOT NULL,
    booking_version  BIGINT NOT NULL,
    kind             TEXT NOT NULL,
    attempted_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (booking_id, booking_version, kind)
);

-- Jobs that failed for good, with the reason.
CREATE TABLE job_failures (
    id         UUID PRIMARY KEY,
    kind       TEXT NOT NULL,
    job        TEXT NOT NULL,
    error      TEXT NOT NULL,
    attempts   BIGINT NOT NULL,
    failed_at  TIMESTAMPTZ NOT NULL
);
