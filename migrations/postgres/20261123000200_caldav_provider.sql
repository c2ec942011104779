-- CalDAV (Apple iCloud and any CalDAV server) is a third calendar provider.
ALTER TABLE connections DROP CONSTRAINT IF EXISTS connections_provider_check;
ALTER TABLE connections
    ADD CONSTRAINT connections_provider_check CHECK (provider IN ('google', 'microsoft', 'caldav'));
