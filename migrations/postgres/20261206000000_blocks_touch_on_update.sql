-- A block changed in place (a change of time zone moves its midnights) moves the tenant's
-- content version too, as bookings and imported items do: feeds and widgets answer anew.
DROP TRIGGER blocks_touch ON blocks;
CREATE CONSTRAINT TRIGGER blocks_touch AFTER INSERT OR UPDATE OR DELETE ON blocks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION kalends_touch_tenant();
