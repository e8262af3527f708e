package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/internal/pgtest"
	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/store"
)

// TestMain stops the PostgreSQL server the fleet tests started, if any.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// fleetHost is one recgate host of a fleet: its configuration (all hosts
// share the database) and the server, a process or in this process.
type fleetHost struct {
	t       *testing.T
	dir     string
	cfgPath string
	agi     string
	http    string
	web     string // the API's address
	proc    *serverProcess
	m       *Main
}

func newFleetHost(t *testing.T, dsn, hostID string) *fleetHost {
	t.Helper()
	dir := t.TempDir()
	h := &fleetHost{t: t, dir: dir, cfgPath: filepath.Join(dir, "recgate.yaml"), web: freeAddr(t)}
	cfg := fmt.Sprintf(`
agi: {listen: "127.0.0.1:0", read_timeout: 2s}
http: {listen: "127.0.0.1:0"}
web: {listen: %q}
store: {driver: postgres, dsn: %q, host_id: %q}
recording: {dir: %q}
log: {level: info}
`, h.web, dsn, hostID, filepath.Join(dir, "rec"))
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// freeAddr is a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// setModeByAPI changes station's outbound mode through this host's API.
func (h *fleetHost) setModeByAPI(token, station, mode string) {
	h.t.Helper()
	body := strings.NewReader(fmt.Sprintf(`{"rules": {"outbound": %q}}`, mode))
	req, err := http.NewRequest(http.MethodPatch, "http://"+h.web+"/api/v1/tenants/default/stations/"+station, body)
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg := new(strings.Builder)
		bufio.NewReader(resp.Body).WriteTo(msg)
		h.t.Fatalf("PATCH station %s: %d %s", station, resp.StatusCode, msg)
	}
}

// cli runs a recgate command with this host's configuration.
func (h *fleetHost) cli(args ...string) (string, string, int) {
	var out, errb syncBuffer
	code := Run(context.Background(), append([]string{"--config", h.cfgPath}, args...),
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func (h *fleetHost) mustCLI(args ...string) string {
	h.t.Helper()
	out, errs, code := h.cli(args...)
	if code != 0 {
		h.t.Fatalf("recgate %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func (h *fleetHost) importRules(yaml string) {
	h.t.Helper()
	p := filepath.Join(h.dir, "rules.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		h.t.Fatal(err)
	}
	h.mustCLI("rules", "import", p, "--actor", "test")
}

// startProcess runs `recgate serve` for this host as a child process.
func (h *fleetHost) startProcess() {
	h.t.Helper()
	h.proc = startProcess(h.t, &harness{cfgPath: h.cfgPath})
	h.agi, h.http = h.proc.agi, h.proc.http
}

// startInProcess runs the server in this process (tests that reach into it).
func (h *fleetHost) startInProcess() {
	h.t.Helper()
	c, err := LoadConfig(h.cfgPath, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.m = NewMain(c, h.cfgPath, &Env{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}})
	if err := h.m.Open(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		h.m.Close(ctx)
	})
	h.agi, h.http = h.m.AGIAddr(), h.m.HTTPAddr()
}

// decideAt plays one decide session for station's outbound call and returns
// RECGATE_DECISION.
func decideAt(addr string, tr *agitest.Transcript, station, uniqueid string) (string, error) {
	overrides := outbound(station, uniqueid)
	env := tr.EnvMap()
	for k, v := range overrides {
		env[k] = v
	}
	ast := agitest.NewAsterisk(env)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer, err := agitest.Dial(ctx, addr)
	if err != nil {
		return "", err
	}
	defer peer.Close()
	if err := peer.SendEnv(tr.EnvBlock(overrides)); err != nil {
		return "", err
	}
	if err := peer.Serve(ctx, ast.Respond); err != nil {
		return "", fmt.Errorf("session: %w", err)
	}
	d, _ := ast.Var("RECGATE_DECISION")
	return d, nil
}

// metric reads one sample of name from a host's /metrics.
func metric(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	t.Fatalf("%s: no metric %s", addr, name)
	return 0
}

// TestFleetChangeOnOneHostAppliesOnTheOthersNextCall: two `recgate serve`
// processes on one PostgreSQL, both under load. A rule is changed again
// and again, through host A's CLI and host B's HTTP API in turn; every
// session on either host that starts after the change returned decides
// with it: zero stale decisions.
func TestFleetChangeOnOneHostAppliesOnTheOthersNextCall(t *testing.T) {
	dsn := pgtest.New(t)
	a, b := newFleetHost(t, dsn, "pbx-a"), newFleetHost(t, dsn, "pbx-b")
	a.importRules(e2eRules)
	out := a.mustCLI("token", "create", "fleet-test", "--role", "operator")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	a.startProcess()
	b.startProcess()

	type change struct {
		begun, done time.Time
		mode        string
	}
	type result struct {
		start, end time.Time
		host       string
		decision   string
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		n       atomic.Int64
		wg      sync.WaitGroup
	)
	tr := transcript(t, "0016-arm")
	defer func() { stop.Store(true); wg.Wait() }()
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				host, addr := "a", a.agi
				if (w+i)%2 == 1 {
					host, addr = "b", b.agi
				}
				start := time.Now()
				d, err := decideAt(addr, tr, "1003", fmt.Sprintf("F%d-%d", w, i))
				if err != nil {
					t.Error(err)
					return
				}
				n.Add(1)
				mu.Lock()
				results = append(results, result{start, time.Now(), host, d})
				mu.Unlock()
			}
		}(w)
	}
	waitFor(t, 20*time.Second, func() bool { return n.Load() >= 100 })
	var changes []change
	for i := 0; i < 10; i++ {
		mode := []string{"auto", "off"}[i%2]
		c := change{begun: time.Now(), mode: mode}
		if i%2 == 0 {
			a.mustCLI("rule", "set", "1003", "outbound", mode, "--actor", "fleet")
		} else {
			b.setModeByAPI(token, "1003", mode)
		}
		c.done = time.Now()
		changes = append(changes, c)
		seen := n.Load()
		waitFor(t, 20*time.Second, func() bool { return n.Load() >= seen+40 })
	}
	stop.Store(true)
	wg.Wait()

	var checked, stale int
	perHost := map[string]int{}
	for _, r := range results {
		// The change in force: the last one done before the session
		// started; sessions overlapping the next change are not judged.
		k := sort.Search(len(changes), func(i int) bool { return changes[i].done.After(r.start) }) - 1
		if k < 0 || (k+1 < len(changes) && !r.end.Before(changes[k+1].begun)) {
			continue
		}
		checked++
		perHost[r.host]++
		if r.decision != changes[k].mode {
			stale++
			t.Errorf("host %s session at %s decided %q, want %q (changed at %s)", r.host,
				r.start.Format("15:04:05.000000"), r.decision, changes[k].mode, changes[k].done.Format("15:04:05.000000"))
		}
	}
	t.Logf("%d sessions, %d judged (%v), %d stale", len(results), checked, perHost, stale)
	if perHost["a"] == 0 || perHost["b"] == 0 {
		t.Fatalf("sessions judged per host: %v", perHost)
	}
	if metric(t, b.http, "recgate_store_notifications_total") < 1 {
		t.Errorf("host b received no change notification")
	}
}

// TestFleetPropagationDelay measures how long a change committed through
// one host takes to reach the other host's snapshot through
// LISTEN/NOTIFY (the reload off the call path; a call never waits for it,
// its version check sees the change anyway). Logged, not asserted:
// RECGATE_FLEET_CHANGES=100 for the figures in docs/fleet.md.
func TestFleetPropagationDelay(t *testing.T) {
	changes := 10
	if s := os.Getenv("RECGATE_FLEET_CHANGES"); s != "" {
		changes, _ = strconv.Atoi(s)
	}
	dsn := pgtest.New(t)
	a, b := newFleetHost(t, dsn, "pbx-a"), newFleetHost(t, dsn, "pbx-b")
	a.importRules(e2eRules)
	a.startInProcess()
	b.startInProcess()
	var delays []time.Duration
	for i := 0; i < changes; i++ {
		mode := []rules.Mode{rules.Auto, rules.Off}[i%2]
		before := b.m.Store.RulesLoadedAt()
		if _, err := a.m.Store.UpdateRules(context.Background(), "bench", func(rs *rules.RuleSet) error {
			rs.Stations["1003"].Modes = rules.ModeSet{rules.Outbound: mode}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		committed := time.Now()
		waitFor(t, 10*time.Second, func() bool { return b.m.Store.RulesLoadedAt().After(before) })
		delays = append(delays, b.m.Store.RulesLoadedAt().Sub(committed))
		if rs, _ := b.m.Store.Rules(context.Background()); rs.Resolve("1003", rules.Outbound).Mode != mode {
			t.Fatalf("change %d: host b resolves %s, want %s", i, rs.Resolve("1003", rules.Outbound).Mode, mode)
		}
	}
	problems, err := testutil.GatherAndLint(b.m.Registry)
	if err != nil || len(problems) > 0 {
		t.Errorf("metrics lint on PostgreSQL: %v %v", problems, err)
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	pct := func(p float64) time.Duration { return delays[min(len(delays)-1, int(p*float64(len(delays))))] }
	t.Logf("propagation host a -> host b over %d changes: p50 %v, p99 %v, max %v", changes, pct(0.50), pct(0.99), delays[len(delays)-1])
}

// TestFleetOutage: under load on two hosts, the listeners' connections are
// killed (pg_terminate_backend), then PostgreSQL is stopped and started
// again. Calls go on being decided from the last snapshot, /readyz says
// why the host is not ready, and every recording's metadata made during
// the outage is in the database after it: counts match.
func TestFleetOutage(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase(t)
	a, b := newFleetHost(t, dsn, "pbx-a"), newFleetHost(t, dsn, "pbx-b")
	a.importRules(e2eRules)
	a.startInProcess()
	b.startInProcess()

	tr := transcript(t, "0016-arm")
	var (
		stop           atomic.Bool
		auto, sessions atomic.Int64
		wg             sync.WaitGroup
		outage         atomic.Bool
		slowest        atomic.Int64 // nanoseconds, the longest session while the database was down
	)
	defer func() { stop.Store(true); wg.Wait() }()
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				addr := []string{a.agi, b.agi}[(w+i)%2]
				start := time.Now()
				d, err := decideAt(addr, tr, "1001", fmt.Sprintf("O%d-%d", w, i))
				for el := int64(time.Since(start)); outage.Load(); {
					if old := slowest.Load(); el <= old || slowest.CompareAndSwap(old, el) {
						break
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
				if d != "auto" {
					t.Errorf("session %d-%d decided %q, want auto (the last snapshot)", w, i, d)
					return
				}
				sessions.Add(1)
				auto.Add(1)
			}
		}(w)
	}
	more := func(what string, k int64) {
		t.Helper()
		seen := sessions.Load()
		waitFor(t, 30*time.Second, func() bool { return sessions.Load() >= seen+k })
		t.Logf("%s: %d sessions so far", what, sessions.Load())
	}
	more("before", 100)

	if err := srv.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"); err != nil {
		t.Fatal(err)
	}
	more("listeners killed", 100)
	waitFor(t, 30*time.Second, func() bool {
		return metric(t, a.http, "recgate_store_listener_reconnects_total") >= 1 &&
			metric(t, b.http, "recgate_store_listener_connected") == 1
	})

	outage.Store(true)
	srv.Stop()
	more("database stopped", 200)
	resp, err := http.Get("http://" + a.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body := new(strings.Builder)
	bufio.NewReader(resp.Body).WriteTo(body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body.String(), "store not readable") ||
		!strings.Contains(body.String(), "wait for the database") {
		t.Errorf("/readyz during the outage: %d %q", resp.StatusCode, body)
	}
	if metric(t, a.http, "recgate_store_queue_rows")+metric(t, b.http, "recgate_store_queue_rows") == 0 {
		t.Errorf("nothing queued during the outage")
	}

	outage.Store(false)
	t.Logf("longest session while the database was down: %v (agi.decision_timeout 200ms)", time.Duration(slowest.Load()))
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	more("database back", 100)
	stop.Store(true)
	wg.Wait()
	for _, h := range []*fleetHost{a, b} {
		waitFor(t, 30*time.Second, func() bool { return h.m.Outbox.Pending() == 0 })
		if d := h.m.Outbox.Dropped(); d != 0 {
			t.Errorf("%d rows dropped", d)
		}
	}
	// The call handlers' writers hand over within their linger; then the
	// outboxes write.
	want := int(auto.Load())
	var got int
	waitFor(t, 30*time.Second, func() bool {
		recs, err := a.m.Store.Recordings(context.Background(), store.RecordingFilter{})
		got = len(recs)
		return err == nil && got == want && a.m.Outbox.Pending() == 0 && b.m.Outbox.Pending() == 0
	})
	t.Logf("%d sessions recorded, %d rows in the database", want, got)
	resp, err = http.Get("http://" + b.http + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz after the outage: %d", resp.StatusCode)
	}
}

// TestStoreCopyCLI: a SQLite deployment copied to PostgreSQL exports the
// same rules and lists the same recordings; a second copy is refused
// without --force; a dry run changes nothing.
func TestStoreCopyCLI(t *testing.T) {
	dsn := pgtest.New(t)
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "recgate.db")
	lite := &fleetHost{t: t, dir: dir, cfgPath: filepath.Join(dir, "sqlite.yaml")}
	if err := os.WriteFile(lite.cfgPath, []byte(fmt.Sprintf("store: {path: %q}\n", dbPath)), 0o644); err != nil {
		t.Fatal(err)
	}
	createDB(t, dbPath)
	lite.importRules(e2eRules)
	lite.mustCLI("station", "add", "3001", "--name", "Reception", "--group", "sales", "--actor", "alice")
	lite.mustCLI("rule", "set", "default", "internal", "ondemand", "--actor", "bob")
	wantExport := lite.mustCLI("rules", "export")
	wantAudit := lite.mustCLI("audit", "list", "--json")
	pg := newFleetHost(t, dsn, "pbx-a")

	out := lite.mustCLI("store", "copy", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn, "--dry-run")
	if !strings.Contains(out, "dry run") {
		t.Errorf("dry run output: %s", out)
	}
	if got := pg.mustCLI("station", "list", "--json"); strings.Contains(got, "3001") {
		t.Fatalf("the dry run copied: %s", got)
	}
	out = lite.mustCLI("store", "copy", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn)
	if !strings.Contains(out, "verified") || !strings.Contains(out, "stations") {
		t.Errorf("copy output: %s", out)
	}
	if got := pg.mustCLI("rules", "export"); got != wantExport {
		t.Errorf("export from PostgreSQL:\n%s\nwant (from SQLite)\n%s", got, wantExport)
	}
	if got := pg.mustCLI("audit", "list", "--json"); got != wantAudit {
		t.Errorf("audit differs after the copy")
	}
	_, errs, code := lite.cli("store", "copy", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn)
	if code != exitConflict || !strings.Contains(errs, "--force") {
		t.Errorf("second copy: exit %d %q, want %d naming --force", code, errs, exitConflict)
	}
	lite.mustCLI("store", "copy", "--from", "sqlite:"+dbPath, "--to", "postgres:"+dsn, "--force")

	// Refusals: a usage error, and a DSN whose password is never printed.
	if _, _, code := lite.cli("store", "copy", "--from", "sqlite:"+dbPath); code != exitInvalid {
		t.Errorf("copy without --to: exit %d", code)
	}
	_, errs, code = lite.cli("store", "copy", "--from", "sqlite:"+dbPath, "--to", "postgres:postgres://u:hunter2-secret@/x")
	if code != exitInvalid || strings.Contains(errs, "hunter2-secret") || !strings.Contains(errs, "no host") {
		t.Errorf("copy to a DSN without host: exit %d %q", code, errs)
	}
}

// TestRetentionKeepsRowsOfFilesOnOtherHosts: in a fleet whose spools are
// not shared, a file another host made is not found here; retention must
// not take that for "gone" and drop the row of a file it did not delete.
func TestRetentionKeepsRowsOfFilesOnOtherHosts(t *testing.T) {
	dir := t.TempDir()
	h := &fleetHost{t: t, dir: dir, cfgPath: filepath.Join(dir, "recgate.yaml")}
	cfg := fmt.Sprintf("store: {path: %q, host_id: pbx-a}\nrecording: {dir: %q}\n", filepath.Join(dir, "recgate.db"), filepath.Join(dir, "rec"))
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	createDB(t, filepath.Join(dir, "recgate.db"))
	h.importRules(e2eRules) // group sales keeps 90 days
	c, err := LoadConfig(h.cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.openStore(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().AddDate(0, 0, -200)
	var recs []*rules.Recording
	for i, host := range []string{"pbx-a", "pbx-b"} {
		recs = append(recs, &rules.Recording{UniqueID: fmt.Sprintf("1700000000.%d", i), Station: "1001",
			Direction: rules.Outbound, Mode: rules.Auto, Trigger: rules.TriggerAuto, State: rules.StateEnded,
			File: filepath.Join(dir, "rec", fmt.Sprintf("gone-%d.wav", i)), StartedAt: &old, EndedAt: &old,
			Answered: ptrTo(true), Host: host})
	}
	if err := st.SaveRecordings(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, _, code := h.cli("retention", "run", "--actor", "cron")
	if code != exitConflict || !strings.Contains(out, "made on host pbx-b: NOT deleted") {
		t.Errorf("retention: exit %d\n%s", code, out)
	}
	var got []rules.Recording
	decodeJSON(t, h.mustCLI("recordings", "list", "--json"), &got)
	states := map[string]rules.RecordingState{}
	for _, r := range got {
		states[r.Host] = r.State
	}
	if states["pbx-a"] != rules.StateDeleted || states["pbx-b"] != rules.StateEnded {
		t.Errorf("states after retention: %v; want pbx-a deleted (its own file, missing), pbx-b kept", states)
	}
}

// createDB creates an empty SQLite database at path, as `recgate init` would.
func createDB(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
}

// TestCheckConfigPostgres: `serve --check-config` connects to the
// database (reachable: ok; unreachable: exit 5), printing no password.
func TestCheckConfigPostgres(t *testing.T) {
	dsn := pgtest.New(t)
	h := newFleetHost(t, dsn, "pbx-a")
	out := h.mustCLI("serve", "--check-config")
	if !strings.Contains(out, "store postgres ") || !strings.Contains(out, "reachable") {
		t.Errorf("check-config: %s", out)
	}
	down := newFleetHost(t, "postgres://recgate:hunter2-secret@"+freeAddr(t)+"/recgate?sslmode=disable&connect_timeout=2", "pbx-a")
	out, errs, code := down.cli("serve", "--check-config")
	if code != exitUnavailable || strings.Contains(out+errs, "hunter2-secret") {
		t.Errorf("check-config, database down: exit %d\n%s%s", code, out, errs)
	}
}
