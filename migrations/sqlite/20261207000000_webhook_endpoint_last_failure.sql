-- An endpoint's last failed attempt: a failure long after it begins a new failing streak, so an
-- endpoint that failed once and then was sent nothing for days is not disabled by its next
-- failure. Endpoints failing now take their last attempt's time.
ALTER TABLE webhook_endpoints ADD COLUMN last_failed_at TEXT;
UPDATE webhook_endpoints SET last_failed_at = (
    SELECT MAX(a.attempted_at) FROM webhook_attempts a
    JOIN webhook_deliveries d ON d.id = a.delivery_id
    WHERE d.endpoint_id = webhook_endpoints.id
) WHERE failing_since IS NOT NULL;
