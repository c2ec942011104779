-- How many users the last directory read found in scope: with the members covered (or refused)
-- so far, how many are still to be covered (a read of hundreds covers them in the background).
ALTER TABLE organisation_connections ADD COLUMN users_in_scope INTEGER;
