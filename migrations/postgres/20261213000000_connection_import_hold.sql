-- One import of a connection's busy times at a time: a run that finds another holding the
-- connection asks for a run after it, rather than reading beside it with the choice of
-- calendars it started with (the older run's error, or busy times of a calendar no longer
-- chosen, could otherwise be written last).
ALTER TABLE connections ADD COLUMN import_held_until TIMESTAMPTZ;
