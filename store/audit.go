package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// AuditEntry is one row of the audit log: one change, when and by whom.
type AuditEntry struct {
	ID    int64     `json:"id"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Change
}

// Audit returns the audit entries recorded at or after since (the zero time
// for all), oldest first, of every tenant.
func (s *Store) Audit(ctx context.Context, since time.Time) ([]AuditEntry, error) {
	return s.AuditEntries(ctx, AuditFilter{Tenant: AllTenants, Since: since})
}

// AuditFilter selects audit entries. The zero value selects all.
type AuditFilter struct {
	Tenant string    // only this tenant's entries (served by an index); AllTenants for all
	Since  time.Time // recorded at or after Since
	After  int64     // only ids above After: a cursor for paging
	Limit  int       // at most Limit entries (0: all)
}

// AuditEntries returns the audit entries f selects, oldest first. A
// tenant's admin passes its tenant: it then sees its stations', groups' and
// tenant settings' changes, never another tenant's nor the provider-wide
// ones.
func (s *Store) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := `SELECT id, at, actor, tenant, object, field, "before", "after" FROM audit WHERE at >= ? AND id > ?`
	args := []any{formatTime(f.Since), f.After}
	if f.Tenant != AllTenants {
		q, args = q+" AND tenant = ?", append(args, f.Tenant)
	}
	q += " ORDER BY id"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	var entries []AuditEntry
	for rows.Next() {
		var (
			e  AuditEntry
			at sql.NullString
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Tenant, &e.Object, &e.Field, &e.Before, &e.After); err != nil {
			return nil, wrap("audit", err)
		}
		t, err := parseTime(at)
		if err != nil {
			return nil, wrap("audit", err)
		}
		e.At = *t
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("audit", err)
	}
	return entries, nil
}

// AppendAudit records changes made outside the rules (e.g. a retention
// run) by actor, in one transaction.
func (s *Store) AppendAudit(ctx context.Context, actor string, changes ...Change) error {
	if len(changes) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("append audit", err)
	}
	defer tx.Rollback()
	if err := insertAudit(ctx, tx, formatTime(s.now()), actor, changes); err != nil {
		return wrap("append audit", err)
	}
	return wrap("append audit", tx.Commit())
}

func insertAudit(ctx context.Context, tx *sql.Tx, at, actor string, changes []Change) error {
	st, err := tx.PrepareContext(ctx, `INSERT INTO audit (at, actor, tenant, object, field, "before", "after") VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, c := range changes {
		if _, err := st.ExecContext(ctx, at, actor, c.Tenant, c.Object, c.Field, c.Before, c.After); err != nil {
			return fmt.Errorf("audit %s %s: %w", c.Object, c.Field, err)
		}
	}
	return nil
}
