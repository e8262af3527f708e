package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/agi/agitest"
	"github.com/recgate/recgate/rules"
)

// press is the *2 session (transcript 0019: features.conf applicationmap
// → Gosub → AGI) on the channel with uniqueid.
func (h *harness) press(station, uniqueid string) (*agitest.Asterisk, []string) {
	return h.call("0019-ondemand", map[string]string{
		"agi_network_script": "ondemand",
		"agi_request":        "agi://127.0.0.1:4573/ondemand",
		"agi_channel":        "PJSIP/" + station + "-00000004",
		"agi_uniqueid":       uniqueid,
	}, nil)
}

// hangup is the hangup handler's session (transcript 0004: a dead
// channel) for the channel with uniqueid.
func (h *harness) hangup(station, uniqueid string, vars map[string]string) (*agitest.Asterisk, []string) {
	return h.call("0004-dead", map[string]string{
		"agi_network_script": "hangup",
		"agi_request":        "agi://127.0.0.1:4573/hangup",
		"agi_channel":        "PJSIP/" + station + "-00000004",
		"agi_uniqueid":       uniqueid,
	}, vars, func(a *agitest.Asterisk) { a.Dead = true })
}

// wavHeader is the 44-byte WAV header MixMonitor writes before any audio.
func wavHeader() []byte {
	h := make([]byte, 44)
	copy(h, "RIFF")
	copy(h[8:], "WAVEfmt ")
	copy(h[36:], "data")
	return h
}

func countMixMonitor(cmds []string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, "EXEC MixMonitor ") {
			n++
		}
	}
	return n
}

func TestOnDemand(t *testing.T) {
	h := startServer(t, "")

	t.Run("armed press records once; a second press starts nothing", func(t *testing.T) {
		h.call("0016-arm", outbound("1002", "OD1"), nil)
		ast, cmds := h.press("1002", "OD1")
		if countMixMonitor(cmds) != 1 {
			t.Fatalf("first press: commands %q, want one MixMonitor", cmds)
		}
		if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "started" {
			t.Errorf("RECGATE_ONDEMAND = %q", r)
		}
		file, _ := ast.Var("RECGATE_FILE")
		if !strings.HasPrefix(file, h.recDir) || !strings.HasSuffix(file, "1002_outbound_OD1.wav") {
			t.Errorf("RECGATE_FILE = %q", file)
		}
		ast, cmds = h.press("1002", "OD1")
		if countMixMonitor(cmds) != 0 {
			t.Fatalf("second press: commands %q, want no MixMonitor", cmds)
		}
		if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "already_recording" {
			t.Errorf("second press RECGATE_ONDEMAND = %q", r)
		}
		rec := h.recording("OD1", func(r rules.Recording) bool { return r.State == rules.StateRecording })
		if rec.Trigger != rules.TriggerOnDemand || rec.PressedAt == nil || rec.ArmedAt == nil || rec.File != file {
			t.Errorf("metadata after press: %+v", rec)
		}
	})

	t.Run("unarmed press starts nothing", func(t *testing.T) {
		ast, cmds := h.press("1001", "OD-none")
		if countMixMonitor(cmds) != 0 {
			t.Fatalf("commands %q", cmds)
		}
		if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "not_armed" {
			t.Errorf("RECGATE_ONDEMAND = %q", r)
		}
		if !strings.Contains(h.logs.String(), "decide did not arm on-demand recording on this channel") {
			t.Error("the log does not say why nothing started")
		}
	})

	t.Run("rule changed to off between arming and pressing", func(t *testing.T) {
		h.call("0016-arm", outbound("1002", "OD2"), nil)
		if _, errs, code := h.cli("rule", "set", "1002", "outbound", "off", "--actor", "test"); code != 0 {
			t.Fatal(errs)
		}
		defer h.cli("rule", "set", "1002", "outbound", "ondemand", "--actor", "test")
		ast, cmds := h.press("1002", "OD2")
		if countMixMonitor(cmds) != 0 {
			t.Fatalf("commands %q, want none", cmds)
		}
		if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "not_allowed" {
			t.Errorf("RECGATE_ONDEMAND = %q", r)
		}
	})

	t.Run("auto call then *2: no second recording", func(t *testing.T) {
		_, cmds := h.call("0016-arm", outbound("1001", "OD3"), nil)
		if countMixMonitor(cmds) != 1 {
			t.Fatalf("auto decide: %q", cmds)
		}
		ast, cmds := h.press("1001", "OD3")
		if countMixMonitor(cmds) != 0 {
			t.Fatalf("press on an auto call: %q", cmds)
		}
		if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "already_recording" {
			t.Errorf("RECGATE_ONDEMAND = %q", r)
		}
	})

	t.Run("decide twice on an auto channel makes no second file", func(t *testing.T) {
		h.call("0016-arm", outbound("1001", "OD4"), nil)
		ast, cmds := h.call("0016-arm", outbound("1001", "OD4"), nil)
		if countMixMonitor(cmds) != 0 {
			t.Fatalf("second decide: %q", cmds)
		}
		if f, _ := ast.Var("RECGATE_FILE"); !strings.HasSuffix(f, "1001_outbound_OD4.wav") {
			t.Errorf("RECGATE_FILE = %q", f)
		}
	})
}

func TestHangup(t *testing.T) {
	h := startServer(t, "")

	t.Run("answered outbound recording is closed", func(t *testing.T) {
		h.call("0016-arm", outbound("1001", "HG1"), nil)
		_, cmds := h.hangup("1001", "HG1", map[string]string{"DIALSTATUS": "ANSWER"})
		if len(cmds) != 1 || cmds[0] != `GET FULL VARIABLE "${DIALSTATUS}|${CHANNEL(state)}"` {
			t.Fatalf("commands %q", cmds)
		}
		rec := h.recording("HG1", func(r rules.Recording) bool { return r.EndedAt != nil })
		if rec.State != rules.StateEnded || rec.Answered == nil || !*rec.Answered || rec.Trigger != rules.TriggerAuto {
			t.Errorf("metadata %+v", rec)
		}
	})

	t.Run("unanswered outbound: header-only file removed", func(t *testing.T) {
		ast, _ := h.call("0016-arm", outbound("1001", "HG2"), nil)
		file, _ := ast.Var("RECGATE_FILE")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, wavHeader(), 0o644); err != nil { // what MixMonitor b leaves
			t.Fatal(err)
		}
		h.hangup("1001", "HG2", map[string]string{"DIALSTATUS": "BUSY"})
		// Removed once MixMonitor has closed the file, a moment later.
		rec := h.recording("HG2", func(r rules.Recording) bool { return r.State == rules.StateRemoved })
		if rec.State != rules.StateRemoved || rec.Answered == nil || *rec.Answered {
			t.Errorf("metadata %+v", rec)
		}
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("header-only file still there: %v", err)
		}
	})

	t.Run("transferred callee without DIALSTATUS keeps its recording", func(t *testing.T) {
		// [recgate-transfer] decides with direction=outbound on the called
		// station's channel, which never ran Dial: no DIALSTATUS.
		ast, _ := h.call("0016-arm", outbound("1001", "HG6"), nil)
		file, _ := ast.Var("RECGATE_FILE")
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		audio := append(wavHeader(), make([]byte, 4<<20)...)
		if err := os.WriteFile(file, audio, 0o644); err != nil {
			t.Fatal(err)
		}
		h.hangup("1001", "HG6", map[string]string{"CHANNEL(state)": "Up"})
		rec := h.recording("HG6", func(r rules.Recording) bool { return r.EndedAt != nil })
		if rec.State != rules.StateEnded || rec.Answered == nil || !*rec.Answered {
			t.Errorf("metadata %+v, want ended and answered", rec)
		}
		time.Sleep(4 * time.Second) // past the check for an empty file
		if fi, err := os.Stat(file); err != nil || fi.Size() != int64(len(audio)) {
			t.Errorf("the recording of an answered leg was touched: %v", err)
		}
	})

	t.Run("inbound legs are answered by definition", func(t *testing.T) {
		o := outbound("1001", "HG3")
		o["agi_network_script"] = "decide?direction=inbound_queue&queue=sales"
		h.call("0023-agentleg", o, nil)
		_, cmds := h.hangup("1001", "HG3", nil)
		if len(cmds) != 0 {
			t.Errorf("commands %q, want none (DIALSTATUS is empty on callee legs)", cmds)
		}
		rec := h.recording("HG3", func(r rules.Recording) bool { return r.EndedAt != nil })
		if rec.Answered == nil || !*rec.Answered || rec.Queue != "sales" || rec.Direction != rules.InboundQueue {
			t.Errorf("metadata %+v", rec)
		}
	})

	t.Run("armed, never pressed", func(t *testing.T) {
		h.call("0016-arm", outbound("1002", "HG4"), nil)
		h.hangup("1002", "HG4", map[string]string{"DIALSTATUS": "ANSWER"})
		rec := h.recording("HG4", func(r rules.Recording) bool { return r.EndedAt != nil })
		if rec.State != rules.StateNotActivated || rec.File != "" {
			t.Errorf("metadata %+v", rec)
		}
	})

	t.Run("no recording: nothing to do", func(t *testing.T) {
		_, cmds := h.hangup("1003", "HG5", nil)
		if len(cmds) != 0 {
			t.Errorf("commands %q", cmds)
		}
	})
}

// TestUnclassifiedCallsAreRecordedInTheStore: a call no rule can classify
// gets the fallback mode. When that mode records or arms, the recording's
// metadata must reach the store (its direction stays unknown there, as the
// schema allows), and a *2 press is judged by the fallback that armed it.
func TestUnclassifiedCallsAreRecordedInTheStore(t *testing.T) {
	for _, fallback := range []string{"auto", "ondemand"} {
		t.Run(fallback, func(t *testing.T) {
			h := startServer(t, "fallback: "+fallback+"\n")
			uid := "U-" + fallback
			ast, cmds := h.call("0016-arm", map[string]string{
				"agi_network_script": "decide", "agi_context": "somewhere",
				"agi_channel": "PJSIP/1001-00000001", "agi_uniqueid": uid,
			}, nil)
			if d, _ := ast.Var("RECGATE_DIRECTION"); d != "unclassified" {
				t.Fatalf("RECGATE_DIRECTION = %q, want unclassified (commands %q)", d, cmds)
			}
			if fallback == "ondemand" {
				ast, cmds = h.press("1001", uid)
				if r, _ := ast.Var("RECGATE_ONDEMAND"); r != "started" || countMixMonitor(cmds) != 1 {
					t.Fatalf("press on an unclassified armed call: RECGATE_ONDEMAND = %q, commands %q", r, cmds)
				}
			}
			rec := h.recording(uid, func(r rules.Recording) bool { return r.State == rules.StateRecording })
			if rec.Direction != "" || rec.Rule != "fallback" || rec.Station != "1001" {
				t.Errorf("stored recording %+v; want no direction, rule fallback, station 1001", rec)
			}
		})
	}
}

// TestRecordingsShowEscapesCallerData: values that came from the call
// (here a queue argument with an escape sequence and a tab) are stored as
// given but never printed raw on the operator's terminal.
func TestRecordingsShowEscapesCallerData(t *testing.T) {
	h := startServer(t, "")
	o := outbound("1001", "ESC1")
	o["agi_network_script"] = "decide?direction=outbound&queue=" + urlEscape("\x1b[31mred\tq")
	h.call("0016-arm", o, nil)
	rec := h.recording("ESC1", func(r rules.Recording) bool { return r.State == rules.StateRecording })
	if rec.Queue != "\x1b[31mred\tq" {
		t.Fatalf("stored queue %q, want it as given", rec.Queue)
	}
	out, errs, code := h.cli("recordings", "show", strconv.FormatInt(rec.ID, 10))
	if code != 0 {
		t.Fatalf("recordings show: exit %d: %s", code, errs)
	}
	if strings.ContainsAny(out, "\x1b") || !strings.Contains(out, `"\x1b[31mred\tq"`) {
		t.Errorf("recordings show printed the queue raw or not at all:\n%s", out)
	}
}

// TestDecideWithoutUniqueID: a request without agi_uniqueid cannot be told
// from another channel's; decide starts nothing and lets the dialplan fail
// open, and a second such call is not mistaken for the first.
func TestDecideWithoutUniqueID(t *testing.T) {
	h := startServer(t, "")
	for i := 0; i < 2; i++ {
		ast, cmds := h.call("0016-arm", outbound("1001", ""), nil)
		if d, _ := ast.Var("RECGATE_DECISION"); d != "error" || countMixMonitor(cmds) != 0 {
			t.Errorf("call %d: RECGATE_DECISION = %q, commands %q; want error and no MixMonitor", i, d, cmds)
		}
	}
}
