-- When a disconnect of the organisation connection found a read or change holding it: that read
-- stops before its next member, so the disconnect, waiting, stops every covered calendar within
-- a minute however large the directory. Honoured for a minute; the row goes with the disconnect.
ALTER TABLE organisation_connections ADD COLUMN stop_asked_at TEXT;
