package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestBenchAgainstRecgate runs `recgate bench` as the binary (it starts
// the bare responder as a child process of itself) against a real server
// in this process: both servers are measured, nothing fails, and recgate
// sent as many commands per session as its decisions need.
func TestBenchAgainstRecgate(t *testing.T) {
	h := startServer(t, "")
	bin := recgateBinary(t)
	out, err := exec.Command(bin, "bench", "--target", h.m.AGIAddr(), "-c", "4", "-n", "200",
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
		if s.Sessions != 200 || s.Errors.Total() != 0 {
			t.Errorf("%s: %d sessions, %d errors; want 200, 0", s.Server, s.Sessions, s.Errors.Total())
		}
	}
	// Stations 1000..1003: 1001 auto (3 commands), 1002 ondemand (3),
	// 1003 and 1000 off (1): between 1 and 3 per session on average.
	if c := rep.Recgate.CommandsPerSession; c <= 1 || c >= 3 {
		t.Errorf("recgate commands per session = %v", c)
	}
	if rep.Bare.CommandsPerSession != rep.Recgate.CommandsPerSession {
		t.Errorf("bare sent %v commands per session, recgate %v: the comparison must be like for like",
			rep.Bare.CommandsPerSession, rep.Recgate.CommandsPerSession)
	}
	if rep.ServerDecisions != 200 || rep.ServerDecisionP99 == nil {
		t.Errorf("server-side decisions %v (p99 %v), want 200 scraped", rep.ServerDecisions, rep.ServerDecisionP99)
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
