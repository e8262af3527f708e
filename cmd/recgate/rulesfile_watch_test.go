package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/recgate/recgate/rules"
	"github.com/recgate/recgate/rulesfile"
	"github.com/recgate/recgate/store"
)

// TestRulesFileAppliedAtStartAndOnChange: rules_file is applied when the
// server starts and again when its content changes (audited as
// rules_file); a broken edit is refused and the rules in force stay.
func TestRulesFileAppliedAtStartAndOnChange(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	write := func(body string) {
		t.Helper()
		tmp := rulesPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, rulesPath); err != nil { // as editors and config management do
			t.Fatal(err)
		}
	}
	write(strings.Replace(e2eRules, `"1003": {kind: sip_phone, group: sales, outbound: off}`, `"1003": {kind: sip_phone, group: sales, outbound: auto}`, 1))
	h := startServer(t, "rules_file: "+rulesPath)

	decision := func(uid string) string {
		ast, _ := h.call("0016-arm", outbound("1003", uid), nil)
		d, _ := ast.Var("RECGATE_DECISION")
		return d
	}
	if d := decision("W1"); d != "auto" {
		t.Fatalf("at start: %q, want auto from the rules file", d)
	}
	write(e2eRules) // 1003 outbound off
	waitFor(t, 5*time.Second, func() bool { return decision("W2") == "off" })

	write("stations: [not, a, mapping]\n")
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(h.logs.String(), "rules_file: not applied") })
	if d := decision("W3"); d != "off" {
		t.Errorf("after a broken edit: %q, want the rules in force kept (off)", d)
	}
	out, _, _ := h.cli("audit", "list", "--json")
	var entries []store.AuditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Actor == rulesFileActor && e.Object == "station:1003" && e.Field == "outbound" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d audit rows by %s for station:1003 outbound, want 2 (start, change)", n, rulesFileActor)
	}
}

func waitFor(t *testing.T, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDecisionsWhileAnotherProcessHoldsTheWriteLock: another process (a
// second connection) holds a write transaction on the database; every
// call still gets its decision from the rules, and a change committed
// after the lock is released applies to the next call.
func TestDecisionsWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	h := startServer(t, "")
	db, err := sql.Open("sqlite3", h.m.Config.Store.Path+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE rules SET mode = 'auto' WHERE station_id = '1003' AND direction = 'outbound'"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		ast, _ := h.call("0016-arm", outbound("1003", "LK"+string(rune('0'+i))), nil)
		if d, _ := ast.Var("RECGATE_DECISION"); d != "off" {
			t.Fatalf("while locked: RECGATE_DECISION = %q, want off (the uncommitted change is not visible)", d)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		t.Fatal(err)
	}
	ast, _ := h.call("0016-arm", outbound("1003", "LK9"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
		t.Errorf("after the commit: RECGATE_DECISION = %q, want auto", d)
	}
}

// watcherFixture is a rules file watcher on a real store holding e2eRules,
// with a clock the test moves.
type watcherFixture struct {
	w    *rulesFileWatcher
	st   *store.Store
	path string
	db   string
	logs *syncBuffer
	reg  *prometheus.Registry
	now  time.Time
}

func newWatcherFixture(t *testing.T) *watcherFixture {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "recgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rs, err := rulesfile.Parse(strings.NewReader(e2eRules), "e2e")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ReplaceRules(ctx, "test", rs); err != nil {
		t.Fatal(err)
	}
	f := &watcherFixture{st: st, path: filepath.Join(dir, "rules.yaml"), db: filepath.Join(dir, "recgate.db"), logs: &syncBuffer{}, reg: prometheus.NewRegistry(),
		now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	f.w = newRulesFileWatcher(f.path, st, slog.New(slog.NewTextHandler(f.logs, nil)), newRulesFileMetrics(f.reg))
	f.w.now = func() time.Time { return f.now }
	return f
}

func (f *watcherFixture) stations(t *testing.T) []string {
	t.Helper()
	rs, err := f.st.LoadRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for id := range rs.Stations {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (f *watcherFixture) metric(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestRulesFileHalfWrittenIsNotApplied: a file caught while cp or an
// editor is still writing it (here: the stations after 1001 not written
// yet) is not applied; the complete file is, once two looks agree.
func TestRulesFileHalfWrittenIsNotApplied(t *testing.T) {
	f := newWatcherFixture(t)
	ctx := context.Background()
	full := strings.Replace(e2eRules, `"1003": {kind: sip_phone, group: sales, outbound: off}`, `"1003": {kind: sip_phone, group: sales, outbound: auto}`, 1)
	half := full[:strings.Index(full, `  "1002"`)]
	if err := os.WriteFile(f.path, []byte(half), 0o644); err != nil {
		t.Fatal(err)
	}
	f.w.poll(ctx)
	if got := f.stations(t); len(got) != 4 {
		t.Fatalf("stations %q after a look at a half-written file, want all 4 kept", got)
	}
	if err := os.WriteFile(f.path, []byte(full), 0o644); err != nil {
		t.Fatal(err)
	}
	f.w.poll(ctx) // changed since the last look: wait
	if strings.Contains(f.logs.String(), "rules_file applied") {
		t.Fatal("a file that changed between two looks was applied")
	}
	f.w.poll(ctx) // the same twice: apply
	rs, err := f.st.LoadRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m := rs.Stations["1003"].Modes[rules.Outbound]; m != rules.Auto {
		t.Errorf("station 1003 outbound %q, want the complete file's auto", m)
	}
	if got := f.stations(t); len(got) != 4 {
		t.Errorf("stations %q, want 4", got)
	}
	if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != 1 {
		t.Errorf("last apply successful = %v, want 1", v)
	}
}

// TestRulesFileRetriedAfterStoreError: a file the store could not take (a
// locked database) is tried again after a back-off, its failure shown by
// the metric, and applied once the store takes it; it is not forgotten.
func TestRulesFileRetriedAfterStoreError(t *testing.T) {
	t.Run("after the back-off", func(t *testing.T) { testRulesFileRetried(t, false) })
	t.Run("on SIGHUP", func(t *testing.T) { testRulesFileRetried(t, true) })
}

func testRulesFileRetried(t *testing.T, sighup bool) {
	f := newWatcherFixture(t)
	body := strings.Replace(e2eRules, `"2000": {kind: softphone}`, `"2000": {kind: softphone, outbound: auto}`, 1)
	if err := os.WriteFile(f.path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", f.db+"?_busy_timeout=10")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	f.w.poll(short())
	f.w.poll(short()) // stable: applied, and refused by the locked store
	if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != 0 {
		t.Errorf("last apply successful = %v while the store refused, want 0", v)
	}
	if !strings.Contains(f.logs.String(), "retrying") {
		t.Errorf("the store error was not logged as retried:\n%s", f.logs.String())
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	f.w.poll(context.Background()) // still within the back-off: not tried
	if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != 0 {
		t.Fatalf("tried again within the back-off")
	}
	if sighup {
		// SIGHUP tries again at once, whatever the back-off.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); f.w.run(ctx, time.Hour) }()
		f.w.retry()
		waitFor(t, 10*time.Second, func() bool { return strings.Contains(f.logs.String(), "rules_file applied") })
		cancel()
		<-done
	} else {
		f.now = f.now.Add(2 * time.Second) // past the back-off
		f.w.poll(context.Background())
	}
	rs, err := f.st.LoadRules(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := rs.Stations["2000"].Modes[rules.Outbound]; m != rules.Auto {
		t.Errorf("station 2000 outbound %q after the store came back, want auto from the file", m)
	}
	if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != 1 {
		t.Errorf("last apply successful = %v, want 1", v)
	}
	if v := f.metric(t, "recgate_rules_file_last_apply_success_timestamp_seconds"); v != float64(f.now.Unix()) && !sighup {
		t.Errorf("last success timestamp %v, want %v", v, f.now.Unix())
	}
}

// TestRulesFileDeletionsAreLoggedLoudly: an application that deletes
// stations or groups in force says which, as a warning.
func TestRulesFileDeletionsAreLoggedLoudly(t *testing.T) {
	f := newWatcherFixture(t)
	body := strings.Replace(e2eRules, "  \"1002\": {kind: mobile_app, group: sales, outbound: ondemand, announce: true}\n", "", 1)
	if err := os.WriteFile(f.path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f.w.poll(context.Background())
	f.w.poll(context.Background())
	logs := f.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "DELETED") || !strings.Contains(logs, "stations=1002") {
		t.Errorf("deleting station 1002 was not logged as a warning naming it:\n%s", logs)
	}
}

// TestRulesFileRevertedToTheVersionInForce: a broken edit is refused (the
// metric says 0), then the operator puts back the version in force (git
// checkout, a backup). The file and the rules agree again, so the metric
// must say 1; otherwise the alert fires until some other edit comes.
func TestRulesFileRevertedToTheVersionInForce(t *testing.T) {
	f := newWatcherFixture(t)
	ctx := context.Background()
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(f.path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Second) // a new modification time on every write
		if err := os.Chtimes(f.path, f.now, f.now); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		body string
		want float64
	}{
		{e2eRules, 1},
		{"stations: [not, a, mapping]\n", 0},
		{e2eRules, 1},
	} {
		write(step.body)
		f.w.poll(ctx)
		f.w.poll(ctx)
		if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != step.want {
			t.Fatalf("after writing %q: last apply successful = %v, want %v\n%s", step.body[:min(20, len(step.body))], v, step.want, f.logs.String())
		}
	}
	if got := f.stations(t); len(got) != 4 {
		t.Errorf("stations %q, want the 4 of the file", got)
	}
}

// TestRulesFileTenantDeletionIsLoggedLoudly: a tenant the file no longer
// holds is removed by the watcher (declarative), and the warning names it,
// even when it had no stations or groups left to name.
func TestRulesFileTenantDeletionIsLoggedLoudly(t *testing.T) {
	f := newWatcherFixture(t)
	ctx := context.Background()
	// The all-tenants form replaces every tenant: without acme, it goes.
	defaultTenant := "  default:\n    groups:\n      sales: {profile: sales, retention_days: 90}\n" +
		"    stations:\n      \"1001\": {name: \"Anna\", kind: sip_phone, group: sales}\n" +
		"      \"1002\": {kind: mobile_app, group: sales, outbound: ondemand, announce: true}\n" +
		"      \"1003\": {kind: sip_phone, group: sales, outbound: off}\n" +
		"      \"2000\": {kind: softphone}\n"
	head := "defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}\ntenants:\n"
	withAcme, withoutAcme := head+"  acme: {name: ACME}\n"+defaultTenant, head+defaultTenant
	for i, b := range []string{withAcme, withoutAcme} {
		if err := os.WriteFile(f.path, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Second)
		if err := os.Chtimes(f.path, f.now, f.now); err != nil {
			t.Fatal(err)
		}
		f.w.poll(ctx)
		f.w.poll(ctx)
		if v := f.metric(t, "recgate_rules_file_last_apply_successful"); v != 1 {
			t.Fatalf("file %d not applied:\n%s", i, f.logs.String())
		}
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "tenants=acme") {
		t.Errorf("removing tenant acme was not logged as a warning naming it:\n%s", logs)
	}
}
