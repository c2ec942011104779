-- Outbound webhooks (Standard Webhooks v1): the tenant's endpoints, the events recorded in the
-- transaction of the change that caused them, one delivery per event and subscribed endpoint,
-- and the log of every attempt.

CREATE TABLE webhook_endpoints (
    id                      BLOB PRIMARY KEY NOT NULL,
    tenant_id               BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                     TEXT NOT NULL,
    description             TEXT,
    -- JSON array of the event types the endpoint receives.
    event_types             TEXT NOT NULL,
    enabled                 INTEGER NOT NULL,
    -- Why it was disabled by Kalends (410 Gone, failing for days); NULL when enabled or by hand.
    disabled_reason         TEXT,
    -- Sealed (`core/src/seal.rs`, context `webhook_endpoint/<id>/secret`).
    secret                  TEXT NOT NULL,
    -- The secret before the last rotation, still signing beside the new one until then.
    previous_secret         TEXT,
    previous_secret_until   TEXT,
    -- First failed attempt since the last success; NULL while deliveries succeed.
    failing_since           TEXT,
    created_at              TEXT NOT NULL,
    updated_at              TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, id);

CREATE TABLE webhook_events (
    id          BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    -- The body sent, exactly: {"type", "timestamp", "data"}.
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL,
    endpoint_id      BLOB NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         BLOB NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    -- pending | succeeded | failed
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    next_attempt_at  TEXT,
    -- One attempt at a time holds this lease.
    claimed_until    TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id                BLOB PRIMARY KEY NOT NULL,
    delivery_id       BLOB NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt           INTEGER NOT NULL,
    attempted_at      TEXT NOT NULL,
    status_code       INTEGER,
    duration_ms       INTEGER NOT NULL,
    response_excerpt  TEXT,
    error             TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, attempt);
