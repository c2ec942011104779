-- Combined properties: a resource (a room) may belong to another (the house rented whole), one
-- level deep. A booking of either closes the other: busy times, conflicts, feeds and checklists
-- read a resource's family (itself, its parent, its children) through `parent_id`. The index
-- finds a house's rooms.
ALTER TABLE resources ADD COLUMN parent_id UUID REFERENCES resources(id);
CREATE INDEX resources_parent ON resources(tenant_id, parent_id);
