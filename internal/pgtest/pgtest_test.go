package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func query(t *testing.T, dsn string) (user string, super bool) {
	t.Helper()
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var su string
	if err := c.QueryRow(ctx, "SELECT current_user, current_setting('is_superuser')").Scan(&user, &su); err != nil {
		t.Fatal(err)
	}
	return user, su == "on"
}

func TestNewGivesAFreshDatabase(t *testing.T) {
	a, b := New(t), New(t)
	if a == b {
		t.Fatalf("two databases share DSN %s", a)
	}
	if user, super := query(t, a); user != "postgres" || !super {
		t.Errorf("connected as %q (superuser %v)", user, super)
	}
}

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	dsn := s.CreateDatabase(t)
	query(t, dsn)
	query(t, s.SocketDSN("postgres"))
	port := s.Port()
	s.Stop()
	ctx := context.Background()
	if c, err := pgx.Connect(ctx, dsn); err == nil {
		c.Close(ctx)
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if s.Port() != port {
		t.Errorf("restarted on port %d, want %d", s.Port(), port)
	}
	query(t, dsn)
	s.Kill()
	if err := s.Start(); err != nil {
		t.Fatalf("start after kill: %v", err)
	}
	query(t, dsn)
}
