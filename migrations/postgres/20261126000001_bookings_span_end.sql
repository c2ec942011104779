-- An owner's busy items are read by the window they touch. A booking lasts at most 366 days, so
-- one that touches a window ends inside [window start, window end + the look-back]: the bookings
-- are found by when they end, a range that holds the bookings still to come rather than the
-- years of history before the window (what a range on span_start from window start minus the
-- look-back held). The indexes on span_start served only that read; they are replaced, so a
-- booking write maintains as many indexes as before.
DROP INDEX bookings_tenant_span;
DROP INDEX bookings_resource_span;
CREATE INDEX bookings_tenant_span_end ON bookings(tenant_id, span_end);
CREATE INDEX bookings_resource_span_end ON bookings(resource_id, span_end);
