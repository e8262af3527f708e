-- 0002 (PostgreSQL): nothing. SQLite's 0002 drops an index that 0001 here
-- never created.
SELECT 1;
