package loadgen

import (
	"bufio"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// listen returns a loopback listener closed at the end of the test.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// startBare runs a BareServer sending mix commands per session ("2",
// "2.5", "402/200").
func startBare(t *testing.T, mix string) (*BareServer, string) {
	t.Helper()
	m, err := ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	s, addr, err := ListenBare(context.Background(), m, Mix{}, Mix{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, addr
}

// fakeServer serves every connection with fn until the test ends.
func fakeServer(t *testing.T, fn func(net.Conn)) string {
	t.Helper()
	ln := listen(t)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				fn(c)
			})
		}
	})
	return ln.Addr().String()
}

// silent reads the environment and then never sends a command; it returns
// when the client closes the connection.
func silent(c net.Conn) {
	io.Copy(io.Discard, c)
}

// readEnv reads an environment block up to its empty line.
func readEnv(br *bufio.Reader) ([]string, error) {
	var lines []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return lines, err
		}
		if l == "\n" {
			return lines, nil
		}
		lines = append(lines, strings.TrimSuffix(l, "\n"))
	}
}

func TestClosedLoopAgainstBareServer(t *testing.T) {
	tests := []struct {
		name        string
		mix         string
		concurrency int
		sessions    int64
		wantCmds    float64
	}{
		{"one command", "1", 4, 200, 1},
		{"three commands", "3", 16, 400, 3},
		{"fractional mean", "2.5", 8, 400, 2.5},
		{"fraction of a recgate run", "402/200", 8, 200, 2.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bare, addr := startBare(t, tt.mix)
			res, err := Run(context.Background(), Config{
				Target: addr, Scenario: DefaultScenario(),
				Concurrency: tt.concurrency, Sessions: tt.sessions, Timeout: 2 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != ModeClosed || res.Sessions != tt.sessions || res.Errors.Total() != 0 {
				t.Fatalf("mode %s, sessions %d, errors %+v; want closed, %d, none", res.Mode, res.Sessions, res.Errors, tt.sessions)
			}
			if got := res.CommandsPerSession(); got != tt.wantCmds {
				t.Errorf("commands per session = %g, want %g", got, tt.wantCmds)
			}
			if res.Latency.Count() != tt.sessions || res.Latency.Quantile(0.5) <= 0 || res.Latency.Max() < res.Latency.Quantile(0.99) {
				t.Errorf("latency: count %d, p50 %s, p99 %s, max %s", res.Latency.Count(), res.Latency.Quantile(0.5), res.Latency.Quantile(0.99), res.Latency.Max())
			}
			if res.SessionsPerSecond() <= 0 {
				t.Errorf("sessions/s = %g", res.SessionsPerSecond())
			}
			if bare.Served() != tt.sessions {
				t.Errorf("bare server served %d, want %d", bare.Served(), tt.sessions)
			}
		})
	}
}

func TestClosedLoopStopsAtDuration(t *testing.T) {
	_, addr := startBare(t, "1")
	start := time.Now()
	res, err := Run(context.Background(), Config{Target: addr, Scenario: DefaultScenario(), Concurrency: 4, Duration: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("run took %s for a 150ms duration", took)
	}
	if res.Sessions == 0 || res.Errors.Total() != 0 {
		t.Errorf("sessions %d errors %+v", res.Sessions, res.Errors)
	}
}

func TestScheduleStartTimes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		rate      float64
		d         time.Duration
		n         int64
		wantTotal int64
		i         int64
		wantAt    time.Duration
	}{
		{1000, time.Second, 0, 1000, 999, 999 * time.Millisecond},
		{5000, 2 * time.Second, 0, 10000, 1, 200 * time.Microsecond},
		{100, time.Minute, 50, 50, 49, 490 * time.Millisecond},
		{100, 100 * time.Millisecond, 50, 10, 10, 100 * time.Millisecond},
		{3, 0, 7, 7, 2, 666666666 * time.Nanosecond},
	}
	for _, tt := range tests {
		s := newSchedule(t0, tt.rate, tt.d, tt.n)
		if s.total != tt.wantTotal {
			t.Errorf("rate %g d %s n %d: total %d, want %d", tt.rate, tt.d, tt.n, s.total, tt.wantTotal)
		}
		if got := s.at(tt.i).Sub(t0); got != tt.wantAt {
			t.Errorf("rate %g: at(%d) = +%s, want +%s", tt.rate, tt.i, got, tt.wantAt)
		}
	}
}

func TestOpenLoopKeepsSchedule(t *testing.T) {
	bare, addr := startBare(t, "2")
	start := time.Now()
	res, err := Run(context.Background(), Config{Target: addr, Scenario: DefaultScenario(), Rate: 1000, Sessions: 200})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// 200 sessions at 1000/s: the last starts at +199ms, never earlier. How
	// much later depends on the machine's load, so only the schedule's
	// floor is checked here; timings belong in benchmarks.
	if took < 199*time.Millisecond {
		t.Errorf("open loop of 200 at 1000/s took %s: sessions started ahead of the schedule", took)
	}
	if res.Mode != ModeOpen || res.Sessions != 200 || bare.Served() != 200 || res.Errors.Total() != 0 || res.Unstarted != 0 {
		t.Fatalf("result %+v, served %d", res, bare.Served())
	}
	if res.CommandsPerSession() != 2 {
		t.Errorf("commands per session %g", res.CommandsPerSession())
	}
	if r := res.SessionsPerSecond(); r > 1010 {
		t.Errorf("sessions/s = %g, faster than the 1000/s schedule", r)
	}
}

// A server slower than the schedule: with one session in flight at a time
// the sessions start late, and their latency counts from the scheduled
// start, so the queueing shows (no coordinated omission).
func TestOpenLoopCountsLateStartsFromSchedule(t *testing.T) {
	const service = 20 * time.Millisecond
	addr := fakeServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		if _, err := readEnv(br); err != nil {
			return
		}
		time.Sleep(service)
		io.WriteString(c, "EXEC MSet \"RECGATE_DECISION=off\"\n")
		br.ReadString('\n')
	})
	res, err := Run(context.Background(), Config{Target: addr, Scenario: DefaultScenario(), Rate: 200, Sessions: 10, MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 10 {
		t.Fatalf("sessions %d, errors %+v", res.Sessions, res.Errors)
	}
	if res.Late < 8 {
		t.Errorf("late = %d, want ≥ 8 of 10 (a 20ms server behind a 5ms schedule)", res.Late)
	}
	// The 10th session was due at +45ms and ends no earlier than +200ms.
	if got := res.Latency.Max(); got < 150*time.Millisecond {
		t.Errorf("max latency %s: queueing behind the schedule is hidden", got)
	}
	if got := res.Latency.Min(); got < service {
		t.Errorf("min latency %s below the server's %s", got, service)
	}
}

func TestOpenLoopUnstartedWhenServerStalls(t *testing.T) {
	addr := fakeServer(t, silent)
	res, err := Run(context.Background(), Config{
		Target: addr, Scenario: DefaultScenario(), Rate: 100, Sessions: 5, MaxInFlight: 2, Timeout: 150 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sessions != 0 || res.Errors.Timeout == 0 || res.Errors.Timeout+res.Unstarted != 5 {
		t.Errorf("sessions %d, timeouts %d, unstarted %d; want 0 completed and every session timed out or unstarted", res.Sessions, res.Errors.Timeout, res.Unstarted)
	}
}

func TestErrorsAreCounted(t *testing.T) {
	closed := listen(t)
	refusedAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name  string
		addr  string
		check func(Errors) bool
	}{
		{"refused", refusedAddr, func(e Errors) bool { return e.Refused == 3 }},
		{"silent server times out", fakeServer(t, silent), func(e Errors) bool { return e.Timeout == 3 }},
		{"closed before any command", fakeServer(t, func(c net.Conn) {
			readEnv(bufio.NewReader(c))
		}), func(e Errors) bool { return e.Closed == 3 }},
		{"line over 8 KiB", fakeServer(t, func(c net.Conn) {
			readEnv(bufio.NewReader(c))
			io.WriteString(c, "VERBOSE \""+strings.Repeat("x", 9000)+"\"\n")
		}), func(e Errors) bool { return e.Protocol == 3 }},
		{"endless commands", fakeServer(t, func(c net.Conn) {
			br := bufio.NewReader(c)
			readEnv(br)
			for range 100 {
				if _, err := io.WriteString(c, "NOOP\n"); err != nil {
					return
				}
				if _, err := br.ReadString('\n'); err != nil {
					return
				}
			}
		}), func(e Errors) bool { return e.Protocol == 3 }},
		{"line cut short", fakeServer(t, func(c net.Conn) {
			readEnv(bufio.NewReader(c))
			io.WriteString(c, "EXEC MixMon")
		}), func(e Errors) bool { return e.Protocol == 3 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			res, err := Run(context.Background(), Config{
				Target: tt.addr, Scenario: DefaultScenario(), Concurrency: 3, Sessions: 3, Timeout: 200 * time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sessions != 0 || !tt.check(res.Errors) || res.Errors.Total() != 3 {
				t.Errorf("sessions %d, errors %+v", res.Sessions, res.Errors)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s: deadlines not applied", took)
			}
		})
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	addr := fakeServer(t, silent)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Config{Target: addr, Scenario: DefaultScenario(), Concurrency: 5, Duration: time.Minute, Timeout: 30 * time.Second})
	if err == nil {
		t.Error("no error from a cancelled run")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("cancelled run took %s", took)
	}
	if res == nil || res.Sessions != 0 {
		t.Errorf("result %+v", res)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Target: "127.0.0.1:4573", Scenario: DefaultScenario(), Concurrency: 1, Sessions: 1}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no bound", func(c *Config) { c.Sessions = 0 }},
		{"too long", func(c *Config) { c.Duration = 2 * time.Hour }},
		{"no concurrency", func(c *Config) { c.Concurrency = 0 }},
		{"rate too high", func(c *Config) { c.Rate = 1e9 }},
		{"bad direction", func(c *Config) { c.Scenario.Direction = "sideways" }},
		{"no stations", func(c *Config) { c.Scenario.Stations = 0 }},
		{"bad distribution", func(c *Config) { c.Scenario.Distribution = "pareto" }},
		{"zipf exponent", func(c *Config) { c.Scenario.Distribution, c.Scenario.ZipfS = DistZipf, 0.5 }},
		{"path with slash", func(c *Config) { c.Scenario.Path = "decide/x" }},
	}
	c := ok
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tt := range tests {
		c := ok
		tt.edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}
