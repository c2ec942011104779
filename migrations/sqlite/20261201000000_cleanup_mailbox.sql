-- The mailbox a covered Microsoft calendar's cleanup acts on: the member's directory id. Graph
-- reaches `/users/{id or userPrincipalName}`, never a mail address, and an organisation's
-- users' `mail` may differ from their sign-in name; the address alone left such a calendar
-- with Kalends' events in it after a disconnect.
ALTER TABLE connection_cleanups ADD COLUMN mailbox TEXT;
