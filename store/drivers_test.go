package store

import (
	"context"
	"os"
	"testing"

	"github.com/recgate/recgate/internal/pgtest"
)

// TestMain stops the PostgreSQL server the shared suite started, if any.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testDriver is one database the shared store suite runs against: every
// test written with forEachDriver runs once per driver, as a subtest named
// after it. A test of one driver's own behaviour (SQLite's file, WAL and
// pragmas) stays a plain test.
type testDriver struct {
	name string
	// fresh returns a new empty database: a file path or a DSN.
	fresh func(t testing.TB) string
	// open opens the store on a database fresh returned.
	open func(ctx context.Context, target string, opts ...Option) (*Store, error)
}

var testDrivers = []testDriver{
	{name: DriverSQLite, fresh: tempDB, open: Open},
	{name: DriverPostgres, fresh: pgtest.New, open: OpenPostgres},
}

func forEachDriver(t *testing.T, fn func(t *testing.T, d testDriver)) {
	t.Helper()
	for _, d := range testDrivers {
		t.Run(d.name, func(t *testing.T) { fn(t, d) })
	}
}

// openAt opens the store at target, closed when t ends.
func (d testDriver) openAt(t testing.TB, target string, opts ...Option) *Store {
	t.Helper()
	s, err := d.open(context.Background(), target, opts...)
	if err != nil {
		t.Fatalf("open %s: %v", d.name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openNew opens the store on a new empty database.
func (d testDriver) openNew(t testing.TB, opts ...Option) *Store {
	t.Helper()
	return d.openAt(t, d.fresh(t), opts...)
}
