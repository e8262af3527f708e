package agi

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// observedListener hands out connections that call onClose when the server
// closes them, before the close: what a peer could see at that moment.
type observedListener struct {
	net.Listener
	onClose func()
}

func (l observedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &observedConn{Conn: c, onClose: l.onClose}, nil
}

type observedConn struct {
	net.Conn
	once    sync.Once
	onClose func()
}

func (c *observedConn) Close() error {
	c.once.Do(c.onClose)
	return c.Conn.Close()
}

// startObserved starts srv on a loopback listener whose connections report
// their close to onClose.
func startObserved(t *testing.T, srv *Server, onClose func()) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(observedListener{l, onClose}) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

func counterSum(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 256)
	go func() { c.Collect(ch); close(ch) }()
	var sum float64
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Error(err)
		}
		sum += pb.GetCounter().GetValue()
	}
	return sum
}

// TestCountedBeforeClose: the server counts a refused connection, and a
// finished session (and frees its slot), before it closes the connection,
// so a peer that has seen the close (a test, an alert's probe, Asterisk
// retrying under max_sessions) never finds the old count. The listener
// reads the metrics at the moment of each close, so the order is checked
// exactly, not by timing.
func TestCountedBeforeClose(t *testing.T) {
	t.Run("refused: not allowed", func(t *testing.T) {
		m, _ := newTestMetrics(t)
		srv := &Server{Handler: HandlerFunc(func(context.Context, *Session) error { return nil }), ReadTimeout: time.Second, Metrics: m}
		srv.SetAllow([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		atClose := make(chan float64, 1)
		addr := startObserved(t, srv, func() { atClose <- testutil.ToFloat64(m.Rejected.WithLabelValues(rejectNotAllowed)) })
		waitClosed(t, dial(t, addr), time.Second)
		if got := <-atClose; got != 1 {
			t.Errorf("rejected not_allowed = %v when the connection closed, want 1", got)
		}
	})
	t.Run("refused: max sessions", func(t *testing.T) {
		m, _ := newTestMetrics(t)
		release := make(chan struct{})
		srv := &Server{Handler: HandlerFunc(func(ctx context.Context, _ *Session) error {
			<-release
			return nil
		}), ReadTimeout: 5 * time.Second, MaxSessions: 1, Metrics: m}
		closes := make(chan float64, 2)
		addr := startObserved(t, srv, func() { closes <- testutil.ToFloat64(m.Rejected.WithLabelValues(rejectMaxSessions)) })
		held := dial(t, addr)
		if _, err := held.Write(loadTranscript(t, "0016-arm.raw").EnvBlock(nil)); err != nil {
			t.Fatal(err)
		}
		for srv.ActiveSessions() != 1 {
			time.Sleep(time.Millisecond)
		}
		waitClosed(t, dial(t, addr), time.Second)
		if got := <-closes; got != 1 {
			t.Errorf("rejected max_sessions = %v when the connection closed, want 1", got)
		}
		close(release)
	})
	t.Run("session done", func(t *testing.T) {
		m, _ := newTestMetrics(t)
		srv := &Server{Handler: HandlerFunc(func(context.Context, *Session) error { return nil }), ReadTimeout: time.Second, Metrics: m}
		type seen struct {
			sessions float64
			active   int64
		}
		atClose := make(chan seen, 1)
		addr := startObserved(t, srv, func() { atClose <- seen{counterSum(t, m.Sessions), srv.ActiveSessions()} })
		c := dial(t, addr)
		if _, err := c.Write(loadTranscript(t, "0016-arm.raw").EnvBlock(nil)); err != nil {
			t.Fatal(err)
		}
		waitClosed(t, c, time.Second)
		if got := <-atClose; got.sessions != 1 || got.active != 0 {
			t.Errorf("when the connection closed: %v sessions counted, %d active; want 1 and 0", got.sessions, got.active)
		}
	})
}
