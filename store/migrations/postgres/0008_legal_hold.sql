-- 0008 (PostgreSQL): the GDPR tools (SPEC 10), as SQLite's 0008 makes
-- them. A recording under legal hold is skipped by retention, delete and
-- erase until the hold is released; the foreign key refuses to delete the
-- row of a held recording whatever the code above it does.
CREATE TABLE legal_holds (
	recording_id BIGINT PRIMARY KEY REFERENCES recordings (id) ON DELETE RESTRICT,
	at           TEXT NOT NULL,
	actor        TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT ''
);

-- The key of the keyed hash (HMAC-SHA256) an erasure's audit entry keeps
-- instead of the data subject's number. 32 random bytes: SHA-256 of two
-- random UUIDs (gen_random_uuid draws from the server's strong random
-- source; pgcrypto's gen_random_bytes is not always installed).
CREATE TABLE gdpr_key (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BYTEA NOT NULL
);
INSERT INTO gdpr_key (id, key)
	VALUES (1, sha256(convert_to(gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')));
