-- How a covered calendar's cleanup mints a token when the one it was given has run out (it
-- lives an hour; a cleanup retried after an outage outlasts it, and the organisation connection
-- may be gone: disconnecting it is what owes the cleanup). JSON: the organisation's id, its key
-- still sealed as in `organisation_connections` (bound to that id), what the grant is asked
-- with, and the member it acts for. Forgotten with the cleanup, as the tokens are.
ALTER TABLE connection_cleanups ADD COLUMN coverage TEXT;
