-- Sessions of the staff settings page. A settings link carries a one-time id (`link_id`):
-- opening it makes a session here, and the unique index makes the link work once. The session
-- cookie names the row by its id, which is kept only as SHA-256 (`id_hash`), so a copy of this
-- table opens no session. Signing out, a disconnect, a new link for the staff member or deleting
-- them (the cascade) ends a session at once, whatever the cookie says.

CREATE TABLE staff_sessions (
    id_hash     BLOB PRIMARY KEY NOT NULL,
    tenant_id   BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    staff_id    BLOB NOT NULL REFERENCES staff(id) ON DELETE CASCADE,
    link_id     BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ended_at    TEXT
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);
CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at);
