-- 0005 (PostgreSQL): tenants (SPEC 9), as SQLite's 0005 makes them. Every
-- station and group belongs to exactly one tenant; what existed before is
-- tenant 'default'. Station ids stay unique across tenants, group names
-- become unique per tenant, and the rules table gains a tenant owner for
-- the tenant's per-direction defaults. PostgreSQL changes keys in place
-- (SQLite rebuilds the tables); the columns, keys, constraints and indexes
-- end up the same.

CREATE TABLE tenants (
	id                TEXT PRIMARY KEY,
	name              TEXT NOT NULL DEFAULT '',
	timezone          TEXT NOT NULL DEFAULT 'Europe/Warsaw',
	retention_days    INTEGER CHECK (retention_days >= 0),
	announce_required INTEGER NOT NULL DEFAULT 0 CHECK (announce_required IN (0, 1))
);
INSERT INTO tenants (id) VALUES ('default');

-- The foreign keys on a group's name alone go; they come back on the pair.
ALTER TABLE stations DROP CONSTRAINT stations_group_name_fkey;
ALTER TABLE rules DROP CONSTRAINT rules_group_name_fkey;

UPDATE groups SET tenant = 'default';
ALTER TABLE groups ALTER COLUMN tenant SET DEFAULT 'default';
ALTER TABLE groups DROP CONSTRAINT groups_pkey;
ALTER TABLE groups ADD PRIMARY KEY (tenant, name);
ALTER TABLE groups ADD FOREIGN KEY (tenant) REFERENCES tenants (id) ON UPDATE CASCADE;

-- A station's group is a group of the station's own tenant: the foreign
-- key is on the pair.
UPDATE stations SET tenant = 'default';
ALTER TABLE stations ALTER COLUMN tenant SET DEFAULT 'default';
ALTER TABLE stations ADD FOREIGN KEY (tenant) REFERENCES tenants (id) ON UPDATE CASCADE;
ALTER TABLE stations ADD FOREIGN KEY (tenant, group_name) REFERENCES groups (tenant, name) ON UPDATE CASCADE;
DROP INDEX stations_group;
CREATE INDEX stations_tenant_group ON stations (tenant, group_name);

-- One row per direction a level sets. The owner is a station (station_id
-- alone), a group (tenant and group_name), a tenant's default (tenant
-- alone) or, with all three NULL, the global default.
ALTER TABLE rules ADD COLUMN tenant TEXT REFERENCES tenants (id) ON DELETE CASCADE ON UPDATE CASCADE;
UPDATE rules SET tenant = 'default' WHERE group_name IS NOT NULL;
ALTER TABLE rules ADD FOREIGN KEY (tenant, group_name) REFERENCES groups (tenant, name) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE rules DROP CONSTRAINT rules_check;
ALTER TABLE rules ADD CHECK (station_id IS NULL OR (tenant IS NULL AND group_name IS NULL));
ALTER TABLE rules ADD CHECK (group_name IS NULL OR tenant IS NOT NULL);
DROP INDEX rules_owner;
CREATE UNIQUE INDEX rules_owner
	ON rules (coalesce(tenant, ''), coalesce(station_id, ''), coalesce(group_name, ''), direction);
DROP INDEX rules_group;
CREATE INDEX rules_group ON rules (tenant, group_name);

-- The rules' change counter and notification (0003) cover tenants.
CREATE TRIGGER tenants_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tenants
	FOR EACH STATEMENT EXECUTE FUNCTION recgate_rules_changed();
UPDATE rules_version SET n = n + 1 WHERE id = 1;

-- The audit log names the tenant of each change ('' is provider-wide).
ALTER TABLE audit ADD COLUMN tenant TEXT NOT NULL DEFAULT '';
UPDATE audit SET tenant = 'default' WHERE object LIKE 'station:%' OR object LIKE 'group:%';
CREATE INDEX audit_tenant ON audit (tenant, id);

-- Recordings made before tenants are the default tenant's.
UPDATE recordings SET tenant = 'default' WHERE tenant = '';
