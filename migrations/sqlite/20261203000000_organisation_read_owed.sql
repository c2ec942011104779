-- A directory read asked by someone that had more members to cover or stop than a request
-- should wait for leaves them to a background read: since when it is owed, and how many it
-- found. The members saved since then are the ones done; the hourly pass picks up an owed read
-- whose job was lost.
ALTER TABLE organisation_connections ADD COLUMN read_owed_since TEXT;
ALTER TABLE organisation_connections ADD COLUMN read_owed_members INTEGER;
