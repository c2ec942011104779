-- iCal feeds out, feeds in, and conflicts (PostgreSQL). Same conventions as the foundation.

-- A published .ics feed. The URL token is never stored: it is derived from the secret key and
-- `nonce` (so the URL can be shown again), and only its SHA-256 is kept for the lookup.
CREATE TABLE feeds (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    scope              TEXT NOT NULL CHECK (scope IN ('resource', 'staff', 'tenant')),
    resource_id        UUID REFERENCES resources(id) ON DELETE CASCADE,
    staff_id           UUID REFERENCES staff(id) ON DELETE CASCADE,
    profile            TEXT NOT NULL CHECK (profile IN ('busy', 'details')),
    name               TEXT NOT NULL,
    platform           TEXT,
    include_tentative  BOOLEAN NOT NULL,
    nonce              BYTEA NOT NULL,
    token_hash         BYTEA NOT NULL UNIQUE,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX feeds_tenant ON feeds(tenant_id, id);

-- A registered .ics URL that is polled on a schedule.
CREATE TABLE imports (
    id                    UUID PRIMARY KEY,
    tenant_id             UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id           UUID REFERENCES resources(id) ON DELETE CASCADE,
    staff_id              UUID REFERENCES staff(id) ON DELETE CASCADE,
    platform              TEXT NOT NULL,
    url                   TEXT NOT NULL,
    name                  TEXT,
    interval_minutes      BIGINT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'failing')),
    consecutive_failures  BIGINT NOT NULL,
    etag                  TEXT,
    last_modified         TEXT,
    next_run_at           TIMESTAMPTZ NOT NULL,
    running_until         TIMESTAMPTZ,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    CHECK ((resource_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX imports_tenant ON imports(tenant_id, id);
CREATE INDEX imports_due ON imports(next_run_at);

-- The run log of an import.
CREATE TABLE import_runs (
    id           UUID PRIMARY KEY,
    import_id    UUID NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    tenant_id    UUID NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  BIGINT,
    added        BIGINT NOT NULL,
    updated      BIGINT NOT NULL,
    removed      BIGINT NOT NULL,
    unchanged    BIGINT NOT NULL,
    skipped      BIGINT NOT NULL,
    error        TEXT
);
CREATE INDEX import_runs_import ON import_runs(import_id, id);

-- What the last run of an import stored: one row per busy occurrence, keyed like the feed keys it.
CREATE TABLE imported_items (
    id             UUID PRIMARY KEY,
    import_id      UUID NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    tenant_id      UUID NOT NULL,
    resource_id    UUID,
    staff_id       UUID,
    uid            TEXT NOT NULL,
    recurrence_id  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    summary        TEXT,
    start_date     DATE,
    end_date       DATE,
    span_start     TIMESTAMPTZ NOT NULL,
    span_end       TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    UNIQUE (import_id, uid, recurrence_id)
);
CREATE INDEX imported_items_resource ON imported_items(resource_id, span_start);
CREATE INDEX imported_items_staff ON imported_items(staff_id, span_start);
CREATE INDEX imported_items_tenant ON imported_items(tenant_id, span_start);

-- Two items of one resource or staff member that collide. `pair_key` names the pair, so a
-- detection pass finds the conflict it recorded before instead of opening a second one.
CREATE TABLE conflicts (
    id               UUID PRIMARY KEY,
    tenant_id        UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id      UUID,
    staff_id         UUID,
    pair_key         TEXT NOT NULL,
    item_a           TEXT NOT NULL,
    item_b           TEXT NOT NULL,
    span_start       TIMESTAMPTZ NOT NULL,
    span_end         TIMESTAMPTZ NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    items            TEXT NOT NULL,
    suggestion       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    detected_at      TIMESTAMPTZ NOT NULL,
    resolved_at      TIMESTAMPTZ,
    resolution       TEXT,
    note             TEXT
);
CREATE UNIQUE INDEX conflicts_open_pair ON conflicts(tenant_id, pair_key) WHERE status = 'open';
CREATE INDEX conflicts_tenant ON conflicts(tenant_id, id);
CREATE INDEX conflicts_pair ON conflicts(tenant_id, pair_key);
CREATE INDEX conflicts_item_a ON conflicts(item_a) WHERE status = 'open';
CREATE INDEX conflicts_item_b ON conflicts(item_b) WHERE status = 'open';
CREATE INDEX conflicts_open_resource ON conflicts(resource_id) WHERE status = 'open';
CREATE INDEX conflicts_open_staff ON conflicts(staff_id) WHERE status = 'open';

CREATE INDEX bookings_resource_span ON bookings(resource_id, span_start);
CREATE INDEX blocks_resource_span ON blocks(resource_id, span_start);
CREATE INDEX blocks_staff_span ON blocks(staff_id, span_start);

-- Every change that can alter an exported feed bumps its tenant's content version, so a feed's
-- ETag costs one indexed read instead of a scan of everything the feed shows.
ALTER TABLE tenants ADD COLUMN content_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN content_changed_at TIMESTAMPTZ;

CREATE FUNCTION kalends_touch_tenant() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE tenants SET content_version = content_version + 1, content_changed_at = now()
            WHERE id = OLD.tenant_id;
        RETURN OLD;
    END IF;
    UPDATE tenants SET content_version = content_version + 1, content_changed_at = now()
        WHERE id = NEW.tenant_id;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER bookings_touch AFTER INSERT OR UPDATE OR DELETE ON bookings
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
CREATE TRIGGER booking_staff_touch AFTER INSERT OR DELETE ON booking_staff
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
CREATE TRIGGER blocks_touch AFTER INSERT OR DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
CREATE TRIGGER imported_items_touch AFTER INSERT OR UPDATE OR DELETE ON imported_items
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
CREATE TRIGGER resources_touch AFTER UPDATE OR DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
CREATE TRIGGER staff_touch AFTER UPDATE OR DELETE ON staff
    FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
