-- Who asked for the directory read a background read owes (`actor` and `api_key_id` as in
-- the organisation log): the background read's log entry is theirs, not the schedule's.
ALTER TABLE organisation_connections ADD COLUMN read_owed_by TEXT;
ALTER TABLE organisation_connections ADD COLUMN read_owed_by_key BLOB;

-- The console's live fingerprint reads a tenant's latest member change every few seconds per
-- open console.
CREATE INDEX organisation_members_tenant_updated ON organisation_members (tenant_id, updated_at);
