-- What was done to the tenant's organisation connections, by whom and when: connected, changed
-- (administrator, scope or key), refreshed (who joined or left the directory's scope) and
-- disconnected, with how many covered calendars stopped. Kept after the organisation connection
-- is gone (so no reference to it): an administrator asking who disconnected the Workspace finds
-- the answer here. `actor`: an API key (`api_key_id` names it; no reference either, an entry
-- outlives its key), the console, or the hourly directory read.
CREATE TABLE organisation_log (
    id                          UUID PRIMARY KEY,
    tenant_id                   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    organisation_connection_id  UUID NOT NULL,
    provider                    TEXT NOT NULL,
    domain                      TEXT NOT NULL,
    action                      TEXT NOT NULL CHECK (action IN ('connected', 'changed', 'refreshed', 'disconnected')),
    actor                       TEXT NOT NULL CHECK (actor IN ('api_key', 'console', 'schedule')),
    api_key_id                  UUID,
    detail                      TEXT NOT NULL,
    at                          TIMESTAMPTZ NOT NULL
);
CREATE INDEX organisation_log_tenant ON organisation_log (tenant_id, id);
