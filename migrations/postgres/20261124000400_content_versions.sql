-- The feeds' change marker leaves the tenant row. Every booking write bumped
-- `tenants.content_version` (twice: the booking and its staff links), so the writes of a tenant
-- queued on that one row at commit, and every read of the tenant (each API request) walked the
-- row's long chain of dead versions. The version now lives in `content_versions`: one counter per
-- tenant and slot, a writer's slot chosen by its server process, so concurrent writers of a
-- tenant mostly bump different rows. A feed's version is the sum over the slots (it moves with
-- every change and never repeats) and its change time the latest of theirs; the sum starts at
-- the tenant's old version, so no feed's ETag changes with this migration.
CREATE TABLE content_versions (
    tenant_id UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    slot INTEGER NOT NULL,
    version BIGINT NOT NULL,
    changed_at TIMESTAMPTZ,
    PRIMARY KEY (tenant_id, slot)
);
INSERT INTO content_versions (tenant_id, slot, version, changed_at)
    SELECT id, 0, content_version, content_changed_at FROM tenants;

-- Still a deferred trigger (at commit). A tenant deleted in the same transaction (its bookings
-- go with it) has nothing left to version.
CREATE OR REPLACE FUNCTION kalends_touch_tenant() RETURNS trigger AS $$
DECLARE
    touched UUID := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    INSERT INTO content_versions AS v (tenant_id, slot, version, changed_at)
        SELECT touched, pg_backend_pid() % 16, 1, clock_timestamp()
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = touched)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = v.version + 1,
            changed_at = GREATEST(COALESCE(v.changed_at, '-infinity'), excluded.changed_at);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

ALTER TABLE tenants DROP COLUMN content_version;
ALTER TABLE tenants DROP COLUMN content_changed_at;
