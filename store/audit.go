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
// for all), oldest first.
func (s *Store) Audit(ctx context.Context, since time.Time) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, at, actor, object, field, "before", "after"
		FROM audit WHERE at >= ? ORDER BY id`, formatTime(since))
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
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Object, &e.Field, &e.Before, &e.After); err != nil {
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
	st, err := tx.PrepareContext(ctx, `INSERT INTO audit (at, actor, object, field, "before", "after") VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, c := range changes {
		if _, err := st.ExecContext(ctx, at, actor, c.Object, c.Field, c.Before, c.After); err != nil {
			return fmt.Errorf("audit %s %s: %w", c.Object, c.Field, err)
		}
	}
	return nil
}
