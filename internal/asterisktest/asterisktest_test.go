package asterisktest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestExamplesLoad starts Asterisk on the shipped examples and checks that
// what recgate relies on is loaded: the recgate contexts, the *2 feature,
// the stations with their test phones.
func TestExamplesLoad(t *testing.T) {
	lab := FindLab(t)
	port, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, lab, Options{RecgateAGI: fmt.Sprintf("127.0.0.1:%d", port)})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for cmd, want := range map[string]string{
		"dialplan show s@recgate-decide": "AGI(${LOCAL(req)})",
		"features show":                  "recgate_ondemand",
		"pjsip show endpoint 1001":       "recgate_ondemand",
		"pjsip show aor 1002":            fmt.Sprintf("sip:1002@127.0.0.1:%d", p.Phone("1002")),
		"dialplan show globals":          fmt.Sprintf("RECGATE=agi://127.0.0.1:%d", port),
		"queue show sales":               "PJSIP/1001",
		"module show like mixmonitor":    "app_mixmonitor",
	} {
		out, err := p.CLI(ctx, cmd)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, want) {
			t.Errorf("%s: no %q in\n%s", cmd, want, out)
		}
	}
}

// TestCallFailsOpen places a real call from 1001 to 1002 with nothing
// listening where recgate should be: the dialplan's fail-open branch lets
// it through.
func TestCallFailsOpen(t *testing.T) {
	lab := FindLab(t)
	port, err := FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, lab, Options{RecgateAGI: fmt.Sprintf("127.0.0.1:%d", port)})
	callee := p.Answer(t, Party{Name: "1002", Port: p.Phone("1002"), Steps: []Step{Audio()}})
	caller := p.Call(t, Party{Name: "1001", Dial: "1002", User: "1001", AuthUser: "1001", AuthSecret: p.Secrets["1001"],
		Steps: []Step{Audio(), Pause(1500 * time.Millisecond)}})
	if err := caller.Wait(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := callee.Wait(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Output(1<<20), "recgate: no decision") {
		t.Error("the fail-open warning is not in Asterisk's log")
	}
}
