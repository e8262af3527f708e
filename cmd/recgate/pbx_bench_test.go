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
//     RECGATE_PBX_BENCH calls, with recgate deciding versus the same
//     dialplan answered by a bare FastAGI responder (loadgen's, one
//     command, the shape of an "off" decision). The two alternate in four
//     rounds in one run, so the machine's noise hits both alike.
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
	run := func(agiAddr, station string, calls int, rate float64) ([]time.Duration, error) {
		if _, err := e.pbx.CLI(ctx, "dialplan set global RECGATE agi://"+agiAddr); err != nil {
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

	// 1. recgate (station 1003, rule off: one command) against bare.
	const rounds, rate = 4, 10
	per := max(n/rounds, 10)
	var withRecgate, withBare []time.Duration
	for r := range rounds {
		order := []string{"recgate", "bare"}
		if r%2 == 1 {
			order = []string{"bare", "recgate"}
		}
		for _, side := range order {
			addr := e.m.AGIAddr()
			if side == "bare" {
				addr = bareAddr
			}
			rings, err := run(addr, "1003", per, rate)
			if err != nil {
				t.Fatalf("%s round %d: %v", side, r, err)
			}
			if side == "bare" {
				withBare = append(withBare, rings...)
			} else {
				withRecgate = append(withRecgate, rings...)
			}
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "INVITE to 180 Ringing, %d calls each at %d calls/s, %d alternating rounds:\n", len(withRecgate), rate, rounds)
	// SIPp's clock ticks in 4 ms steps on this kernel: single times are
	// coarse, their mean (random phase) is not. Hence mean ± 95% interval.
	fmt.Fprintf(&report, "  %-34s %16s %8s %8s\n", "FastAGI server", "mean ± 95%", "p95", "p99")
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"bare responder (1 command)", withBare}, {"recgate (decision off, 1 command)", withRecgate}} {
		fmt.Fprintf(&report, "  %-34s %8s ± %5.2f %8s %8s\n", row.name, fmtMS(mean(row.d)), float64(ci95(row.d))/1e6, fmtMS(pct(row.d, 95)), fmtMS(pct(row.d, 99)))
	}
	fmt.Fprintf(&report, "  recgate - bare: %+.2f ms ± %.2f on the mean (x%.2f), p95 x%.2f\n",
		float64(mean(withRecgate)-mean(withBare))/1e6, float64(ci95(withRecgate)+ci95(withBare))/1e6,
		ratio(mean(withRecgate), mean(withBare)), ratio(pct(withRecgate, 95), pct(withBare, 95)))

	// 2. Rising rates, 5 s each: recgate recording every call (1001:
	// auto, MixMonitor and hangup handler), recgate deciding off (1003),
	// and the bare responder (1003) as the reference for Asterisk alone.
	fmt.Fprintf(&report, "calls of 1 s at rising rates, mean INVITE to ringing (p95):\n")
	sides := []struct {
		name, station string
		bare          bool
	}{{"recgate, 1001 auto", "1001", false}, {"recgate, 1003 off", "1003", false}, {"bare, 1003", "1003", true}}
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
			rings, err := run(addr, sd.station, int(r*5), r)
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
