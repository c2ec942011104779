-- Public availability calendars of a resource, for the business's own website: like a feed, the
-- URL's secret token is derived from the secret key and the nonce, and only its hash is kept.
CREATE TABLE availability_widgets (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  UUID NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    nonce        BYTEA NOT NULL,
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX availability_widgets_tenant ON availability_widgets(tenant_id, id);
CREATE INDEX availability_widgets_resource ON availability_widgets(resource_id);
