package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/recgate/recgate/auth"
	"github.com/recgate/recgate/rules"
)

// Users, sessions and API tokens (SPEC 9). Every change to a user or a
// token is written to the audit log in the same transaction, as object
// "user:LOGIN" or "token:ID"; a password is never written there, only
// that it changed.

const userColumns = "id, login, tenant, role, disabled, created_at, password_changed_at"

// CreateUser adds u with the given password hash (auth.HashPassword) and
// sets u.ID. A login that exists is a rules.ECONFLICT error.
func (s *Store) CreateUser(ctx context.Context, actor string, u *auth.User, passwordHash string) error {
	const op = "create user"
	if err := u.Validate(rules.ValidateTenantID); err != nil {
		return rules.Errorf(rules.EINVALID, "%v", err)
	}
	if passwordHash == "" {
		return rules.Errorf(rules.EINVALID, "store: %s: no password", op)
	}
	return s.inTx(ctx, op, func(tx *sql.Tx) error {
		if _, err := lookupUser(ctx, tx, u.Login); err == nil {
			return rules.Errorf(rules.ECONFLICT, "user %s already exists", u.Login)
		} else if rules.ErrorCode(err) != rules.ENOTFOUND {
			return err
		}
		if err := tenantMustExist(ctx, tx, u.Tenant); err != nil {
			return err
		}
		now := formatTime(s.now())
		res, err := tx.ExecContext(ctx, `INSERT INTO users (login, tenant, role, password_hash, disabled, created_at, password_changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, u.Login, u.Tenant, string(u.Role), passwordHash, u.Disabled, now, now)
		if err != nil {
			return err
		}
		if u.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if err := setGroups(ctx, tx, "user_groups", "user_id", u.ID, u.Groups); err != nil {
			return err
		}
		changes := append([]Change{{Tenant: u.Tenant, Object: "user:" + u.Login, Field: "created"}}, userChanges(u.Login, &auth.User{}, u)...)
		return insertAudit(ctx, tx, now, actor, changes)
	})
}

// UpdateUser changes the user called login with fn, validates the result
// and writes it with its audit rows in one transaction. A user that loses
// its role or tenant, or is disabled, loses its sessions too.
func (s *Store) UpdateUser(ctx context.Context, actor, login string, fn func(u *auth.User) error) (*auth.User, []Change, error) {
	const op = "update user"
	var (
		out     *auth.User
		changes []Change
	)
	err := s.inTx(ctx, op, func(tx *sql.Tx) error {
		old, err := lookupUser(ctx, tx, login)
		if err != nil {
			return err
		}
		u := *old
		u.Groups = slices.Clone(old.Groups)
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.Login, u.CreatedAt, u.PasswordChangedAt = old.ID, old.Login, old.CreatedAt, old.PasswordChangedAt
		if err := u.Validate(rules.ValidateTenantID); err != nil {
			return rules.Errorf(rules.EINVALID, "%v", err)
		}
		if u.Tenant != old.Tenant {
			if err := tenantMustExist(ctx, tx, u.Tenant); err != nil {
				return err
			}
		}
		changes = userChanges(login, old, &u)
		out = &u
		if len(changes) == 0 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, "UPDATE users SET tenant = ?, role = ?, disabled = ? WHERE id = ?",
			u.Tenant, string(u.Role), u.Disabled, u.ID); err != nil {
			return err
		}
		if err := setGroups(ctx, tx, "user_groups", "user_id", u.ID, u.Groups); err != nil {
			return err
		}
		if u.Disabled || u.Role != old.Role || u.Tenant != old.Tenant {
			if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", u.ID); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, formatTime(s.now()), actor, changes)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// SetUserPassword replaces the password hash of login and ends the user's
// sessions.
func (s *Store) SetUserPassword(ctx context.Context, actor, login, passwordHash string) error {
	return s.inTx(ctx, "set password", func(tx *sql.Tx) error {
		u, err := lookupUser(ctx, tx, login)
		if err != nil {
			return err
		}
		now := formatTime(s.now())
		if _, err := tx.ExecContext(ctx, "UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?",
			passwordHash, now, u.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE user_id = ?", u.ID); err != nil {
			return err
		}
		return insertAudit(ctx, tx, now, actor, []Change{{Tenant: u.Tenant, Object: "user:" + login, Field: "password", After: "changed"}})
	})
}

// DeleteUser removes the user called login and its sessions.
func (s *Store) DeleteUser(ctx context.Context, actor, login string) error {
	return s.inTx(ctx, "delete user", func(tx *sql.Tx) error {
		u, err := lookupUser(ctx, tx, login)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM users WHERE id = ?", u.ID); err != nil {
			return err
		}
		changes := append([]Change{{Tenant: u.Tenant, Object: "user:" + login, Field: "deleted"}}, userChanges(login, u, &auth.User{})...)
		return insertAudit(ctx, tx, formatTime(s.now()), actor, changes)
	})
}

// User returns the user called login, or a rules.ENOTFOUND error.
func (s *Store) User(ctx context.Context, login string) (*auth.User, error) {
	u, err := lookupUser(ctx, s.db, login)
	if err != nil {
		return nil, wrap("user", err)
	}
	return u, nil
}

// Users returns the users of tenant ("" for every user), by login.
func (s *Store) Users(ctx context.Context, tenant string) ([]auth.User, error) {
	q, args := "SELECT "+userColumns+" FROM users", []any{}
	if tenant != "" {
		q, args = q+" WHERE tenant = ?", append(args, tenant)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY login", args...)
	if err != nil {
		return nil, wrap("list users", err)
	}
	var users []auth.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("list users", err)
		}
		users = append(users, *u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("list users", err)
	}
	for i := range users {
		if users[i].Groups, err = loadGroups2(ctx, s.db, "user_groups", "user_id", users[i].ID); err != nil {
			return nil, wrap("list users", err)
		}
	}
	return users, nil
}

// UserCredentials returns the user called login and its password hash,
// for a login attempt.
func (s *Store) UserCredentials(ctx context.Context, login string) (*auth.User, string, error) {
	u, err := lookupUser(ctx, s.db, login)
	if err != nil {
		return nil, "", wrap("user credentials", err)
	}
	var hash string
	if err := s.db.QueryRowContext(ctx, "SELECT password_hash FROM users WHERE id = ?", u.ID).Scan(&hash); err != nil {
		return nil, "", wrap("user credentials", err)
	}
	return u, hash, nil
}

// CreateSession stores a login session under the hash of its cookie value
// (auth.HashSecret), ending at expires whatever the activity.
func (s *Store) CreateSession(ctx context.Context, hash string, userID int64, address string, expires time.Time) error {
	now := formatTime(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, user_id, created_at, last_seen_at, expires_at, address)
		VALUES (?, ?, ?, ?, ?, ?)`, hash, userID, now, now, formatTime(expires), address)
	return wrap("create session", err)
}

// sessionTouchEvery bounds how often a session's last-seen time is
// written: often enough for an idle timeout counted in minutes, rarely
// enough that browsing is not a stream of writes.
const sessionTouchEvery = time.Minute

// SessionUser returns the user of the session stored under hash, when the
// session has not passed its absolute expiry, has been used within idle,
// and its user is not disabled; otherwise a rules.ENOTFOUND error (and an
// expired session is deleted). It records the use.
func (s *Store) SessionUser(ctx context.Context, hash string, idle time.Duration) (*auth.User, error) {
	const op = "session"
	now := s.now()
	var (
		userID           int64
		lastSeen, expiry sql.NullString
	)
	err := s.db.QueryRowContext(ctx, "SELECT user_id, last_seen_at, expires_at FROM sessions WHERE hash = ?", hash).
		Scan(&userID, &lastSeen, &expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "no such session")
	}
	if err != nil {
		return nil, wrap(op, err)
	}
	seen, err1 := parseTime(lastSeen)
	exp, err2 := parseTime(expiry)
	if err := errors.Join(err1, err2); err != nil {
		return nil, wrap(op, err)
	}
	if !now.Before(*exp) || now.Sub(*seen) >= idle {
		if _, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash); err != nil {
			return nil, wrap(op, err)
		}
		return nil, rules.Errorf(rules.ENOTFOUND, "session expired")
	}
	u, err := lookupUserByID(ctx, s.db, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	if u.Disabled {
		return nil, rules.Errorf(rules.ENOTFOUND, "user disabled")
	}
	if now.Sub(*seen) >= sessionTouchEvery {
		if _, err := s.db.ExecContext(ctx, "UPDATE sessions SET last_seen_at = ? WHERE hash = ?", formatTime(now), hash); err != nil {
			return nil, wrap(op, err)
		}
	}
	return u, nil
}

// DeleteSession ends the session stored under hash (logout). Ending a
// session that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash)
	return wrap("delete session", err)
}

// DeleteExpiredSessions removes the sessions past their absolute expiry
// or idle for longer than idle, and returns how many.
func (s *Store) DeleteExpiredSessions(ctx context.Context, idle time.Duration) (int64, error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ?",
		formatTime(now), formatTime(now.Add(-idle)))
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

const tokenColumns = "id, name, tenant, role, created_at, created_by, expires_at, last_used_at, revoked_at"

// CreateToken stores a token under the hash of its secret
// (auth.HashSecret) and sets t.ID and t.CreatedAt.
func (s *Store) CreateToken(ctx context.Context, actor string, t *auth.Token, hash string) error {
	if err := t.Validate(rules.ValidateTenantID); err != nil {
		return rules.Errorf(rules.EINVALID, "%v", err)
	}
	return s.inTx(ctx, "create token", func(tx *sql.Tx) error {
		if err := tenantMustExist(ctx, tx, t.Tenant); err != nil {
			return err
		}
		t.CreatedAt, t.CreatedBy = s.now().UTC(), actor
		now := formatTime(t.CreatedAt)
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (hash, name, tenant, role, created_at, created_by, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, hash, t.Name, t.Tenant, string(t.Role), now, actor, nullTime(t.ExpiresAt))
		if err != nil {
			return err
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if err := setGroups(ctx, tx, "token_groups", "token_id", t.ID, t.Groups); err != nil {
			return err
		}
		after := fmt.Sprintf("name=%s role=%s tenant=%s", t.Name, t.Role, t.Tenant)
		if len(t.Groups) > 0 {
			after += " groups=" + strings.Join(t.Groups, ",")
		}
		return insertAudit(ctx, tx, now, actor, []Change{{Tenant: t.Tenant, Object: fmt.Sprintf("token:%d", t.ID), Field: "created", After: after}})
	})
}

// TokenByHash returns the token stored under hash (revoked or expired
// ones too: the caller checks Active), or a rules.ENOTFOUND error.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*auth.Token, error) {
	t, err := lookupToken(ctx, s.db, "hash = ?", hash)
	if err != nil {
		return nil, wrap("token", err)
	}
	return t, nil
}

// Token returns the token with the given id, or a rules.ENOTFOUND error.
func (s *Store) Token(ctx context.Context, id int64) (*auth.Token, error) {
	t, err := lookupToken(ctx, s.db, "id = ?", id)
	if err != nil {
		return nil, wrap("token", err)
	}
	return t, nil
}

// Tokens returns the tokens of tenant ("" for every token), newest first.
func (s *Store) Tokens(ctx context.Context, tenant string) ([]auth.Token, error) {
	q, args := "SELECT "+tokenColumns+" FROM tokens", []any{}
	if tenant != "" {
		q, args = q+" WHERE tenant = ?", append(args, tenant)
	}
	rows, err := s.db.QueryContext(ctx, q+" ORDER BY id DESC", args...)
	if err != nil {
		return nil, wrap("list tokens", err)
	}
	var ts []auth.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			rows.Close()
			return nil, wrap("list tokens", err)
		}
		ts = append(ts, *t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("list tokens", err)
	}
	for i := range ts {
		if ts[i].Groups, err = loadGroups2(ctx, s.db, "token_groups", "token_id", ts[i].ID); err != nil {
			return nil, wrap("list tokens", err)
		}
	}
	return ts, nil
}

// tokenTouchEvery bounds how often a token's last-used time is written.
const tokenTouchEvery = time.Minute

// TouchToken records that token id was used now (at most once a minute).
func (s *Store) TouchToken(ctx context.Context, id int64) error {
	now := s.now()
	_, err := s.db.ExecContext(ctx, "UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)",
		formatTime(now), id, formatTime(now.Add(-tokenTouchEvery)))
	return wrap("touch token", err)
}

// RevokeToken revokes token id for good. Revoking a revoked token is a
// rules.ECONFLICT error.
func (s *Store) RevokeToken(ctx context.Context, actor string, id int64) error {
	return s.inTx(ctx, "revoke token", func(tx *sql.Tx) error {
		t, err := lookupToken(ctx, tx, "id = ?", id)
		if err != nil {
			return err
		}
		if t.RevokedAt != nil {
			return rules.Errorf(rules.ECONFLICT, "token %d was already revoked at %s", id, t.RevokedAt.Format(time.RFC3339))
		}
		now := formatTime(s.now())
		if _, err := tx.ExecContext(ctx, "UPDATE tokens SET revoked_at = ? WHERE id = ?", now, id); err != nil {
			return err
		}
		return insertAudit(ctx, tx, now, actor, []Change{{Tenant: t.Tenant, Object: fmt.Sprintf("token:%d", id), Field: "revoked", Before: t.Name, After: "revoked"}})
	})
}

// tenantMustExist refuses a user or token of a tenant that does not exist
// ("" is the provider's: operators).
func tenantMustExist(ctx context.Context, q querier, tenant string) error {
	if tenant == "" {
		return nil
	}
	var n int
	if err := q.QueryRowContext(ctx, "SELECT count(*) FROM tenants WHERE id = ?", tenant).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return rules.Errorf(rules.ENOTFOUND, "unknown tenant %q (add it with: recgate tenant add %s)", tenant, tenant)
	}
	return nil
}

// inTx runs fn in one write transaction and commits, wrapping any error
// with op.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

func lookupUser(ctx context.Context, q querier, login string) (*auth.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE login = ?", login))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "unknown user %q", login)
	}
	if err != nil {
		return nil, err
	}
	if u.Groups, err = loadGroups2(ctx, q, "user_groups", "user_id", u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

func lookupUserByID(ctx context.Context, q querier, id int64) (*auth.User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "unknown user %d", id)
	}
	if err != nil {
		return nil, err
	}
	if u.Groups, err = loadGroups2(ctx, q, "user_groups", "user_id", u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

func scanUser(sc scanner) (*auth.User, error) {
	var (
		u                auth.User
		created, changed sql.NullString
	)
	if err := sc.Scan(&u.ID, &u.Login, &u.Tenant, &u.Role, &u.Disabled, &created, &changed); err != nil {
		return nil, err
	}
	c, err1 := parseTime(created)
	p, err2 := parseTime(changed)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	u.CreatedAt, u.PasswordChangedAt = *c, *p
	return &u, nil
}

func lookupToken(ctx context.Context, q querier, where string, arg any) (*auth.Token, error) {
	t, err := scanToken(q.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, rules.Errorf(rules.ENOTFOUND, "unknown token")
	}
	if err != nil {
		return nil, err
	}
	if t.Groups, err = loadGroups2(ctx, q, "token_groups", "token_id", t.ID); err != nil {
		return nil, err
	}
	return t, nil
}

func scanToken(sc scanner) (*auth.Token, error) {
	var (
		t                               auth.Token
		created, expires, used, revoked sql.NullString
	)
	if err := sc.Scan(&t.ID, &t.Name, &t.Tenant, &t.Role, &created, &t.CreatedBy, &expires, &used, &revoked); err != nil {
		return nil, err
	}
	c, err := parseTime(created)
	if err != nil {
		return nil, err
	}
	t.CreatedAt = *c
	for _, f := range []struct {
		dst **time.Time
		src sql.NullString
	}{{&t.ExpiresAt, expires}, {&t.LastUsedAt, used}, {&t.RevokedAt, revoked}} {
		if *f.dst, err = parseTime(f.src); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// loadGroups2 reads the groups of a user or token from table, sorted.
func loadGroups2(ctx context.Context, q querier, table, key string, id int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, "SELECT group_name FROM "+table+" WHERE "+key+" = ? ORDER BY group_name", id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	groups := []string{}
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, rows.Err()
}

func setGroups(ctx context.Context, tx *sql.Tx, table, key string, id int64, groups []string) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE "+key+" = ?", id); err != nil {
		return err
	}
	for _, g := range groups {
		if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO "+table+" ("+key+", group_name) VALUES (?, ?)", id, g); err != nil {
			return err
		}
	}
	return nil
}

// userChanges lists the audited differences between two states of a
// user. Each is filed under the user's tenant (its new one, or the old
// when it has none now), so the tenant's admin sees it.
func userChanges(login string, old, new *auth.User) []Change {
	var cs []Change
	tenant := new.Tenant
	if tenant == "" {
		tenant = old.Tenant
	}
	add := func(field, before, after string) {
		if before != after {
			cs = append(cs, Change{Tenant: tenant, Object: "user:" + login, Field: field, Before: before, After: after})
		}
	}
	add("role", string(old.Role), string(new.Role))
	add("tenant", old.Tenant, new.Tenant)
	add("groups", strings.Join(sorted(old.Groups), ","), strings.Join(sorted(new.Groups), ","))
	if old.Disabled != new.Disabled || old.Role == "" && new.Disabled {
		add("disabled", yesNo(old.Disabled), yesNo(new.Disabled))
	}
	return cs
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
