-- The feeds' change marker leaves the tenant row (see the PostgreSQL migration of the same
-- name: there concurrent writers of a tenant queued on that row). SQLite has one writer at a time,
-- so it keeps a single slot; the table and the reads are the same on both databases. The version
-- starts at the tenant's old one, so no feed's ETag changes with this migration.
CREATE TABLE content_versions (
    tenant_id BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    slot INTEGER NOT NULL,
    version INTEGER NOT NULL,
    changed_at TEXT,
    PRIMARY KEY (tenant_id, slot)
);
INSERT INTO content_versions (tenant_id, slot, version, changed_at)
    SELECT id, 0, content_version, content_changed_at FROM tenants;

DROP TRIGGER bookings_touch_insert;
CREATE TRIGGER bookings_touch_insert AFTER INSERT ON bookings BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER bookings_touch_update;
CREATE TRIGGER bookings_touch_update AFTER UPDATE ON bookings BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER bookings_touch_delete;
CREATE TRIGGER bookings_touch_delete AFTER DELETE ON bookings BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER booking_staff_touch_insert;
CREATE TRIGGER booking_staff_touch_insert AFTER INSERT ON booking_staff BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER booking_staff_touch_delete;
CREATE TRIGGER booking_staff_touch_delete AFTER DELETE ON booking_staff BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER blocks_touch_insert;
CREATE TRIGGER blocks_touch_insert AFTER INSERT ON blocks BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER blocks_touch_delete;
CREATE TRIGGER blocks_touch_delete AFTER DELETE ON blocks BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER imported_items_touch_insert;
CREATE TRIGGER imported_items_touch_insert AFTER INSERT ON imported_items BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER imported_items_touch_update;
CREATE TRIGGER imported_items_touch_update AFTER UPDATE ON imported_items BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER imported_items_touch_delete;
CREATE TRIGGER imported_items_touch_delete AFTER DELETE ON imported_items BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER resources_touch_update;
CREATE TRIGGER resources_touch_update AFTER UPDATE ON resources BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER resources_touch_delete;
CREATE TRIGGER resources_touch_delete AFTER DELETE ON resources BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER staff_touch_update;
CREATE TRIGGER staff_touch_update AFTER UPDATE ON staff BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
DROP TRIGGER staff_touch_delete;
CREATE TRIGGER staff_touch_delete AFTER DELETE ON staff BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT OLD.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = OLD.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;

ALTER TABLE tenants DROP COLUMN content_version;
ALTER TABLE tenants DROP COLUMN content_changed_at;
