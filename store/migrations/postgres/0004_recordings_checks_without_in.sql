-- 0004 (PostgreSQL): nothing. SQLite's 0004 rewrites CHECK constraints
-- that cost it a temporary b-tree per row; PostgreSQL compares an IN list
-- in place, and 0001 here made the table in its final form.
SELECT 1;
