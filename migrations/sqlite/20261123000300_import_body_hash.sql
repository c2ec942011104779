-- The SHA-256 of the last feed body an import read: a body with the same bytes is not read again.
ALTER TABLE imports ADD COLUMN body_sha256 BLOB;
