-- 0005: tenants (SPEC 9). Every station and group belongs to exactly one
-- tenant; what existed before is tenant 'default'. Station ids stay unique
-- across tenants, group names become unique per tenant, and the rules table
-- gains a tenant owner for the tenant's per-direction defaults.
--
-- groups, stations and rules are rebuilt (SQLite cannot change a primary
-- key or add a foreign key in place): same rows, same rule ids. The new
-- tables are filled before the old ones are dropped, and the RENAMEs
-- rewrite the foreign keys that name the new tables.

CREATE TABLE tenants (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL DEFAULT '',
	timezone          TEXT NOT NULL DEFAULT 'Europe/Warsaw',
	retention_days    INTEGER CHECK (retention_days >= 0),
	announce_required INTEGER NOT NULL DEFAULT 0 CHECK (announce_required = 0 OR announce_required = 1)
);
INSERT INTO tenants (id) VALUES ('default');

CREATE TABLE groups_new (
	tenant         TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id) ON UPDATE CASCADE,
	name           TEXT NOT NULL,
	profile        TEXT NOT NULL DEFAULT '',
	announce       INTEGER CHECK (announce = 0 OR announce = 1),
	retention_days INTEGER CHECK (retention_days >= 0),
	PRIMARY KEY (tenant, name)
);
INSERT INTO groups_new (tenant, name, profile, announce, retention_days)
	SELECT 'default', name, profile, announce, retention_days FROM groups;

-- A station's group is a group of the station's own tenant: the foreign
-- key is on the pair.
CREATE TABLE stations_new (
	id             TEXT PRIMARY KEY,
	tenant         TEXT NOT NULL DEFAULT 'default' REFERENCES tenants (id) ON UPDATE CASCADE,
	name           TEXT NOT NULL DEFAULT '',
	kind           TEXT NOT NULL DEFAULT ''
	               CHECK (kind = '' OR kind = 'sip_phone' OR kind = 'mobile_app' OR kind = 'softphone' OR kind = 'gateway'),
	group_name     TEXT,
	announce       INTEGER CHECK (announce = 0 OR announce = 1),
	retention_days INTEGER CHECK (retention_days >= 0),
	FOREIGN KEY (tenant, group_name) REFERENCES groups_new (tenant, name) ON UPDATE CASCADE
);
INSERT INTO stations_new (id, tenant, name, kind, group_name, announce, retention_days)
	SELECT id, 'default', name, kind, group_name, announce, retention_days FROM stations;

-- One row per direction a level sets. The owner is a station (station_id
-- alone), a group (tenant and group_name), a tenant's default (tenant
-- alone) or, with all three NULL, the global default.
CREATE TABLE rules_new (
	id         INTEGER PRIMARY KEY,
	tenant     TEXT REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE,
	station_id TEXT REFERENCES stations_new (id) ON DELETE CASCADE ON UPDATE CASCADE,
	group_name TEXT,
	direction  TEXT NOT NULL
	           CHECK (direction = 'outbound' OR direction = 'inbound_direct' OR direction = 'inbound_queue'
	                  OR direction = 'internal'),
	mode       TEXT NOT NULL CHECK (mode = 'off' OR mode = 'auto' OR mode = 'ondemand'),
	FOREIGN KEY (tenant, group_name) REFERENCES groups_new (tenant, name) ON DELETE CASCADE ON UPDATE CASCADE,
	CHECK (station_id IS NULL OR (tenant IS NULL AND group_name IS NULL)),
	CHECK (group_name IS NULL OR tenant IS NOT NULL)
);
INSERT INTO rules_new (id, tenant, station_id, group_name, direction, mode)
	SELECT id, CASE WHEN group_name IS NOT NULL THEN 'default' END, station_id, group_name, direction, mode
	FROM rules;

DROP TABLE rules;
DROP TABLE stations;
DROP TABLE groups;
ALTER TABLE groups_new RENAME TO groups;
ALTER TABLE stations_new RENAME TO stations;
ALTER TABLE rules_new RENAME TO rules;

CREATE INDEX stations_tenant_group ON stations (tenant, group_name);
-- A tenant's stations in id order, so a page of them (the HTTP API's
-- cursor paging) is a range of this index, not a sort of the tenant.
CREATE INDEX stations_tenant_id ON stations (tenant, id);
CREATE UNIQUE INDEX rules_owner
	ON rules (coalesce(tenant, ''), coalesce(station_id, ''), coalesce(group_name, ''), direction);
CREATE INDEX rules_group ON rules (tenant, group_name);
-- A station's rule rows, for reading one station (or a page of them) and
-- for the cascade when a station is deleted.
CREATE INDEX rules_station ON rules (station_id);

-- The rules' change counter (0003) covers the new tables and tenants.
CREATE TRIGGER stations_ins AFTER INSERT ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER stations_upd AFTER UPDATE ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER stations_del AFTER DELETE ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_ins   AFTER INSERT ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_upd   AFTER UPDATE ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_del   AFTER DELETE ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_ins    AFTER INSERT ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_upd    AFTER UPDATE ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_del    AFTER DELETE ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER tenants_ins  AFTER INSERT ON tenants  BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER tenants_upd  AFTER UPDATE ON tenants  BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER tenants_del  AFTER DELETE ON tenants  BEGIN UPDATE rules_version SET n = n + 1; END;
UPDATE rules_version SET n = n + 1;

-- The audit log names the tenant of each change, so a tenant's admin can
-- read its own entries through an index. '' is provider-wide (the global
-- defaults, a retention run); the rule changes made before tenants were
-- the default tenant's.
ALTER TABLE audit ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
UPDATE audit SET tenant = 'default' WHERE object LIKE 'station:%' OR object LIKE 'group:%';
CREATE INDEX audit_tenant ON audit (tenant, id);

-- Recordings made before tenants are the default tenant's.
UPDATE recordings SET tenant = 'default' WHERE tenant = '';
