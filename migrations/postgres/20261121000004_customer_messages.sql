-- Customer e-mail (PostgreSQL): invitations, updates, cancellations and reminders, one row per message
-- owed, claimed before sending so that each is sent at most once; and delayed outbox rows.

-- When set, the relay hands the job to the queue to run at this instant (reminders).
ALTER TABLE outbox ADD COLUMN run_at TIMESTAMPTZ;

CREATE TABLE customer_messages (
    id            UUID PRIMARY KEY,
    tenant_id     UUID NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    booking_id    UUID NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    -- request (invitation or update), cancel, reminder
    kind          TEXT NOT NULL CHECK (kind IN ('request', 'cancel', 'reminder')),
    -- The invite revision (the SEQUENCE sent); 0 for reminders.
    revision      BIGINT NOT NULL,
    -- Which reminder ('1440', '60', 'day-before'); '' for invitations.
    reminder      TEXT NOT NULL,
    -- What the customer was told (time, place, title, status), to tell a change worth an e-mail.
    fingerprint   TEXT NOT NULL,
    recipient     TEXT NOT NULL,
    -- sending (claimed), sent, failed (permanent, with the server's words), skipped (with why)
    status        TEXT NOT NULL CHECK (status IN ('sending', 'sent', 'failed', 'skipped')),
    message_id    TEXT,
    error         TEXT,
    created_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    -- One message per revision (whatever its kind) and one per reminder.
    UNIQUE (booking_id, revision, reminder)
);
CREATE INDEX customer_messages_booking ON customer_messages(booking_id, created_at);
