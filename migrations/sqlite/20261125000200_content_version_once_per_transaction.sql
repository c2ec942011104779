-- PostgreSQL's deferred content-version trigger now bumps a tenant once per transaction (see the
-- PostgreSQL migration of this name). SQLite's triggers run per statement on its single writer,
-- where the repeated bumps queue behind nothing: unchanged here.
SELECT 1;
