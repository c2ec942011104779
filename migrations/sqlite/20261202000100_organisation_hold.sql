-- One read or change of an organisation connection at a time (a directory read, a change of its
-- settings or tier, its disconnection), whichever process asks: two at once could cover a member
-- twice, or cover again a calendar a disconnection had just stopped. Held until this instant;
-- a process that dies holding it frees it then.
ALTER TABLE organisation_connections ADD COLUMN held_until TEXT;
