package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// The rules every end-to-end test starts from.
const e2eRules = `
defaults: {outbound: off, inbound_direct: off, inbound_queue: off, internal: off}
groups:
  sales: {profile: sales, retention_days: 90}
stations:
  "1001": {name: "Anna", kind: sip_phone, group: sales}
  "1002": {kind: mobile_app, group: sales, outbound: ondemand, announce: true}
  "1003": {kind: sip_phone, group: sales, outbound: off}
  "2000": {kind: softphone}
`

// syncBuffer is a bytes.Buffer safe for the server's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a real recgate server (Main) on loopback ports with its own
// store and recordings directory.
type harness struct {
	t       *testing.T
	m       *Main
	dir     string
	recDir  string
	cfgPath string
	logs    *syncBuffer
}

// serverOpts are additions to the harness's configuration file.
type serverOpts struct {
	agi       string // added to the agi section, e.g. `, max_sessions: 1`
	recording string // added to the recording section, e.g. `, file_template: "…"`
	extra     string // added at the end of the file
	// readTimeout is agi.read_timeout; default 2s.
	readTimeout string
}

// startServer starts a server; recordingExtra is added to the recording
// section (e.g. `, file_template: "…"`), extraConfig to the file.
func startServer(t *testing.T, extraConfig string, recordingExtra ...string) *harness {
	t.Helper()
	return startServerWith(t, serverOpts{extra: extraConfig, recording: strings.Join(recordingExtra, "")})
}

func startServerWith(t *testing.T, o serverOpts) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, recDir: filepath.Join(dir, "rec"), cfgPath: filepath.Join(dir, "recgate.yaml"), logs: &syncBuffer{}}
	if err := os.MkdirAll(h.recDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if o.readTimeout == "" {
		o.readTimeout = "2s"
	}
	cfg := fmt.Sprintf(`
agi: {listen: "127.0.0.1:0", read_timeout: %s%s}
http: {listen: "127.0.0.1:0"}
store: {path: %q}
recording: {dir: %q%s}
log: {level: debug}
%s`, o.readTimeout, o.agi, filepath.Join(dir, "recgate.db"), h.recDir, o.recording, o.extra)
	if err := os.WriteFile(h.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	createStore(t, filepath.Join(dir, "recgate.db"))
	h.importRules(e2eRules)
	c, err := LoadConfig(h.cfgPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.m = NewMain(c, h.cfgPath, &Env{Stdout: &syncBuffer{}, Stderr: h.logs})
	if err := h.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.m.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

// cli runs a recgate command against the harness's configuration.
func (h *harness) cli(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	var out, errb syncBuffer
	code = Run(context.Background(), append([]string{"--config", h.cfgPath}, args...), Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	return out.String(), errb.String(), code
}

func (h *harness) importRules(yaml string) {
	h.t.Helper()
	p := filepath.Join(h.dir, fmt.Sprintf("rules-%d.yaml", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		h.t.Fatal(err)
	}
	// The harness replaces the rules whatever they were, as the test says:
	// --prune deletes what the new set leaves out, and the seed import
	// goes in before a rules_file is applied.
	if out, errs, code := h.cli("rules", "import", p, "--actor", "test", "--prune", "--override-rules-file"); code != 0 {
		h.t.Fatalf("rules import: exit %d: %s%s", code, out, errs)
	}
}

// transcript loads a captured Asterisk session.
func transcript(t *testing.T, name string) *agitest.Transcript {
	t.Helper()
	tr, err := agitest.LoadTranscript(filepath.Join("..", "..", "agi", "testdata", "transcripts", name+".raw"))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// call plays one FastAGI session against the server: the environment of
// transcript name with overrides, answered by a fake Asterisk 22 whose
// channel variables start as vars. It returns the fake (to read the
// variables recgate set) and the exact commands recgate sent.
func (h *harness) call(name string, overrides, vars map[string]string, tweak ...func(*agitest.Asterisk)) (*agitest.Asterisk, []string) {
	h.t.Helper()
	ast, cmds, err := h.tryCall(transcript(h.t, name), overrides, vars, tweak...)
	if err != nil {
		h.t.Fatal(err)
	}
	return ast, cmds
}

// tryCall is call for goroutines other than the test's: it returns the
// error instead of failing the test.
func (h *harness) tryCall(tr *agitest.Transcript, overrides, vars map[string]string, tweak ...func(*agitest.Asterisk)) (*agitest.Asterisk, []string, error) {
	env := tr.EnvMap()
	for k, v := range overrides {
		env[k] = v
	}
	ast := agitest.NewAsterisk(env)
	for k, v := range vars {
		ast.SetVar(k, v)
	}
	for _, f := range tweak {
		f(ast)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	peer, err := agitest.Dial(ctx, h.m.AGIAddr())
	if err != nil {
		return nil, nil, err
	}
	defer peer.Close()
	if err := peer.SendEnv(tr.EnvBlock(overrides)); err != nil {
		return nil, nil, err
	}
	if err := peer.Serve(ctx, ast.Respond); err != nil {
		return nil, nil, fmt.Errorf("session: %w", err)
	}
	return ast, peer.Commands(), nil
}

// recordings waits until the async metadata writer has stored a
// recording for uniqueid satisfying ok, and returns it.
func (h *harness) recording(uniqueid string, ok func(rules.Recording) bool) rules.Recording {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last []rules.Recording
	for time.Now().Before(deadline) {
		out, errs, code := h.cli("recordings", "list", "--json")
		if code != 0 {
			h.t.Fatalf("recordings list: %s", errs)
		}
		last = nil
		if err := json.Unmarshal([]byte(out), &last); err != nil {
			h.t.Fatalf("recordings list json: %v\n%s", err, out)
		}
		for _, r := range last {
			if r.UniqueID == uniqueid && ok(r) {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("no recording for %s matching; have %+v", uniqueid, last)
	return rules.Recording{}
}

func outbound(station, uniqueid string) map[string]string {
	return map[string]string{
		"agi_network_script": "decide?direction=outbound",
		"agi_request":        "agi://127.0.0.1:4573/decide?direction=outbound",
		"agi_channel":        "PJSIP/" + station + "-00000000",
		"agi_uniqueid":       uniqueid,
	}
}

func today(t *testing.T) string {
	return time.Now().Format("2006/01/02")
}

func TestDecideCommandsPerMode(t *testing.T) {
	h := startServer(t, "")
	tests := []struct {
		name     string
		station  string
		vars     map[string]string
		want     []string // exact commands; %REC% is the recordings dir, %DATE% today
		wantVars map[string]string
	}{
		{
			name:    "auto from the group's profile",
			station: "1001",
			want: []string{
				`EXEC MixMonitor "%REC%/%DATE%/1001_outbound_U1.wav,b"`,
				`SET VARIABLE "CHANNEL(hangup_handler_push)" "recgate-hangup,s,1"`,
				`EXEC MSet "RECGATE_FILE=%REC%/%DATE%/1001_outbound_U1.wav,RECGATE_DIRECTION=outbound,RECGATE_STATION=1001,RECGATE_RULE=group:sales,RECGATE_ANNOUNCE=no,RECGATE_DECISION=auto"`,
			},
			wantVars: map[string]string{"RECGATE_DECISION": "auto", "RECGATE_RULE": "group:sales", "RECGATE_FILE": "%REC%/%DATE%/1001_outbound_U1.wav"},
		},
		{
			name:    "ondemand keeps existing features",
			station: "1002",
			vars:    map[string]string{"DYNAMIC_FEATURES": "myfeature"},
			want: []string{
				`GET VARIABLE "DYNAMIC_FEATURES"`,
				`SET VARIABLE "CHANNEL(hangup_handler_push)" "recgate-hangup,s,1"`,
				`EXEC MSet "DYNAMIC_FEATURES=myfeature#recgate_ondemand,RECGATE_DIRECTION=outbound,RECGATE_STATION=1002,RECGATE_RULE=station:1002,RECGATE_ANNOUNCE=yes,RECGATE_DECISION=ondemand"`,
			},
			wantVars: map[string]string{"RECGATE_DECISION": "ondemand", "DYNAMIC_FEATURES": "myfeature#recgate_ondemand", "RECGATE_ANNOUNCE": "yes"},
		},
		{
			name:    "off is one round trip",
			station: "1003",
			want: []string{
				`EXEC MSet "RECGATE_DIRECTION=outbound,RECGATE_STATION=1003,RECGATE_RULE=station:1003,RECGATE_ANNOUNCE=no,RECGATE_DECISION=off"`,
			},
			wantVars: map[string]string{"RECGATE_DECISION": "off"},
		},
		{
			name:    "unknown station gets the default",
			station: "7777",
			want: []string{
				`EXEC MSet "RECGATE_DIRECTION=outbound,RECGATE_STATION=7777,RECGATE_RULE=default,RECGATE_ANNOUNCE=no,RECGATE_DECISION=off"`,
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uid := fmt.Sprintf("U%d", i+1)
			ast, got := h.call("0016-arm", outbound(tt.station, uid), tt.vars)
			expand := func(s string) string {
				return strings.NewReplacer("%REC%", h.recDir, "%DATE%", today(t), "U1", uid).Replace(s)
			}
			var want []string
			for _, w := range tt.want {
				want = append(want, expand(w))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("commands:\n got %q\nwant %q", got, want)
			}
			for k, v := range tt.wantVars {
				if have, _ := ast.Var(k); have != expand(v) {
					t.Errorf("%s = %q, want %q", k, have, expand(v))
				}
			}
		})
	}
}

func TestDecideClassifiesWhenDirectionAbsent(t *testing.T) {
	h := startServer(t, "")
	base := map[string]string{"agi_network_script": "decide", "agi_channel": "PJSIP/1001-00000001", "agi_uniqueid": "C1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name      string
		env, vars map[string]string
		wantDir   string
		wantFetch bool // the IVR marker was fetched
	}{
		{"outbound context", with("agi_context", "from-internal", "agi_extension", "5551234"), nil, "outbound", true},
		{"internal: extension is a station", with("agi_context", "from-internal", "agi_extension", "2000"), nil, "internal", true},
		{"inbound context", with("agi_context", "from-trunk"), nil, "inbound_direct", true},
		{"IVR marker", with("agi_context", "from-trunk"), map[string]string{"RECGATE_VIA": "ivr"}, "inbound_queue", true},
		{"queue argument, no fetch", with("agi_network_script", "decide?queue=sales", "agi_context", "anything"), nil, "inbound_queue", false},
		{"unclassified", with("agi_context", "somewhere"), nil, "unclassified", true},
		{"bad direction argument is classified", with("agi_network_script", "decide?direction=sideways", "agi_context", "from-trunk"), nil, "inbound_direct", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ast, cmds := h.call("0016-arm", tt.env, tt.vars)
			if got, _ := ast.Var("RECGATE_DIRECTION"); got != tt.wantDir {
				t.Errorf("RECGATE_DIRECTION = %q, want %q (commands %q)", got, tt.wantDir, cmds)
			}
			fetched := len(cmds) > 0 && cmds[0] == `GET VARIABLE "RECGATE_VIA"`
			if fetched != tt.wantFetch {
				t.Errorf("marker fetched = %v, want %v (commands %q)", fetched, tt.wantFetch, cmds)
			}
			if tt.wantDir == "unclassified" {
				if rule, _ := ast.Var("RECGATE_RULE"); rule != "fallback" {
					t.Errorf("RECGATE_RULE = %q, want fallback", rule)
				}
			}
		})
	}
}

func TestStationFromArgumentsAndChannel(t *testing.T) {
	h := startServer(t, "")
	tests := []struct {
		name      string
		overrides map[string]string
		want      string
	}{
		{"query", map[string]string{"agi_network_script": "decide?direction=outbound&station=1003", "agi_channel": "Local/x@y-1;2"}, "1003"},
		{"agi_arg key=value", map[string]string{"agi_network_script": "decide", "agi_arg_1": "direction=outbound", "agi_arg_2": "station=1003", "agi_channel": "Local/x@y-1;2"}, "1003"},
		{"Local channel", map[string]string{"agi_network_script": "decide?direction=outbound", "agi_channel": "Local/1003@from-internal-00000aa4;2"}, "1003"},
		{"hostile channel", map[string]string{"agi_network_script": "decide?direction=outbound", "agi_channel": "PJSIP/../x-00000001"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ast, _ := h.call("0016-arm", tt.overrides, nil)
			if got, _ := ast.Var("RECGATE_STATION"); got != tt.want {
				t.Errorf("RECGATE_STATION = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestImportChangesNextCall: a rules import committed while the server
// runs (another process's connection) decides the very next call.
func TestImportChangesNextCall(t *testing.T) {
	h := startServer(t, "")
	ast, _ := h.call("0016-arm", outbound("1003", "I1"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "off" {
		t.Fatalf("before: %q", d)
	}
	h.importRules(strings.Replace(e2eRules, `outbound: off}`, `outbound: auto}`, 1))
	ast, _ = h.call("0016-arm", outbound("1003", "I2"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
		t.Fatalf("after import: RECGATE_DECISION = %q, want auto", d)
	}
	if _, _, code := h.cli("rule", "set", "1003", "outbound", "ondemand", "--actor", "test"); code != 0 {
		t.Fatal("rule set failed")
	}
	ast, _ = h.call("0016-arm", outbound("1003", "I3"), nil)
	if d, _ := ast.Var("RECGATE_DECISION"); d != "ondemand" {
		t.Fatalf("after rule set: RECGATE_DECISION = %q, want ondemand", d)
	}
}

// TestProtocolQuirks replays the transcripts' awkward behaviour against a
// real decide: an unsolicited HANGUP (idle, and before a reply) must not
// shift replies; the session still completes.
func TestProtocolQuirks(t *testing.T) {
	h := startServer(t, "")
	for _, before := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("HANGUP before reply %d", before), func(t *testing.T) {
			uid := fmt.Sprintf("H%d", before)
			ast, cmds := h.call("0016-arm", outbound("1001", uid), nil, func(a *agitest.Asterisk) { a.HangupBefore = before })
			if len(cmds) != 3 {
				t.Fatalf("commands %q, want 3", cmds)
			}
			if d, _ := ast.Var("RECGATE_DECISION"); d != "auto" {
				t.Errorf("RECGATE_DECISION = %q, want auto", d)
			}
		})
	}
	t.Run("unknown request path", func(t *testing.T) {
		ast, cmds := h.call("0001-probe", map[string]string{"agi_network_script": "probe?x=1"}, nil)
		if d, _ := ast.Var("RECGATE_DECISION"); d != "error" || len(cmds) != 1 {
			t.Errorf("RECGATE_DECISION = %q after %q, want error in one command", d, cmds)
		}
		if !strings.Contains(h.logs.String(), "unknown request path") {
			t.Error("no log line for the unknown path")
		}
	})
	t.Run("MixMonitor missing", func(t *testing.T) {
		// A fake without MixMonitor answers -2, as Asterisk does for a missing application.
		tr := transcript(t, "0016-arm")
		env := outbound("1001", "M1")
		ast := agitest.NewAsterisk(env)
		respond := func(cmd string) []string {
			if strings.HasPrefix(cmd, "EXEC MixMonitor") {
				return []string{"200 result=-2"}
			}
			return ast.Respond(cmd)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		peer, err := agitest.Dial(ctx, h.m.AGIAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		if err := peer.SendEnv(tr.EnvBlock(env)); err != nil {
			t.Fatal(err)
		}
		if err := peer.Serve(ctx, respond); err != nil {
			t.Fatal(err)
		}
		if d, _ := ast.Var("RECGATE_DECISION"); d != "error" {
			t.Errorf("RECGATE_DECISION = %q, want error so the dialplan fails open", d)
		}
	})
}

// TestHostileCallerData: caller id, DID, queue and channel full of
// characters that mean something to Asterisk or a shell never reach
// MixMonitor's option or command fields, never add a command, and the
// file stays under recording.dir.
func TestHostileCallerData(t *testing.T) {
	h := startServer(t, "", `, file_template: "{{.CallerID}}/{{.DID}}_{{.Queue}}_{{.Station}}_{{.UniqueID}}.wav"`)
	hostile := "../a,b(c)|d$e{f}^g\"h\\i\nEXEC System rm -rf /'"
	for i, field := range []string{"agi_callerid", "agi_dnid", "queue", "agi_uniqueid"} {
		t.Run(field, func(t *testing.T) {
			o := outbound("1001", fmt.Sprintf("X%d", i))
			value := strings.ReplaceAll(hostile, "\n", " ") // an env line cannot hold a newline
			switch field {
			case "queue":
				o["agi_network_script"] = "decide?direction=outbound&queue=" + urlEscape(hostile)
			default:
				o[field] = value
			}
			_, cmds := h.call("0016-arm", o, nil)
			if len(cmds) != 3 {
				t.Fatalf("commands %q, want exactly 3", cmds)
			}
			args := agitest.ParseArgs(cmds[0])
			if len(args) != 3 || args[0] != "EXEC" || args[1] != "MixMonitor" {
				t.Fatalf("first command %q is not one EXEC MixMonitor argument", cmds[0])
			}
			file, opts, _ := strings.Cut(args[2], ",")
			if opts != "b" {
				t.Errorf("MixMonitor options %q, want b", opts)
			}
			if !strings.HasPrefix(file, h.recDir+"/") || filepath.Clean(file) != file || strings.Contains(file, "..") {
				t.Errorf("file %q leaves %s", file, h.recDir)
			}
			if regexp.MustCompile(`[^A-Za-z0-9._+/-]`).MatchString(file) {
				t.Errorf("file %q holds a character outside [A-Za-z0-9._+-/]", file)
			}
			for _, c := range cmds {
				if strings.ContainsAny(c, "$\n{}|^'\\") || strings.Count(c, `"`) != strings.Count(cmds[0], `"`) && strings.HasPrefix(c, "EXEC") {
					t.Errorf("command %q carries a caller's special character", c)
				}
				if n := len(agitest.ParseArgs(c)); strings.HasPrefix(c, "EXEC") && n != 3 {
					t.Errorf("command %q splits into %d arguments, want 3", c, n)
				}
			}
		})
	}
}

func urlEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
