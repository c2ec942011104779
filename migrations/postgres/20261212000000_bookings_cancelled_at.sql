-- A cancelled booking stays in feeds for calendars for the tenant's cancelled_retention_days,
-- counted from its cancellation: a later change (its staff member deleted, a note) must not
-- bring it back or keep it longer. Bookings cancelled before this column count from their last
-- change, as they did. The feed listing's covering index reads the new column instead of
-- updated_at for that condition, and still holds updated_at for the stamps.
ALTER TABLE bookings ADD COLUMN cancelled_at TIMESTAMPTZ;
UPDATE bookings SET cancelled_at = updated_at WHERE status = 'cancelled';
DROP INDEX bookings_resource_feed;
CREATE INDEX bookings_resource_feed
    ON bookings(resource_id, tenant_id, id, status, span_end, cancelled_at, updated_at, version);
