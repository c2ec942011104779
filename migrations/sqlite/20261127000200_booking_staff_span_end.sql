-- A staff member's bookings by when they end, without walking every booking of the tenant: the
-- busy read of slots and of the staff writes' checks starts from the staff member's links.
-- Written with the links (they are rewritten on every change of a booking's content).
ALTER TABLE booking_staff ADD COLUMN span_end TEXT;
UPDATE booking_staff SET span_end = (SELECT b.span_end FROM bookings b WHERE b.id = booking_staff.booking_id);
CREATE INDEX booking_staff_staff_span_end ON booking_staff(staff_id, span_end);
