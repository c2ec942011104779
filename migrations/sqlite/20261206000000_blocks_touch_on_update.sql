-- A block changed in place (a change of time zone moves its midnights) moves the tenant's
-- content version too, as bookings and imported items do: feeds and widgets answer anew.
CREATE TRIGGER blocks_touch_update AFTER UPDATE ON blocks BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
