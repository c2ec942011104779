-- Public availability calendars of a resource, for the business's own website: like a feed, the
-- URL's secret token is derived from the secret key and the nonce, and only its hash is kept.
CREATE TABLE availability_widgets (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  BLOB NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    nonce        BLOB NOT NULL,
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL
);
CREATE INDEX availability_widgets_tenant ON availability_widgets(tenant_id, id);
CREATE INDEX availability_widgets_resource ON availability_widgets(resource_id);
