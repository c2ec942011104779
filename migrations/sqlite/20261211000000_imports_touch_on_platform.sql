-- A feed leaves out what came from the platform reading it, by the platform of the import each
-- item came from: an import whose platform changes moves the tenant's content version, so
-- feeds answer anew (their ETag and cached bodies follow it), even when its items stay the same.
CREATE TRIGGER imports_platform_touch AFTER UPDATE OF platform ON imports
WHEN OLD.platform IS NOT NEW.platform BEGIN
    INSERT INTO content_versions (tenant_id, slot, version, changed_at)
        SELECT NEW.tenant_id, 0, 1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = NEW.tenant_id)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = version + 1,
            changed_at = excluded.changed_at;
END;
