package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/recgate/recgate/rules"
)

// copyTables are the tables Copy moves, parents before the tables whose
// foreign keys name them. The one-row tables the migrations make
// (copySingletons) are updated rather than inserted: settings, and the
// GDPR key, which must travel with the audit log whose erasure proofs it
// made. A table added to the schema must be added
// here or to copySkip: TestCopyCoversEveryTable fails otherwise.
var copyTables = []string{"settings", "gdpr_key", "tenants", "groups", "stations", "rules", "recordings", "legal_holds",
	"audit", "users", "user_groups", "sessions", "tokens", "token_groups", "access_log"}

// copySingletons are the one-row tables (id 1) the migrations make.
var copySingletons = map[string]bool{"settings": true, "gdpr_key": true}

// copySkip are the tables Copy leaves alone: the migrations make them.
var copySkip = []string{"schema_migrations", "rules_version"}

// CopyReport is what Copy did (or, in a dry run, would do): rows per table.
type CopyReport struct {
	Rows   map[string]int64 `json:"rows"`    // rows copied, per table
	DryRun bool             `json:"dry_run"` // nothing was committed
}

// Copy copies every table of from into to, ids kept, in one transaction
// on to, and then verifies that to holds as many rows per table as from.
// Both stores must be at the same schema version (the same recgate opened
// them). A target that holds any row (a station, a group, a rule, a
// recording, an audit entry) is refused with rules.ECONFLICT unless force
// is set, in which case its rows are replaced. With dryRun the copy is made
// and rolled back: the constraints are checked, nothing is kept.
func Copy(ctx context.Context, from, to *Store, force, dryRun bool) (*CopyReport, error) {
	fv, err := from.SchemaVersion(ctx)
	if err != nil {
		return nil, wrap("copy: source schema", err)
	}
	tv, err := to.SchemaVersion(ctx)
	if err != nil {
		return nil, wrap("copy: target schema", err)
	}
	if fv != tv {
		return nil, rules.Errorf(rules.ECONFLICT, "store: copy: source schema is version %d, target %d: open both with the same recgate", fv, tv)
	}
	// A read transaction on the source: one consistent state, even while
	// a server goes on writing to it.
	src, end, err := from.readTx(ctx)
	if err != nil {
		return nil, wrap("copy: read source", err)
	}
	defer end()
	tx, err := to.beginRulesWrite(ctx)
	if err != nil {
		return nil, wrap("copy: write target", err)
	}
	defer tx.Rollback()
	var rowTables []string // the tables of many rows, parents first
	for _, t := range copyTables {
		if !copySingletons[t] {
			rowTables = append(rowTables, t)
		}
	}
	existing, err := countRows(ctx, tx, rowTables)
	if err != nil {
		return nil, wrap("copy: count target rows", err)
	}
	existing["tenants"]-- // the default tenant, which the migrations make
	if n := total(existing); n > 0 && !force {
		return nil, rules.Errorf(rules.ECONFLICT, "store: copy: the target is not empty (%s): give --force to replace its rows", describe(existing))
	}
	// Children first. Without --force only what the migrations made is
	// there (the default tenant), replaced by the source's.
	for i := len(rowTables) - 1; i >= 0; i-- {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+rowTables[i]); err != nil {
			return nil, wrap("copy: empty target "+rowTables[i], err)
		}
	}
	rep := &CopyReport{Rows: map[string]int64{}, DryRun: dryRun}
	for _, table := range copyTables {
		n, err := copyTable(ctx, src, tx, table)
		if err != nil {
			return nil, wrap("copy "+table, err)
		}
		rep.Rows[table] = n
	}
	if to.driver == DriverPostgres {
		// Identity columns given by value do not move their sequence:
		// the next row must not reuse a copied id.
		for _, table := range []string{"rules", "recordings", "audit", "users", "tokens", "access_log"} {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(
				"SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce(max(id), 0) + 1, false) FROM %s", table, table)); err != nil {
				return nil, wrap("copy: move the id sequence of "+table, err)
			}
		}
	}
	want, err := countRows(ctx, src, copyTables)
	if err != nil {
		return nil, wrap("copy: count source rows", err)
	}
	got, err := countRows(ctx, tx, copyTables)
	if err != nil {
		return nil, wrap("copy: count target rows", err)
	}
	for _, table := range copyTables {
		if got[table] != want[table] {
			return nil, rules.Errorf(rules.EINTERNAL, "store: copy: %s: the target holds %d rows, the source %d: nothing committed", table, got[table], want[table])
		}
	}
	if dryRun {
		return rep, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, wrap("copy: commit", err)
	}
	// Verified again from outside the transaction, as anyone will see it.
	after, err := countRows(ctx, to.db, copyTables)
	if err != nil {
		return nil, wrap("copy: verify", err)
	}
	for _, table := range copyTables {
		if after[table] != want[table] {
			return nil, rules.Errorf(rules.EINTERNAL, "store: copy: verify: %s holds %d rows, want %d", table, after[table], want[table])
		}
	}
	return rep, nil
}

// readTx begins a read transaction that sees one state of the database
// without blocking its writers: REPEATABLE READ on PostgreSQL, a deferred
// transaction on SQLite (whose database/sql transactions take the write
// lock, see dsnParams). end rolls it back.
func (s *Store) readTx(ctx context.Context) (q rowQuerier, end func(), err error) {
	if s.driver == DriverPostgres {
		tx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return nil, nil, err
		}
		return tx, func() { tx.Rollback() }, nil
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, func() {
		conn.ExecContext(context.Background(), "ROLLBACK")
		conn.Close()
	}, nil
}

// SchemaVersion returns the last migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

type rowQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// copyTable copies every row of table from src into dst, all columns.
func copyTable(ctx context.Context, src, dst rowQuerier, table string) (int64, error) {
	rows, err := src.QueryContext(ctx, "SELECT * FROM "+table+" ORDER BY 1")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	var q string
	single := copySingletons[table]
	if single {
		// The one row the migrations made: take the source's values.
		var set []string
		for _, c := range cols {
			if c != "id" {
				set = append(set, quoteIdent(c)+" = ?")
			}
		}
		q = "UPDATE " + table + " SET " + strings.Join(set, ", ") + " WHERE id = ?"
	} else {
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = quoteIdent(c)
		}
		q = "INSERT INTO " + table + " (" + strings.Join(quoted, ", ") + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		// Values go as the source's driver gave them: string for TEXT,
		// int64 for INTEGER, []byte for a BLOB or BYTEA.
		args := make([]any, 0, len(vals)+1)
		for i, v := range vals {
			if single && cols[i] == "id" {
				continue
			}
			args = append(args, v)
		}
		if single {
			args = append(args, 1)
		}
		if _, err := dst.ExecContext(ctx, q, args...); err != nil {
			return n, fmt.Errorf("row %d: %w", n+1, err)
		}
		n++
	}
	return n, rows.Err()
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func countRows(ctx context.Context, q rowQuerier, tables []string) (map[string]int64, error) {
	out := make(map[string]int64, len(tables))
	for _, t := range tables {
		var n int64
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("%s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func describe(m map[string]int64) string {
	var parts []string
	for t, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", t, n))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// tables lists the database's tables (for the copy's coverage test).
func (s *Store) tables(ctx context.Context) ([]string, error) {
	q := "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if s.driver == DriverPostgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	sort.Strings(out)
	return out, rows.Err()
}
