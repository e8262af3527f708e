package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/recgate/recgate/rules"
)

//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migrationDirs holds each driver's migrations. The two sets have the same
// versions and names: a schema version means the same tables on both.
var migrationDirs = map[string]string{
	DriverSQLite:   "migrations",
	DriverPostgres: "migrations/postgres",
}

// migrateLockKey is the PostgreSQL advisory lock under which migrations
// run: hosts starting together apply each migration once.
const migrateLockKey = 0x72656367617465 // "recgate"

// migration is one embedded schema change, named NNNN_description.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded SQLite migrations ordered by version.
func loadMigrations() ([]migration, error) { return loadDriverMigrations(DriverSQLite) }

// loadDriverMigrations returns driver's embedded migrations ordered by
// version.
func loadDriverMigrations(driver string) ([]migration, error) {
	dir := migrationDirs[driver]
	names, err := fs.Glob(migrationFS, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, dir+"/")
		prefix, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", base)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, base, v)
		}
		seen[v] = base
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// migrate applies the migrations not yet recorded in schema_migrations, in
// order, in one transaction: IMMEDIATE on SQLite, under an advisory lock
// on PostgreSQL (whose DDL is transactional too), so that two processes or
// hosts starting at once apply each migration exactly once, and a failed
// migration leaves the schema as it was.
func migrate(ctx context.Context, db *sql.DB, now func() time.Time, driver string) error {
	ms, err := loadDriverMigrations(driver)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return applyMigrations(ctx, db, now, ms, driver)
}

// applyMigrations brings db up to the last of ms, which are in order.
func applyMigrations(ctx context.Context, db *sql.DB, now func() time.Time, ms []migration, driver ...string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return wrap("migrate", err)
	}
	defer tx.Rollback()
	if len(driver) > 0 && driver[0] == DriverPostgres {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", int64(migrateLockKey)); err != nil {
			return wrap("migrate: lock", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL)`); err != nil {
		return wrap("migrate", err)
	}
	var current int
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return wrap("migrate", err)
	}
	if len(ms) > 0 && current > ms[len(ms)-1].version {
		return rules.Errorf(rules.EUNAVAILABLE, "store: migrate: database schema version %d is newer than this recgate knows (%d)",
			current, ms[len(ms)-1].version)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return wrap("migrate "+m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, formatTime(now())); err != nil {
			return wrap("migrate "+m.name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return wrap("migrate", err)
	}
	return nil
}
