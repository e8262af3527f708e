-- 0008: the GDPR tools (SPEC 10).
--
-- A recording under legal hold is skipped by retention, delete and erase
-- until the hold is released. The foreign key refuses to delete the row
-- of a held recording whatever the code above it does.
CREATE TABLE legal_holds (
	recording_id INTEGER PRIMARY KEY REFERENCES recordings (id) ON DELETE RESTRICT,
	at           TEXT NOT NULL,
	actor        TEXT NOT NULL,
	reason       TEXT NOT NULL DEFAULT ''
);

-- The key of the keyed hash (HMAC-SHA256) an erasure's audit entry keeps
-- instead of the data subject's number: whoever holds the number can show
-- that its recordings were erased; the log alone does not reveal it.
CREATE TABLE gdpr_key (
	id  INTEGER PRIMARY KEY CHECK (id = 1),
	key BLOB NOT NULL
);
INSERT INTO gdpr_key (id, key) VALUES (1, randomblob(32));
