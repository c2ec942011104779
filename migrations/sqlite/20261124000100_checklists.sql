-- Manual update checklists: where each resource is listed, and what each `manual` listing must be
-- told by hand (close, open, verify nights). `held` remembers, as JSON dates, the nights the
-- platform held by itself at the last refresh (its own reservations), to ask a verify when they free.
CREATE TABLE listings (
    id           BLOB PRIMARY KEY NOT NULL,
    tenant_id    BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id  BLOB NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    platform     TEXT NOT NULL,
    mode         TEXT NOT NULL,
    room         TEXT,
    notes        TEXT,
    held         TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL
);
CREATE INDEX listings_resource ON listings(resource_id, id);
CREATE INDEX listings_tenant ON listings(tenant_id, mode);

CREATE TABLE checklist_items (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    listing_id     BLOB NOT NULL REFERENCES listings(id) ON DELETE CASCADE,
    resource_id    BLOB NOT NULL,
    platform       TEXT NOT NULL,
    action         TEXT NOT NULL,
    start_date     TEXT NOT NULL,
    end_date       TEXT NOT NULL,
    booking_id     BLOB,
    cause          TEXT NOT NULL,
    due_at         TEXT NOT NULL,
    check_in_at    TEXT NOT NULL,
    status         TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    done_at        TEXT,
    done_by        TEXT,
    note           TEXT,
    overdue_at     TEXT,
    reminded_step  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX checklist_items_listing ON checklist_items(listing_id, status);
CREATE INDEX checklist_items_tenant ON checklist_items(tenant_id, status, id);
