package pgtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

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

// TestReapOrphans: a cluster whose test binary is gone (killed before its
// cleanup) is stopped and removed by the next start.
func TestReapOrphans(t *testing.T) {
	s := Start(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.dir, "owner.pid"), []byte(strconv.Itoa(dead.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	reapOrphans()
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		t.Fatal("the orphaned server still runs")
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory left: %v", err)
	}
	s.mu.Lock()
	s.cmd = nil // stopped from outside: nothing for the cleanup to stop
	s.mu.Unlock()
}
