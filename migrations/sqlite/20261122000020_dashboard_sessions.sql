-- Sessions of the tenant console. A dashboard link carries a one-time id (`link_id`): opening it
-- makes a session here, and the unique index makes the link work once. The session cookie names
-- the row, so signing out (or deleting the tenant) ends it at once, whatever the cookie says.

CREATE TABLE dashboard_sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    link_id        BLOB NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    signed_out_at  TEXT
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
