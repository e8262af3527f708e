package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/recgate/recgate/internal/asterisktest"
	"github.com/recgate/recgate/loadgen"
)

// TestPBXDecideTime measures, inside Asterisk, how long a station's
// channel spends in the shipped [recgate-decide]: from just before its
// AGI() to the return, after the decision has been carried out (recording
// started, hangup handler pushed). STRFTIME's %6q gives microseconds,
// which SIPp's 4 ms clock (TestPBXBench) cannot. An unrecorded call
// (1003, off: one command) answered by the bare responder and by recgate,
// and a recorded call (1001, auto) with recgate answering in one command
// and the dialplan acting (RECGATE_ACT=dialplan) and with recgate acting
// itself in three commands (RECGATE_ACT=recgate); RECGATE_PBX_BENCH calls
// each, in alternating rounds. The channels are
// Local channels originated from the CLI into a timing context added at
// run time: the decide gosub is the shipped one.
func TestPBXDecideTime(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RECGATE_PBX_BENCH"))
	if n <= 0 {
		t.Skip("measurement: set RECGATE_PBX_BENCH=200 (make pbx-bench) to measure recgate's decide time on the real Asterisk")
	}
	asterisktest.FindLab(t)
	e := startPBX(t, asterisktest.Options{}, pbxOptions{})
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
	cli := func(cmd string) {
		t.Helper()
		if out, err := e.pbx.CLI(ctx, cmd); err != nil {
			t.Fatalf("%s: %v %s", cmd, err, out)
		}
	}
	cli("module load res_clioriginate.so")
	for i, app := range []string{
		`Set(t0=${STRFTIME(,,%s.%6q)})`,
		`Set(side=${RGSIDE})`,
		`Gosub(recgate-decide,s,1(outbound))`,
		`Log(NOTICE,RGTIME:${side}:${t0}:${STRFTIME(,,%s.%6q)}:${RECGATE_DECISION}:${MIXMONITOR_FILENAME})`,
		`Hangup()`,
	} {
		cli(fmt.Sprintf("dialplan add extension _100X,%d,%s into recgate-benchtime", i+1, app))
	}

	setups := []struct{ side, act, station, addr string }{
		{"bare", "dialplan", "1003", bareAddr},
		{"off", "dialplan", "1003", e.m.AGIAddr()},
		{"dialplan", "dialplan", "1001", e.m.AGIAddr()},
		{"recgate", "recgate", "1001", e.m.AGIAddr()},
	}
	const rounds = 4
	per := max(n/rounds, 10)
	for r := range rounds {
		for k := range setups {
			sd := setups[(k+r)%len(setups)]
			cli("dialplan set global RECGATE agi://" + sd.addr)
			cli("dialplan set global RECGATE_ACT " + sd.act)
			cli("dialplan set global RGSIDE " + sd.side)
			for range per {
				cli("channel originate Local/" + sd.station + "@recgate-benchtime application Wait 0.05")
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	time.Sleep(time.Second)

	b, err := os.ReadFile(filepath.Join(e.pbx.Dir, "log", "messages.log"))
	if err != nil {
		t.Fatal(err)
	}
	times := map[string][]time.Duration{}
	decisions := map[string]map[string]int{}
	re := regexp.MustCompile(`RGTIME:(\w+):([0-9.]+):([0-9.]+):(\w*):(\S*)$`)
	for line := range strings.SplitSeq(string(b), "\n") {
		m := re.FindStringSubmatch(line)
		if m == nil || strings.Contains(line, "Executing [") { // the Log() line, not the one announcing it
			continue
		}
		t0, err0 := strconv.ParseFloat(m[2], 64)
		t1, err1 := strconv.ParseFloat(m[3], 64)
		if err0 != nil || err1 != nil {
			continue
		}
		times[m[1]] = append(times[m[1]], time.Duration((t1-t0)*1e9))
		if decisions[m[1]] == nil {
			decisions[m[1]] = map[string]int{}
		}
		rec := "not recording"
		if m[5] != "" {
			rec = "recording"
		}
		decisions[m[1]][m[4]+", "+rec]++
	}
	var report strings.Builder
	fmt.Fprintf(&report, "[recgate-decide] on a station's channel, AGI() to return, inside Asterisk, %d rounds:\n", rounds)
	fmt.Fprintf(&report, "  %-34s %6s %18s %9s %9s %9s  %s\n", "FastAGI server", "calls", "mean ± 95%", "p50", "p95", "p99", "outcome")
	names := map[string]string{"bare": "1003 off, bare responder (1 cmd)", "off": "1003 off, recgate (1 cmd)",
		"dialplan": "1001 auto, act=dialplan (1 cmd)", "recgate": "1001 auto, act=recgate (3 cmds)"}
	for _, side := range []string{"bare", "off", "dialplan", "recgate"} {
		d := times[side]
		if len(d) < per*rounds*9/10 {
			t.Errorf("%s: %d of %d calls measured", side, len(d), per*rounds)
		}
		fmt.Fprintf(&report, "  %-34s %6d %9s ± %6.3f %9s %9s %9s  %v\n", names[side], len(d), fmtUS(mean(d)), float64(ci95(d))/1e3,
			fmtUS(pct(d, 50)), fmtUS(pct(d, 95)), fmtUS(pct(d, 99)), decisions[side])
	}
	for _, side := range []string{"off", "dialplan", "recgate"} {
		fmt.Fprintf(&report, "  %s - bare: %+.0f µs on the mean (x%.2f), p50 x%.2f\n", names[side],
			float64(mean(times[side])-mean(times["bare"]))/1e3, ratio(mean(times[side]), mean(times["bare"])), ratio(pct(times[side], 50), pct(times["bare"], 50)))
	}
	fmt.Fprintf(&report, "  act=recgate - act=dialplan: %+.0f µs on the mean, %+.0f µs at p50\n",
		float64(mean(times["recgate"])-mean(times["dialplan"]))/1e3, float64(pct(times["recgate"], 50)-pct(times["dialplan"], 50))/1e3)
	t.Log("\n" + report.String())
}

func fmtUS(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/1e3) }
