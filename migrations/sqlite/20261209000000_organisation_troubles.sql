-- An organisation connection whose administrator was told that something fails (a refused
-- directory read, a member out of reach, a covered calendar refused: the `organisation_failing`
-- alert and the `organisation.failing` webhook event), since when. The directory read that finds
-- nothing failing any more tells them it works again (`organisation_recovered`,
-- `organisation.recovered`) and takes the row away. Written only under the organisation's
-- advisory lock.
CREATE TABLE organisation_troubles (
    organisation_connection_id  BLOB PRIMARY KEY NOT NULL REFERENCES organisation_connections(id) ON DELETE CASCADE,
    since                       TEXT NOT NULL
);

-- An organisation still failing when this was added, and told so (its latest
-- `organisation_failing` alert), is in a streak its next working read ends.
INSERT INTO organisation_troubles (organisation_connection_id, since)
SELECT o.id, MAX(a.created_at) FROM organisation_connections o
JOIN alerts a ON a.tenant_id = o.tenant_id AND a.kind = 'organisation_failing' AND a.object_id = o.id
WHERE o.status = 'error'
   OR EXISTS (SELECT 1 FROM organisation_members m WHERE m.organisation_connection_id = o.id
       AND m.state = 'failed'
       AND COALESCE(m.last_error, '') NOT LIKE '%connected this calendar themselves: it stays theirs, and the organisation does not cover it')
   OR EXISTS (SELECT 1 FROM organisation_members m JOIN connections c ON c.id = m.connection_id
       WHERE m.organisation_connection_id = o.id AND m.state <> 'left' AND c.status <> 'active')
GROUP BY o.id;
