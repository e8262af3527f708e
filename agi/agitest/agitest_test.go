package agitest

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseTranscripts(t *testing.T) {
	files, _ := filepath.Glob("../testdata/transcripts/*.raw")
	if len(files) < 10 {
		t.Fatalf("found %d transcripts", len(files))
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := ParseTranscript(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(tr.Env) < 20 || len(tr.Exchanges) == 0 || tr.EnvMap()["agi_version"] != "22.10.1" {
			t.Errorf("%s: %d env lines, %d exchanges", name, len(tr.Env), len(tr.Exchanges))
		}
	}
}

func parse(t *testing.T, name string) *Transcript {
	t.Helper()
	f, err := os.Open(filepath.Join("../testdata/transcripts", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTranscript(f)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestParseTranscriptShapes(t *testing.T) {
	hold := parse(t, "0002-hold.raw")
	if !hold.Exchanges[0].HangupBefore || hold.Exchanges[0].HangupMid || hold.Exchanges[1].HangupBefore {
		t.Errorf("0002: HANGUP not placed before the first command: %+v", hold.Exchanges[:2])
	}
	block := parse(t, "0003-blockhold.raw")
	if e := block.Exchanges[1]; !e.HangupMid || e.HangupBefore || !slices.Equal(e.Reply, []string{"200 result=1 (preset)"}) {
		t.Errorf("0003: HANGUP not between command and reply: %+v", e)
	}
	probe := parse(t, "0001-probe.raw")
	var usage Exchange
	for _, e := range probe.Exchanges {
		if e.Command == "SET VARIABLE" {
			usage = e
		}
	}
	if len(usage.Reply) != 3 || !strings.HasPrefix(usage.Reply[0], "520-") {
		t.Errorf("0001-probe: 520 reply = %q", usage.Reply)
	}
	if got := probe.Commands(); len(got) != 15 || got[0] != `SET VARIABLE RECDECISION "auto"` {
		t.Errorf("0001-probe commands = %q", got)
	}

	for _, bad := range []string{"", "\n", "x: y\n\n", "agi_a: b\n\n200 result=0\n", "agi_a: b\n\n>>> NOOP\n"} {
		if _, err := ParseTranscript(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseTranscript(%q) succeeded", bad)
		}
	}
}

func TestEnvBlock(t *testing.T) {
	tr := parse(t, "0016-arm.raw")
	block := string(tr.EnvBlock(map[string]string{"agi_network_script": "decide?x=1", "agi_zzz": "new"}))
	if !strings.HasSuffix(block, "agi_arg_2: 2000\nagi_zzz: new\n\n") || !strings.Contains(block, "\nagi_network_script: decide?x=1\n") {
		t.Errorf("EnvBlock:\n%s", block)
	}
	if strings.Count(block, "agi_network_script") != 1 {
		t.Error("override duplicated the key")
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`SET VARIABLE RECDECISION "auto"`, []string{"SET", "VARIABLE", "RECDECISION", "auto"}},
		{`SET VARIABLE "X" "a b"`, []string{"SET", "VARIABLE", "X", "a b"}},
		{`EXEC StopMixMonitor ""`, []string{"EXEC", "StopMixMonitor", ""}},
		{`VERBOSE "a\"b\\c" 1`, []string{"VERBOSE", `a"b\c`, "1"}},
		{`X "a\nb"`, []string{"X", "anb"}},
		{`  A   B  `, []string{"A", "B"}},
		{"A\tB", []string{"A", "B"}},
		{`A "b"c`, []string{"A", "bc"}},
		{`A b\ c`, []string{"A", "b c"}},
		{``, nil},
	}
	for _, tt := range tests {
		if got := ParseArgs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ParseArgs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestAsterisk(t *testing.T) {
	tr := parse(t, "0023-agentleg.raw")
	a := NewAsterisk(tr.EnvMap())
	steps := []struct{ cmd, want string }{
		{`GET VARIABLE CHANNEL(endpoint)`, "200 result=1 (1003)"},
		{`GET VARIABLE "CHANNEL(name)"`, "200 result=1 (PJSIP/1003-0000000b)"},
		{`GET VARIABLE NOSUCHVAR`, "200 result=0"},
		{`SET VARIABLE "__DYNAMIC_FEATURES" "recgate_ondemand"`, "200 result=1"},
		{`GET VARIABLE DYNAMIC_FEATURES`, "200 result=1 (recgate_ondemand)"},
		{`EXEC MSet "A=1,B=2"`, "200 result=0"},
		{`GET FULL VARIABLE "${A}-${B}"`, "200 result=1 (1-2)"},
		{`EXEC Set "C=3"`, "200 result=0"},
		{`GET VARIABLE C`, "200 result=1 (3)"},
		{`EXEC MixMonitor "/tmp/a.wav,b"`, "200 result=0"},
		{`GET VARIABLE MIXMONITOR_FILENAME`, "200 result=1 (/tmp/a.wav)"},
		{`EXEC NoSuchApp "x"`, "200 result=-2"},
		{`FOO BAR`, ReplyInvalid},
		{`ANSWER`, "200 result=0"},
		{`VERBOSE "hi" 1`, "200 result=1"},
	}
	for _, s := range steps {
		if got := a.Respond(s.cmd); !slices.Equal(got, []string{s.want}) {
			t.Errorf("%s: %q, want %q", s.cmd, got, s.want)
		}
	}
	if got := a.Respond("SET VARIABLE"); len(got) != 3 || got[0][:4] != "520-" || got[2][:4] != "520 " {
		t.Errorf("bad SET: %q", got)
	}

	dead := NewAsterisk(nil)
	dead.Dead = true
	for cmd, want := range map[string]string{"ANSWER": ReplyDead, "WAIT FOR DIGIT 100": ReplyDead,
		`SET VARIABLE X "1"`: "200 result=1", "EXEC NoOp": "200 result=0", "NOOP": "200 result=0", "DATABASE GET a b": "200 result=0"} {
		if got := dead.Respond(cmd); !slices.Equal(got, []string{want}) {
			t.Errorf("dead %s: %q, want %q", cmd, got, want)
		}
	}

	h := NewAsterisk(nil)
	h.HangupBefore = 2
	h.Respond("ANSWER")
	if got := h.Respond("NOOP"); !slices.Equal(got, []string{"HANGUP", "200 result=0"}) {
		t.Errorf("injected hangup: %q", got)
	}
	if got := h.Respond("ANSWER"); !slices.Equal(got, []string{ReplyDead}) {
		t.Errorf("ANSWER after hangup: %q", got)
	}
}

func TestReplay(t *testing.T) {
	tr := parse(t, "0003-blockhold.raw")
	r := NewReplay(tr)
	r.Respond("WAIT FOR DIGIT 15000")
	if got := r.Respond(`GET VARIABLE "RECDECISION"`); !slices.Equal(got, []string{"HANGUP", "200 result=1 (preset)"}) {
		t.Errorf("replay reply = %q", got)
	}
	if r.Err() == nil {
		t.Error("Err() nil with a command not yet sent")
	}
	r.Respond(`EXEC NoOp "x"`)
	if err := r.Err(); err != nil {
		t.Error(err)
	}
	if got := r.Respond("NOOP"); !slices.Equal(got, []string{ReplyInvalid}) || r.Err() == nil {
		t.Errorf("extra command: %q, %v", got, r.Err())
	}

	wrong := NewReplay(tr)
	wrong.Respond("WAIT FOR DIGIT 1")
	if wrong.Err() == nil {
		t.Error("mismatched command not reported")
	}
}

// TestPeer drives a minimal hand-written server through Peer.
func TestPeer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tr := parse(t, "0016-arm.raw")
	got := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		n, _ := io.ReadAtLeast(c, buf, len(tr.EnvBlock(nil)))
		c.Write([]byte("GET VARIABLE UNIQUEID\n"))
		m, _ := c.Read(buf[n:])
		got <- string(buf[n : n+m])
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := Dial(ctx, l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SendEnv(tr.EnvBlock(nil)); err != nil {
		t.Fatal(err)
	}
	if err := p.Serve(ctx, NewAsterisk(tr.EnvMap()).Respond); err != nil {
		t.Fatal(err)
	}
	if reply := <-got; reply != "200 result=1 (1795511818.38)\n" {
		t.Errorf("server got %q", reply)
	}
	if cmds := p.Commands(); !slices.Equal(cmds, []string{"GET VARIABLE UNIQUEID"}) {
		t.Errorf("Commands = %q", cmds)
	}
}
