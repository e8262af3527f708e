-- Every call that is recorded or armed writes its recordings row on the
-- call path's metadata writer, so each index costs on every call. The
-- state index served no query that needs it (states have a handful of
-- values; listing and retention filter by station and time).
DROP INDEX IF EXISTS recordings_state;
