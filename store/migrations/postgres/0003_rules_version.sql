-- 0003 (PostgreSQL): the rules' change counter, and the notification
-- every host listens for. The first statement of a transaction that
-- changes a rules table, from recgate or any other program, bumps
-- rules_version (the cheap check each call makes) and queues NOTIFY
-- recgate_rules, which PostgreSQL delivers to every listening host when
-- the transaction commits. Once per transaction, not per statement: an
-- import of 100,000 stations would otherwise update one row 100,000 times
-- in one transaction, each update slower than the last. The mark is a
-- transaction-local setting, so it goes with the transaction (or with the
-- savepoint that set it, rolled back with the bump).
CREATE TABLE rules_version (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	n  BIGINT NOT NULL
);
INSERT INTO rules_version (id, n) VALUES (1, 0);

CREATE FUNCTION recgate_rules_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF coalesce(current_setting('recgate.rules_bumped', true), '') <> 'on' THEN
		UPDATE rules_version SET n = n + 1 WHERE id = 1;
		PERFORM pg_notify('recgate_rules', '');
		PERFORM set_config('recgate.rules_bumped', 'on', true);
	END IF;
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
