package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFreshnessUnderLoad: while sessions run back to back on several
// connections, a rule change is committed by another process's
// connection; every session that starts after the commit returned must
// see the new rule (zero stale decisions).
func TestFreshnessUnderLoad(t *testing.T) {
	h := startServer(t, "")
	type result struct {
		start    time.Time
		decision string
	}
	var (
		mu      sync.Mutex
		results []result
		stop    atomic.Bool
		n       atomic.Int64
		wg      sync.WaitGroup
	)
	tr := transcript(t, "0016-arm")
	defer func() { stop.Store(true); wg.Wait() }() // also when a wait below fails
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load() && i < 5000; i++ {
				start := time.Now()
				ast, _, err := h.tryCall(tr, outbound("1003", fmt.Sprintf("F%d-%d", w, i)), nil)
				if err != nil {
					t.Error(err)
					return
				}
				d, _ := ast.Var("RECGATE_DECISION")
				n.Add(1)
				mu.Lock()
				results = append(results, result{start, d})
				mu.Unlock()
			}
		}(w)
	}
	waitFor(t, 10*time.Second, func() bool { return n.Load() >= 200 })
	if _, errs, code := h.cli("rule", "set", "1003", "outbound", "auto", "--actor", "freshness"); code != 0 {
		t.Fatal(errs)
	}
	committed := time.Now()
	after := n.Load()
	waitFor(t, 10*time.Second, func() bool { return n.Load() >= after+400 })
	stop.Store(true)
	wg.Wait()

	var before, afterCommit, stale int
	for _, r := range results {
		if r.start.After(committed) {
			afterCommit++
			if r.decision != "auto" {
				stale++
			}
		} else {
			before++
		}
	}
	t.Logf("%d sessions before the commit, %d after, %d stale", before, afterCommit, stale)
	if afterCommit == 0 {
		t.Fatal("no session started after the commit")
	}
	if stale != 0 {
		t.Errorf("%d of %d sessions started after the commit decided with the old rule", stale, afterCommit)
	}
}
