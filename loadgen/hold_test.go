package loadgen

import (
	"bufio"
	"context"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestHoldKeepsSessionsOpenUntilRelease(t *testing.T) {
	const n = 30
	const holdFor = 300 * time.Millisecond
	var (
		mu     sync.Mutex
		early  int
		opened int
	)
	start := time.Now()
	addr := fakeServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readEnv(br); err != nil {
			return
		}
		mu.Lock()
		opened++
		mu.Unlock()
		for range 2 {
			io.WriteString(c, bareCommand)
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
			if time.Since(start) < holdFor {
				mu.Lock()
				early++
				mu.Unlock()
			}
		}
	})
	var heldAt int
	var calledAfter time.Duration
	res, err := Hold(context.Background(), HoldConfig{
		Target: addr, Scenario: DefaultScenario(), Sessions: n, HoldFor: holdFor, DialConcurrency: 8,
		Held: func(held int) {
			heldAt = held
			calledAfter = time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if opened != n {
				t.Errorf("Held called with %d sessions open at the server", opened)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if heldAt != n || calledAfter >= holdFor {
		t.Errorf("Held(%d) after %s; want %d before the %s release", heldAt, calledAfter, n, holdFor)
	}
	if early != 0 {
		t.Errorf("%d replies arrived before the release", early)
	}
	if res.Held != n || res.Sessions != n || res.Commands != 2*n || res.Errors.Total() != 0 {
		t.Errorf("result %+v", res)
	}
	if res.Elapsed < holdFor {
		t.Errorf("elapsed %s < hold %s", res.Elapsed, holdFor)
	}
}

func TestHoldReportsAtReleaseWhenSomeNeverHeld(t *testing.T) {
	// The server closes every other connection at once.
	var mu sync.Mutex
	i := 0
	addr := fakeServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		readEnv(br)
		mu.Lock()
		i++
		odd := i%2 == 1
		mu.Unlock()
		if odd {
			return
		}
		io.WriteString(c, bareCommand)
		br.ReadString('\n')
	})
	var held = -1
	res, err := Hold(context.Background(), HoldConfig{Target: addr, Scenario: DefaultScenario(), Sessions: 10, HoldFor: 100 * time.Millisecond,
		Held: func(h int) { held = h }})
	if err != nil {
		t.Fatal(err)
	}
	if held != 5 || res.Held != 5 || res.Sessions != 5 || res.Errors.Closed != 5 {
		t.Errorf("held %d, result %+v", held, res)
	}
}

func TestProcessRSS(t *testing.T) {
	rss, err := ProcessRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 16<<30 {
		t.Errorf("own RSS %d bytes", rss)
	}
	if _, err := ProcessRSS(1 << 30); err == nil {
		t.Error("RSS of a process that cannot exist: no error")
	}
}

const exposition = `# HELP recgate_decision_duration_seconds Time from the AGI environment received to the last command of a decide session answered.
# TYPE recgate_decision_duration_seconds histogram
recgate_decision_duration_seconds_bucket{le="5e-05"} 0
recgate_decision_duration_seconds_bucket{le="0.0001"} 100
recgate_decision_duration_seconds_bucket{le="0.0002"} 900
recgate_decision_duration_seconds_bucket{le="0.0005"} 990
recgate_decision_duration_seconds_bucket{le="0.001"} 1000
recgate_decision_duration_seconds_bucket{le="+Inf"} 1000
recgate_decision_duration_seconds_sum 0.15
recgate_decision_duration_seconds_count 1000
# HELP recgate_decisions_total Recording decisions.
# TYPE recgate_decisions_total counter
recgate_decisions_total{direction="outbound",mode="auto",rule_source="group"} 1000
`

func TestParseHistogramAndQuantile(t *testing.T) {
	h, err := ParseHistogram(strings.NewReader(exposition), "recgate_decision_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 1000 || len(h.Buckets) != 6 {
		t.Fatalf("snapshot %+v", h)
	}
	tests := []struct{ q, want float64 }{
		{0.5, 0.0001 + 0.0001*400/800}, // rank 500 in (100µs, 200µs]: 400 of its 800
		{0.9, 0.0002},
		{0.99, 0.0005},
		{0.995, 0.00075},
	}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Quantile(%g) = %g, want %g", tt.q, got, tt.want)
		}
	}
	if _, err := ParseHistogram(strings.NewReader(exposition), "recgate_decisions_total"); err == nil {
		t.Error("a counter parsed as a histogram")
	}
	if _, err := ParseHistogram(strings.NewReader(exposition), "nope"); err == nil {
		t.Error("a missing metric: no error")
	}
}

func TestHistogramSnapshotSub(t *testing.T) {
	before := HistogramSnapshot{Count: 10, Buckets: []Bucket{{0.001, 10}, {math.Inf(1), 10}}}
	after := HistogramSnapshot{Count: 110, Buckets: []Bucket{{0.001, 20}, {math.Inf(1), 110}}}
	d := after.Sub(before)
	if d.Count != 100 || d.Buckets[0].Count != 10 || d.Buckets[1].Count != 100 {
		t.Fatalf("diff %+v", d)
	}
	// 90 of the 100 new observations are above the highest finite bound.
	if got := d.Quantile(0.99); got != 0.001 {
		t.Errorf("p99 in +Inf = %g, want the highest finite bound", got)
	}
	if got := (HistogramSnapshot{}).Quantile(0.5); !math.IsNaN(got) {
		t.Errorf("empty quantile = %g, want NaN", got)
	}
}

func TestScrapeHistogram(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, exposition)
	}))
	defer srv.Close()
	h, err := ScrapeHistogram(context.Background(), srv.URL+"/metrics", "recgate_decision_duration_seconds")
	if err != nil {
		t.Fatal(err)
	}
	if h.Count != 1000 || h.Sum != 0.15 {
		t.Errorf("scraped %+v", h)
	}
}
