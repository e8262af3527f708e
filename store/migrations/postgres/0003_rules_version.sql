-- 0003 (PostgreSQL): the rules' change counter, and the notification
-- every host listens for. Any statement that changes a rules table, from
-- recgate or any other program, bumps rules_version (the cheap check each
-- call makes) and queues NOTIFY recgate_rules, which PostgreSQL delivers
-- to every listening host when the transaction commits (one per
-- transaction: notifications with the same payload are folded).
CREATE TABLE rules_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  BIGINT NOT NULL
);
INSERT INTO rules_version (id, n) VALUES (1, 0);

CREATE FUNCTION recgate_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE rules_version SET n = n + 1 WHERE id = 1;
	PERFORM pg_notify('recgate_rules', '');
	RETURN NULL;
END;
$$;

CREATE TRIGGER stations_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON stations
	FOR EACH STATEMENT EXECUTE FUNCTION recgate_rules_changed();
CREATE TRIGGER groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
	FOR EACH STATEMENT EXECUTE FUNCTION recgate_rules_changed();
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
	FOR EACH STATEMENT EXECUTE FUNCTION recgate_rules_changed();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
	FOR EACH STATEMENT EXECUTE FUNCTION recgate_rules_changed();
