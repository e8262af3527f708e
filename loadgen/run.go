package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds on a run, so that a typo cannot make a runaway generator.
const (
	maxDuration    = time.Hour
	maxSessions    = 1_000_000_000
	maxConcurrency = 100_000
	maxRate        = 1_000_000
)

// Config describes one run of the generator against one server.
type Config struct {
	Target   string   // FastAGI address; loopback only
	Scenario Scenario // what each session asks

	// Closed loop: Concurrency sessions at once, each starting when the
	// previous one ends. Used when Rate is 0.
	Concurrency int

	// Open loop: sessions started at Rate per second on a fixed schedule
	// whatever the server does; latency counts from the scheduled start.
	// At most MaxInFlight sessions run at once (default 10000); a session
	// that waits for a slot starts late and is counted in Result.Late.
	Rate        float64
	MaxInFlight int
	LateAfter   time.Duration // start delay counted as late; default 1ms

	// The run starts sessions for Duration, or until Sessions have
	// started, whichever comes first; at least one must be set.
	Duration time.Duration
	Sessions int64

	// Timeout bounds each session from connect to close; default 5s.
	Timeout time.Duration
	// MaxCommands is the most commands one session answers; default 64.
	MaxCommands int

	// Hangup makes every call whose decide pushed a hangup handler end
	// with the hangup session Asterisk would then send, right after the
	// decide session, so the server's live-call state stays bounded as in
	// production. Only decide sessions count in the sessions and latency.
	Hangup bool
	// RunID tags this run's unique ids; a random one when empty, so that
	// no two runs send the same ids.
	RunID string
}

// Validate fills the defaults and reports the first field that cannot be used.
func (c *Config) Validate() error {
	if err := CheckLoopback(c.Target); err != nil {
		return err
	}
	if err := c.Scenario.Validate(); err != nil {
		return err
	}
	if c.Duration <= 0 && c.Sessions <= 0 {
		return errors.New("config: set a duration or a number of sessions")
	}
	if c.Duration < 0 || c.Duration > maxDuration {
		return fmt.Errorf("config: duration %s: want at most %s", c.Duration, maxDuration)
	}
	if c.Sessions < 0 || c.Sessions > maxSessions {
		return fmt.Errorf("config: sessions %d: want 0..%d", c.Sessions, maxSessions)
	}
	if c.Rate < 0 || c.Rate > maxRate {
		return fmt.Errorf("config: rate %g: want 0..%d sessions/s", c.Rate, maxRate)
	}
	if c.Rate == 0 && (c.Concurrency < 1 || c.Concurrency > maxConcurrency) {
		return fmt.Errorf("config: concurrency %d: want 1..%d", c.Concurrency, maxConcurrency)
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 10_000
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > maxConcurrency {
		return fmt.Errorf("config: max in flight %d: want 1..%d", c.MaxInFlight, maxConcurrency)
	}
	if c.LateAfter == 0 {
		c.LateAfter = time.Millisecond
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		return fmt.Errorf("config: timeout %s: want up to 1m", c.Timeout)
	}
	if c.MaxCommands == 0 {
		c.MaxCommands = defaultMaxCommands
	}
	if c.RunID == "" {
		c.RunID = newRunID()
	}
	if strings.ContainsAny(c.RunID, "&?/ \r\n") || len(c.RunID) > 32 {
		return fmt.Errorf("config: run id %q: want one short word", c.RunID)
	}
	return nil
}

// Mode names.
const (
	ModeClosed = "closed"
	ModeOpen   = "open"
)

// Result is what one run measured.
type Result struct {
	Mode      string        // ModeClosed or ModeOpen
	Sessions  int64         // sessions that completed (EOF after ≥1 command)
	Commands  int64         // commands answered in completed sessions
	Elapsed   time.Duration // from the first start to the last session's end
	Latency   *Histogram    // completed sessions, connect to close (open loop: scheduled start to close)
	Errors    Errors        // failed sessions by cause
	Late      int64         // open loop: sessions started more than LateAfter behind schedule
	Unstarted int64         // open loop: scheduled sessions never started (no slot before the run's end)

	// With Config.Hangup: decide sessions that pushed a hangup handler,
	// and the hangup sessions they were followed by.
	Pushed         int64
	Hangups        int64 // hangup sessions that completed
	HangupCommands int64 // commands answered in them
	HangupErrors   Errors
}

// Add adds o's figures to r, as if o's sessions had run in r's run after
// r's own: counts and elapsed time summed, latencies merged. It is how a
// measurement split into rounds is put back together.
func (r *Result) Add(o *Result) {
	if r.Latency == nil {
		r.Latency = NewHistogram()
	}
	if r.Mode == "" {
		r.Mode = o.Mode
	}
	r.Sessions += o.Sessions
	r.Commands += o.Commands
	r.Elapsed += o.Elapsed
	r.Latency.Merge(o.Latency)
	r.Errors = r.Errors.plus(o.Errors)
	r.Late += o.Late
	r.Unstarted += o.Unstarted
	r.Pushed += o.Pushed
	r.Hangups += o.Hangups
	r.HangupCommands += o.HangupCommands
	r.HangupErrors = r.HangupErrors.plus(o.HangupErrors)
}

// SessionsPerSecond is completed sessions over the elapsed time.
func (r *Result) SessionsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Sessions) / r.Elapsed.Seconds()
}

// CommandsPerSession is the mean number of commands in a completed session.
func (r *Result) CommandsPerSession() float64 {
	if r.Sessions == 0 {
		return 0
	}
	return float64(r.Commands) / float64(r.Sessions)
}

// Run drives the server at cfg.Target as cfg says and returns what it
// measured. Sessions in flight when the run's time is up are completed
// (each is bounded by cfg.Timeout). When ctx ends early, Run stops starting
// sessions, cuts those in flight, and returns the partial result with
// ctx's error.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var res *Result
	if cfg.Rate > 0 {
		res = runOpen(ctx, cfg)
	} else {
		res = runClosed(ctx, cfg)
	}
	return res, ctx.Err()
}

// tally collects what sessions report.
type tally struct {
	sessions, commands atomic.Int64
	errs               errorCounter

	pushed, hangups, hangupCommands atomic.Int64
	hangupErrs                      errorCounter
}

func (t *tally) fill(r *Result) {
	r.Sessions, r.Commands, r.Errors = t.sessions.Load(), t.commands.Load(), t.errs.snapshot()
	r.Pushed, r.Hangups, r.HangupCommands, r.HangupErrors = t.pushed.Load(), t.hangups.Load(), t.hangupCommands.Load(), t.hangupErrs.snapshot()
}

// hangup plays the end of call k when its decide pushed a hangup
// handler: the hangup session on the dead channel, whose dial status and
// state say the call was answered.
func (t *tally) hangup(ctx context.Context, p *peer, cfg *Config, k call, vars channelVars, env *strings.Builder) {
	if !cfg.Hangup || !vars.pushedHangupHandler() {
		return
	}
	t.pushed.Add(1)
	env.Reset()
	hangupEnvBlock(env, cfg.Target, k)
	n, _, err := p.session(ctx, []byte(env.String()), exchange{vars: channelVars{"DIALSTATUS": "ANSWER", "CHANNEL(state)": "Up"}, mayBeEmpty: true})
	if err != nil {
		t.hangupErrs.add(err)
		return
	}
	t.hangups.Add(1)
	t.hangupCommands.Add(int64(n))
}

func (t *tally) done(n int, err error) bool {
	if err != nil {
		t.errs.add(err)
		return false
	}
	t.sessions.Add(1)
	t.commands.Add(int64(n))
	return true
}

func runClosed(ctx context.Context, cfg Config) *Result {
	p := newPeer(cfg.Target, cfg.Timeout, cfg.MaxCommands)
	start := time.Now()
	var stopAt time.Time
	if cfg.Duration > 0 {
		stopAt = start.Add(cfg.Duration)
	}
	var (
		t       tally
		claimed atomic.Int64
		wg      sync.WaitGroup
		hists   = make([]*Histogram, cfg.Concurrency)
	)
	epoch := start.Unix()
	for w := range cfg.Concurrency {
		hists[w] = NewHistogram()
		wg.Go(func() {
			c := newCaller(cfg.Scenario, w, epoch, cfg.RunID)
			var env strings.Builder
			for ctx.Err() == nil {
				if cfg.Sessions > 0 && claimed.Add(1) > cfg.Sessions {
					return
				}
				now := time.Now()
				if !stopAt.IsZero() && !now.Before(stopAt) {
					return
				}
				k := c.next()
				env.Reset()
				envBlock(&env, cfg.Target, cfg.Scenario, k)
				n, vars, err := p.session(ctx, []byte(env.String()), exchange{})
				if t.done(n, err) {
					hists[w].Record(time.Since(now))
					t.hangup(ctx, p, &cfg, k, vars, &env)
				}
			}
		})
	}
	wg.Wait()
	res := &Result{Mode: ModeClosed, Elapsed: time.Since(start), Latency: NewHistogram()}
	for _, h := range hists {
		res.Latency.Merge(h)
	}
	t.fill(res)
	return res
}

// schedule is the open loop's start times: session i starts at
// start + i/rate.
type schedule struct {
	start time.Time
	rate  float64
	total int64
}

func newSchedule(start time.Time, rate float64, d time.Duration, sessions int64) schedule {
	total := sessions
	if d > 0 {
		byTime := int64(rate * d.Seconds())
		if total == 0 || byTime < total {
			total = byTime
		}
	}
	return schedule{start: start, rate: rate, total: total}
}

func (s schedule) at(i int64) time.Time {
	return s.start.Add(time.Duration(float64(i) * float64(time.Second) / s.rate))
}

func runOpen(ctx context.Context, cfg Config) *Result {
	p := newPeer(cfg.Target, cfg.Timeout, cfg.MaxCommands)
	sch := newSchedule(time.Now(), cfg.Rate, cfg.Duration, cfg.Sessions)
	// A session waiting for a slot past the last scheduled start plus one
	// session's timeout is not started at all.
	dispatchCtx, cancel := context.WithDeadline(ctx, sch.at(sch.total).Add(cfg.Timeout))
	defer cancel()

	var (
		t               tally
		wg              sync.WaitGroup
		mu              sync.Mutex
		hist            = NewHistogram()
		late, unstarted int64
		slots           = make(chan struct{}, cfg.MaxInFlight)
		c               = newCaller(cfg.Scenario, 0, sch.start.Unix(), cfg.RunID)
		env             strings.Builder
		timer           = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
dispatch:
	for i := int64(0); i < sch.total; i++ {
		at := sch.at(i)
		if d := time.Until(at); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-dispatchCtx.Done():
				unstarted = sch.total - i
				break dispatch
			}
		}
		select {
		case slots <- struct{}{}:
		case <-dispatchCtx.Done():
			unstarted = sch.total - i
			break dispatch
		}
		if time.Since(at) > cfg.LateAfter {
			late++
		}
		k := c.next()
		env.Reset()
		envBlock(&env, cfg.Target, cfg.Scenario, k)
		block := []byte(env.String())
		wg.Go(func() {
			defer func() { <-slots }()
			n, vars, err := p.session(ctx, block, exchange{})
			if t.done(n, err) {
				d := time.Since(at)
				mu.Lock()
				hist.Record(d)
				mu.Unlock()
				var env strings.Builder
				t.hangup(ctx, p, &cfg, k, vars, &env)
			}
		})
	}
	wg.Wait()
	res := &Result{Mode: ModeOpen, Elapsed: time.Since(sch.start), Latency: hist, Late: late, Unstarted: unstarted}
	t.fill(res)
	return res
}

// Ratios compares recgate with the bare responder under the same load.
type Ratios struct {
	Throughput float64 `json:"throughput"` // recgate sessions/s over bare sessions/s (≥ 0.8 is the target)
	P99        float64 `json:"p99"`        // recgate p99 over bare p99 (≤ 1.25 is the target)
}

// Compare returns recgate's figures relative to the bare responder's; a
// ratio whose denominator is zero is 0.
func Compare(recgate, bare *Result) Ratios {
	var r Ratios
	if b := bare.SessionsPerSecond(); b > 0 {
		r.Throughput = recgate.SessionsPerSecond() / b
	}
	if b := bare.Latency.Quantile(0.99); b > 0 {
		r.P99 = float64(recgate.Latency.Quantile(0.99)) / float64(b)
	}
	return r
}
