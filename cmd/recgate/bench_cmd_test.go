package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/rules"
)

// TestBenchAgainstRecgate runs `recgate bench` as the binary (it starts
// the bare responder as a child process of itself) against a real server
// in this process, both ways a dialplan can ask: both servers are
// measured, nothing fails, recgate sent as many commands per session as
// its decisions need, every call that pushed a hangup handler was hung up
// (so no recording is left open), and the bare responder got the same
// number of commands and hangup sessions.
func TestBenchAgainstRecgate(t *testing.T) {
	h := startServer(t, "")
	bin := recgateBinary(t)
	for _, act := range []string{"dialplan", "recgate"} {
		t.Run(act, func(t *testing.T) {
			rounds := map[string]string{"dialplan": "1", "recgate": "2"}[act] // measured in one go, and in two rounds added up
			out, err := exec.Command(bin, "bench", "--target", h.m.AGIAddr(), "-c", "4", "-n", "200", "--act", act, "--rounds", rounds,
				"--direction", "outbound", "--stations", "4", "--scrape", "http://"+h.m.HTTPAddr()+"/metrics", "--json").CombinedOutput()
			if err != nil {
				t.Fatalf("bench: %v\n%s", err, out)
			}
			var rep benchReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("bench --json: %v\n%s", err, out)
			}
			if rep.Recgate == nil || rep.Bare == nil || rep.Ratios == nil {
				t.Fatalf("report lacks a server or the ratios: %s", out)
			}
			for _, s := range []*serverReport{rep.Recgate, rep.Bare} {
				if s.Sessions != 200 || s.Errors.Total() != 0 || s.HangupErrors.Total() != 0 {
					t.Errorf("%s: %d sessions, %d errors, %d hangup errors; want 200, 0, 0", s.Server, s.Sessions, s.Errors.Total(), s.HangupErrors.Total())
				}
			}
			// Stations 1000..1003: 1001 auto, 1002 ondemand (3 commands
			// each when recgate acts, 1 with act=dialplan), 1003 and 1000
			// off (1): they push a hangup handler on about half the calls.
			c := rep.Recgate.CommandsPerSession
			if act == "dialplan" && c != 1 || act == "recgate" && (c <= 1 || c >= 3) {
				t.Errorf("recgate commands per session = %v", c)
			}
			if rep.Bare.CommandsPerSession != rep.Recgate.CommandsPerSession {
				t.Errorf("bare sent %v commands per session, recgate %v: the comparison must be like for like",
					rep.Bare.CommandsPerSession, rep.Recgate.CommandsPerSession)
			}
			if n := rep.Recgate.Hangups; n < 40 || n > 160 || rep.Bare.Hangups != n {
				t.Errorf("hangup sessions: recgate %d, bare %d; want about 100 each and equal", n, rep.Bare.Hangups)
			}
			if rep.ServerDecisions != 200 || rep.ServerDecisionP99 == nil {
				t.Errorf("server-side decisions %v (p99 %v), want 200 scraped", rep.ServerDecisions, rep.ServerDecisionP99)
			}
		})
	}
	// Every recording the runs started or armed was closed by its hangup.
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, errs, code := h.cli("recordings", "list", "--json")
		if code != 0 {
			t.Fatalf("recordings list: %s", errs)
		}
		var recs []rules.Recording
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			t.Fatal(err)
		}
		open := 0
		for _, r := range recs {
			if r.State == rules.StateRecording || r.State == rules.StateArmed {
				open++
			}
		}
		if len(recs) > 0 && open == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d recordings still open after the bench", open, len(recs))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestBenchRefusesNonLoopback(t *testing.T) {
	var out, errb syncBuffer
	code := Run(t.Context(), []string{"bench", "--target", "192.0.2.1:4573", "-n", "1"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != exitInvalid || !strings.Contains(errb.String(), "loopback") {
		t.Errorf("exit %d, stderr %q; want %d and a loopback refusal", code, errb.String(), exitInvalid)
	}
}

func TestBenchRefusesABadBareMix(t *testing.T) {
	for _, mix := range []string{"two", "65", "-1", "1/0"} {
		var out, errb syncBuffer
		code := Run(t.Context(), []string{"bench", "--bare-commands", mix, "-n", "1"}, Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
		if code != exitInvalid || !strings.Contains(errb.String(), "--bare-commands") {
			t.Errorf("--bare-commands %s: exit %d, stderr %q; want %d naming the flag", mix, code, errb.String(), exitInvalid)
		}
	}
}

// TestBenchHoldReadsRSSFromMetrics: the memory test finds the server by its
// metrics address (process_resident_memory_bytes), so it measures the
// right process when several servers run, with no pgrep.
func TestBenchHoldReadsRSSFromMetrics(t *testing.T) {
	h := startServer(t, "")
	url := "http://" + h.m.HTTPAddr() + "/metrics"
	var out, errb syncBuffer
	code := Run(t.Context(), []string{"bench", "--target", h.m.AGIAddr(), "--hold", "20", "--hold-for", "50ms", "--settle", "0", "--scrape", url},
		Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb})
	if code != exitOK {
		t.Fatalf("bench --hold: exit %d\n%s%s", code, out.String(), errb.String())
	}
	// "during" names how many sessions were open when it was read: on a
	// busy machine, not always all of them.
	for _, when := range []string{"before: ", "during (", "right after: "} {
		if !strings.Contains(out.String(), "rss of the server at "+url+" "+when) {
			t.Errorf("no RSS %s in:\n%s", when, out.String())
		}
	}
}
