-- Calendar connections (SQLite): a staff member's Google or Microsoft account, its sealed tokens
-- and choices; and the single-use OAuth states of connect flows in progress.

CREATE TABLE connections (
    id                       BLOB PRIMARY KEY NOT NULL,
    tenant_id                BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    staff_id                 BLOB NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    provider                 TEXT NOT NULL CHECK (provider IN ('google', 'microsoft')),
    account_email            TEXT NOT NULL,
    status                   TEXT NOT NULL CHECK (status IN ('active', 'needs_reauth', 'revoked', 'error')),
    destination_calendar_id  TEXT,
    busy_calendar_ids        TEXT NOT NULL,
    calendars                TEXT NOT NULL,
    is_default               INTEGER NOT NULL,
    -- Sealed (ChaCha20-Poly1305, `v1.<key id>.<...>`); NULL once disconnected.
    access_token             TEXT,
    refresh_token            TEXT,
    token_expires_at         TEXT,
    token_version            INTEGER NOT NULL,
    -- One refresh at a time across all workers: whoever sets this owns the refresh.
    refresh_lease_until      TEXT,
    last_sync_at             TEXT,
    last_error               TEXT,
    created_at               TEXT NOT NULL,
    updated_at               TEXT NOT NULL,
    UNIQUE (staff_id, provider, account_email)
);
CREATE INDEX connections_tenant ON connections(tenant_id, staff_id);

-- A connect flow in progress: the SHA-256 of its `state`, bound to the tenant and staff member,
-- with the sealed PKCE verifier. Taken (deleted) by the callback, so it works once.
CREATE TABLE oauth_states (
    state_hash     BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    staff_id       BLOB NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    provider       TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX oauth_states_expiry ON oauth_states(expires_at);
