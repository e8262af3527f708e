package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recgate/recgate/rules"
)

// TestMetricsAfterScriptedSessions drives one session per label
// combination and compares the exposition text: every counter moves
// exactly once per event.
func TestMetricsAfterScriptedSessions(t *testing.T) {
	h := startServer(t, "")
	h.call("0016-arm", outbound("1001", "M1"), nil) // auto, group rule
	h.call("0016-arm", outbound("1002", "M2"), nil) // ondemand, station rule
	h.call("0016-arm", outbound("1003", "M3"), nil) // off, station rule
	h.call("0016-arm", outbound("7777", "M4"), nil) // off, default
	h.call("0016-arm", map[string]string{"agi_network_script": "decide", "agi_context": "elsewhere", "agi_uniqueid": "M5"}, nil)
	h.press("1002", "M2")     // started
	h.press("1002", "M2")     // already_recording
	h.press("1001", "M-none") // not_armed
	h.call("0016-arm", outbound("1002", "M6"), nil)
	if _, errs, code := h.cli("rule", "set", "1002", "outbound", "off"); code != 0 {
		t.Fatal(errs)
	}
	h.press("1002", "M6") // not_allowed
	h.call("0001-probe", map[string]string{"agi_network_script": "probe"}, nil)

	// A peer outside agi.allow is refused at once.
	allow, _ := (&Config{AGI: AGIConfig{Allow: []string{"192.0.2.0/24"}}}).AllowPrefixes()
	h.m.AGI.SetAllow(allow)
	refused(t, h.m.AGIAddr())
	h.m.AGI.SetAllow(nil)

	expected := decisionsExposition(map[string]int{
		`direction="outbound",mode="auto",rule_source="group"`:       1,
		`direction="outbound",mode="off",rule_source="default"`:      1,
		`direction="outbound",mode="off",rule_source="station"`:      1,
		`direction="outbound",mode="ondemand",rule_source="station"`: 2,
		`direction="unclassified",mode="off",rule_source="fallback"`: 1,
	}) + `
# HELP recgate_ondemand_activations_total On-demand (*2) presses, by outcome.
# TYPE recgate_ondemand_activations_total counter
recgate_ondemand_activations_total{result="already_recording"} 1
recgate_ondemand_activations_total{result="error"} 0
recgate_ondemand_activations_total{result="not_allowed"} 1
recgate_ondemand_activations_total{result="not_armed"} 1
recgate_ondemand_activations_total{result="started"} 1
# HELP recgate_unclassified_calls_total Calls whose direction could not be classified; the fallback mode applied.
# TYPE recgate_unclassified_calls_total counter
recgate_unclassified_calls_total 1
# HELP recgate_rejected_connections_total FastAGI connections closed at once, by reason (not_allowed, max_sessions).
# TYPE recgate_rejected_connections_total counter
recgate_rejected_connections_total{reason="max_sessions"} 0
recgate_rejected_connections_total{reason="not_allowed"} 1
`
	names := []string{"recgate_decisions_total", "recgate_ondemand_activations_total", "recgate_unclassified_calls_total", "recgate_rejected_connections_total"}
	if err := waitGather(h, expected, names...); err != nil {
		t.Error(err)
	}
	if got := sampleValue(t, h, "recgate_recordings_started_total", `direction="outbound",trigger="auto"`); got != 1 {
		t.Errorf("recordings_started auto = %v, want 1", got)
	}
	if got := sampleValue(t, h, "recgate_recordings_started_total", `direction="outbound",trigger="ondemand"`); got != 1 {
		t.Errorf("recordings_started ondemand = %v, want 1", got)
	}
	if got := sampleValue(t, h, "recgate_decision_duration_seconds_count", ""); got != 6 {
		t.Errorf("decision_duration_seconds_count = %v, want 6 (one per decide session)", got)
	}
	for _, c := range []struct{ labels string }{{`request="decide",result="ok"`}, {`request="ondemand",result="ok"`}, {`request="other",result="error"`}} {
		if sampleValue(t, h, "recgate_agi_sessions_total", c.labels) == 0 {
			t.Errorf("recgate_agi_sessions_total{%s} = 0", c.labels)
		}
	}
	if v := sampleValue(t, h, "recgate_build_info", ""); v != 1 {
		t.Errorf("recgate_build_info = %v", v)
	}
	problems, err := testutil.GatherAndLint(h.m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
}

// waitGather compares the registry with expected, retrying briefly: a
// session's counters move after its last reply reaches the peer.
func waitGather(h *harness, expected string, names ...string) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = testutil.GatherAndCompare(h.m.Registry, strings.NewReader(expected), names...); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

// sampleValue returns the value of the sample of family name whose labels
// render as labels ("" for none), from the /metrics endpoint.
func sampleValue(t *testing.T, h *harness, name, labels string) float64 {
	t.Helper()
	body := httpGet(t, "http://"+h.m.HTTPAddr()+"/metrics", http.StatusOK)
	prefix := name + " "
	if labels != "" {
		prefix = name + "{" + labels + "} "
	}
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name+"{") && labels == "" && strings.HasPrefix(name, "recgate_build_info") {
			prefix = line[:strings.LastIndexByte(line, ' ')+1]
		}
		if strings.HasPrefix(line, prefix) {
			var v float64
			if _, err := fmt.Sscan(strings.TrimPrefix(line, prefix), &v); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return v
		}
	}
	t.Fatalf("no sample %s{%s} in /metrics", name, labels)
	return 0
}

func httpGet(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d %s, want %d", url, resp.StatusCode, b, wantStatus)
	}
	return string(b)
}

// refused checks that the server closes a new connection at once, before
// reading anything.
func refused(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("connection was served (read %d, %v), want it closed at once", n, err)
	}
}

func TestMaxSessionsRefusesAtOnce(t *testing.T) {
	// A server with room for one session: one silent peer holds it.
	h2 := startServerWith(t, serverOpts{agi: ", max_sessions: 1"})
	hold, err := net.Dial("tcp", h2.m.AGIAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	waitActive(t, h2, 1)
	refused(t, h2.m.AGIAddr())
	if v := sampleValue(t, h2, "recgate_rejected_connections_total", `reason="max_sessions"`); v != 1 {
		t.Errorf("rejected max_sessions = %v, want 1", v)
	}
	hold.Close()
	waitActive(t, h2, 0)
	// Under the cap again: a session completes.
	ast, _ := h2.call("0016-arm", outbound("1001", "CAP1"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
		t.Errorf("after the cap freed: RECGATE_DECISION = %q", d)
	}
}

func waitActive(t *testing.T, h *harness, n float64) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if sampleValue(t, h, "recgate_agi_sessions_active", "") == n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("recgate_agi_sessions_active never reached %v", n)
}

// TestStoreUnavailable: the database file deleted under the running
// server. Calls still get a decision from the last loaded rules, the error
// is counted, and /readyz says why it is not ready.
func TestStoreUnavailable(t *testing.T) {
	h := startServer(t, "")
	httpGet(t, "http://"+h.m.HTTPAddr()+"/readyz", http.StatusOK)
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(h.m.Config.Store.Path + suffix)
	}
	// The store notices the file gone within a second; every call in
	// the meantime and after still gets the last loaded rules.
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; ; i++ {
		ast, _ := h.call("0016-arm", outbound("1001", fmt.Sprintf("SU%d", i)), nil)
		if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
			t.Fatalf("RECGATE_DECISION = %q, want auto from the last loaded rules", d)
		}
		if sampleValue(t, h, "recgate_store_errors_total", `op="rules"`) >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("store error not counted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	body := httpGet(t, "http://"+h.m.HTTPAddr()+"/readyz", http.StatusServiceUnavailable)
	if !strings.Contains(body, "store") {
		t.Errorf("/readyz body %q does not say why", body)
	}
	httpGet(t, "http://"+h.m.HTTPAddr()+"/healthz", http.StatusOK)
}

// TestReload: a good config changes classification and the log level
// live; a bad one is refused and the running configuration kept.
func TestReload(t *testing.T) {
	h := startServer(t, "")
	noDir := map[string]string{"agi_network_script": "decide", "agi_context": "ctx-new", "agi_extension": "5551234", "agi_uniqueid": "R1"}
	ast, _ := h.call("0016-arm", noDir, nil)
	if d, _ := ast.Var("RECGATE_DIRECTION"); d != "unclassified" {
		t.Fatalf("before reload: %q", d)
	}
	cfg, _ := os.ReadFile(h.cfgPath)
	good := strings.Replace(string(cfg), "log: {level: debug}", "log: {level: warn}\nclassify: {outbound_contexts: [ctx-new]}", 1)
	if err := os.WriteFile(h.cfgPath, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	noDir["agi_uniqueid"] = "R2"
	ast, _ = h.call("0016-arm", noDir, nil)
	if d, _ := ast.Var("RECGATE_DIRECTION"); d != "outbound" {
		t.Errorf("after reload: RECGATE_DIRECTION = %q, want outbound", d)
	}
	if v := sampleValue(t, h, "recgate_config_last_reload_successful", ""); v != 1 {
		t.Errorf("reload_successful = %v", v)
	}
	if h.m.Logger.Enabled(context.Background(), -4) {
		t.Error("log level still debug after reload to warn")
	}

	if err := os.WriteFile(h.cfgPath, []byte(good+"\nbogus_key: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err == nil || !strings.Contains(err.Error(), "bogus_key") {
		t.Fatalf("bad reload = %v, want an error naming bogus_key", err)
	}
	if v := sampleValue(t, h, "recgate_config_last_reload_successful", ""); v != 0 {
		t.Errorf("reload_successful = %v after a bad config, want 0", v)
	}
	// A duration without a unit would be nanoseconds: refused on reload
	// as at start, naming the key and the form.
	bare := strings.Replace(good, "read_timeout: 2s", "read_timeout: 2s, decision_timeout: 200", 1)
	if err := os.WriteFile(h.cfgPath, []byte(bare), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err == nil || !strings.Contains(err.Error(), "agi.decision_timeout: 200 has no unit: write a number with a unit, such as 5s") {
		t.Fatalf("reload of a bare duration = %v, want a refusal naming agi.decision_timeout", err)
	}
	noDir["agi_uniqueid"] = "R3"
	ast, _ = h.call("0016-arm", noDir, nil)
	if d, _ := ast.Var("RECGATE_DIRECTION"); d != "outbound" {
		t.Errorf("after refused reload: RECGATE_DIRECTION = %q, want the kept config's outbound", d)
	}
}

// TestDecisionsExportedBeforeTheFirstCall: recgate_decisions_total has its
// bounded label sets at 0 from the start, so that rate() and absent()
// alerts see the series before the first decision.
func TestDecisionsExportedBeforeTheFirstCall(t *testing.T) {
	h := startServer(t, "")
	for _, labels := range []string{
		`direction="outbound",mode="auto",rule_source="station"`,
		`direction="inbound_queue",mode="ondemand",rule_source="group"`,
		`direction="internal",mode="off",rule_source="default"`,
		`direction="outbound",mode="error",rule_source="fallback"`,
		`direction="unclassified",mode="off",rule_source="fallback"`,
	} {
		if v := sampleValue(t, h, "recgate_decisions_total", labels); v != 0 {
			t.Errorf("recgate_decisions_total{%s} = %v before any call, want 0", labels, v)
		}
	}
}

// decisionsExposition is recgate_decisions_total as exposed: every label
// set a decision can have, at 0 unless counts says otherwise.
func decisionsExposition(counts map[string]int) string {
	var b strings.Builder
	b.WriteString("\n# HELP recgate_decisions_total Recording decisions made at call setup, by direction, mode and the rule level that decided.\n# TYPE recgate_decisions_total counter\n")
	line := func(dir, mode, src string) {
		labels := fmt.Sprintf("direction=%q,mode=%q,rule_source=%q", dir, mode, src)
		fmt.Fprintf(&b, "recgate_decisions_total{%s} %d\n", labels, counts[labels])
	}
	for _, mode := range []string{"off", "auto", "ondemand", "error"} {
		for _, d := range rules.AllDirections() {
			for _, src := range []string{"station", "group", "tenant", "default", "fallback"} {
				line(string(d), mode, src)
			}
		}
		line("unclassified", mode, "fallback")
	}
	return b.String()
}
