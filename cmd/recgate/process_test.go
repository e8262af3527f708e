package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/store"
)

// These tests run the real recgate binary as a separate process, for what
// only a process can show: signals, exit statuses, and a kill -9 in the
// middle of a write.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func recgateBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "recgate-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "recgate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// serverProcess is `recgate serve` running as a child process.
type serverProcess struct {
	cmd     *exec.Cmd
	agi     string
	http    string
	logs    *syncBuffer
	exited  chan struct{}
	exitErr error
}

// childEnv is the test's environment without its RECGATE_ variables (CI
// sets RECGATE_TEST_REQUIRE_ALL and RECGATE_ASTERISK_LAB): recgate reads
// every RECGATE_ variable as a configuration key and refuses one that
// names none, so the binary under test gets only the configuration file.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECGATE_") {
			env = append(env, kv)
		}
	}
	return env
}

func startProcess(t *testing.T, h *harness) *serverProcess {
	t.Helper()
	bin := recgateBinary(t)
	p := &serverProcess{logs: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "--config", h.cfgPath, "serve")
	p.cmd.Env = childEnv()
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		serving := regexp.MustCompile(`msg="recgate serving" agi=(\S+) http=(\S+)`)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			p.logs.Write([]byte(line + "\n"))
			if m := serving.FindStringSubmatch(line); m != nil {
				p.agi, p.http = m[1], m[2]
				once.Do(func() { close(ready) })
			}
		}
		io.Copy(io.Discard, stderr)
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
	})
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("recgate exited at start: %v\n%s", p.exitErr, p.logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("recgate did not start:\n%s", p.logs)
	}
	return p
}

func (p *serverProcess) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.exited:
		return p.exitErr
	case <-time.After(10 * time.Second):
		t.Fatalf("recgate did not exit:\n%s", p.logs)
		return nil
	}
}

// newHarnessFiles prepares a config, database and rules like startServer,
// without starting a server in this process.
func newHarnessFiles(t *testing.T) *harness {
	t.Helper()
	h := startServer(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSIGTERMFinishesInFlight: on SIGTERM recgate stops accepting, lets
// the session in flight finish, and exits 0.
func TestSIGTERMFinishesInFlight(t *testing.T) {
	h := newHarnessFiles(t)
	p := startProcess(t, h)

	tr := transcript(t, "0016-arm")
	env := outbound("1001", "T1")
	ast := agitest.NewAsterisk(env)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	peer, err := agitest.Dial(ctx, p.agi)
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if err := peer.SendEnv(tr.EnvBlock(env)); err != nil {
		t.Fatal(err)
	}
	first, err := peer.ReadCommand(ctx) // the session is now in flight, waiting on us
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New sessions are no longer accepted.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.agi, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The session in flight completes.
	if err := peer.Send(ast.Respond(first)...); err != nil {
		t.Fatal(err)
	}
	if err := peer.Serve(ctx, ast.Respond); err != nil {
		t.Fatal(err)
	}
	if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
		t.Errorf("in-flight session: RECGATE_DECISION = %q, want auto", d)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.logs)
	}
}

// TestSIGHUPReloadsProcess: SIGHUP re-reads the file; a bad file is
// refused and logged, and the server keeps serving.
func TestSIGHUPReloadsProcess(t *testing.T) {
	h := newHarnessFiles(t)
	p := startProcess(t, h)
	cfg, _ := os.ReadFile(h.cfgPath)
	if err := os.WriteFile(h.cfgPath, append(cfg, []byte("\nbogus: 1\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "config reload refused")
	if err := os.WriteFile(h.cfgPath, append(cfg, []byte("\nfallback: auto\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, p, "config reloaded")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

func waitLog(t *testing.T, p *serverProcess, s string) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if strings.Contains(p.logs.String(), s) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("log never said %q:\n%s", s, p.logs)
}

// TestKillDuringImport: a rules import killed with SIGKILL at any moment
// leaves either the old rules or the new ones, never a mix.
func TestKillDuringImport(t *testing.T) {
	h := newHarnessFiles(t)
	bin := recgateBinary(t)
	var b strings.Builder
	b.WriteString("defaults: {outbound: auto}\ngroups:\n  big: {profile: record-all}\nstations:\n")
	const n = 20000
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  \"%d\": {group: big, kind: softphone}\n", 100000+i)
	}
	big := filepath.Join(h.dir, "big.yaml")
	if err := os.WriteFile(big, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	oldStations := 4
	count := func() (stations int, defaultOutbound string) {
		st, err := store.Open(context.Background(), filepath.Join(h.dir, "recgate.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		rs, err := st.LoadRules(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return len(rs.Stations), string(rs.Defaults.Modes["outbound"])
	}
	sawOld, sawNew := false, false
	for _, delay := range []time.Duration{150, 300, 450, 600, 800, 1200, 5000} {
		cmd := exec.Command(bin, "--config", h.cfgPath, "rules", "import", big, "--actor", "kill-test", "--prune")
		cmd.Env = childEnv()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(delay * time.Millisecond):
			cmd.Process.Kill()
			<-done
		}
		stations, out := count()
		switch {
		case stations == oldStations && out == "off":
			sawOld = true
		case stations == n && out == "auto":
			sawNew = true
		default:
			t.Fatalf("after a kill at %dms: %d stations, default outbound %q: a mix of old and new rules", delay, stations, out)
		}
		if sawNew {
			break
		}
	}
	if !sawNew {
		t.Error("the import never completed, even unkilled")
	}
	t.Logf("saw old rules after a kill: %v", sawOld)
}
