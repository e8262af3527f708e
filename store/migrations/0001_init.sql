-- 0001: stations, groups, rules, defaults, recordings and the audit log.
--
-- Timestamps are UTC text in a fixed-width RFC 3339 form
-- (2006-01-02T15:04:05.000000000Z) so that text order is time order.
-- tenant columns are reserved for the multi-tenant HTTP API (SPEC 9).

CREATE TABLE groups (
	name           TEXT PRIMARY KEY,
	tenant         TEXT NOT NULL DEFAULT '',
	profile        TEXT NOT NULL DEFAULT '',
	announce       INTEGER CHECK (announce IN (0, 1)),
	retention_days INTEGER CHECK (retention_days >= 0)
);

CREATE TABLE stations (
	id             TEXT PRIMARY KEY,
	tenant         TEXT NOT NULL DEFAULT '',
	name           TEXT NOT NULL DEFAULT '',
	kind           TEXT NOT NULL DEFAULT ''
	               CHECK (kind IN ('', 'sip_phone', 'mobile_app', 'softphone', 'gateway')),
	group_name     TEXT REFERENCES groups (name) ON UPDATE CASCADE,
	announce       INTEGER CHECK (announce IN (0, 1)),
	retention_days INTEGER CHECK (retention_days >= 0)
);
CREATE INDEX stations_group ON stations (group_name);

-- One row per direction a level sets. The owner is a station (station_id),
-- a group (group_name) or, with both NULL, the global default.
CREATE TABLE rules (
	id         INTEGER PRIMARY KEY,
	station_id TEXT REFERENCES stations (id) ON DELETE CASCADE ON UPDATE CASCADE,
	group_name TEXT REFERENCES groups (name) ON DELETE CASCADE ON UPDATE CASCADE,
	direction  TEXT NOT NULL
	           CHECK (direction IN ('outbound', 'inbound_direct', 'inbound_queue', 'internal')),
	mode       TEXT NOT NULL CHECK (mode IN ('off', 'auto', 'ondemand')),
	CHECK (station_id IS NULL OR group_name IS NULL)
);
CREATE UNIQUE INDEX rules_owner
	ON rules (coalesce(station_id, ''), coalesce(group_name, ''), direction);
CREATE INDEX rules_group ON rules (group_name);

-- Global settings: exactly one row.
CREATE TABLE settings (
	id               INTEGER PRIMARY KEY CHECK (id = 1),
	default_announce INTEGER NOT NULL DEFAULT 0 CHECK (default_announce IN (0, 1))
);
INSERT INTO settings (id, default_announce) VALUES (1, 0);

-- Recordings outlive their stations: station is not a foreign key.
CREATE TABLE recordings (
	id         INTEGER PRIMARY KEY,
	uniqueid   TEXT NOT NULL UNIQUE,
	linkedid   TEXT NOT NULL DEFAULT '',
	tenant     TEXT NOT NULL DEFAULT '',
	station    TEXT NOT NULL,
	direction  TEXT NOT NULL DEFAULT ''
	           CHECK (direction IN ('', 'outbound', 'inbound_direct', 'inbound_queue', 'internal')),
	mode       TEXT NOT NULL CHECK (mode IN ('off', 'auto', 'ondemand')),
	trigger_by TEXT NOT NULL DEFAULT '' CHECK (trigger_by IN ('', 'auto', 'ondemand')),
	rule       TEXT NOT NULL DEFAULT '',
	file       TEXT NOT NULL DEFAULT '',
	callerid   TEXT NOT NULL DEFAULT '',
	did        TEXT NOT NULL DEFAULT '',
	queue      TEXT NOT NULL DEFAULT '',
	state      TEXT NOT NULL
	           CHECK (state IN ('armed', 'recording', 'ended', 'not_activated', 'removed', 'deleted')),
	armed_at   TEXT,
	started_at TEXT,
	pressed_at TEXT,
	ended_at   TEXT,
	answered   INTEGER CHECK (answered IN (0, 1)),
	deleted_at TEXT
);
CREATE INDEX recordings_station ON recordings (station);
CREATE INDEX recordings_time ON recordings (coalesce(started_at, armed_at));
CREATE INDEX recordings_state ON recordings (state);

CREATE TABLE audit (
	id       INTEGER PRIMARY KEY,
	at       TEXT NOT NULL,
	actor    TEXT NOT NULL,
	object   TEXT NOT NULL,
	field    TEXT NOT NULL,
	"before" TEXT NOT NULL DEFAULT '',
	"after"  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);
