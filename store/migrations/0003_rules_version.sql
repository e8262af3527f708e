-- A change counter for the rules alone. PRAGMA data_version changes on any
-- commit to the file, and the recordings' metadata is committed many times
-- a second under load: without this counter every such commit would make
-- the call path reload the whole rule set. Triggers keep it exact whoever
-- writes (recgate, a YAML import, another process, the sqlite3 shell).
CREATE TABLE rules_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  INTEGER NOT NULL
);
INSERT INTO rules_version (id, n) VALUES (1, 0);

CREATE TRIGGER stations_ins AFTER INSERT ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER stations_upd AFTER UPDATE ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER stations_del AFTER DELETE ON stations BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_ins   AFTER INSERT ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_upd   AFTER UPDATE ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER groups_del   AFTER DELETE ON groups   BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_ins    AFTER INSERT ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_upd    AFTER UPDATE ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER rules_del    AFTER DELETE ON rules    BEGIN UPDATE rules_version SET n = n + 1; END;
CREATE TRIGGER settings_upd AFTER UPDATE ON settings BEGIN UPDATE rules_version SET n = n + 1; END;
