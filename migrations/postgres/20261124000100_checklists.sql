-- Manual update checklists: where each resource is listed, and what each `manual` listing must be
-- told by hand (close, open, verify nights). `held` remembers, as JSON dates, the nights the
-- platform held by itself at the last refresh (its own reservations), to ask a verify when they free.
CREATE TABLE listings (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  UUID NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    platform     TEXT NOT NULL,
    mode         TEXT NOT NULL,
    room         TEXT,
    notes        TEXT,
    held         TEXT NOT NULL DEFAULT '[]',
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX listings_resource ON listings(resource_id, id);
CREATE INDEX listings_tenant ON listings(tenant_id, mode);

CREATE TABLE checklist_items (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    listing_id     UUID NOT NULL REFERENCES listings(id) ON DELETE CASCADE,
    resource_id    UUID NOT NULL,
    platform       TEXT NOT NULL,
    action         TEXT NOT NULL,
    start_date     DATE NOT NULL,
    end_date       DATE NOT NULL,
    booking_id     UUID,
    cause          TEXT NOT NULL,
    due_at         TIMESTAMPTZ NOT NULL,
    check_in_at    TIMESTAMPTZ NOT NULL,
    status         TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    done_at        TIMESTAMPTZ,
    done_by        TEXT,
    note           TEXT,
    overdue_at     TIMESTAMPTZ,
    reminded_step  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX checklist_items_listing ON checklist_items(listing_id, status);
CREATE INDEX checklist_items_tenant ON checklist_items(tenant_id, status, id);
