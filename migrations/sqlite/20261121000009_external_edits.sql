-- The last edit a staff member made by hand to a booking's event in their calendar, and what
-- Kalends did about it (restored, or left as is), for the booking's `sync` state.
ALTER TABLE booking_events ADD COLUMN external_edit TEXT;
ALTER TABLE booking_events ADD COLUMN external_edit_at TEXT;
