-- One sync of a booking at a time, across all workers: a job holds its booking's lease while it
-- writes calendars, so an older job can never write older content after a newer one. A killed
-- worker's lease expires.
CREATE TABLE sync_leases (
    booking_id  BLOB PRIMARY KEY NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    until       TEXT NOT NULL
);
