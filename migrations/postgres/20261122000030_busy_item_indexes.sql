-- The busy items of one property or staff member in a window (the console's timeline, conflict
-- detection, availability) filter imported items by tenant, owner and start. With only
-- (tenant_id, span_start) and (resource_id, span_start) to choose from, SQLite's planner took the
-- tenant's index and visited every imported item of the tenant in the window, once per owner:
-- 10,000 items read for each of 50 properties on the console's overview. These indexes hold all
-- three columns, so each owner's read visits only its own items.

CREATE INDEX imported_items_tenant_resource ON imported_items(tenant_id, resource_id, span_start);
CREATE INDEX imported_items_tenant_staff ON imported_items(tenant_id, staff_id, span_start);
