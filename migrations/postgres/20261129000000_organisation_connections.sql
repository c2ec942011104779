-- Organisation-wide connections: an administrator connects a whole Google Workspace (a service
-- account with domain-wide delegation) or Microsoft 365 organisation (an application with
-- app-only access) once. The service account's JSON key, or the application's client secret, is
-- sealed like provider tokens (`sealed_key`, bound to the row's id) and resealed on read after a
-- key rotation. Google: `domain`, `admin_email` and `org_unit` say whose users are in scope,
-- `service_account` acts for them. Microsoft: `domain` is the tenant id, `org_unit` the security
-- group in scope, `service_account` the application (client) id; no `admin_email`.
CREATE TABLE organisation_connections (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    provider           TEXT NOT NULL CHECK (provider IN ('google', 'microsoft')),
    domain             TEXT NOT NULL,
    admin_email        TEXT,
    org_unit           TEXT,
    busy_only          BOOLEAN NOT NULL,
    sealed_key         TEXT NOT NULL,
    service_account    TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('active', 'error')),
    last_error         TEXT,
    last_refreshed_at  TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, provider, domain)
);

-- The directory's users in scope, each a staff member with a covered connection (`connection_id`,
-- gone when the connection is). A user who left the scope stays, `left`, until they return.
CREATE TABLE organisation_members (
    organisation_connection_id  UUID NOT NULL REFERENCES organisation_connections(id) ON DELETE CASCADE,
    directory_id                TEXT NOT NULL,
    tenant_id                   UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    staff_id                    UUID NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    email                       TEXT NOT NULL,
    connection_id               UUID REFERENCES connections(id) ON DELETE SET NULL,
    state                       TEXT NOT NULL CHECK (state IN ('active', 'failed', 'left')),
    last_error                  TEXT,
    updated_at                  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (organisation_connection_id, directory_id)
);
CREATE INDEX organisation_members_connection ON organisation_members (connection_id);

-- A covered connection of a busy-times-only organisation: nothing is written into its calendar
-- (it is never a staff member's default), and its busy times are read as free/busy.
ALTER TABLE connections ADD COLUMN busy_only BOOLEAN NOT NULL DEFAULT FALSE;
