-- iCal feeds out, feeds in, and conflicts (SQLite). Same conventions as the foundation.

-- A published .ics feed. The URL token is never stored: it is derived from the secret key and
-- `nonce` (so the URL can be shown again), and only its SHA-256 is kept for the lookup.
CREATE TABLE feeds (
    id                 BLOB PRIMARY KEY NOT NULL,
    tenant_id          BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    scope              TEXT NOT NULL CHECK (scope IN ('resource', 'staff', 'tenant')),
    resource_id        BLOB REFERENCES resources(id) ON DELETE CASCADE,
    staff_id           BLOB REFERENCES staff(id) ON DELETE CASCADE,
    profile            TEXT NOT NULL CHECK (profile IN ('busy', 'details')),
    name               TEXT NOT NULL,
    platform           TEXT,
    include_tentative  INTEGER NOT NULL,
    nonce              BLOB NOT NULL,
    token_hash         BLOB NOT NULL UNIQUE,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
);
CREATE INDEX feeds_tenant ON feeds(tenant_id, id);

-- A registered .ics URL that is polled on a schedule.
CREATE TABLE imports (
    id                    BLOB PRIMARY KEY NOT NULL,
    tenant_id             BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id           BLOB REFERENCES resources(id) ON DELETE CASCADE,
    staff_id              BLOB REFERENCES staff(id) ON DELETE CASCADE,
    platform              TEXT NOT NULL,
    url                   TEXT NOT NULL,
    name                  TEXT,
    interval_minutes      INTEGER NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('pending', 'ok', 'failing')),
    consecutive_failures  INTEGER NOT NULL,
    etag                  TEXT,
    last_modified         TEXT,
    next_run_at           TEXT NOT NULL,
    running_until         TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    CHECK ((resource_id IS NULL) <> (staff_id IS NULL))
);
CREATE INDEX imports_tenant ON imports(tenant_id, id);
CREATE INDEX imports_due ON imports(next_run_at);

-- The run log of an import.
CREATE TABLE import_runs (
    id           BLOB PRIMARY KEY NOT NULL,
    import_id    BLOB NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    tenant_id    BLOB NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT NOT NULL,
    outcome      TEXT NOT NULL,
    http_status  INTEGER,
    added        INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    removed      INTEGER NOT NULL,
    unchanged    INTEGER NOT NULL,
    skipped      INTEGER NOT NULL,
    error        TEXT
);
CREATE INDEX import_runs_import ON import_runs(import_id, id);

-- What the last run of an import stored: one row per busy occurrence, keyed like the feed keys it.
CREATE TABLE imported_items (
    id             BLOB PRIMARY KEY NOT NULL,
    import_id      BLOB NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    tenant_id      BLOB NOT NULL,
    resource_id    BLOB,
    staff_id       BLOB,
    uid            TEXT NOT NULL,
    recurrence_id  TEXT NOT NULL,
    kind           TEXT NOT NULL,
    summary        TEXT,
    start_date     TEXT,
    end_date       TEXT,
    span_start     TEXT NOT NULL,
    span_end       TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (import_id, uid, recurrence_id)
);
CREATE INDEX imported_items_resource ON imported_items(resource_id, span_start);
CREATE INDEX imported_items_staff ON imported_items(staff_id, span_start);
CREATE INDEX imported_items_tenant ON imported_items(tenant_id, span_start);

-- Two items of one resource or staff member that collide. `pair_key` names the pair, so a
-- detection pass finds the conflict it recorded before instead of opening a second one.
CREATE TABLE conflicts (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id      BLOB,
    staff_id         BLOB,
    pair_key         TEXT NOT NULL,
    item_a           TEXT NOT NULL,
    item_b           TEXT NOT NULL,
    span_start       TEXT NOT NULL,
    span_end         TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    items            TEXT NOT NULL,
    suggestion       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    detected_at      TEXT NOT NULL,
    resolved_at      TEXT,
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
ALTER TABLE tenants ADD COLUMN content_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN content_changed_at TEXT;
CREATE TRIGGER bookings_touch_insert AFTER INSERT ON bookings BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER bookings_touch_update AFTER UPDATE ON bookings BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER bookings_touch_delete AFTER DELETE ON bookings BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER booking_staff_touch_insert AFTER INSERT ON booking_staff BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER booking_staff_touch_delete AFTER DELETE ON booking_staff BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER blocks_touch_insert AFTER INSERT ON blocks BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER blocks_touch_delete AFTER DELETE ON blocks BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER imported_items_touch_insert AFTER INSERT ON imported_items BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER imported_items_touch_update AFTER UPDATE ON imported_items BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER imported_items_touch_delete AFTER DELETE ON imported_items BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER resources_touch_update AFTER UPDATE ON resources BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER resources_touch_delete AFTER DELETE ON resources BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
CREATE TRIGGER staff_touch_update AFTER UPDATE ON staff BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = NEW.tenant_id;
END;
CREATE TRIGGER staff_touch_delete AFTER DELETE ON staff BEGIN
    UPDATE tenants SET content_version = content_version + 1,
        content_changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = OLD.tenant_id;
END;
