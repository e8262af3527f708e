// Package pgtest runs a real PostgreSQL for tests: it finds the server's
// binaries (PATH, then /usr/lib/postgresql/*/bin), creates a cluster with
// initdb in a temporary directory, starts it on a free loopback port (and
// a unix socket in the same directory) as a non-root user, and stops it by
// its process id when the test or the package is done, also on failure.
//
// A package that wants one server for all its tests calls Main from its
// TestMain and New in each test (a fresh database per test); a test that
// stops and restarts the server (an outage) calls Start for one of its own.
//
// Without PostgreSQL the tests are skipped with one line saying how to get
// it; with RECGATE_TEST_REQUIRE_ALL=1 (CI) the skip is a failure.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// missing is the one line a test is skipped with when PostgreSQL is absent.
const missing = "PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin: apt-get install -y postgresql"

// Server is a PostgreSQL server started for tests.
type Server struct {
	bin   string // directory of initdb and postgres
	dir   string // the cluster's directory, removed by Stop
	data  string
	port  int
	cred  *syscall.Credential // nil: run as ourselves
	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{} // closed when cmd has exited
	dbSeq atomic.Int64
}

// skip skips (or, under RECGATE_TEST_REQUIRE_ALL=1, fails) tb.
func skip(tb testing.TB, msg string) {
	tb.Helper()
	if os.Getenv("RECGATE_TEST_REQUIRE_ALL") == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// findBin returns the directory holding initdb and postgres.
func findBin() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := exec.LookPath("postgres"); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New(missing)
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Start starts a PostgreSQL server of tb's own, stopped when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := start()
	if errors.Is(err, errMissing) {
		skip(tb, missing)
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	tb.Cleanup(s.Remove)
	return s
}

var errMissing = errors.New(missing)

func start() (*Server, error) {
	bin, err := findBin()
	if err != nil {
		return nil, errMissing
	}
	reapOrphans()
	dir, err := os.MkdirTemp("", "recgate-pgtest-")
	if err != nil {
		return nil, err
	}
	// Whose cluster this is: a test binary killed before its cleanup ran
	// leaves its server behind, which the next start stops (reapOrphans).
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{bin: bin, dir: dir, data: filepath.Join(dir, "data")}
	if err := s.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// init creates the cluster as an unprivileged user: PostgreSQL refuses to
// run as root, and the tests often do.
func (s *Server) init() error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		s.cred = cred
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	if err := os.Chmod(s.dir, 0o700); err != nil {
		return err
	}
	cmd := s.command("initdb", "-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(out, 5))
	}
	return nil
}

// unprivileged returns the user the server runs as when we are root:
// postgres when it exists (the Debian package makes it), else nobody.
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and neither user postgres nor nobody exists: useradd --system postgres")
}

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=" + s.bin + ":/usr/bin:/bin", "LC_ALL=C"}
	// In the test's process group, so that a signal to the group (Ctrl-C)
	// reaches the server too; and stopped at once (SIGQUIT: immediate
	// shutdown) when the test binary dies without running its cleanup (a
	// -timeout panic, a kill). reapOrphans covers what this misses.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGQUIT}
	return cmd
}

// Start starts the server (again, after Stop or Kill), on the same port
// when it had one, and waits until it accepts connections.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: server already running")
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if s.port == 0 || attempt > 0 && lastErr != nil && s.portTaken() {
			p, err := freePort()
			if err != nil {
				return err
			}
			s.port = p
		}
		lastErr = s.run()
		if lastErr == nil {
			return nil
		}
	}
	return lastErr
}

func (s *Server) portTaken() bool {
	c, err := net.DialTimeout("tcp", s.Addr(), 100*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func (s *Server) run() error {
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := s.command("postgres", "-D", s.data, "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exit := make(chan struct{})
	go func() { cmd.Wait(); close(exit) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			s.cmd, s.exit = cmd, exit
			return nil
		}
		select {
		case <-exit:
			log, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited at start: %s", lastLines(log, 5))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exit
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
	}
}

// Stop stops the server (fast shutdown: sessions are ended), by its
// process id, waiting for it; after 10 seconds it is killed. The cluster
// stays for Start. Stop is a no-op on a stopped server.
func (s *Server) Stop() {
	s.signal(syscall.SIGINT)
}

// Kill stops the server at once (SIGKILL of its process group), as a
// crash would.
func (s *Server) Kill() {
	s.signal(syscall.SIGKILL)
}

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, sig)
	select {
	case <-s.exit:
	case <-time.After(10 * time.Second):
		syscall.Kill(pid, syscall.SIGKILL)
		<-s.exit
	}
	if sig == syscall.SIGKILL {
		waitBackendsGone(s.data)
	}
	if sig == syscall.SIGKILL {
		os.Remove(filepath.Join(s.data, "postmaster.pid"))
	}
	s.cmd = nil
}

// Remove stops the server and deletes its cluster.
func (s *Server) Remove() {
	s.Stop()
	os.RemoveAll(s.dir)
}

// Addr is the server's TCP address, 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's TCP port.
func (s *Server) Port() int { return s.port }

// DSN is a connection URL for database db, as user postgres, over TCP.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", s.Addr(), db)
}

// SocketDSN is a connection string for database db over the unix socket.
func (s *Server) SocketDSN(db string) string {
	return fmt.Sprintf("host=%s port=%d user=postgres dbname=%s sslmode=disable", s.dir, s.port, db)
}

// CreateDatabase creates a new, empty database and returns its DSN. The
// database is dropped when tb ends.
func (s *Server) CreateDatabase(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.dbSeq.Add(1))
	if err := s.exec("CREATE DATABASE " + name); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() { s.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	return s.DSN(name)
}

// Exec runs one SQL statement as superuser in database postgres.
func (s *Server) Exec(sql string) error { return s.exec(sql) }

func (s *Server) exec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// waitBackendsGone waits (up to 10s) until no process has the data
// directory open as its working directory: a killed postmaster's backends
// exit on their own once they notice it is gone, and a new postmaster
// refuses to start while they run.
func waitBackendsGone(data string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !anyProcessIn(data) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// anyProcessIn reports whether a process's working directory is dir.
func anyProcessIn(dir string) bool {
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		if cwd, err := os.Readlink(p); err == nil && cwd == dir {
			return true
		}
	}
	return false
}

// reapOrphans stops the servers and removes the clusters of test binaries
// that no longer run (killed before their cleanup).
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "recgate-pgtest-*"))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err != nil {
			continue
		}
		owner, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || owner <= 0 {
			continue
		}
		if err := syscall.Kill(owner, 0); err == nil || errors.Is(err, syscall.EPERM) {
			continue // its test binary still runs
		}
		if pidFile, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(pidFile), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil && pid > 0 {
				syscall.Kill(pid, syscall.SIGQUIT)
				time.Sleep(200 * time.Millisecond)
			}
		}
		os.RemoveAll(dir)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// shared is the package's server started by the first New, stopped by Main.
type shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs m's tests and then stops the server New started, if any. Call
// it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	pkg.stop()
	return code
}

var pkg shared // the one server per test binary; Main stops it

func (p *shared) get() (*Server, error) {
	p.once.Do(func() { p.srv, p.err = start() })
	return p.srv, p.err
}

func (p *shared) stop() {
	if p.srv != nil {
		p.srv.Remove()
	}
}

// New returns the DSN of a fresh database on the package's server (started
// on first use, stopped by Main), dropped when tb ends.
func New(tb testing.TB) string {
	tb.Helper()
	srv, err := pkg.get()
	if errors.Is(err, errMissing) {
		skip(tb, missing)
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return srv.CreateDatabase(tb)
}

// Shared returns the package's server (started on first use), for a test
// that needs its address or superuser access.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	srv, err := pkg.get()
	if errors.Is(err, errMissing) {
		skip(tb, missing)
	}
	if err != nil {
		tb.Fatalf("pgtest: %v", err)
	}
	return srv
}
