-- Alert e-mails to the tenant (`alert_emails` in its settings): what happened, recorded in the
-- transaction of the change that raised it, sent by the `send_alert` job (several within the
-- digest window in one e-mail). An import remembers since when it fails (the 30-minute rule).

ALTER TABLE imports ADD COLUMN failing_since TEXT;

CREATE TABLE alerts (
    id             BLOB PRIMARY KEY NOT NULL,
    tenant_id      BLOB NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- import_failing | import_recovered
    kind           TEXT NOT NULL,
    -- The object the alert is about (an import): the quiet period is per kind and object.
    object_id      BLOB NOT NULL,
    -- One line for the subject and the digest, and the facts (JSON [[label, value], ...]).
    summary        TEXT NOT NULL,
    facts          TEXT NOT NULL,
    link           TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    -- Claimed by a sending job until then; sent once `sent_at` is set.
    claimed_until  TEXT,
    sent_at        TEXT
);
CREATE INDEX alerts_object ON alerts (tenant_id, kind, object_id, created_at);
CREATE INDEX alerts_unsent ON alerts (tenant_id, sent_at);
