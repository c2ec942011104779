-- CalDAV (Apple iCloud and any CalDAV server) is a third calendar provider. SQLite cannot alter
-- a CHECK constraint, and rebuilding `connections` would cascade into every table that references
-- it, so the constraint's text is widened in place: the procedure SQLite documents for changes
-- that leave the stored rows valid (https://sqlite.org/lang_altertable.html, section 7).
-- `RESET` reloads the schema on this connection; the table created and dropped bumps the schema
-- cookie so that every other connection reloads it too.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql,
                     'CHECK (provider IN (''google'', ''microsoft''))',
                     'CHECK (provider IN (''google'', ''microsoft'', ''caldav''))')
 WHERE type = 'table' AND name = 'connections';
PRAGMA writable_schema = RESET;
CREATE TABLE caldav_schema_bump (x INTEGER);
DROP TABLE caldav_schema_bump;
