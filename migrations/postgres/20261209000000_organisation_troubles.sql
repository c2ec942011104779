-- An organisation connection whose administrator was told that something fails (a refused
-- directory read, a member out of reach, a covered calendar refused: the `organisation_failing`
-- alert and the `organisation.failing` webhook event), since when. The directory read that finds
-- nothing failing any more tells them it works again (`organisation_recovered`,
-- `organisation.recovered`) and takes the row away. Written only under the organisation's
-- advisory lock.
CREATE TABLE organisation_troubles (
    organisation_connection_id  UUID PRIMARY KEY NOT NULL REFERENCES organisation_connections(id) ON DELETE CASCADE,
    since                       TIMESTAMPTZ NOT NULL
);
