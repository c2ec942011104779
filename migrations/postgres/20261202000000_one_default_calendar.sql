-- A staff member's bookings go to one calendar: their default. Two calendars connected at the
-- same moment could both become it (each saw no default before the other committed), and a
-- booking was then written into both. The oldest default of each staff member stays; the
-- database now refuses a second.
UPDATE connections SET is_default = FALSE
WHERE is_default AND EXISTS (
    SELECT 1 FROM connections o
    WHERE o.staff_id = connections.staff_id AND o.is_default
      AND (o.created_at < connections.created_at
           OR (o.created_at = connections.created_at AND o.id < connections.id)));

CREATE UNIQUE INDEX connections_one_default ON connections (staff_id) WHERE is_default;
