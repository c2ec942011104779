-- The etag a calendar answered the last write of a booking's event with: CalDAV updates and
-- deletes send it as `If-Match` without reading it first (a 412 still re-reads).
ALTER TABLE booking_events ADD COLUMN remote_etag TEXT;
