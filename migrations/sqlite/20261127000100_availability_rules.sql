-- Availability rules of a resource or staff member (turnover, stay lengths, booking window,
-- notice, arrival and departure days, opening hours, buffers), as the JSON object the API takes
-- with only the rules that are set; NULL when none is. A booking that breaks one is refused
-- under `?reject_conflicts=true`, or saved with an open conflict of kind `rule` naming it (the
-- rule's name in `item_b`, `rule:<name>`).
ALTER TABLE resources ADD COLUMN rules TEXT;
ALTER TABLE staff ADD COLUMN rules TEXT;

-- SQLite cannot change a CHECK constraint: the conflicts table is rebuilt with the new kind
-- allowed, its rows and indexes as they were. No table refers to it.
CREATE TABLE conflicts_new (
    id               BLOB PRIMARY KEY NOT NULL,
    tenant_id        BLOB NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    resource_id      BLOB,
    staff_id         BLOB,
    pair_key         TEXT NOT NULL,
    item_a           TEXT NOT NULL,
    item_b           TEXT NOT NULL,
    span_start       TEXT NOT NULL,
    span_end         TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    items            TEXT NOT NULL,
    suggestion       TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
    detected_at      TEXT NOT NULL,
    resolved_at      TEXT,
    resolution       TEXT,
    note             TEXT,
    kind             TEXT NOT NULL DEFAULT 'overlap' CHECK (kind IN ('overlap', 'external_edit', 'rule'))
);
INSERT INTO conflicts_new (id, tenant_id, resource_id, staff_id, pair_key, item_a, item_b,
    span_start, span_end, severity, items, suggestion, status, detected_at, resolved_at,
    resolution, note, kind)
SELECT id, tenant_id, resource_id, staff_id, pair_key, item_a, item_b, span_start, span_end,
    severity, items, suggestion, status, detected_at, resolved_at, resolution, note, kind
FROM conflicts;
DROP TABLE conflicts;
ALTER TABLE conflicts_new RENAME TO conflicts;
CREATE UNIQUE INDEX conflicts_open_pair ON conflicts(tenant_id, pair_key) WHERE status = 'open';
CREATE INDEX conflicts_tenant ON conflicts(tenant_id, id);
CREATE INDEX conflicts_pair ON conflicts(tenant_id, pair_key);
CREATE INDEX conflicts_item_a ON conflicts(item_a) WHERE status = 'open';
CREATE INDEX conflicts_item_b ON conflicts(item_b) WHERE status = 'open';
CREATE INDEX conflicts_open_resource ON conflicts(resource_id) WHERE status = 'open';
CREATE INDEX conflicts_open_staff ON conflicts(staff_id) WHERE status = 'open';
