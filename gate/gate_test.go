package gate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/recgate/recgate/agi"
	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// pipeListener hands the server the far ends of in-memory pipes, so a
// whole session runs without a socket.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial() net.Conn {
	client, server := net.Pipe()
	l.conns <- server
	return client
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// ruleFunc is a RuleSource made of a function.
type ruleFunc func(ctx context.Context) (*rules.RuleSet, error)

func (f ruleFunc) Rules(ctx context.Context) (*rules.RuleSet, error) { return f(ctx) }

// memRecordings is a RecordingStore in memory.
type memRecordings struct {
	mu   sync.Mutex
	recs map[string]rules.Recording
}

func (m *memRecordings) SaveRecordings(_ context.Context, recs []*rules.Recording) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.recs[r.UniqueID] = *r
	}
	return nil
}

func (m *memRecordings) RecordingByUniqueID(_ context.Context, id string) (*rules.Recording, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.recs[id]; ok {
		return &r, nil
	}
	return nil, rules.Errorf(rules.ENOTFOUND, "no recording %s", id)
}

type testGate struct {
	h       *Handler
	recs    *memRecordings
	l       *pipeListener
	srv     *agi.Server
	reg     *prometheus.Registry
	metrics *Metrics
}

func newTestGate(tb testing.TB, src RuleSource, mutate func(*Config)) *testGate {
	tb.Helper()
	files, err := NewFileNamer("/rec", "{{.Date}}/{{.Station}}_{{.Direction}}_{{.UniqueID}}.wav")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := &Config{
		DecisionTimeout: 200 * time.Millisecond, HangupHandler: "recgate-hangup,s,1",
		OnDemandFeature: "recgate_ondemand", MixMonitorOptions: "b", Fallback: rules.Off,
		MarkerVar: "RECGATE_VIA", Files: files,
		Classifier: rules.Classifier{OutboundContexts: []string{"from-internal"}},
	}
	if mutate != nil {
		mutate(cfg)
	}
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	recs := &memRecordings{recs: map[string]rules.Recording{}}
	h, err := New(cfg, Options{Rules: src, Recordings: recs, Metrics: m, RemoveDelay: 10 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	g := &testGate{h: h, recs: recs, l: newPipeListener(), reg: reg, metrics: m}
	g.srv = &agi.Server{Handler: h, ReadTimeout: 2 * time.Second, Requests: Requests()}
	go g.srv.Serve(g.l)
	tb.Cleanup(func() {
		g.srv.Close()
		h.Close(context.Background())
	})
	return g
}

// session runs one session: env lines, then each command answered by a
// fake Asterisk 22. It returns the fake and the commands received.
func (g *testGate) session(tb testing.TB, env map[string]string) (*agitest.Asterisk, []string) {
	tb.Helper()
	ast := agitest.NewAsterisk(env)
	return ast, g.sessionWith(tb, env, ast.Respond)
}

// sessionWith runs one session answered by respond.
func (g *testGate) sessionWith(tb testing.TB, env map[string]string, respond agitest.Responder) []string {
	tb.Helper()
	c := g.l.dial()
	defer c.Close()
	var b strings.Builder
	for _, k := range []string{"agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_uniqueid", "agi_callerid", "agi_context", "agi_extension"} {
		if v, ok := env[k]; ok {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	b.WriteString("\n")
	go c.Write([]byte(b.String()))
	br := bufio.NewReader(c)
	var cmds []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return cmds
		}
		cmd := strings.TrimSuffix(line, "\n")
		cmds = append(cmds, cmd)
		reply := strings.Join(respond(cmd), "\n") + "\n"
		if _, err := c.Write([]byte(reply)); err != nil {
			tb.Fatal(err)
		}
	}
}

func decideEnv(station, uid string) map[string]string {
	return map[string]string{
		"agi_network": "yes", "agi_network_script": "decide?direction=outbound",
		"agi_request": "agi://127.0.0.1:4573/decide?direction=outbound",
		"agi_channel": "PJSIP/" + station + "-0000002a", "agi_uniqueid": uid,
		"agi_callerid": "1001", "agi_context": "from-internal", "agi_extension": "5551234",
	}
}

func salesRules() *rules.RuleSet {
	rs := rules.NewRuleSet()
	rs.Groups(rules.DefaultTenant)["sales"] = &rules.Group{Name: "sales", Profile: "sales"}
	rs.Stations["1001"] = &rules.Station{ID: "1001", Group: "sales"}
	rs.Stations["1003"] = &rules.Station{ID: "1003", Modes: rules.ModeSet{rules.Outbound: rules.Off}}
	rs.Stations["1002"] = &rules.Station{ID: "1002", Modes: rules.ModeSet{rules.Outbound: rules.OnDemand}}
	return rs
}

func TestFallbackWhenNoRulesCanBeRead(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) {
		return nil, rules.Errorf(rules.EUNAVAILABLE, "database is corrupt")
	})
	for _, mode := range []rules.Mode{rules.Off, rules.Auto} {
		t.Run(string(mode), func(t *testing.T) {
			g := newTestGate(t, src, func(c *Config) { c.Fallback = mode })
			ast, cmds := g.session(t, decideEnv("1001", "F1"))
			if d, _ := ast.Var(VarDecision); d != string(mode) {
				t.Errorf("%s = %q, want %q (commands %q)", VarDecision, d, mode, cmds)
			}
			if r, _ := ast.Var(VarRule); r != "fallback" {
				t.Errorf("%s = %q, want fallback", VarRule, r)
			}
			if a, _ := ast.Var(VarAnnounce); (a == "yes") != (mode != rules.Off) {
				t.Errorf("%s = %q under fallback %s", VarAnnounce, a, mode)
			}
			if n := testutil.ToFloat64(g.metrics.StoreErrors.WithLabelValues(StoreOpRules)); n != 1 {
				t.Errorf("store errors = %v, want 1", n)
			}
			if n := testutil.ToFloat64(g.metrics.Decisions.WithLabelValues("outbound", string(mode), "fallback")); n != 1 {
				t.Errorf("fallback decisions = %v, want 1", n)
			}
		})
	}
}

func TestLastSnapshotWhenStoreFails(t *testing.T) {
	rs := salesRules()
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) {
		return rs, rules.Errorf(rules.EUNAVAILABLE, "database is locked")
	})
	g := newTestGate(t, src, nil)
	ast, _ := g.session(t, decideEnv("1001", "L1"))
	if d, _ := ast.Var(VarDecision); d != "auto" {
		t.Errorf("%s = %q, want auto from the last snapshot", VarDecision, d)
	}
}

// TestDecisionTimeoutBoundsTheStore: the store is given the decision
// timeout as its deadline, and a store that never answers still leaves the
// call with a decision.
func TestDecisionTimeoutBoundsTheStore(t *testing.T) {
	var deadline time.Duration
	src := ruleFunc(func(ctx context.Context) (*rules.RuleSet, error) {
		d, ok := ctx.Deadline()
		if !ok {
			return nil, errors.New("no deadline")
		}
		deadline = time.Until(d)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	g := newTestGate(t, src, func(c *Config) { c.DecisionTimeout = 30 * time.Millisecond })
	ast, _ := g.session(t, decideEnv("1001", "T1"))
	if d, _ := ast.Var(VarDecision); d != "off" {
		t.Errorf("%s = %q, want the fallback off", VarDecision, d)
	}
	if deadline <= 0 || deadline > 30*time.Millisecond {
		t.Errorf("store deadline %v, want within the 30ms decision timeout", deadline)
	}
}

func TestSetConfigAppliesToNextSession(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	g := newTestGate(t, src, nil)
	cfg := *g.h.cfg.Load()
	cfg.MixMonitorOptions = "bW(1)"
	if err := g.h.SetConfig(&cfg); err != nil {
		t.Fatal(err)
	}
	_, cmds := g.session(t, decideEnv("1001", "S1"))
	if len(cmds) == 0 || !strings.HasSuffix(cmds[0], `,bW(1)"`) {
		t.Errorf("first command %q, want the new MixMonitor options", cmds)
	}
	bad := cfg
	bad.MixMonitorOptions = "b,/bin/sh"
	if err := g.h.SetConfig(&bad); err == nil {
		t.Error("SetConfig accepted hostile MixMonitor options")
	}
}

func BenchmarkFileName(b *testing.B) {
	n, err := NewFileNamer("/var/spool/asterisk/monitor", "{{.Date}}/{{.Station}}_{{.Direction}}_{{.UniqueID}}.wav")
	if err != nil {
		b.Fatal(err)
	}
	f := FileFields{Date: "2026/11/24", Station: "1001", Direction: "outbound", UniqueID: "1795511818.38"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Name(f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSession measures a whole decide session in memory: parsing the
// environment, classification, resolution, file naming and the commands'
// round trips over a pipe to a fake Asterisk.
func BenchmarkSession(b *testing.B) {
	rs := salesRules()
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return rs, nil })
	for _, tc := range []struct{ name, station string }{{"auto", "1001"}, {"ondemand", "1002"}, {"off", "1003"}} {
		b.Run(tc.name, func(b *testing.B) {
			g := newTestGate(b, src, nil)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				g.session(b, decideEnv(tc.station, fmt.Sprintf("B%d", i)))
			}
		})
	}
}

func FuzzFileName(f *testing.F) {
	for _, s := range []string{"1001", "../..", "a,b(c)|d$e{f}^g\"h\\i", "${SHELL}", "..%2f", "\x00\n", "+4930123", ".", ""} {
		f.Add(s, s)
	}
	n, err := NewFileNamer("/rec", "{{.CallerID}}/{{.DID}}/{{.Station}}_{{.UniqueID}}.wav")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		got, err := n.Name(FileFields{Date: "2026/11/24", Station: a, UniqueID: b, CallerID: a, DID: b})
		if err != nil {
			return // refused is safe
		}
		if !n.Under(got) {
			t.Fatalf("Name(%q, %q) = %q escapes /rec", a, b, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; !isSafeByte(c) && c != '/' {
				t.Fatalf("Name(%q, %q) = %q holds %q", a, b, got, c)
			}
		}
	})
}

func TestCoalesceKeepsLastSavePerChannel(t *testing.T) {
	r := func(uid string, st rules.RecordingState) *rules.Recording {
		return &rules.Recording{UniqueID: uid, State: st}
	}
	batch := []*rules.Recording{r("a", rules.StateArmed), r("b", rules.StateRecording), r("a", rules.StateRecording), r("c", rules.StateArmed), r("a", rules.StateEnded)}
	got := coalesce(batch)
	var s []string
	for _, x := range got {
		s = append(s, x.UniqueID+":"+string(x.State))
	}
	if want := "b:recording c:armed a:ended"; strings.Join(s, " ") != want {
		t.Errorf("coalesce = %q, want %q", strings.Join(s, " "), want)
	}
}

func TestCallsForgetsStaleEntries(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	c := newCalls(func() time.Time { return now }, 0, nil)
	for i := 0; i < 100; i++ {
		c.put(rules.Recording{UniqueID: fmt.Sprintf("old%d", i)})
	}
	now = now.Add(25 * time.Hour)
	for i := 0; i < 100; i++ {
		c.put(rules.Recording{UniqueID: fmt.Sprintf("new%d", i)})
	}
	if n := c.len(); n > 110 {
		t.Errorf("%d entries after 100 fresh puts, want the stale ones mostly gone", n)
	}
	for i := 0; i < 100; i++ {
		if _, ok := c.get(fmt.Sprintf("new%d", i)); !ok {
			t.Fatalf("fresh entry new%d forgotten", i)
		}
	}
}

// TestCallsIsCapped: decides without a hangup cannot grow the live-call
// table past its cap; the oldest entries go first and each is counted.
func TestCallsIsCapped(t *testing.T) {
	start := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	now := start
	evicted := 0
	c := newCalls(func() time.Time { return now }, 10, func() { evicted++ })
	for i := 0; i < 25; i++ {
		now = now.Add(time.Second)
		c.put(rules.Recording{UniqueID: fmt.Sprintf("%d.%d", now.Unix(), i)})
	}
	if n := c.len(); n != 10 {
		t.Errorf("%d entries, want the cap of 10", n)
	}
	if evicted != 15 {
		t.Errorf("%d evictions counted, want 15", evicted)
	}
	for i := 15; i < 25; i++ {
		if _, ok := c.get(fmt.Sprintf("%d.%d", start.Unix()+int64(i+1), i)); !ok {
			t.Errorf("newest entry %d forgotten", i)
		}
	}
	// A channel that started before the newest forgotten one may have
	// been decided without the table knowing it now; a later one not.
	if !c.mayHaveMissed(fmt.Sprintf("%d.%d", start.Unix()+14, 99)) {
		t.Error("a channel older than an evicted entry is taken as new")
	}
	if c.mayHaveMissed(fmt.Sprintf("pbx1-%d.%d", start.Unix()+20, 99)) {
		t.Error("a channel newer than every evicted entry is taken as possibly missed")
	}
}

// TestFailureAfterMixMonitorStarted: when pushing the hangup handler fails
// after MixMonitor started, the call says error (the dialplan fails open)
// but also names the file, and the channel is never given a second
// recording.
func TestFailureAfterMixMonitorStarted(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	g := newTestGate(t, src, nil)
	env := decideEnv("1001", "P1")
	ast := agitest.NewAsterisk(env)
	cmds := g.sessionWith(t, env, func(cmd string) []string {
		if strings.Contains(cmd, "hangup_handler_push") {
			return []string{agitest.ReplyInvalid}
		}
		return ast.Respond(cmd)
	})
	if d, _ := ast.Var(VarDecision); d != DecisionError {
		t.Fatalf("%s = %q after %q, want error", VarDecision, d, cmds)
	}
	if f, _ := ast.Var(VarFile); !strings.HasSuffix(f, "1001_outbound_P1.wav") {
		t.Errorf("%s = %q, want the file already recording", VarFile, f)
	}
	_, again := g.session(t, env)
	for _, c := range again {
		if strings.HasPrefix(c, "EXEC MixMonitor") {
			t.Fatalf("second decide started another recording: %q", again)
		}
	}
}
