package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/internal/asterisktest"
	"github.com/recgate/recgate/loadgen"
)

// TestPBXBench measures recgate on a real call's setup (docs/pbx-tests.md):
//
//  1. recgate's cost: the time from a station's INVITE to the 180 Ringing it
//     gets back (the dialplan asks recgate before Dial()), over
//     RECGATE_PBX_BENCH calls each, for a recorded call (1001, auto) with
//     recgate answering in one command and the dialplan acting
//     (RECGATE_ACT=dialplan, the shipped default), with recgate acting
//     itself in three (RECGATE_ACT=recgate), and with the same dialplan
//     answered by a bare FastAGI responder (loadgen's, one command, the
//     shape of an "off" decision). The three alternate in four rounds in
//     one run, so the machine's noise hits them alike.
//  2. the call rate one Asterisk sustains through recgate: calls recorded
//     (auto: MixMonitor, hangup handler) and calls decided off at rising
//     rates, with the bare responder as the reference, until the setup
//     time's mean doubles or calls fail.
//
// It is a measurement, not a check: it fails only when calls cannot be
// placed at all. Run it with `make pbx-bench` (RECGATE_PBX_BENCH=200).
func TestPBXBench(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RECGATE_PBX_BENCH"))
	if n <= 0 {
		t.Skip("measurement: set RECGATE_PBX_BENCH=200 (make pbx-bench) to measure recgate's cost on call setup on the real Asterisk")
	}
	asterisktest.FindLab(t)
	e := startPBX(t, asterisktest.Options{}, pbxOptions{})
	e.m.level.Set(slog.LevelInfo) // the e2e harness logs at debug
	ctx := context.Background()
	mix, err := loadgen.ParseMix("1")
	if err != nil {
		t.Fatal(err)
	}
	bare, bareAddr, err := loadgen.ListenBare(ctx, mix, loadgen.Mix{}, loadgen.Mix{})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()

	// run places calls from station at rate through the dialplan asking
	// agiAddr, and returns the INVITE-to-ringing times.
	run := func(agiAddr, act, station string, calls int, rate float64) ([]time.Duration, error) {
		if _, err := e.pbx.CLI(ctx, "dialplan set global RECGATE agi://"+agiAddr); err != nil {
			return nil, err
		}
		if _, err := e.pbx.CLI(ctx, "dialplan set global RECGATE_ACT "+act); err != nil {
			return nil, err
		}
		timeout := time.Duration(float64(calls)/rate*float64(time.Second)) + 30*time.Second
		callee := e.pbx.Answer(t, asterisktest.Party{Name: "customer", IP: asterisktest.TrunkIP, Port: e.pbx.TrunkPort, Calls: calls, Timeout: timeout})
		caller := e.pbx.Call(t, asterisktest.Party{Name: station, Dial: "0301234567", User: station, AuthUser: station,
			AuthSecret: e.pbx.Secrets[station], Steps: []asterisktest.Step{asterisktest.Pause(time.Second)},
			Calls: calls, Rate: rate, Timeout: timeout, MeasureRinging: true})
		errCaller, errCallee := caller.Wait(timeout+10*time.Second), callee.Wait(timeout+10*time.Second)
		rings, err := caller.Ringing()
		if err != nil {
			return nil, err
		}
		if errCaller != nil || errCallee != nil || len(rings) < calls {
			return rings, fmt.Errorf("%d of %d calls rang (caller: %v, callee: %v)", len(rings), calls, errCaller, errCallee)
		}
		return rings, nil
	}

	// 1. A recorded call (station 1001, auto) with recgate answering in
	// one command (the dialplan acts), with recgate acting in three, and
	// the bare responder.
	const rounds, rate = 4, 10
	per := max(n/rounds, 10)
	setups := []struct {
		name, act string
		bare      bool
		rings     []time.Duration
	}{
		{name: "bare responder (1 command)", act: "dialplan", bare: true},
		{name: "recgate, act=dialplan (1 command)", act: "dialplan"},
		{name: "recgate, act=recgate (3 commands)", act: "recgate"},
	}
	for r := range rounds {
		for k := range setups {
			sd := &setups[(k+r)%len(setups)] // each round starts with the next one
			addr := e.m.AGIAddr()
			if sd.bare {
				addr = bareAddr
			}
			rings, err := run(addr, sd.act, "1001", per, rate)
			if err != nil {
				t.Fatalf("%s round %d: %v", sd.name, r, err)
			}
			sd.rings = append(sd.rings, rings...)
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "INVITE to 180 Ringing of a recorded call (1001, auto), %d calls each at %d calls/s, %d alternating rounds:\n", len(setups[0].rings), rate, rounds)
	// SIPp's clock ticks in 4 ms steps on this kernel: single times are
	// coarse, their mean (random phase) is not. Hence mean ± 95% interval.
	fmt.Fprintf(&report, "  %-36s %16s %8s %8s\n", "FastAGI server", "mean ± 95%", "p95", "p99")
	for _, sd := range setups {
		fmt.Fprintf(&report, "  %-36s %8s ± %5.2f %8s %8s\n", sd.name, fmtMS(mean(sd.rings)), float64(ci95(sd.rings))/1e6, fmtMS(pct(sd.rings, 95)), fmtMS(pct(sd.rings, 99)))
	}
	bareRings := setups[0].rings
	for _, sd := range setups[1:] {
		fmt.Fprintf(&report, "  %s - bare: %+.2f ms ± %.2f on the mean (x%.2f), p95 x%.2f\n", sd.name,
			float64(mean(sd.rings)-mean(bareRings))/1e6, float64(ci95(sd.rings)+ci95(bareRings))/1e6,
			ratio(mean(sd.rings), mean(bareRings)), ratio(pct(sd.rings, 95), pct(bareRings, 95)))
	}

	// 2. Rising rates, 5 s each: recgate recording every call (1001:
	// auto, MixMonitor and hangup handler), recgate deciding off (1003),
	// and the bare responder (1003) as the reference for Asterisk alone.
	fmt.Fprintf(&report, "calls of 1 s at rising rates, mean INVITE to ringing (p95):\n")
	sides := []struct {
		name, act, station string
		bare               bool
	}{
		{"recgate, 1001 auto, 1 cmd", "dialplan", "1001", false},
		{"recgate, 1001 auto, 3 cmds", "recgate", "1001", false},
		{"recgate, 1003 off", "dialplan", "1003", false},
		{"bare, 1003", "dialplan", "1003", true},
	}
	fmt.Fprintf(&report, "  %8s", "calls/s")
	for _, sd := range sides {
		fmt.Fprintf(&report, " %24s", sd.name)
	}
	fmt.Fprintln(&report)
	base := make([]time.Duration, len(sides)) // the lower mean of the first two rates
	sustained := make([]float64, len(sides))
	stopped := make([]bool, len(sides))
	for i, r := range []float64{5, 10, 20, 40, 80, 120} {
		fmt.Fprintf(&report, "  %8.0f", r)
		for j, sd := range sides {
			if stopped[j] {
				fmt.Fprintf(&report, " %24s", "-")
				continue
			}
			addr := e.m.AGIAddr()
			if sd.bare {
				addr = bareAddr
			}
			rings, err := run(addr, sd.act, sd.station, int(r*5), r)
			m := mean(rings)
			if i < 2 && (base[j] == 0 || m < base[j]) {
				base[j] = m
			}
			cell := fmt.Sprintf("%s (%s)", fmtMS(m), fmtMS(pct(rings, 95)))
			switch {
			case err != nil:
				cell, stopped[j] = "calls failed", true
				t.Logf("%s at %.0f calls/s: %v", sd.name, r, err)
			case i >= 2 && m > 2*base[j]+4*time.Millisecond:
				cell, stopped[j] = cell+" slow", true
			default:
				sustained[j] = r
			}
			fmt.Fprintf(&report, " %24s", cell)
		}
		fmt.Fprintln(&report)
	}
	fmt.Fprintf(&report, "  %8s", "sustained")
	for j := range sides {
		fmt.Fprintf(&report, " %24s", fmt.Sprintf("%.0f calls/s", sustained[j]))
	}
	fmt.Fprintln(&report, "\n  (slow: mean over twice the low-rate mean + one 4 ms tick; the next rates are skipped)")
	t.Log("\n" + report.String())
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func mean(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

// ci95 is the half-width of the mean's 95% confidence interval.
func ci95(d []time.Duration) time.Duration {
	if len(d) < 2 {
		return 0
	}
	m := float64(mean(d))
	var ss float64
	for _, x := range d {
		ss += (float64(x) - m) * (float64(x) - m)
	}
	return time.Duration(1.96 * math.Sqrt(ss/float64(len(d)-1)/float64(len(d))))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func fmtMS(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }
