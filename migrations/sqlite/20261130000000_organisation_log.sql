-- What was done to the tenant's organisation connections, by whom and when: connected, changed
-- (administrator, scope or key) and disconnected, with how many covered calendars stopped. Kept
-- after the organisation connection is gone (so no reference to it): an administrator asking who
-- disconnected the Workspace finds the answer here. `api_key_id` names the key that asked
-- (no reference either: a key's entry outlives the key); NULL is the console.
CREATE TABLE organisation_log (
    id                          BLOB PRIMARY KEY NOT NULL,
    tenant_id                   BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    organisation_connection_id  BLOB NOT NULL,
    provider                    TEXT NOT NULL,
    domain                      TEXT NOT NULL,
    action                      TEXT NOT NULL CHECK (action IN ('connected', 'changed', 'disconnected')),
    api_key_id                  BLOB,
    detail                      TEXT NOT NULL,
    at                          TEXT NOT NULL
);
CREATE INDEX organisation_log_tenant ON organisation_log (tenant_id, id);
