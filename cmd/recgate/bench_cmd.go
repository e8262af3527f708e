package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/recgate/recgate/gate"
	"github.com/recgate/recgate/loadgen"
	"github.com/recgate/recgate/rules"
)

// decisionMetric is the server-side histogram --scrape reads.
const decisionMetric = "recgate_decision_duration_seconds"

// benchFlags are bench's command line.
type benchFlags struct {
	target       string
	concurrency  int
	rate         float64
	maxInFlight  int
	duration     time.Duration
	sessions     int64
	warmup       time.Duration
	timeout      time.Duration
	path         string
	act          string
	hangup       bool
	direction    string
	stations     int
	dist         string
	seed         int64
	bare         bool
	bareCommands string
	rounds       int
	scrape       string
	asJSON       bool
	hold         int
	holdFor      time.Duration
	settle       time.Duration
	pid          int
}

func newBenchCmd(a *app) *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a recgate server over loopback FastAGI against a bare responder",
		Long: `bench plays Asterisk: a new TCP connection per session, the environment
block Asterisk 22 sends, one realistic reply per command. It drives the server
at --target, then a bare responder it starts itself on a loopback port (reads
the environment, sends as many commands as recgate did, no logic) with the
same load, and prints sessions/s, latency p50/p90/p99/max, errors and
commands per session for both, and their ratios (SPEC 8).

Each call whose decide pushed a hangup handler is followed by its hangup
session, as Asterisk does when the call ends (--hangup=false to leave them
out), so recgate's live-call state stays as bounded as in production; the
sessions, rates and latencies count the decide sessions. Every run uses
unique ids of its own. --act dialplan (the shipped examples' way) asks
recgate for the one-command answer; --act recgate for recgate to act itself.

Closed loop: -c sessions at once for --duration or -n sessions.
Open loop: --rate sessions/s started on schedule whatever the server does;
latency counts from each session's scheduled start.
Memory: --hold N keeps N sessions open (their first reply waits --hold-for;
keep it under the server's agi.read_timeout) and prints the server's RSS, read
from its metrics at --scrape (or from /proc for --pid).

Only loopback targets are accepted.`,
		Example: `  recgate bench -c 100 --duration 10s
  recgate bench --rate 1000 --duration 10s --scrape http://127.0.0.1:9573/metrics
  recgate bench --direction mix --stations 100000 --dist zipf -c 1000 -n 200000
  recgate bench --hold 10000 --hold-for 3s --scrape http://127.0.0.1:9573/metrics`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.hold > 0 {
				return runHold(cmd.Context(), a.env.Stdout, f)
			}
			return runBench(cmd.Context(), a.env.Stdout, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.target, "target", "127.0.0.1:4573", "recgate's FastAGI address (loopback only)")
	fl.IntVarP(&f.concurrency, "concurrency", "c", 100, "closed loop: sessions at once")
	fl.Float64Var(&f.rate, "rate", 0, "open loop: sessions started per second (0: closed loop)")
	fl.IntVar(&f.maxInFlight, "max-in-flight", 10000, "open loop: most sessions at once; more start late")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to start sessions, per server")
	fl.Int64VarP(&f.sessions, "sessions", "n", 0, "stop after this many sessions per server (0: --duration only)")
	fl.DurationVar(&f.warmup, "warmup", 0, "unmeasured run with the same load before each measured one")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "bound on each session, connect to close")
	fl.StringVar(&f.path, "path", "decide", "request path")
	fl.StringVar(&f.act, "act", gate.ActDialplan, "the act argument sent with each decide: dialplan (one command, the shipped examples) or recgate (recgate acts); empty sends none")
	fl.BoolVar(&f.hangup, "hangup", true, "follow each call whose decide pushed a hangup handler with its hangup session")
	fl.StringVar(&f.direction, "direction", loadgen.DirectionOutbound, "outbound, inbound_direct, inbound_queue, internal or mix")
	fl.IntVar(&f.stations, "stations", 100, fmt.Sprintf("station population: ids %d..%d+N-1", loadgen.FirstStation, loadgen.FirstStation))
	fl.StringVar(&f.dist, "dist", loadgen.DistUniform, "station draw: uniform or zipf")
	fl.Int64Var(&f.seed, "seed", 1, "seed of the station and direction draws")
	fl.BoolVar(&f.bare, "bare", true, "also measure the bare responder and print the ratios")
	fl.IntVar(&f.rounds, "rounds", 1, "split the measurement into this many alternating rounds of recgate then the bare responder, added up (robust to a machine whose load changes)")
	fl.StringVar(&f.bareCommands, "bare-commands", "", "commands per bare session: 3, 2.5 or 402/200 (default: exactly recgate's mean in this run)")
	fl.StringVar(&f.scrape, "scrape", "", "recgate's metrics URL: the server-side "+decisionMetric+" p99 of this run; with --hold, the server's RSS")
	fl.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fl.IntVar(&f.hold, "hold", 0, "memory test: sessions held open at once against --target")
	fl.DurationVar(&f.holdFor, "hold-for", 3*time.Second, "memory test: delay of every session's first reply")
	fl.DurationVar(&f.settle, "settle", 3*time.Second, "memory test: wait after the sessions end before the last RSS reading")
	fl.IntVar(&f.pid, "pid", 0, "memory test: the server's process id, whose RSS is printed")
	return cmd
}

func (f benchFlags) scenario() loadgen.Scenario {
	return loadgen.Scenario{Path: f.path, Act: f.act, Direction: f.direction, Stations: f.stations, Distribution: f.dist, Seed: f.seed}
}

func (f benchFlags) config(target string) loadgen.Config {
	return loadgen.Config{
		Target: target, Scenario: f.scenario(),
		Concurrency: f.concurrency, Rate: f.rate, MaxInFlight: f.maxInFlight,
		Duration: f.duration, Sessions: f.sessions, Timeout: f.timeout, Hangup: f.hangup,
	}
}

// benchReport is bench's output.
type benchReport struct {
	Load    string          `json:"load"`
	Recgate *serverReport   `json:"recgate"`
	Bare    *serverReport   `json:"bare,omitempty"`
	Ratios  *loadgen.Ratios `json:"ratios,omitempty"`
	// ServerDecisionP99 is recgate's own decision p99 over this run, in
	// seconds, estimated from the histogram buckets (--scrape).
	ServerDecisionP99 *float64 `json:"server_decision_p99_seconds,omitempty"`
	ServerDecisions   float64  `json:"server_decisions,omitempty"`
}

// serverReport is one server's figures.
type serverReport struct {
	Server             string         `json:"server"` // recgate or bare
	Addr               string         `json:"addr"`
	Sessions           int64          `json:"sessions"`
	ElapsedSeconds     float64        `json:"elapsed_seconds"`
	SessionsPerSecond  float64        `json:"sessions_per_second"`
	LatencyMillis      latencyMillis  `json:"latency_ms"`
	Errors             loadgen.Errors `json:"errors"`
	CommandsPerSession float64        `json:"commands_per_session"`
	Late               int64          `json:"late,omitempty"`
	Unstarted          int64          `json:"unstarted,omitempty"`
	// The hangup sessions that followed the calls that pushed a handler.
	Hangups           int64          `json:"hangups"`
	HangupErrors      loadgen.Errors `json:"hangup_errors"`
	CommandsPerHangup float64        `json:"commands_per_hangup"`
}

type latencyMillis struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func newServerReport(server, addr string, r *loadgen.Result) *serverReport {
	l := r.Latency.Summary()
	return &serverReport{
		Server: server, Addr: addr, Sessions: r.Sessions, ElapsedSeconds: r.Elapsed.Seconds(), SessionsPerSecond: r.SessionsPerSecond(),
		LatencyMillis:      latencyMillis{P50: ms(l.P50), P90: ms(l.P90), P99: ms(l.P99), P999: ms(l.P999), Max: ms(l.Max), Mean: ms(l.Mean)},
		Errors:             r.Errors,
		CommandsPerSession: r.CommandsPerSession(),
		Late:               r.Late, Unstarted: r.Unstarted,
		Hangups: r.Hangups, HangupErrors: r.HangupErrors, CommandsPerHangup: zeroNaN(perSession(r.HangupCommands, r.Hangups)),
	}
}

func (f benchFlags) describe() string {
	var b strings.Builder
	if f.rate > 0 {
		fmt.Fprintf(&b, "open loop %g sessions/s (at most %d in flight)", f.rate, f.maxInFlight)
	} else {
		fmt.Fprintf(&b, "closed loop %d concurrent", f.concurrency)
	}
	if f.sessions > 0 {
		fmt.Fprintf(&b, ", %d sessions", f.sessions)
	}
	if f.duration > 0 {
		fmt.Fprintf(&b, ", %s", f.duration)
	}
	fmt.Fprintf(&b, "; %s direction=%s act=%s; %d stations %s (seed %d)", f.path, f.direction, f.act, f.stations, f.dist, f.seed)
	if f.hangup {
		b.WriteString("; with hangup sessions")
	}
	if f.rounds > 1 {
		fmt.Fprintf(&b, "; %d rounds", f.rounds)
	}
	return b.String()
}

// warmUp runs the unmeasured warm-up against target, if one is asked for.
func warmUp(ctx context.Context, f benchFlags, target string) error {
	if f.warmup <= 0 {
		return nil
	}
	cfg := f.config(target)
	cfg.Duration, cfg.Sessions = f.warmup, 0
	if _, err := loadgen.Run(ctx, cfg); err != nil {
		return fmt.Errorf("bench: warm up %s: %w", target, err)
	}
	return nil
}

// measure runs the measured load against target.
func measure(ctx context.Context, f benchFlags, target string) (*loadgen.Result, error) {
	res, err := loadgen.Run(ctx, f.config(target))
	if err != nil {
		return nil, fmt.Errorf("bench %s: %w", target, err)
	}
	return res, nil
}

func runBench(ctx context.Context, stdout io.Writer, f benchFlags) error {
	check := f.config(f.target)
	if err := check.Validate(); err != nil {
		return rules.Errorf(rules.EINVALID, "bench: %v", err)
	}
	if f.rounds < 1 || f.rounds > 100 || f.sessions > 0 && f.sessions < int64(f.rounds) {
		return rules.Errorf(rules.EINVALID, "bench: --rounds %d: want 1..100, and at most -n", f.rounds)
	}
	if f.scrape != "" {
		if err := loadgen.CheckLoopbackURL(f.scrape); err != nil {
			return rules.Errorf(rules.EINVALID, "bench: --scrape: %v", err)
		}
	}
	var fixed *loadgen.Mix
	if f.bareCommands != "" {
		m, err := loadgen.ParseMix(f.bareCommands)
		if err != nil {
			return rules.Errorf(rules.EINVALID, "bench: --bare-commands: %v", err)
		}
		fixed = &m
	}
	rep := benchReport{Load: f.describe()}

	if err := warmUp(ctx, f, f.target); err != nil {
		return err
	}
	var before loadgen.HistogramSnapshot
	if f.scrape != "" {
		var err error
		if before, err = loadgen.ScrapeHistogram(ctx, f.scrape, decisionMetric); err != nil {
			return rules.Errorf(rules.EUNAVAILABLE, "bench: %v", err)
		}
	}
	// Each round measures recgate, then the bare responder with the same
	// load, so that both see the machine in the same state even when it
	// changes during the run; the rounds are added up.
	round := f
	round.duration = f.duration / time.Duration(f.rounds)
	round.sessions = f.sessions / int64(f.rounds)
	var rec, bare loadgen.Result
	var bareAddr string
	for range f.rounds {
		r, err := measure(ctx, round, f.target)
		if err != nil {
			return err
		}
		rec.Add(r)
		if !f.bare {
			continue
		}
		if r.Sessions == 0 {
			return rules.Errorf(rules.EUNAVAILABLE, "bench: no session completed against %s (is recgate serving there?); %d errors %+v", f.target, r.Errors.Total(), r.Errors)
		}
		b, addr, err := measureBare(ctx, round, r, fixed)
		if err != nil {
			return err
		}
		bare.Add(b)
		bareAddr = addr
	}
	rep.Recgate = newServerReport("recgate", f.target, &rec)
	if f.scrape != "" {
		after, err := loadgen.ScrapeHistogram(ctx, f.scrape, decisionMetric)
		if err != nil {
			return rules.Errorf(rules.EUNAVAILABLE, "bench: %v", err)
		}
		run := after.Sub(before)
		if run.Count > 0 {
			p99 := run.Quantile(0.99)
			rep.ServerDecisionP99, rep.ServerDecisions = &p99, run.Count
		}
	}
	if f.bare {
		rep.Bare = newServerReport("bare", bareAddr, &bare)
		r := loadgen.Compare(&rec, &bare)
		rep.Ratios = &r
	}

	if f.asJSON {
		return printJSON(stdout, rep)
	}
	printBench(stdout, rep)
	return nil
}

// measureBare starts the bare responder as a process of its own, set to
// send exactly what recgate sent in rec (or fixed commands per session),
// and measures it with the same load.
func measureBare(ctx context.Context, f benchFlags, rec *loadgen.Result, fixed *loadgen.Mix) (*loadgen.Result, string, error) {
	var mix, pushes, hangups loadgen.Mix
	if fixed != nil {
		mix = *fixed
	} else {
		// Exactly recgate's commands over its sessions: a run of the
		// bare responder as long as recgate's sends as many.
		m, err := loadgen.MixOf(rec.Commands, rec.Sessions)
		if err != nil {
			return nil, "", fmt.Errorf("bench: %w", err)
		}
		mix = m
	}
	if rec.Pushed > 0 {
		// As many hangup handlers pushed, and as many commands in each
		// hangup session, as recgate's run had.
		var err error
		if pushes, err = loadgen.MixOf(min(rec.Pushed, rec.Sessions), rec.Sessions); err != nil {
			return nil, "", fmt.Errorf("bench: %w", err)
		}
		if rec.Hangups > 0 {
			if hangups, err = loadgen.MixOf(rec.HangupCommands, rec.Hangups); err != nil {
				return nil, "", fmt.Errorf("bench: %w", err)
			}
		}
	}
	addr, stop, err := startBareProcess(ctx, mix, pushes, hangups)
	if err != nil {
		return nil, "", fmt.Errorf("bench: %w", err)
	}
	defer stop()
	if err := warmUp(ctx, f, addr); err != nil {
		return nil, "", err
	}
	res, err := measure(ctx, f, addr)
	return res, addr, err
}

func printBench(w io.Writer, rep benchReport) {
	fmt.Fprintf(w, "load: %s\n\n", rep.Load)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tsessions\tsessions/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tcmds/session\terrors\tlate\tunstarted\thangups\tcmds/hangup\t")
	for _, s := range []*serverReport{rep.Recgate, rep.Bare} {
		if s == nil {
			continue
		}
		l := s.LatencyMillis
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.2f\t%d\t%d\t%d\t%d\t%.2f\t\n",
			s.Server+" "+s.Addr, s.Sessions, s.SessionsPerSecond, l.P50, l.P90, l.P99, l.Max, s.CommandsPerSession, s.Errors.Total()+s.HangupErrors.Total(), s.Late, s.Unstarted,
			s.Hangups, s.CommandsPerHangup)
	}
	tw.Flush()
	for _, s := range []*serverReport{rep.Recgate, rep.Bare} {
		if s == nil {
			continue
		}
		for _, x := range []struct {
			what string
			e    loadgen.Errors
		}{{"errors", s.Errors}, {"hangup errors", s.HangupErrors}} {
			if e := x.e; e.Total() > 0 {
				fmt.Fprintf(w, "%s %s %s: refused %d, timeout %d, protocol %d, closed early %d, other %d\n",
					x.what, s.Server, s.Addr, e.Refused, e.Timeout, e.Protocol, e.Closed, e.Other)
			}
		}
	}
	if rep.Ratios != nil {
		fmt.Fprintf(w, "\nrecgate/bare: throughput %.3f (SPEC 8: >= 0.80 closed loop), p99 %.3f (SPEC 8: <= 1.25 open loop)\n",
			rep.Ratios.Throughput, rep.Ratios.P99)
	}
	if rep.ServerDecisionP99 != nil {
		fmt.Fprintf(w, "server-side %s p99 over this run: %s over %.0f decisions (SPEC 8: < 500µs; estimated from buckets)\n",
			decisionMetric, time.Duration(*rep.ServerDecisionP99*float64(time.Second)).Round(time.Microsecond), rep.ServerDecisions)
	}
}

// runHold is the memory test: hold f.hold sessions open and print the
// server's RSS before, while they are held, and after.
func runHold(ctx context.Context, w io.Writer, f benchFlags) error {
	if err := loadgen.CheckLoopback(f.target); err != nil {
		return rules.Errorf(rules.EINVALID, "bench: %v", err)
	}
	// The server's RSS: from /proc with --pid, else from its own
	// process_resident_memory_bytes at --scrape (which names the server
	// unambiguously when several run on the host).
	measured := f.pid > 0 || f.scrape != ""
	rss := func(when string) {
		switch {
		case f.pid > 0:
			b, err := loadgen.ProcessRSS(f.pid)
			if err != nil {
				fmt.Fprintf(w, "rss %s: %v\n", when, err)
				return
			}
			fmt.Fprintf(w, "rss of pid %d %s: %.1f MiB\n", f.pid, when, float64(b)/(1<<20))
		case f.scrape != "":
			b, err := loadgen.ScrapeGauge(ctx, f.scrape, "process_resident_memory_bytes")
			if err != nil {
				fmt.Fprintf(w, "rss %s: %v\n", when, err)
				return
			}
			fmt.Fprintf(w, "rss of the server at %s %s: %.1f MiB\n", f.scrape, when, b/(1<<20))
		}
	}
	fmt.Fprintf(w, "hold: %d sessions against %s, first reply after %s; %s direction=%s, %d stations %s\n",
		f.hold, f.target, f.holdFor, f.path, f.direction, f.stations, f.dist)
	rss("before")
	res, err := loadgen.Hold(ctx, loadgen.HoldConfig{
		Target: f.target, Scenario: f.scenario(), Sessions: f.hold, HoldFor: f.holdFor, Timeout: f.timeout,
		Held: func(held int) { rss(fmt.Sprintf("during (%d sessions held)", held)) },
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bench: hold: %w", err)
		}
		return rules.Errorf(rules.EINVALID, "bench: hold: %v", err)
	}
	e := res.Errors
	fmt.Fprintf(w, "held %d, completed %d (%.2f commands/session), errors %d (refused %d, timeout %d, protocol %d, closed early %d, other %d) in %s\n",
		res.Held, res.Sessions, perSession(res.Commands, res.Sessions), e.Total(), e.Refused, e.Timeout, e.Protocol, e.Closed, e.Other, res.Elapsed.Round(time.Millisecond))
	rss("right after")
	if measured && f.settle > 0 {
		select {
		case <-time.After(f.settle):
			rss(fmt.Sprintf("after %s", f.settle))
		case <-ctx.Done():
		}
	}
	return nil
}

func zeroNaN(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return f
}

func perSession(commands, sessions int64) float64 {
	if sessions == 0 {
		return math.NaN()
	}
	return float64(commands) / float64(sessions)
}
