package gate

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// dialplanEnv is decideEnv with act=dialplan in the request.
func dialplanEnv(station, uid string) map[string]string {
	env := decideEnv(station, uid)
	env["agi_network_script"] += "&act=dialplan"
	env["agi_request"] += "&act=dialplan"
	return env
}

// TestDecideActDialplanOneCommand: with act=dialplan every mode is one
// command (one MSet) that carries what the dialplan needs to act, and
// recgate itself starts nothing, arms nothing and pushes nothing.
func TestDecideActDialplanOneCommand(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	tests := []struct {
		station, decision string
		want              map[string]string // variables set; "" means set empty
		absent            []string
		state             rules.RecordingState // in the live-call state; "" for none
	}{
		{"1001", "auto", map[string]string{
			VarFile: "/rec/*/1001_outbound_D1001.wav", VarMixMonitorOptions: "b",
			VarHangupHandler: "recgate-hangup,s,1", VarRule: "group:sales",
		}, []string{VarFeature, "DYNAMIC_FEATURES"}, rules.StateRecording},
		{"1002", "ondemand", map[string]string{
			VarFeature: "recgate_ondemand", VarHangupHandler: "recgate-hangup,s,1", VarRule: "station:1002",
		}, []string{VarFile, VarMixMonitorOptions, "DYNAMIC_FEATURES"}, rules.StateArmed},
		{"1003", "off", map[string]string{
			VarHangupHandler: "", VarRule: "station:1003", VarAnnounce: "no",
		}, []string{VarFile, VarMixMonitorOptions, VarFeature, "DYNAMIC_FEATURES"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.decision, func(t *testing.T) {
			g := newTestGate(t, src, nil)
			uid := "D" + tt.station
			ast, cmds := g.session(t, dialplanEnv(tt.station, uid))
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "EXEC MSet ") {
				t.Fatalf("commands %q, want one EXEC MSet", cmds)
			}
			want := map[string]string{VarDecision: tt.decision, VarDirection: "outbound", VarStation: tt.station}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				got, ok := ast.Var(k)
				if !ok || !matchGlob(v, got) {
					t.Errorf("%s = %q (set %v), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := ast.Var(k); ok {
					t.Errorf("%s set to %q, want it unset", k, v)
				}
			}
			if _, ok := ast.Var("MIXMONITOR_FILENAME"); ok {
				t.Error("recgate started MixMonitor itself")
			}
			rec, tracked := g.h.calls.get(uid)
			if tracked != (tt.state != "") || rec.State != tt.state {
				t.Errorf("live state %v %q, want %q", tracked, rec.State, tt.state)
			}
			if tt.state == rules.StateRecording {
				if f, _ := ast.Var(VarFile); rec.File != f || rec.StartedAt == nil || rec.Trigger != rules.TriggerAuto {
					t.Errorf("recording %+v, want file %q started by auto", rec, f)
				}
			}
		})
	}
}

// matchGlob matches a want value with '*' standing for one path element.
func matchGlob(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	pre, post, _ := strings.Cut(pattern, "*")
	return strings.HasPrefix(s, pre) && strings.HasSuffix(s, post) && len(s) >= len(pre)+len(post)
}

// TestDecideActDialplanSecondDecide: a second decide on a channel that
// records already names the same file and no hangup handler to push, so
// the dialplan neither records twice nor pushes the handler twice.
func TestDecideActDialplanSecondDecide(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	g := newTestGate(t, src, nil)
	env := dialplanEnv("1001", "R1")
	first, _ := g.session(t, env)
	again, cmds := g.session(t, env)
	if len(cmds) != 1 {
		t.Fatalf("commands %q, want one", cmds)
	}
	f1, _ := first.Var(VarFile)
	f2, _ := again.Var(VarFile)
	if f1 == "" || f1 != f2 {
		t.Errorf("second decide names %q, first %q", f2, f1)
	}
	if h, ok := again.Var(VarHangupHandler); !ok || h != "" {
		t.Errorf("second decide: %s = %q (set %v), want set empty", VarHangupHandler, h, ok)
	}
}

// TestDecideActSelection: without act (a dialplan written before it) or
// with act=recgate or an unknown value, recgate acts itself.
func TestDecideActSelection(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	for _, q := range []string{"", "&act=recgate", "&act=bogus%2C%24%7BX%7D"} {
		g := newTestGate(t, src, nil)
		env := decideEnv("1001", "A1")
		env["agi_network_script"] += q
		ast, cmds := g.session(t, env)
		if len(cmds) != 3 || !strings.HasPrefix(cmds[0], "EXEC MixMonitor ") {
			t.Errorf("query %q: commands %q, want recgate to start MixMonitor itself", q, cmds)
		}
		if v, ok := ast.Var(VarHangupHandler); ok {
			t.Errorf("query %q: %s = %q set when recgate acts", q, VarHangupHandler, v)
		}
	}
}

// TestDecideActDialplanHostileCaller: whatever the caller controls (caller
// id, DID, queue, linked id, a station argument) the answer stays one
// command, sets only recgate's own variables, and what the dialplan then
// runs — MixMonitor(${RECGATE_FILE},${RECGATE_MIXMONITOR_OPTIONS}) and
// the hangup handler push — gets exactly recgate's values as its
// arguments. (Asterisk does not evaluate a substituted value again, but
// the application's argument parser does split it.)
func TestDecideActDialplanHostileCaller(t *testing.T) {
	hostile := []string{
		`a,b(c)|d$e{f}^g"h\i`, "${SHELL}", "$[1+1]", "../../etc/passwd", "x,/bin/sh -c 'id'",
		`"),System(touch /tmp/x`, "[a,b]", "a\\,b", "a b", "ä,€", "..", ",,,,",
	}
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	for _, opts := range []string{"b", "bW(2)v(-1)"} {
		g := newTestGate(t, src, func(c *Config) {
			c.MixMonitorOptions = opts
			files, err := NewFileNamer("/rec", "{{.Date}}/{{.CallerID}}_{{.DID}}_{{.Queue}}_{{.LinkedID}}_{{.UniqueID}}.wav")
			if err != nil {
				t.Fatal(err)
			}
			c.Files = files
		})
		for i, h := range hostile {
			uid := "H" + string(rune('a'+i))
			env := dialplanEnv("1001", uid)
			env["agi_callerid"] = h
			q := "&did=" + queryEscape(h) + "&queue=" + queryEscape(h) + "&linkedid=" + queryEscape(h)
			env["agi_network_script"] = "decide?direction=outbound&act=dialplan" + q
			ast, cmds := g.session(t, env)
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "EXEC MSet ") {
				t.Fatalf("%q: commands %q, want one EXEC MSet", h, cmds)
			}
			vars := ast.Vars()
			for k := range vars {
				if !strings.HasPrefix(k, "RECGATE_") && k != "UNIQUEID" && !strings.HasPrefix(k, "CHANNEL(") {
					t.Errorf("%q: the answer set %s=%q", h, k, vars[k])
				}
			}
			if vars[VarDecision] != "auto" {
				t.Errorf("%q: decision %q, want auto", h, vars[VarDecision])
			}
			file := vars[VarFile]
			if !g.h.cfg.Load().Files.Under(file) {
				t.Errorf("%q: file %q not a safe path under /rec", h, file)
			}
			// What the dialplan runs once Asterisk has substituted the
			// variables: the application parses its argument string.
			args := agitest.SeparateArgs(file+","+vars[VarMixMonitorOptions], ',', true, 10)
			if !slices.Equal(args, []string{file, opts}) {
				t.Errorf("%q: MixMonitor would get %q, want [%q %q]", h, args, file, opts)
			}
			if got := vars[VarHangupHandler]; got != "recgate-hangup,s,1" {
				t.Errorf("%q: hangup handler %q", h, got)
			}

			// A hostile station argument is refused; the answer is still
			// one command of recgate's own variables.
			env["agi_network_script"] += "&station=" + queryEscape(h)
			env["agi_uniqueid"] += "s"
			ast, cmds = g.session(t, env)
			if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "EXEC MSet ") {
				t.Fatalf("station %q: commands %q, want one EXEC MSet", h, cmds)
			}
			if st, _ := ast.Var(VarStation); st != "" {
				t.Errorf("station %q: %s = %q, want empty", h, VarStation, st)
			}
			for k, v := range ast.Vars() {
				if !strings.HasPrefix(k, "RECGATE_") && k != "UNIQUEID" && !strings.HasPrefix(k, "CHANNEL(") {
					t.Errorf("station %q: the answer set %s=%q", h, k, v)
				}
			}
		}
	}
}

func queryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%")
		b.WriteString(strings.ToUpper(string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])))
	}
	return b.String()
}

func TestMSetValue(t *testing.T) {
	tests := []struct {
		v, enc string
		ok     bool
	}{
		{"auto", "auto", true},
		{"group:sales", "group:sales", true},
		{"/var/spool/x_1.wav", "/var/spool/x_1.wav", true},
		{"a#b", "a#b", true},
		{"1001@acme", "1001@acme", true},
		{"", "", true},
		{"bW(2)v(-1)", "bW(2)v(-1)", true},
		{"recgate-hangup,s,1", `"recgate-hangup,s,1"`, true},
		{"a(b", "", false},
		{"a)b(", "", false},
		{`a"b`, "", false},
		{"a'b", "", false},
		{"${X}", "", false},
		{"a b", "", false},
		{"a\nb", "", false},
		{`a\b`, "", false},
		{"[a]", "", false},
	}
	for _, tt := range tests {
		enc, ok := msetValue(tt.v)
		if ok != tt.ok || enc != tt.enc {
			t.Errorf("msetValue(%q) = %q, %v; want %q, %v", tt.v, enc, ok, tt.enc, tt.ok)
		}
	}
}

// FuzzMSetValue: every value msetValue accepts is set by MSet exactly,
// and leaves the pairs around it as they were.
func FuzzMSetValue(f *testing.F) {
	for _, s := range []string{"a", "a,b", "(a,b)", "a(b", `"`, "a\\,b", "x=y", "recgate-hangup,s,1", "b(", ")("} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		enc, ok := msetValue(v)
		if !ok {
			return
		}
		ast := agitest.NewAsterisk(nil)
		ast.Respond(`EXEC MSet "` + strings.ReplaceAll(strings.ReplaceAll("A=1,N="+enc+",B=2", `\`, `\\`), `"`, `\"`) + `"`)
		if got, _ := ast.Var("N"); got != v {
			t.Fatalf("msetValue(%q) = %q: MSet set %q", v, enc, got)
		}
		if a, _ := ast.Var("A"); a != "1" {
			t.Fatalf("msetValue(%q) = %q: A = %q", v, enc, a)
		}
		if b, _ := ast.Var("B"); b != "2" {
			t.Fatalf("msetValue(%q) = %q: B = %q", v, enc, b)
		}
	})
}

// BenchmarkSessionAct compares a whole decide session in memory (as
// BenchmarkSession) when recgate acts and when the dialplan does.
func BenchmarkSessionAct(b *testing.B) {
	rs := salesRules()
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return rs, nil })
	for _, tc := range []struct{ name, station string }{{"auto", "1001"}, {"ondemand", "1002"}, {"off", "1003"}} {
		for _, act := range []string{ActRecgate, ActDialplan} {
			b.Run(tc.name+"/"+act, func(b *testing.B) {
				g := newTestGate(b, src, nil)
				i := 0
				b.ReportAllocs()
				for b.Loop() {
					i++
					env := decideEnv(tc.station, "B"+strconv.Itoa(i))
					env["agi_network_script"] += "&act=" + act
					g.session(b, env)
				}
			})
		}
	}
}

// TestDecideActDialplanAfterRestart: as TestSecondDecideAfterRestart, with
// the dialplan acting: a channel decided before recgate restarted is
// answered with the file it records already and no handler to push (the
// dialplan sees MIXMONITOR_FILENAME and starts nothing), and a new
// channel still costs one command.
func TestDecideActDialplanAfterRestart(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	old := time.Now().Add(-time.Hour)
	uid := fmt.Sprintf("%d.7", old.Unix())
	first := "/rec/2026/11/24/1001_outbound_" + uid + ".wav"
	check := func(t *testing.T, ast *agitest.Asterisk, cmds []string) {
		t.Helper()
		if f, _ := ast.Var(VarFile); f != first {
			t.Errorf("%s = %q, want the first file %q (commands %q)", VarFile, f, first, cmds)
		}
		if h, ok := ast.Var(VarHangupHandler); !ok || h != "" {
			t.Errorf("%s = %q (set %v), want set empty", VarHangupHandler, h, ok)
		}
	}

	t.Run("the store knows it", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		g.recs.recs[uid] = rules.Recording{UniqueID: uid, Station: "1001", Direction: rules.Outbound, Mode: rules.Auto,
			State: rules.StateRecording, File: first, StartedAt: &old}
		ast, cmds := g.session(t, dialplanEnv("1001", uid))
		if len(cmds) != 1 {
			t.Errorf("commands %q, want one", cmds)
		}
		check(t, ast, cmds)
	})
	t.Run("only Asterisk knows it", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		env := dialplanEnv("1001", uid)
		ast := agitest.NewAsterisk(env)
		ast.SetVar("MIXMONITOR_FILENAME", first)
		cmds := g.sessionWith(t, env, ast.Respond)
		if len(cmds) != 2 || !strings.Contains(cmds[0], "MIXMONITOR_FILENAME") {
			t.Errorf("commands %q, want MIXMONITOR_FILENAME read, then the answer", cmds)
		}
		check(t, ast, cmds)
		if _, err := g.recs.RecordingByUniqueID(context.Background(), uid); err == nil {
			t.Error("a row was written for a recording recgate did not start")
		}
	})
	t.Run("a new channel is one command", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		_, cmds := g.session(t, dialplanEnv("1001", fmt.Sprintf("%d.8", time.Now().Add(time.Hour).Unix())))
		if len(cmds) != 1 || !strings.HasPrefix(cmds[0], "EXEC MSet ") {
			t.Errorf("commands %q, want one EXEC MSet", cmds)
		}
	})
}

// TestDecideActDialplanAnswerLost: when the one-command answer does not
// reach Asterisk, nothing is tracked or saved: the dialplan starts nothing
// and pushes no handler that would close a row.
func TestDecideActDialplanAnswerLost(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	for _, station := range []string{"1001", "1002"} {
		g := newTestGate(t, src, nil)
		uid := "LOST" + station
		env := dialplanEnv(station, uid)
		cmds := g.sessionWith(t, env, func(string) []string { return []string{agitest.ReplyDead} })
		if len(cmds) == 0 {
			t.Fatal("no command sent")
		}
		if _, tracked := g.h.calls.get(uid); tracked {
			t.Errorf("station %s: the call is tracked though the answer was refused (commands %q)", station, cmds)
		}
		g.h.Close(context.Background())
		if _, err := g.recs.RecordingByUniqueID(context.Background(), uid); err == nil {
			t.Errorf("station %s: a row was saved though the answer was refused", station)
		}
	}
}
