-- The feeds' change marker moves once per tenant and transaction instead of once per written
-- row. The deferred trigger ran its upsert for every row at commit: twice for a booking (the
-- booking and its staff link), once per item for an import of a thousand events. A transaction
-- now remembers (in a setting local to it) the tenant it last bumped and skips the same tenant
-- again; every trigger of a transaction fires at its commit, after all of its writes, so one
-- bump still follows every change, and the version still moves with every transaction that
-- changed anything and never repeats.
CREATE OR REPLACE FUNCTION kalends_touch_tenant() RETURNS trigger AS $$
DECLARE
    touched UUID := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
BEGIN
    IF current_setting('kalends.touched_tenant', true) = touched::text THEN
        RETURN NULL;
    END IF;
    INSERT INTO content_versions AS v (tenant_id, slot, version, changed_at)
        SELECT touched, pg_backend_pid() % 16, 1, clock_timestamp()
        WHERE EXISTS (SELECT 1 FROM tenants WHERE id = touched)
        ON CONFLICT (tenant_id, slot) DO UPDATE SET version = v.version + 1,
            changed_at = GREATEST(COALESCE(v.changed_at, '-infinity'), excluded.changed_at);
    PERFORM set_config('kalends.touched_tenant', touched::text, true);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
