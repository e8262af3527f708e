package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HoldConfig describes a memory test: Sessions sessions opened at once
// against a peer that answers each session's first command only after
// HoldFor, as a slow Asterisk would.
type HoldConfig struct {
	Target   string
	Scenario Scenario
	Sessions int           // sessions held open at once
	HoldFor  time.Duration // from the start of the run to the first reply of every session
	// Timeout bounds connecting and, after the release, the rest of each
	// session; default 5s. The server's own read timeout must be longer
	// than HoldFor or it gives up on the sessions first.
	Timeout time.Duration
	// DialConcurrency bounds connections being opened at once (default
	// 256), so the opening does not overflow the listen backlog.
	DialConcurrency int
	// Held, when set, is called once: when every session has received its
	// first command, or at the release if some never did. It gets the
	// number of sessions held at that moment; the release waits for it.
	Held func(held int)
}

// HoldResult is what a memory test measured.
type HoldResult struct {
	Held     int64         // sessions that received their first command before the release
	Sessions int64         // sessions that completed
	Commands int64         // commands answered in completed sessions
	Errors   Errors        // failed sessions by cause
	Elapsed  time.Duration // start to the last session's end
}

// Hold runs the memory test cfg describes and returns when every session
// has ended.
func Hold(ctx context.Context, cfg HoldConfig) (*HoldResult, error) {
	if err := CheckLoopback(cfg.Target); err != nil {
		return nil, err
	}
	if err := cfg.Scenario.Validate(); err != nil {
		return nil, err
	}
	if cfg.Sessions < 1 || cfg.Sessions > maxConcurrency {
		return nil, fmt.Errorf("hold: sessions %d: want 1..%d", cfg.Sessions, maxConcurrency)
	}
	if cfg.HoldFor <= 0 || cfg.HoldFor > 10*time.Minute {
		return nil, fmt.Errorf("hold: hold for %s: want up to 10m", cfg.HoldFor)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.DialConcurrency <= 0 {
		cfg.DialConcurrency = 256
	}

	start := time.Now()
	release := start.Add(cfg.HoldFor)
	p := newPeer(cfg.Target, cfg.Timeout, defaultMaxCommands)
	var (
		t       tally
		held    atomic.Int64
		allHeld = make(chan struct{})
		gate    = make(chan struct{}) // closed once Held has returned
		dials   = make(chan struct{}, cfg.DialConcurrency)
		wg      sync.WaitGroup
	)
	spec := &holdSpec{release: release, held: func() {
		if held.Add(1) == int64(cfg.Sessions) {
			close(allHeld)
		}
	}}
	wg.Go(func() {
		defer close(gate)
		tm := time.NewTimer(time.Until(release))
		defer tm.Stop()
		select {
		case <-allHeld:
		case <-tm.C:
		case <-ctx.Done():
			return
		}
		if cfg.Held != nil {
			cfg.Held(int(held.Load()))
		}
	})
	c := newCaller(cfg.Scenario, 0, start.Unix(), newRunID())
	var env strings.Builder
	for range cfg.Sessions {
		env.Reset()
		envBlock(&env, cfg.Target, cfg.Scenario, c.next())
		block := []byte(env.String())
		select {
		case dials <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			first := &holdSpec{release: release, held: func() {
				<-dials // the connection is open and the server answered: free the dial slot
				spec.held()
				<-gate
			}}
			n, _, err := p.session(ctx, block, exchange{hold: first})
			if n == 0 {
				<-dials
			}
			t.done(n, err)
		})
	}
	wg.Wait()
	res := &HoldResult{Held: held.Load(), Elapsed: time.Since(start)}
	res.Sessions, res.Commands, res.Errors = t.sessions.Load(), t.commands.Load(), t.errs.snapshot()
	return res, ctx.Err()
}

// ProcessRSS returns the resident set size of process pid in bytes, from
// /proc/<pid>/status (Linux).
func ProcessRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read rss of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("read rss of %d: unexpected VmRSS line %q", pid, sc.Text())
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read rss of %d: %w", pid, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("read rss: no VmRSS line (a kernel thread or a zombie?)")
}
