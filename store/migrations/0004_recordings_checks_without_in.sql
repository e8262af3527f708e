-- The recordings table's CHECK constraints were written as `col IN (...)`.
-- SQLite evaluates a constant IN list of more than two values through a
-- temporary b-tree, built anew each time the statement runs: the metadata
-- writer's upsert opened and closed eight of them for every row (four
-- checks on the insert path, four on the update path), about a third of a
-- row's cost. The same constraints written as equalities joined by OR are
-- compared in place. SQLite cannot change a CHECK in place, so the table is
-- rebuilt (https://sqlite.org/lang_altertable.html#otheralter): same
-- columns, same rows, same ids, same indexes.
CREATE TABLE recordings_new (
	id         INTEGER PRIMARY KEY,
	uniqueid   TEXT NOT NULL UNIQUE,
	linkedid   TEXT NOT NULL DEFAULT '',
	tenant     TEXT NOT NULL DEFAULT '',
	station    TEXT NOT NULL,
	direction  TEXT NOT NULL DEFAULT ''
	           CHECK (direction = '' OR direction = 'outbound' OR direction = 'inbound_direct'
	                  OR direction = 'inbound_queue' OR direction = 'internal'),
	mode       TEXT NOT NULL CHECK (mode = 'off' OR mode = 'auto' OR mode = 'ondemand'),
	trigger_by TEXT NOT NULL DEFAULT '' CHECK (trigger_by = '' OR trigger_by = 'auto' OR trigger_by = 'ondemand'),
	rule       TEXT NOT NULL DEFAULT '',
	file       TEXT NOT NULL DEFAULT '',
	callerid   TEXT NOT NULL DEFAULT '',
	did        TEXT NOT NULL DEFAULT '',
	queue      TEXT NOT NULL DEFAULT '',
	state      TEXT NOT NULL
	           CHECK (state = 'armed' OR state = 'recording' OR state = 'ended'
	                  OR state = 'not_activated' OR state = 'removed' OR state = 'deleted'),
	armed_at   TEXT,
	started_at TEXT,
	pressed_at TEXT,
	ended_at   TEXT,
	answered   INTEGER CHECK (answered = 0 OR answered = 1),
	deleted_at TEXT
);
INSERT INTO recordings_new (id, uniqueid, linkedid, tenant, station, direction, mode, trigger_by, rule,
	file, callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at, answered, deleted_at)
	SELECT id, uniqueid, linkedid, tenant, station, direction, mode, trigger_by, rule,
	file, callerid, did, queue, state, armed_at, started_at, pressed_at, ended_at, answered, deleted_at
	FROM recordings;
DROP TABLE recordings;
ALTER TABLE recordings_new RENAME TO recordings;
CREATE INDEX recordings_station ON recordings (station);
CREATE INDEX recordings_time ON recordings (coalesce(started_at, armed_at));
