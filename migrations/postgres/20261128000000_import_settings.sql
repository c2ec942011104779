-- How an import reads its feed (NULL import_as: the platform's default), the mass-removal guard's
-- limit and hold, items kept although gone from the feed, what each platform says of a
-- reservation, and the last body read, which a change of settings reads again without a fetch.
ALTER TABLE imports ADD COLUMN import_as TEXT;
ALTER TABLE imports ADD COLUMN end_date_is TEXT NOT NULL DEFAULT 'checkout';
ALTER TABLE imports ADD COLUMN date_shift_days BIGINT NOT NULL DEFAULT 0;
ALTER TABLE imports ADD COLUMN on_missing TEXT NOT NULL DEFAULT 'remove';
ALTER TABLE imports ADD COLUMN max_removed_share DOUBLE PRECISION NOT NULL DEFAULT 0.5;
ALTER TABLE imports ADD COLUMN held_since TIMESTAMPTZ;
ALTER TABLE imports ADD COLUMN held_reason TEXT;
ALTER TABLE imported_items ADD COLUMN missing_since TIMESTAMPTZ;
ALTER TABLE imported_items ADD COLUMN details TEXT;
-- Compressed (deflate): a feed is text that shrinks tenfold.
CREATE TABLE import_bodies (
    import_id  UUID PRIMARY KEY REFERENCES imports(id) ON DELETE CASCADE,
    body       BYTEA NOT NULL,
    read_at    TIMESTAMPTZ NOT NULL
);
