-- A feed leaves out what came from the platform reading it, by the platform of the import each
-- item came from: an import whose platform changes moves the tenant's content version, so
-- feeds answer anew (their ETag and cached bodies follow it), even when its items stay the same.
CREATE CONSTRAINT TRIGGER imports_platform_touch AFTER UPDATE OF platform ON imports
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.platform IS DISTINCT FROM NEW.platform)
    EXECUTE FUNCTION kalends_touch_tenant();
