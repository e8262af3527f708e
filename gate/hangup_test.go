package gate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// wavHeader is the 44-byte header MixMonitor writes before any audio: a
// call never bridged leaves only this.
func wavHeader(dataLen uint32) []byte {
	h := make([]byte, wavHeaderLen)
	copy(h[0:], "RIFF")
	copy(h[8:], "WAVEfmt ")
	copy(h[36:], "data")
	h[40], h[41], h[42], h[43] = byte(dataLen), byte(dataLen>>8), byte(dataLen>>16), byte(dataLen>>24)
	return h
}

func hangupEnv(station, uid string) map[string]string {
	return map[string]string{
		"agi_network": "yes", "agi_network_script": "hangup",
		"agi_request": "agi://127.0.0.1:4573/hangup",
		"agi_channel": "PJSIP/" + station + "-0000002a", "agi_uniqueid": uid,
	}
}

// waitRecording waits until the stored recording uid satisfies ok.
func (g *testGate) waitRecording(t *testing.T, uid string, ok func(rules.Recording) bool) rules.Recording {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := g.recs.RecordingByUniqueID(context.Background(), uid)
		if err == nil && ok(*r) {
			return *r
		}
		if time.Now().After(deadline) {
			t.Fatalf("recording %s never reached the expected state; last %+v (%v)", uid, r, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHangupKeepsWhatMayHoldAudio: the hangup handler decides what to
// remove from what Asterisk reports, never from an absent DIALSTATUS. The
// called station after a transfer (decided with direction=outbound on a
// channel that never ran Dial) and a fallback recording have no
// DIALSTATUS at all; their files are kept. Only a file that provably
// holds no audio is removed, once MixMonitor has closed it.
func TestHangupKeepsWhatMayHoldAudio(t *testing.T) {
	audio := append(wavHeader(4<<20), make([]byte, 4<<20)...)
	tests := []struct {
		name         string
		vars         map[string]string // the channel's, as Asterisk reports them
		file         []byte
		wantState    rules.RecordingState
		wantAnswered string // yes, no or unknown
	}{
		{"transferred callee up without DIALSTATUS", map[string]string{"CHANNEL(state)": "Up"}, audio, rules.StateEnded, "yes"},
		{"no DIALSTATUS and no state", nil, audio, rules.StateEnded, "unknown"},
		{"BUSY yet audio from a later transfer", map[string]string{"DIALSTATUS": "BUSY"}, audio, rules.StateEnded, "no"},
		{"NOANSWER header only", map[string]string{"DIALSTATUS": "NOANSWER", "CHANNEL(state)": "Ring"}, wavHeader(0), rules.StateRemoved, "no"},
		{"no DIALSTATUS header only", nil, wavHeader(0), rules.StateRemoved, "unknown"},
		{"CANCEL empty file", map[string]string{"DIALSTATUS": "CANCEL"}, nil, rules.StateRemoved, "no"},
		{"ANSWER header only kept", map[string]string{"DIALSTATUS": "ANSWER"}, wavHeader(0), rules.StateEnded, "yes"},
		{"header claiming data", map[string]string{"DIALSTATUS": "NOANSWER"}, wavHeader(320), rules.StateEnded, "no"},
	}
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			g := newTestGate(t, src, func(c *Config) {
				files, err := NewFileNamer(dir, "{{.Station}}_{{.UniqueID}}.wav")
				if err != nil {
					t.Fatal(err)
				}
				c.Files, c.RemoveUnanswered = files, true
			})
			uid := fmt.Sprintf("H%d", i)
			ast, _ := g.session(t, decideEnv("1001", uid))
			file, _ := ast.Var(VarFile)
			if filepath.Dir(file) != dir {
				t.Fatalf("RECGATE_FILE = %q, want a file in %s", file, dir)
			}
			if err := os.WriteFile(file, tc.file, 0o600); err != nil {
				t.Fatal(err)
			}
			env := hangupEnv("1001", uid)
			dead := agitest.NewAsterisk(env)
			dead.Dead = true
			for k, v := range tc.vars {
				dead.SetVar(k, v)
			}
			cmds := g.sessionWith(t, env, dead.Respond)
			if want := `GET FULL VARIABLE "${DIALSTATUS}|${CHANNEL(state)}"`; len(cmds) != 1 || cmds[0] != want {
				t.Errorf("hangup commands %q, want one %s", cmds, want)
			}
			rec := g.waitRecording(t, uid, func(r rules.Recording) bool {
				return r.EndedAt != nil && (tc.wantState != rules.StateRemoved || r.State == rules.StateRemoved)
			})
			if tc.wantState != rules.StateRemoved {
				// Give a wrong removal every chance to happen first.
				time.Sleep(50 * time.Millisecond)
				rec = g.waitRecording(t, uid, func(r rules.Recording) bool { return r.EndedAt != nil })
			}
			if rec.State != tc.wantState || fmtAnswered(rec.Answered) != tc.wantAnswered {
				t.Errorf("recording state %s answered %s, want %s answered %s", rec.State, fmtAnswered(rec.Answered), tc.wantState, tc.wantAnswered)
			}
			_, err := os.Stat(file)
			if removed := err != nil; removed != (tc.wantState == rules.StateRemoved) {
				t.Errorf("file removed = %v (%v), want %v", removed, err, tc.wantState == rules.StateRemoved)
			}
		})
	}
}

// TestHangupInboundNeedsNoRoundTrip: inbound legs were answered by
// definition; hangup asks Asterisk nothing for them.
func TestHangupInboundNeedsNoRoundTrip(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	g := newTestGate(t, src, nil)
	env := decideEnv("1001", "IN1")
	env["agi_network_script"] = "decide?direction=inbound_queue"
	g.session(t, env)
	env = hangupEnv("1001", "IN1")
	dead := agitest.NewAsterisk(env)
	dead.Dead = true
	if cmds := g.sessionWith(t, env, dead.Respond); len(cmds) != 0 {
		t.Errorf("commands %q, want none", cmds)
	}
	rec := g.waitRecording(t, "IN1", func(r rules.Recording) bool { return r.EndedAt != nil })
	if fmtAnswered(rec.Answered) != "yes" {
		t.Errorf("answered %s, want yes", fmtAnswered(rec.Answered))
	}
}

// TestSecondDecideAfterRestart: a channel decided by an earlier recgate
// (its uniqueid older than this one's start) is decided again. The store
// knows it, or Asterisk says it records (MIXMONITOR_FILENAME): either way
// no second MixMonitor starts and the first file stays the row's.
func TestSecondDecideAfterRestart(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	old := time.Now().Add(-time.Hour)
	uid := fmt.Sprintf("%d.7", old.Unix())
	first := "/rec/2026/11/24/1001_outbound_" + uid + ".wav"

	t.Run("the store knows it", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		g.recs.recs[uid] = rules.Recording{UniqueID: uid, Station: "1001", Direction: rules.Outbound, Mode: rules.Auto,
			State: rules.StateRecording, File: first, StartedAt: &old}
		ast, cmds := g.session(t, decideEnv("1001", uid))
		if n := countExec(cmds, "MixMonitor"); n != 0 {
			t.Errorf("commands %q: a second MixMonitor", cmds)
		}
		if f, _ := ast.Var(VarFile); f != first {
			t.Errorf("%s = %q, want the first file %q", VarFile, f, first)
		}
	})
	t.Run("only Asterisk knows it", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		env := decideEnv("1001", uid)
		ast := agitest.NewAsterisk(env)
		ast.SetVar("MIXMONITOR_FILENAME", first)
		cmds := g.sessionWith(t, env, ast.Respond)
		if n := countExec(cmds, "MixMonitor"); n != 0 {
			t.Errorf("commands %q: a second MixMonitor", cmds)
		}
		if f, _ := ast.Var(VarFile); f != first {
			t.Errorf("%s = %q, want the first file %q", VarFile, f, first)
		}
		if _, err := g.recs.RecordingByUniqueID(context.Background(), uid); err == nil {
			t.Error("a row was written for a recording recgate did not start")
		}
	})
	t.Run("a new channel costs no extra round trip", func(t *testing.T) {
		g := newTestGate(t, src, nil)
		_, cmds := g.session(t, decideEnv("1001", fmt.Sprintf("%d.8", time.Now().Add(time.Hour).Unix())))
		for _, c := range cmds {
			if strings.Contains(c, "MIXMONITOR_FILENAME") {
				t.Errorf("commands %q ask about MixMonitor on a channel started after recgate", cmds)
			}
		}
		if n := countExec(cmds, "MixMonitor"); n != 1 {
			t.Errorf("commands %q, want one MixMonitor", cmds)
		}
	})
}

func countExec(cmds []string, app string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, "EXEC "+app+" ") {
			n++
		}
	}
	return n
}

// TestTrackedCallsKeepBoundedCopies: a tracked call keeps its own bounded
// copies of the request's values, not the environment block they came
// from.
func TestTrackedCallsKeepBoundedCopies(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	g := newTestGate(t, src, nil)
	env := decideEnv("1001", "CL1")
	env["agi_callerid"] = strings.Repeat("5", 1500)
	env["agi_network_script"] = "decide?direction=outbound&queue=" + strings.Repeat("q", 1500)
	g.session(t, env)
	rec, ok := g.h.calls.get("CL1")
	if !ok {
		t.Fatal("call not tracked")
	}
	if len(rec.CallerID) > maxField || len(rec.Queue) > maxField {
		t.Errorf("tracked call keeps %d bytes of caller id and %d of queue, want at most %d", len(rec.CallerID), len(rec.Queue), maxField)
	}

	// A uniqueid longer than Asterisk makes could not be kept whole: the
	// dialplan's fail-open decides.
	ast, cmds := g.session(t, decideEnv("1001", strings.Repeat("7", maxField+1)))
	if d, _ := ast.Var(VarDecision); d != DecisionError || countExec(cmds, "MixMonitor") != 0 {
		t.Errorf("over-long uniqueid: %s = %q, commands %q; want error and no MixMonitor", VarDecision, d, cmds)
	}
	if n := g.h.calls.len(); n != 1 {
		t.Errorf("%d calls tracked, want 1", n)
	}
}

// TestCallerArgumentNamesTheCaller: on an inbound leg decide runs on the
// called station's channel, whose own caller id is the station's; the
// caller argument (the connected line, passed by the examples) is the
// number a recording and its file name carry.
func TestCallerArgumentNamesTheCaller(t *testing.T) {
	src := ruleFunc(func(context.Context) (*rules.RuleSet, error) { return salesRules(), nil })
	tests := []struct{ name, query, want string }{
		{"caller given", "&caller=48221234567", "48221234567"},
		{"caller empty", "&caller=", "1001"},
		{"no caller", "", "1001"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGate(t, src, nil)
			uid := "CA" + strconv.Itoa(i)
			env := decideEnv("1001", uid)
			env["agi_network_script"] += tt.query
			g.session(t, env)
			rec, ok := g.h.calls.get(uid)
			if !ok {
				t.Fatal("call not tracked")
			}
			if rec.CallerID != tt.want {
				t.Errorf("caller id %q, want %q", rec.CallerID, tt.want)
			}
		})
	}
}
