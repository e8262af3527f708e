-- 0006: accounts (SPEC 9): users, the groups a listener is limited to,
-- login sessions, API tokens, and the access log of recordings (SPEC 10).
--
-- Secrets are never stored: a session is kept under the SHA-256 of its
-- cookie value, a token under the SHA-256 of the token, a password as an
-- argon2id hash. tenant is '' for operators (the provider), else the
-- tenant's id.

CREATE TABLE users (
	id                  INTEGER PRIMARY KEY,
	login               TEXT NOT NULL UNIQUE,
	tenant              TEXT NOT NULL DEFAULT '',
	role                TEXT NOT NULL CHECK (role = 'operator' OR role = 'admin' OR role = 'listener'),
	password_hash       TEXT NOT NULL,
	disabled            INTEGER NOT NULL DEFAULT 0 CHECK (disabled = 0 OR disabled = 1),
	created_at          TEXT NOT NULL,
	password_changed_at TEXT NOT NULL,
	CHECK ((role = 'operator') = (tenant = ''))
);
CREATE INDEX users_tenant ON users (tenant);

CREATE TABLE user_groups (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	group_name TEXT NOT NULL,
	PRIMARY KEY (user_id, group_name)
);

CREATE TABLE sessions (
	hash         TEXT PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at   TEXT NOT NULL,
	last_seen_at TEXT NOT NULL,
	expires_at   TEXT NOT NULL, -- the absolute timeout
	address      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE tokens (
	id           INTEGER PRIMARY KEY,
	hash         TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL,
	tenant       TEXT NOT NULL DEFAULT '',
	role         TEXT NOT NULL CHECK (role = 'operator' OR role = 'admin' OR role = 'listener'),
	created_at   TEXT NOT NULL,
	created_by   TEXT NOT NULL,
	expires_at   TEXT,
	last_used_at TEXT,
	revoked_at   TEXT,
	CHECK ((role = 'operator') = (tenant = ''))
);
CREATE INDEX tokens_tenant ON tokens (tenant);

CREATE TABLE token_groups (
	token_id   INTEGER NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
	group_name TEXT NOT NULL,
	PRIMARY KEY (token_id, group_name)
);

-- Every play, download, export, delete and erase of a recording: who,
-- when, from which address, which recording. recording_id is not a
-- foreign key: the entry outlives an erased recording.
CREATE TABLE access_log (
	id           INTEGER PRIMARY KEY,
	at           TEXT NOT NULL,
	tenant       TEXT NOT NULL,
	actor        TEXT NOT NULL,
	address      TEXT NOT NULL DEFAULT '',
	action       TEXT NOT NULL CHECK (action = 'play' OR action = 'download' OR action = 'export'
	             OR action = 'delete' OR action = 'erase'),
	recording_id INTEGER NOT NULL
);
CREATE INDEX access_log_tenant ON access_log (tenant, id);

-- A tenant removed takes its users and tokens with it, in the same
-- transaction: a tenant created again later under the same id must not
-- find the old one's people and programs still able to sign in.
CREATE TRIGGER tenants_del_accounts AFTER DELETE ON tenants BEGIN
	DELETE FROM users WHERE tenant = old.id;
	DELETE FROM tokens WHERE tenant = old.id;
END;
